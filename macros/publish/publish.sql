{#-
    Write-Audit-Publish: analysts read only what passed every test.

    Write: dbt builds the marts in the schema `analytics_audit`, incrementally. Audit: their data
    tests check every change not yet audited (staging.build_changes, macros/tests). Publish: the
    on-run-end hook of `dbt build` (or `dbt test`) copies into `analytics`, the schema analysts,
    the report and BI tools read, every mart the invocation built and fully tested, when every
    node of the invocation passed, in one transaction, so analysts see the whole build or none
    of it. A mart is published at the cost of what changed: the rows of the keys its builds
    changed since its last publish are deleted and inserted again (bounded by its prune column);
    after a full build or a change of its columns it is copied whole. When anything failed,
    `analytics` stays exactly as it was, the changes stay unaudited (the next build tests them
    again, with its own, and publishes them all), and the log names what failed and where its
    SQL is. The same statements on DuckDB, PostgreSQL and Redshift: a transaction over delete
    and insert is what all three do natively (Redshift's ALTER TABLE APPEND cannot run inside
    one, and moves rows out of the audited table).
-#}

{% macro sparkify_audit_schema() -%}
    {#- where dbt builds the marts (dbt_project.yml: models.sparkify.marts.+schema) -#}
    {{ return('analytics_audit') }}
{%- endmacro %}

{% macro sparkify_publish_schema() -%}
    {#- where analysts read them -#}
    {{ return('analytics') }}
{%- endmacro %}

{% macro sparkify_publish(results) -%}
    {#- on-run-end: decide, log and return the publish transaction ('' for none). -#}
    {%- if not execute or flags.WHICH not in ['build', 'test', 'retry', 'run'] -%}
        {{ return('') }}
    {%- endif -%}
    {%- set published = sparkify_publish_schema() -%}
    {%- if flags.WHICH == 'run' -%}
        {%- if results | selectattr('node.resource_type', 'equalto', 'model') | list -%}
            {%- do log(published ~ " not published: dbt run builds " ~ sparkify_audit_schema()
                ~ " without testing it; dbt build (or dbt test) audits and publishes", info=true) -%}
        {%- endif -%}
        {{ return(sparkify_record_run('untested')) }}
    {%- endif -%}
    {%- set failed = results | selectattr('status', 'in', ['error', 'fail', 'runtime error']) | list -%}
    {%- set skipped = results | selectattr('status', 'equalto', 'skipped') | list -%}
    {%- if failed or skipped -%}
        {%- do log(published ~ " not published, left as it was: " ~ failed | length
            ~ " of this invocation's nodes did not pass"
            ~ (" and " ~ skipped | length ~ " were skipped after them" if skipped else ""),
            info=true) -%}
        {%- for result in failed -%}
            {%- set rows = ' (' ~ result.failures ~ ' rows)' if result.failures else '' -%}
            {%- do log('  ' ~ result.node.resource_type ~ ' ' ~ result.node.name ~ ': '
                ~ result.status ~ rows ~ ', SQL in '
                ~ (result.node.compiled_path or result.node.original_file_path), info=true) -%}
        {%- endfor -%}
        {%- do log("  see the failing rows with dbt test --select <name> --store-failures; the next "
            ~ "dbt build tests these changes again and publishes them once they pass", info=true) -%}
        {%- set names = [] -%}
        {%- for result in failed -%}
            {%- do names.append(result.node.resource_type ~ ' ' ~ result.node.name ~ ' ('
                ~ result.status ~ ')') -%}
        {%- endfor -%}
        {{ return(sparkify_record_run('failed', failed=names[:20] | join('; '))) }}
    {%- endif -%}
    {%- set audited = sparkify_audited_models(results) -%}
    {%- if not audited -%}
        {{ return(sparkify_record_run('passed')) }}
    {%- endif -%}
    {%- set planned = sparkify_publish_plan(audited) -%}
    {%- set plan, seen = planned.marts, planned.invocations -%}
    {%- set changed = plan | rejectattr('how', 'equalto', 'none') | list -%}
    {%- if changed -%}
        {%- set described = [] -%}
        {%- for mart in changed -%}
            {%- do described.append(mart.name ~ ' (' ~ mart.why ~ ')') -%}
        {%- endfor -%}
        {%- do log("publishing to " ~ published ~ ": " ~ described | join(', '), info=true) -%}
    {%- elif plan -%}
        {%- do log(published ~ " is up to date: nothing changed since the last publish", info=true) -%}
    {%- endif -%}
    {%- set sql = sparkify_publish_sql(plan, audited | map(attribute='name') | list, seen) -%}
    {#- the reads above (and the filters') opened a transaction on this connection: the publish
        is one of its own -#}
    {%- do adapter.commit() -%}
    {{ return(sql) }}
{%- endmacro %}

{% macro sparkify_record_run(outcome, published=[], failed='', in_transaction=false) -%}
    {#- The row of staging.build_runs for this invocation (the report's provenance reads it):
        its own transaction, or a statement of the caller's. -#}
    {%- set now = modules.datetime.datetime.now(modules.pytz.utc) -%}
    {%- set insert -%}
    insert into {{ sparkify_build_runs() }}
        (invocation_id, command, started_at, finished_at, outcome, published, failed)
    values (
        '{{ invocation_id }}', '{{ flags.WHICH }}',
        cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as timestamp),
        cast('{{ now.strftime("%Y-%m-%d %H:%M:%S") }}' as timestamp),
        {{ sparkify_quote(outcome) }}, {{ sparkify_quote(published | join(", ")) }},
        {{ sparkify_quote(sparkify_cut_bytes(failed, 4000)) }}
    )
    {%- endset -%}
    {%- if in_transaction -%}
        {{ return(insert) }}
    {%- endif -%}
    {#- nothing was read on this connection since dbt cleared it for the hooks: no
        transaction is open, so this is one of its own -#}
    {{ return('begin;
' ~ insert ~ ';
commit') }}
{%- endmacro %}

{% macro sparkify_audited_models(results) -%}
    {#- The tracked models this invocation audited: built or tested here, with every data test
        that reads them run here and passed (the caller has checked that nothing failed). A
        model built with some of its tests deselected is not published. -#}
    {%- set ran = [] -%}
    {%- for result in results -%}
        {%- do ran.append(result.node.unique_id) -%}
    {%- endfor -%}
    {%- set audited = [] -%}
    {%- for node in graph.nodes.values() if sparkify_is_tracked(node) -%}
        {%- set tests = [] -%}
        {%- for test in graph.nodes.values()
            if test.resource_type == 'test' and node.unique_id in test.depends_on.nodes -%}
            {%- do tests.append(test.unique_id) -%}
        {%- endfor -%}
        {%- set missing = tests | reject('in', ran) | list -%}
        {%- set touched = node.unique_id in ran or (tests | select('in', ran) | list) -%}
        {%- if touched and not missing -%}
            {%- do audited.append(node) -%}
        {%- elif touched and node.schema == sparkify_audit_schema() -%}
            {%- do log(node.name ~ " not published: " ~ missing | length
                ~ " of its tests were not selected", info=true) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(audited) }}
{%- endmacro %}

{% macro sparkify_publish_plan(audited) -%}
    {#- How each audited mart is published: 'delta' (the changed keys), 'copy' (whole, into a
        published table of the same columns), 'extend' (columns added at the end: added to the
        published table, then whole, so views built on it stay), 'replace' (whole, into a new
        table: the first publish, or the columns changed otherwise; refused, naming them, when
        views depend on the published table) or 'none'. -#}
    {%- set counts = {} -%}
    {%- set invocations = [] -%}
    {%- set query -%}
        select model_name, invocation_id, count(*), count(case when key_value is null then 1 end)
        from {{ sparkify_build_changes() }}
        where audited_by is null
        group by model_name, invocation_id
    {%- endset -%}
    {%- for name, invocation, changes, whole in run_query(query).rows -%}
        {%- set before = counts.get(name, [0, 0]) -%}
        {%- do counts.update({name: [before[0] + changes, before[1] + whole]}) -%}
        {%- do invocations.append(invocation) -%}
    {%- endfor -%}
    {%- set plan = [] -%}
    {%- for node in audited if node.schema == sparkify_audit_schema() -%}
        {%- set changes, whole = counts.get(node.name, [0, 0]) -%}
        {%- set target = adapter.get_relation(
            database=node.database, schema=sparkify_publish_schema(), identifier=node.alias) -%}
        {%- set working = api.Relation.create(
            database=node.database, schema=node.schema, identifier=node.alias) -%}
        {%- set published_layout = sparkify_column_layout(target) if target is not none else [] -%}
        {%- set working_layout = sparkify_column_layout(working) -%}
        {%- if target is none -%}
            {%- do plan.append({'name': node.name, 'how': 'replace', 'why': 'first publish'}) -%}
        {%- elif published_layout != working_layout
            and published_layout == working_layout[:published_layout | length] -%}
            {#- columns added at the end: added to the published table, which keeps what
                analysts built on it -#}
            {%- set added = [] -%}
            {%- for column in adapter.get_columns_in_relation(working)[published_layout | length:] -%}
                {%- do added.append([column.name, column.data_type]) -%}
            {%- endfor -%}
            {%- do plan.append({'name': node.name, 'how': 'extend', 'added': added,
                'why': added | length ~ ' columns added'}) -%}
        {%- elif published_layout != working_layout -%}
            {%- do sparkify_refuse_if_depended_on(target, 'is published with other columns than '
                ~ node.name ~ ' now has') -%}
            {%- do plan.append({'name': node.name, 'how': 'replace', 'why': 'its columns changed'}) -%}
        {%- elif whole > 0 -%}
            {%- do plan.append({'name': node.name, 'how': 'copy', 'why': 'a full build'}) -%}
        {%- elif changes > 0 -%}
            {%- do plan.append({'name': node.name, 'how': 'delta',
                'why': changes ~ ' changed keys'}) -%}
        {%- else -%}
            {%- do plan.append({'name': node.name, 'how': 'none', 'why': 'no change'}) -%}
        {%- endif -%}
    {%- endfor -%}
    {#- the changes this publish saw, by the invocations that recorded them: it publishes and
        marks audited those, and no change a build running meanwhile records (the next publish
        takes them) -#}
    {{ return({'marts': plan, 'invocations': invocations | unique | sort}) }}
{%- endmacro %}

{% macro sparkify_column_layout(relation) -%}
    {%- set layout = [] -%}
    {%- for column in adapter.get_columns_in_relation(relation) -%}
        {%- do layout.append(column.name | lower ~ ' ' ~ column.data_type | lower) -%}
    {%- endfor -%}
    {{ return(layout) }}
{%- endmacro %}

{% macro sparkify_publish_sql(plan, audited_names, invocations=none) -%}
    {#- One transaction: publish every mart of the plan, then mark every audited model's
        changes audited. Rendered from the plan and the models' documented columns alone, so it
        compiles for any target without a warehouse (tests/python/dbt). -#}
    {%- set changes = sparkify_build_changes() -%}
    begin;
    {{ sparkify_publish_lock() }};
    {%- if plan | selectattr('how', 'equalto', 'replace') | list %}
    create schema if not exists {{ adapter.quote(sparkify_publish_schema()) }};
    {%- endif %}
    {%- for mart in plan if mart.how != 'none' %}
        {%- set node = graph.nodes['model.sparkify.' ~ mart.name] -%}
        {%- set working = api.Relation.create(
            database=node.database, schema=node.schema, identifier=node.alias) -%}
        {%- set target = api.Relation.create(
            database=node.database, schema=sparkify_publish_schema(), identifier=node.alias) -%}
        {%- set columns = [] -%}
        {%- for name in node.columns.keys() -%}{%- do columns.append(adapter.quote(name)) -%}{%- endfor -%}
        {%- if mart.how == 'delta' %}
            {#- the rows from the build's copy of its unaudited rows, when it took one -#}
            {%- set changed = sparkify_unaudited_rows(
                working, node, prune=node.config.get('prune_by'), invocations=invocations) %}
    delete from {{ target }} where {{ changed.predicate }};
    insert into {{ target }} ({{ columns | join(', ') }})
    select {{ columns | join(', ') }} from {{ changed.relation }} where {{ changed.predicate }};
        {%- elif mart.how in ('copy', 'extend') %}
            {%- for name, data_type in mart.get('added', []) %}
    alter table {{ target }} add column {{ adapter.quote(name) }} {{ data_type }};
            {%- endfor %}
    delete from {{ target }};
    insert into {{ target }} ({{ columns | join(', ') }})
    select {{ columns | join(', ') }} from {{ working }};
            {%- if mart.how == 'extend' %}
    {{ sparkify_describe_published(target, node) }}
            {%- endif %}
        {%- else %}
    drop table if exists {{ target }};
    {{ sparkify_create_published(target, working) }};
    insert into {{ target }} ({{ columns | join(', ') }})
    select {{ columns | join(', ') }} from {{ working }};
    {{ sparkify_describe_published(target, node) }}
        {%- endif %}
    {%- endfor %}
    {%- if audited_names %}
    update {{ changes }} set audited_by = '{{ invocation_id }}'
    where audited_by is null and model_name in ('{{ audited_names | join("', '") }}')
    {%- if invocations is not none %}
        and invocation_id in ('{{ (invocations or ['none']) | join("', '") }}')
    {%- endif %};
    {%- endif %}
    {{ sparkify_record_run('passed', published=plan | rejectattr('how', 'equalto', 'none')
        | map(attribute='name') | list, in_transaction=true) }};
    commit
{%- endmacro %}

{% macro sparkify_publish_lock() -%}
    {{ return(adapter.dispatch('sparkify_publish_lock', 'sparkify')()) }}
{%- endmacro %}

{% macro default__sparkify_publish_lock() -%}
    {#- DuckDB: one process holds the file -#}
    select 1
{%- endmacro %}

{% macro postgres__sparkify_publish_lock() -%}
    {#- two invocations publish one after the other; released at commit -#}
    select pg_advisory_xact_lock(hashtext('sparkify-publish'))
{%- endmacro %}

{% macro redshift__sparkify_publish_lock() -%}
    {#- the writers' one lock order: the bookkeeping lock first (sparkify_bookkeeping_lock) -#}
    {{ sparkify_bookkeeping_lock() }}
{%- endmacro %}

{% macro sparkify_create_published(target, working) -%}
    {{ return(adapter.dispatch('sparkify_create_published', 'sparkify')(target, working)) }}
{%- endmacro %}

{% macro default__sparkify_create_published(target, working) -%}
    {#- DuckDB: the audited table's column types, no rows -#}
    create table {{ target }} as select * from {{ working }} where 1 = 0
{%- endmacro %}

{% macro postgres__sparkify_create_published(target, working) -%}
    {#- PostgreSQL: its types, not-null constraints and defaults -#}
    create table {{ target }} (like {{ working }} including defaults including constraints)
{%- endmacro %}

{% macro redshift__sparkify_create_published(target, working) -%}
    {#- Redshift: its types, not-null constraints, distribution, sort key and encodings -#}
    create table {{ target }} (like {{ working }})
{%- endmacro %}

{% macro sparkify_describe_published(target, node) -%}
    {#- The model's descriptions on the published table, for BI tools and psql's \d+ -#}
    comment on table {{ target }} is {{ sparkify_quote(node.description) }};
    {%- for name, column in node.columns.items() %}
    comment on column {{ target }}.{{ adapter.quote(name) }} is {{ sparkify_quote(column.description) }};
    {%- endfor %}
{%- endmacro %}

{% macro sparkify_quote(text) -%}
    {#- `text` as a string literal the engine reads back as `text`, for SQL rendered as text
        (DDL, comments, records): quotes doubled, and on Redshift, which reads a backslash
        inside a literal as an escape, backslashes too (docs/redshift-rules.md). -#}
    {{ return(adapter.dispatch('sparkify_quote', 'sparkify')(text)) }}
{%- endmacro %}

{% macro default__sparkify_quote(text) -%}
    {{ return("'" ~ (text | string | replace("'", "''")) ~ "'") }}
{%- endmacro %}

{% macro redshift__sparkify_quote(text) -%}
    {{ return("'" ~ (text | string | replace("\\", "\\\\") | replace("'", "''")) ~ "'") }}
{%- endmacro %}

{% macro sparkify_cut_bytes(text, limit) -%}
    {#- `text` cut to at most `limit` bytes of UTF-8, never inside a character: Redshift's
        VARCHAR widths count bytes -#}
    {{ return((text | string).encode('utf-8')[:limit].decode('utf-8', 'ignore')) }}
{%- endmacro %}
