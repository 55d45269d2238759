{#-
    Data tests that cost what changed.

    A generic test on a model built with the changed_keys strategy checks only the rows of the
    keys its latest build changed (staging.build_changes), which still catches a new row that
    collides with an old one: both have the key. A relationships test also checks the rows
    whose foreign key the parent's latest build changed, so a parent key that disappears
    under old rows is caught too. After a full build, and with `--vars '{full_checks: true}'`
    (`make check`), every test checks every row.
-#}

{% macro default__get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- set scope = sparkify_test_scope() -%}
    {%- set conditions = [where, scope] | select | list -%}
    {%- if conditions -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ conditions | join(' and ') }}) dbt_subquery
        {%- endset -%}
        {% do return(filtered) %}
    {%- else -%}
        {% do return(relation) %}
    {%- endif -%}
{%- endmacro %}

{% macro sparkify_test_scope() -%}
    {#- The predicate that limits a generic test to what changed, or '' for every row. -#}
    {%- if not execute or sparkify_full_checks() -%}
        {{ return('') }}
    {%- endif -%}
    {%- set tested_id = model.get('attached_node') -%}
    {%- set tested = graph.nodes.get(tested_id) if tested_id else none -%}
    {%- if tested is none or not sparkify_is_tracked(tested) -%}
        {{ return('') }}
    {%- endif -%}
    {%- set scopes = [sparkify_changed_keys_filter(tested.name, tested.config.unique_key)] -%}
    {%- if model.get('test_metadata', {}).get('name') == 'relationships' -%}
        {%- for parent_id in model.depends_on.nodes if parent_id != tested_id -%}
            {%- set parent = graph.nodes.get(parent_id) -%}
            {%- if parent is not none and sparkify_is_tracked(parent) -%}
                {%- do scopes.append(sparkify_changed_keys_filter(
                    parent.name, model.test_metadata.kwargs.column_name, parent)) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if 'true' in scopes -%}
        {{ return('') }}
    {%- endif -%}
    {{ return('(' ~ scopes | join(' or ') ~ ')') }}
{%- endmacro %}

{% macro sparkify_full_checks() -%}
    {{ return(var('full_checks', false) in [true, 'true', 'True', 1, '1']) }}
{%- endmacro %}

{% macro sparkify_changed_keys_filter(model_name, column, node=none) -%}
    {#- A predicate on `column`: it holds a key the latest build of `model_name` changed
        (typed as that model's key); 'true' when that build was a full one or with
        full_checks. -#}
    {%- if not execute or sparkify_full_checks() -%}
        {{ return('true') }}
    {%- endif -%}
    {%- set changes = sparkify_build_changes() -%}
    {%- if adapter.get_relation(changes.database, changes.schema, changes.identifier) is none -%}
        {{ return('true') }}
    {%- endif -%}
    {%- set node = node or graph.nodes['model.sparkify.' ~ model_name] -%}
    {%- set key = node.config.unique_key -%}
    {%- set key_type = node.columns[key].data_type -%}
    {%- set full -%}
        select count(*) from {{ sparkify_build_changes() }}
        where model_name = '{{ model_name }}' and key_value is null
    {%- endset -%}
    {%- if run_query(full).rows[0][0] > 0 -%}
        {{ return('true') }}
    {%- endif -%}
    {{ return(column ~ " in (select cast(changed.key_value as " ~ key_type ~ ") from "
        ~ sparkify_build_changes() ~ " as changed where changed.model_name = '"
        ~ model_name ~ "')") }}
{%- endmacro %}
