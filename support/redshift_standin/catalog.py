"""The stand-in's catalog: what a database on the PostgreSQL test server needs to answer as a
Redshift database does, installed once per database by ``install``.

- Redshift's own functions PostgreSQL lacks, in ``pg_catalog`` as on Redshift (``getdate``,
  ``dateadd``, ``datediff``, ``nvl``, ``len``, ``charindex``, ``to_varbyte`` ...), so they
  resolve whatever the search path.
- System tables and views with exactly their documented columns: ``stl_load_errors`` (a
  provisioned cluster only), ``sys_load_error_detail``, ``svv_table_info``,
  ``svv_external_columns``, ``pg_get_late_binding_view_cols()``. Load errors live in a table
  written outside the loading transaction, so they outlive its rollback as on Redshift.
- VARCHAR(n) counts bytes: an event trigger gives every character column of a table created or
  altered a check of its values' octet length (an undeclared width in CREATE TABLE is 256 bytes,
  as Redshift makes it), failing like Redshift's "value too long for type character varying".
- CREATE OR REPLACE VIEW is judged by ``redshift_standin_replace_view``, in the caller's session
  and transaction: a replacement with other columns than the view has is refused.
- COPY's rows: the stand-in reads S3 itself and hands the rows over, inside the statement,
  through ``redshift_standin_copy_rows`` (copy.py), which also sets ``pg_last_copy_count()``.
"""

from __future__ import annotations

from typing import Any

INTERNAL = "redshift_standin_internal"

FUNCTIONS = r"""
create or replace function pg_catalog.getdate() returns timestamp
    language sql stable as $$ select date_trunc('second', now() at time zone 'UTC') $$;
create or replace function pg_catalog.sysdate() returns timestamp
    language sql stable as $$ select (now() at time zone 'UTC')::timestamp $$;
create or replace function pg_catalog.dateadd(unit text, amount bigint, ts timestamp)
    returns timestamp language sql immutable
    as $$ select ts + amount * ('1 ' || unit)::interval $$;
create or replace function pg_catalog.dateadd(unit text, amount bigint, ts date)
    returns timestamp language sql immutable
    as $$ select ts::timestamp + amount * ('1 ' || unit)::interval $$;
create or replace function pg_catalog.datediff(unit text, a timestamp, b timestamp)
    returns bigint language sql immutable as $$
    select case lower(unit)
        when 'second' then floor(extract(epoch from date_trunc('second', b))
            - extract(epoch from date_trunc('second', a)))::bigint
        when 'minute' then floor((extract(epoch from date_trunc('minute', b))
            - extract(epoch from date_trunc('minute', a))) / 60)::bigint
        when 'hour' then floor((extract(epoch from date_trunc('hour', b))
            - extract(epoch from date_trunc('hour', a))) / 3600)::bigint
        when 'day' then (b::date - a::date)::bigint
        when 'week' then ((date_trunc('week', b)::date - date_trunc('week', a)::date) / 7)::bigint
        when 'month' then ((extract(year from b) - extract(year from a)) * 12
            + extract(month from b) - extract(month from a))::bigint
        when 'year' then (extract(year from b) - extract(year from a))::bigint
    end $$;
create or replace function pg_catalog.datediff(unit text, a date, b date)
    returns bigint language sql immutable
    as $$ select pg_catalog.datediff(unit, a::timestamp, b::timestamp) $$;
create or replace function pg_catalog.nvl(a anyelement, b anyelement) returns anyelement
    language sql immutable as $$ select coalesce(a, b) $$;
create or replace function pg_catalog.nvl2(a anyelement, b anycompatible, c anycompatible)
    returns anycompatible language sql immutable
    as $$ select case when a is not null then b else c end $$;
create or replace function pg_catalog.len(a text) returns integer
    language sql immutable as $$ select length(rtrim(a)) $$;
create or replace function pg_catalog.charindex(needle text, haystack text) returns integer
    language sql immutable as $$ select strpos(haystack, needle) $$;
create or replace function pg_catalog.convert_timezone(target text, ts timestamp)
    returns timestamp language sql immutable
    as $$ select (ts at time zone 'UTC') at time zone target $$;
create or replace function pg_catalog.convert_timezone(source text, target text, ts timestamp)
    returns timestamp language sql immutable
    as $$ select (ts at time zone source) at time zone target $$;
create or replace function pg_catalog.to_varbyte(value text, format text)
    returns bytea language sql immutable as $$
    select case lower(format) when 'utf8' then convert_to(value, 'UTF8')
        else decode(value, lower(format)) end $$;
create or replace function pg_catalog.from_varbyte(value bytea, format text)
    returns text language sql immutable as $$
    select case lower(format) when 'utf8' then convert_from(value, 'UTF8')
        else encode(value, lower(format)) end $$;
create or replace function pg_catalog.json_extract_path_text(document character varying,
    variadic path text[]) returns text language sql immutable
    as $$ select pg_catalog.json_extract_path_text(document::json, variadic path) $$;
create or replace function pg_catalog.trunc(ts timestamp) returns date
    language sql immutable as $$ select ts::date $$;
create or replace function pg_catalog.pg_last_copy_count() returns integer
    language sql stable
    as $$ select coalesce(nullif(current_setting('redshift_standin.last_copy_count', true), ''),
        '0')::integer $$;
create or replace function pg_catalog.pg_get_late_binding_view_cols() returns setof record
    language sql stable as $$
    select null::name, null::name, null::name, null::varchar, null::integer where false $$;
"""

