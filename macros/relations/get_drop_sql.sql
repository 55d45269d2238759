{% macro postgres__get_drop_sql(relation) -%}
    {#- dbt's drop, except for a relation its cache only knows as "external": a view another
        dbt invocation created meanwhile (its __dbt_tmp or __dbt_backup), which dbt's cache
        records, untyped, from PostgreSQL's view dependencies. `drop external` is no SQL: drop
        it as what PostgreSQL says it is. Redshift (which dispatches here too) keeps dbt's. -#}
    {%- if target.type == 'postgres' and relation.type == 'external' -%}
    do $sparkify_drop$
    declare
        kind "char";
    begin
        select c.relkind into kind
        from pg_catalog.pg_class as c
        inner join pg_catalog.pg_namespace as n on c.relnamespace = n.oid
        where n.nspname = '{{ relation.schema }}' and c.relname = '{{ relation.identifier }}';
        if kind = 'v' then
            execute 'drop view if exists {{ relation.render() }} cascade';
        elsif kind = 'm' then
            execute 'drop materialized view if exists {{ relation.render() }} cascade';
        elsif kind in ('r', 'p') then
            execute 'drop table if exists {{ relation.render() }} cascade';
        end if;
    end
    $sparkify_drop$
    {%- else -%}
    {{ dbt.default__get_drop_sql(relation) }}
    {%- endif -%}
{%- endmacro %}
