{#-
    Data tests that cost what changed.

    A generic test on a model built with the changed_keys strategy checks only the rows of the
    keys its builds changed since they were last audited (staging.build_changes: the latest
    build's, and those of earlier builds whose tests failed), which still catches a new row that
    collides with an old one: both have the key. A relationships test also checks the rows
    whose foreign key the parent's unaudited builds removed, so a parent key that disappears
    under old rows is caught too (a parent row rebuilt under its key cannot break one). After a full
    build, and with `--vars '{full_checks: true}'` (`make check`), every test checks every row.
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
    {%- if not execute or flags.INTROSPECT == false or sparkify_full_checks() -%}
        {{ return('') }}
    {%- endif -%}
    {%- set tested_id = model.get('attached_node') -%}
    {%- set tested = graph.nodes.get(tested_id) if tested_id else none -%}
    {%- if tested is none or not sparkify_is_tracked(tested) -%}
        {{ return('') }}
    {%- endif -%}
    {%- set scopes = [sparkify_changed_keys_filter(
        tested.name, tested.config.unique_key, tested, prune=tested.config.get('prune_by'))] -%}
    {%- if model.get('test_metadata', {}).get('name') == 'relationships' -%}
        {%- for parent_id in model.depends_on.nodes if parent_id != tested_id -%}
            {%- set parent = graph.nodes.get(parent_id) -%}
            {%- if parent is not none and sparkify_is_tracked(parent) -%}
                {%- set removed = sparkify_changed_keys_filter(
                    parent.name, model.test_metadata.kwargs.column_name, parent,
                    removed_only=true) -%}
                {%- if removed != 'false' -%}
                    {%- do scopes.append(removed) -%}
                {%- endif -%}
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

{% macro sparkify_changed_keys_filter(
    model_name, column, node=none, prune=none, removed_only=false, prune_as=none,
    invocations=none
) -%}
    {#- A predicate on `column`: it holds a key the unaudited builds of `model_name` changed (typed
        as that model's key), bounded by the model's `prune` column when given (every row of a
        key has the same value there; `prune_as` names the column that holds those values in the
        filtered relation, default `prune`); with `removed_only`, a key those builds removed;
        with `invocations`, only the changes those invocations recorded (the publish: exactly
        the changes it saw). 'false' when nothing changed (or was removed); 'true' after a full
        build, with full_checks, or compiling without a warehouse. The range's bounds are
        literals, read here: zone maps (DuckDB) and sort keys (Redshift) skip every block
        outside them, where bounds computed by subqueries kept a scan of the whole table. -#}
    {%- if not execute or flags.INTROSPECT == false or sparkify_full_checks() -%}
        {{ return('true') }}
    {%- endif -%}
    {%- set changes = sparkify_build_changes() -%}
    {%- if adapter.get_relation(changes.database, changes.schema, changes.identifier) is none -%}
        {{ return('true') }}
    {%- endif -%}
    {%- set node = node or graph.nodes['model.sparkify.' ~ model_name] -%}
    {%- set key_type = node.columns[node.config.unique_key].data_type -%}
    {%- set prune_type = node.columns[prune].data_type if prune else none -%}
    {%- set scope -%}
        changed.model_name = '{{ model_name }}' and changed.audited_by is null
        {%- if invocations is not none %}
        and changed.invocation_id in ('{{ invocations | join("', '") }}')
        {%- endif %}
    {%- endset -%}
    {%- set counts -%}
        select
            count(*),
            count(case when changed.key_value is null then 1 end),
            count(case when changed.is_removed then 1 end)
            {%- if prune %},
            min(cast(changed.prune_value as {{ prune_type }})),
            max(cast(changed.prune_value as {{ prune_type }}))
            {%- endif %}
        from {{ changes }} as changed
        where {{ scope }}{{ ' and changed.is_removed' if removed_only and prune }}
    {%- endset -%}
    {%- set row = run_query(counts).rows[0] -%}
    {%- set changed, full, removed = row[0], row[1], row[2] -%}
    {%- if full > 0 -%}
        {{ return('true') }}
    {%- elif changed == 0 or (removed_only and removed == 0) -%}
        {{ return('false') }}  {#- nothing changed since the last audit: nothing to check -#}
    {%- endif -%}
    {%- set keys -%}
        select cast(changed.key_value as {{ key_type }}) from {{ changes }} as changed
        where {{ scope }}{{ ' and changed.is_removed' if removed_only }}
    {%- endset -%}
    {%- set predicate = column ~ ' in (' ~ keys ~ ')' -%}
    {%- if prune and row[3] is not none and row[4] is not none -%}
        {%- set predicate = (prune_as or prune) ~ ' between '
            ~ sparkify_literal(row[3], prune_type) ~ ' and ' ~ sparkify_literal(row[4], prune_type)
            ~ ' and ' ~ predicate -%}
    {%- endif -%}
    {{ return('(' ~ predicate ~ ')') }}
{%- endmacro %}

{% macro sparkify_literal(value, data_type) -%}
    {#- A value read from the warehouse, written back as a typed SQL literal. -#}
    {%- set text = value.isoformat(sep=' ') if value.hour is defined else value | string -%}
    {{ return("cast('" ~ text | replace("'", "''") ~ "' as " ~ data_type ~ ")") }}
{%- endmacro %}

{% macro default__test_relationships(model, column_name, to, field) -%}
    {#- dbt's relationships test, reading of the parent only the keys the (scoped) child
        holds, bounded by their range: the same answer without a hash table of the whole
        parent (`time` has a row per play). -#}
with child as (
    select {{ column_name }} as from_field
    from {{ model }}
    where {{ column_name }} is not null
),

parent as (
    select {{ field }} as to_field
    from {{ to }}
    where
        {{ sparkify_within(field, 'child', 'from_field') }}
        and {{ field }} in (select from_field from child)
)

select from_field
from child
left join parent on child.from_field = parent.to_field
where parent.to_field is null
{%- endmacro %}