INTERNALS = rf"""
create schema if not exists {INTERNAL};
create table if not exists {INTERNAL}.load_errors (
    userid integer, slice integer, tbl integer, starttime timestamp, session integer,
    query integer, filename character(256), line_number bigint, colname character(127),
    type character(10), col_length character(10), position integer,
    raw_line character(1024), raw_field_value character(1024), err_code integer,
    err_reason character(100), is_partial integer, start_offset bigint,
    copy_job_id bigint, transaction_id bigint, database_name character(64)
);

create or replace function {INTERNAL}.too_long(value text, width integer, place text)
    returns boolean language plpgsql immutable as $$
begin
    raise exception using errcode = '22001',
        message = format('value too long for type character varying(%s)', width),
        detail = format('%s: %s bytes (Redshift counts VARCHAR widths in bytes; %s characters)',
            place, octet_length(value), length(value));
end $$;

create or replace function {INTERNAL}.count_bytes() returns event_trigger
    language plpgsql as $$
declare
    created record;
    col record;
    width integer;
begin
    if current_setting('redshift_standin.counting_bytes', true) = 'on' then
        return;  -- our own ALTER TABLE below
    end if;
    perform set_config('redshift_standin.counting_bytes', 'on', true);
    for created in
        select * from pg_event_trigger_ddl_commands()
        where object_type = 'table' and command_tag in
            ('CREATE TABLE', 'CREATE TABLE AS', 'ALTER TABLE', 'SELECT INTO')
    loop
        for col in
            select a.attname, a.atttypid, a.atttypmod
            from pg_attribute a
            where a.attrelid = created.objid and a.attnum > 0 and not a.attisdropped
            and a.atttypid in ('varchar'::regtype, 'bpchar'::regtype, 'text'::regtype)
            and not exists (
                select 1 from pg_constraint c where c.conrelid = created.objid
                and c.conname = 'redshift_bytes_' || a.attname)
        loop
            width := case when col.atttypmod > 4 then col.atttypmod - 4
                when created.command_tag = 'CREATE TABLE' then 256 end;
            continue when width is null;
            continue when exists (select 1 from pg_constraint c where c.conrelid = created.objid
                and c.conname = 'redshift_bytes_' || col.attname);
            execute format(
                'alter table %s add constraint %I check (%I is null or octet_length(%I) <= %s '
                || 'or {INTERNAL}.too_long(%I::text, %s, %L))',
                created.objid::regclass, 'redshift_bytes_' || col.attname, col.attname,
                col.attname, width,
                col.attname, width, created.object_identity || '.' || col.attname);
        end loop;
    end loop;
    perform set_config('redshift_standin.counting_bytes', 'off', true);
end $$;

drop event trigger if exists redshift_standin_count_bytes;
create event trigger redshift_standin_count_bytes on ddl_command_end
    when tag in ('CREATE TABLE', 'CREATE TABLE AS', 'ALTER TABLE', 'SELECT INTO')
    execute function {INTERNAL}.count_bytes();

create or replace function {INTERNAL}.columns_of(relation regclass) returns text
    language sql stable as $$
    select coalesce(string_agg(quote_ident(attname) || ' '
        || format_type(atttypid, atttypmod), ', ' order by attnum), '')
    from pg_attribute where attrelid = relation and attnum > 0 and not attisdropped $$;

create or replace function pg_catalog.redshift_standin_replace_view(
    target text, body text, ddl text) returns void
    language plpgsql as $$
declare
    existing regclass := to_regclass(target);
    had text;
    has text;
begin
    if existing is not null and (select relkind from pg_class where oid = existing) = 'v' then
        had := {INTERNAL}.columns_of(existing);
        execute 'create temporary view redshift_standin_probe as ' || body;
        has := {INTERNAL}.columns_of('pg_temp.redshift_standin_probe'::regclass);
        drop view pg_temp.redshift_standin_probe;
        if had <> has then
            raise exception using errcode = '0A000', message = format(
                'Redshift refuses this statement [view-replacement]: CREATE OR REPLACE VIEW '
                || 'needs the identical set of columns, names and types: %s has (%s), the '
                || 'replacement (%s). AWS: https://docs.aws.amazon.com/redshift/latest/dg/'
                || 'r_CREATE_VIEW.html -- statement: %s', target, had, has, left(ddl, 600));
        end if;
    end if;
    execute ddl;
end $$;

create or replace function pg_catalog.redshift_standin_copy_rows(payload jsonb)
    returns setof jsonb language plpgsql as $$
begin
    perform set_config('redshift_standin.last_copy_count',
        jsonb_array_length(payload)::text, false);
    return query select jsonb_array_elements(payload);
end $$;

create or replace function pg_catalog.redshift_standin_refuse(code text, message text)
    returns void language plpgsql as $$
begin
    raise exception using errcode = code, message = message;
end $$;
"""

