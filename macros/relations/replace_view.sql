{% materialization view, adapter='postgres' -%}
    {{ return(sparkify_replace_view()) }}
{%- endmaterialization %}

{% materialization view, adapter='redshift' -%}
    {{ return(sparkify_replace_view()) }}
{%- endmaterialization %}

{% macro sparkify_replace_view() -%}
    {#- A view replaced in place, in one transaction: `create or replace view` when its columns
        keep their names and order (new ones may follow), else drop and create. dbt's own
        view materialization renames the old view aside and drops it after the commit, which
        a second build at the same time, or a build reading the view, can catch in between
        ("relation does not exist"); this one leaves no moment without the view. -#}
    {%- set existing = load_cached_relation(this) -%}
    {%- set target = this.incorporate(type='view') -%}
    {%- set grant_config = config.get('grants') -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {%- set replace_in_place = false -%}
    {%- if existing is not none and existing.is_view and not should_full_refresh() -%}
        {%- set old_names = adapter.get_columns_in_relation(existing) | map(attribute='name') | list -%}
        {%- set new_names = get_column_schema_from_query(sql) | map(attribute='name') | list -%}
        {%- set replace_in_place = old_names == new_names[:old_names | length] -%}
    {%- endif -%}
    {%- if existing is not none and not replace_in_place -%}
        {{ adapter.drop_relation(existing) }}
    {%- endif %}

    {% call statement('main') -%}
        create or replace view {{ target }} as (
            {{ sql }}
        )
    {%- endcall %}

    {%- do apply_grants(target, grant_config, should_revoke=should_revoke(existing, full_refresh_mode=True)) -%}
    {%- do persist_docs(target, model) -%}

    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {{ adapter.commit() }}
    {{ run_hooks(post_hooks, inside_transaction=False) }}

    {{ return({'relations': [target]}) }}
{%- endmacro %}