SYSTEM_VIEWS = rf"""
create or replace view pg_catalog.sys_load_error_detail as
select userid as user_id, query::bigint as query_id, transaction_id, session as session_id,
    database_name, tbl as table_id, starttime as start_time, filename as file_name,
    line_number, colname as column_name, type as column_type, col_length as column_length,
    position, err_code as error_code, err_reason::character(512) as error_message
from {INTERNAL}.load_errors;

create or replace view pg_catalog.svv_table_info as
select current_database()::text as database, n.nspname::text as schema, c.oid::integer
    as table_id, c.relname::text as "table", 'N'::char(1) as encoded, 'AUTO(ALL)'::text
    as diststyle, null::text as sortkey1, 0::integer as max_varchar, null::text
    as sortkey1_enc, 0::integer as sortkey_num, 1::bigint as size, 0::numeric(10, 4)
    as pct_used, 0::bigint as empty, null::numeric(5, 2) as unsorted, null::numeric(5, 2)
    as stats_off, c.reltuples::numeric(38, 0) as tbl_rows, null::numeric(19, 2)
    as skew_sortkey1, null::numeric(19, 2) as skew_rows, c.reltuples::numeric(38, 0)
    as estimated_visible_rows, null::text as risk_event, null::numeric(12, 2)
    as vacuum_sort_benefit, null::timestamp as create_time
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where c.relkind = 'r' and n.nspname not in ('pg_catalog', 'information_schema', '{INTERNAL}')
and n.nspname not like 'pg_toast%';

create or replace view pg_catalog.svv_external_columns as
select null::text as schemaname, null::text as tablename, null::text as columnname,
    null::text as external_type, null::integer as columnnum, null::integer as part_key,
    null::text as is_nullable
where false;
"""

PROVISIONED_VIEWS = rf"""
create or replace view pg_catalog.stl_load_errors as
select userid, slice, tbl, starttime, session, query, filename, line_number, colname, type,
    col_length, position, raw_line, raw_field_value, err_code, err_reason, is_partial,
    start_offset, copy_job_id
from {INTERNAL}.load_errors;
"""


def install(connection: Any, flavour: str) -> None:
    """Make the connected database answer as a Redshift database of ``flavour``
    (``provisioned`` or ``serverless``). Idempotent."""
    from support.redshift_standin.rules import SERVERLESS

    previous = connection.autocommit
    connection.autocommit = True
    with connection.cursor() as cur:
        cur.execute("set allow_system_table_mods = on")
        cur.execute(FUNCTIONS)
        cur.execute(INTERNALS)
        cur.execute(SYSTEM_VIEWS)
        if flavour == SERVERLESS:
            cur.execute("drop view if exists pg_catalog.stl_load_errors")
        else:
            cur.execute(PROVISIONED_VIEWS)
    connection.autocommit = previous
