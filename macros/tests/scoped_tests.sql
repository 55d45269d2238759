{#-
    Data tests that cost what changed.

    A generic test on a model built with the changed_keys strategy checks only the rows of the
    keys its builds changed since they were last audited (staging.build_changes: the latest
    build's, and those of earlier builds whose tests failed), which still catches a new row that
    collides with an old one: both have the key. A relationships test also checks the rows
    whose foreign key the parent's unaudited builds removed, so a parent key that disappears
    under old rows is caught too (a parent row rebuilt under its key cannot break one). After a full
    build, and with `--vars '{full_checks: true}'` (`make check`), every test checks every row.

    The rows to check are read once: each build of a tracked model, as its last step in its
    transaction, copies the model's rows of every unaudited key into `<model>__unaudited`
    beside it (sparkify_take_unaudited_rows), and the tests, and the publish, read that copy
    instead of each scanning the whole table for the keys (a late song rematches plays of every
    day, so no prune range narrows that scan). The copy is taken from the table after the
    build wrote it, so a row the build left behind under a changed key is in it too.
-#}

{% macro default__get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- set scope = sparkify_test_scope(relation) -%}
    {%- set conditions = [where, scope.predicate] | select | list -%}
    {%- if conditions -%}
        {%- set filtered -%}
            (select * from {{ scope.relation }} where {{ conditions | join(' and ') }}) dbt_subquery
        {%- endset -%}
        {% do return(filtered) %}
    {%- else -%}
        {% do return(relation) %}
    {%- endif -%}
{%- endmacro %}

{% macro sparkify_test_scope(relation) -%}
    {#- What a generic test on `relation` reads: {relation, predicate}, the predicate limiting it
        to what changed ('' for every row). -#}
    {%- set every_row = {'relation': relation, 'predicate': ''} -%}
    {%- if not execute or flags.INTROSPECT == false or sparkify_full_checks() -%}
        {{ return(every_row) }}
    {%- endif -%}
    {%- set tested_id = model.get('attached_node') -%}
    {%- set tested = graph.nodes.get(tested_id) if tested_id else none -%}
    {%- if tested is none or not sparkify_is_tracked(tested) -%}
        {{ return(every_row) }}
    {%- endif -%}
    {%- set own = sparkify_unaudited_rows(relation, tested, prune=tested.config.get('prune_by')) -%}
    {%- set scopes = [own.predicate] -%}
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
        {{ return(every_row) }}
    {%- elif scopes | length == 1 -%}
        {{ return(own) }}
    {%- endif -%}
    {#- rows the copy does not hold (an old row whose parent key went): the table itself -#}
    {{ return({'relation': relation, 'predicate': '(' ~ scopes | join(' or ') ~ ')'}) }}
{%- endmacro %}

{% macro sparkify_unaudited_rows(relation, node, prune=none, invocations=none) -%}
    {#- The rows of a tracked model's keys not yet audited (of `invocations` only, when given):
        {relation, predicate}, the model's copy of them when its build took one, else the
        model's table. The predicate is sparkify_changed_keys_filter's: 'true' (every row),
        'false' (none) or the keys, which it also applies to the copy (whose rows are the
        model's rows of the keys unaudited when it was taken: some may be audited since). -#}
    {%- if not execute or flags.INTROSPECT == false or sparkify_full_checks() -%}
        {{ return({'relation': relation, 'predicate': 'true'}) }}
    {%- endif -%}
    {%- set predicate = sparkify_changed_keys_filter(
        node.name, node.config.unique_key, node, prune=prune, invocations=invocations) -%}
    {%- if predicate not in ['true', 'false'] -%}
        {%- set copy = sparkify_unaudited_relation(relation) -%}
        {%- if adapter.get_relation(copy.database, copy.schema, copy.identifier) is not none -%}
            {{ return({'relation': copy, 'predicate': predicate}) }}
        {%- endif -%}
    {%- endif -%}
    {{ return({'relation': relation, 'predicate': predicate}) }}
{%- endmacro %}

{% macro sparkify_unaudited_relation(relation) -%}
    {#- `<model>__unaudited`, beside the model -#}
    {{ return(api.Relation.create(
        database=relation.database, schema=relation.schema,
        identifier=relation.identifier ~ '__unaudited', type='table')) }}
{%- endmacro %}

{% macro sparkify_take_unaudited_rows() -%}
    {#- post-hook of every model, inside the build's transaction: for a tracked model, replace
        its copy of the rows of its unaudited keys (read after this build recorded and wrote
        its changes, so the bounds are literals). The copy is taken when those rows are under
        half of what the tests would otherwise scan (the rows within their prune range, or the
        table): a late song's plays, spread over every day, not a new day's. Every write of a
        tracked model's table is a build of it, which ends here, so a copy holds what the table
        holds for those keys. -#}
    {%- if not execute or not sparkify_is_tracked() -%}
        {{ return('') }}
    {%- endif -%}
    {%- set node = graph.nodes[model.unique_id] -%}
    {%- set prune = node.config.get('prune_by') -%}
    {%- set copy = sparkify_unaudited_relation(this) -%}
    {%- set unaudited = sparkify_unaudited_counts(node.name, node, prune=prune) -%}
    {%- set scope = sparkify_changed_keys_filter(node.name, node.config.unique_key, node,
        prune=prune, counts=unaudited) -%}
    {%- set worth_it = false -%}
    {%- if scope not in ['true', 'false'] -%}
        {%- set scanned -%}
            select count(*) from {{ this }}
            {%- if prune and unaudited.low is not none %}
            where {{ prune }} between {{ sparkify_literal(unaudited.low, unaudited.prune_type) }}
            and {{ sparkify_literal(unaudited.high, unaudited.prune_type) }}
            {%- endif %}
        {%- endset -%}
        {%- set worth_it = unaudited.changed * 2 < run_query(scanned).rows[0][0] -%}
    {%- endif %}
    drop table if exists {{ copy }}
    {%- if not worth_it %}
        {%- do adapter.cache_dropped(copy) %}
    {%- else -%};
    create table {{ copy }} as
    select * from {{ this }}
    where {{ scope }}
        {%- do adapter.cache_added(copy) %}
    {%- endif %}
{%- endmacro %}

{% macro sparkify_full_checks() -%}
    {{ return(var('full_checks', false) in [true, 'true', 'True', 1, '1']) }}
{%- endmacro %}

{% macro sparkify_changed_keys_filter(
    model_name, column, node=none, prune=none, removed_only=false, prune_as=none,
    invocations=none, counts=none
) -%}
    {#- A predicate on `column`: it holds a key the unaudited builds of `model_name` changed (typed
        as that model's key), bounded by the model's `prune` column when given (every row of a
        key has the same value there; `prune_as` names the column that holds those values in the
        filtered relation, default `prune`); with `removed_only`, a key those builds removed;
        with `invocations`, only the changes those invocations recorded (the publish: exactly
        the changes it saw). 'false' when nothing changed (or was removed); 'true' after a full
        build, with full_checks, or compiling without a warehouse. The range's bounds are
        literals, read here (or given, as `counts`, by sparkify_unaudited_counts): zone maps
        (DuckDB) and sort keys (Redshift) skip every block outside them, where bounds computed
        by subqueries kept a scan of the whole table. -#}
    {%- if not execute or flags.INTROSPECT == false or sparkify_full_checks() -%}
        {{ return('true') }}
    {%- endif -%}
    {%- set node = node or graph.nodes['model.sparkify.' ~ model_name] -%}
    {%- set row = counts or sparkify_unaudited_counts(
        model_name, node, prune=prune, removed_only=removed_only, invocations=invocations) -%}
    {%- if row is none or row.full > 0 -%}
        {{ return('true') }}
    {%- elif row.changed == 0 or (removed_only and row.removed == 0) -%}
        {{ return('false') }}  {#- nothing changed since the last audit: nothing to check -#}
    {%- endif -%}
    {%- set keys -%}
        select cast(changed.key_value as {{ row.key_type }}) from {{ sparkify_build_changes() }} as changed
        where {{ row.scope }}{{ ' and changed.is_removed' if removed_only }}
    {%- endset -%}
    {%- set predicate = column ~ ' in (' ~ keys ~ ')' -%}
    {%- if prune and row.low is not none and row.high is not none -%}
        {%- set predicate = (prune_as or prune) ~ ' between '
            ~ sparkify_literal(row.low, row.prune_type) ~ ' and '
            ~ sparkify_literal(row.high, row.prune_type) ~ ' and ' ~ predicate -%}
    {%- endif -%}
    {{ return('(' ~ predicate ~ ')') }}
{%- endmacro %}

{% macro sparkify_unaudited_counts(
    model_name, node, prune=none, removed_only=false, invocations=none
) -%}
    {#- What staging.build_changes holds unaudited for a model (of `invocations`, when given):
        {changed, full, removed: counts of keys, of "everything" rows and of removed keys; low,
        high: the range of their `prune` values (of the removed keys', with removed_only);
        scope: the predicate on build_changes; key_type, prune_type}; none when the table is
        not there yet (compiling before any build). -#}
    {%- set changes = sparkify_build_changes() -%}
    {%- if adapter.get_relation(changes.database, changes.schema, changes.identifier) is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set prune_type = node.columns[prune].data_type if prune else none -%}
    {%- set scope -%}
        changed.model_name = '{{ model_name }}' and changed.audited_by is null
        {%- if invocations is not none %}
        and changed.invocation_id in ('{{ invocations | join("', '") }}')
        {%- endif %}
    {%- endset -%}
    {%- set query -%}
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
    {%- set row = run_query(query).rows[0] -%}
    {{ return({
        'changed': row[0], 'full': row[1], 'removed': row[2],
        'low': row[3] if prune else none, 'high': row[4] if prune else none,
        'scope': scope, 'key_type': node.columns[node.config.unique_key].data_type,
        'prune_type': prune_type}) }}
{%- endmacro %}

{% macro sparkify_literal(value, data_type) -%}
    {#- A value read from the warehouse, written back as a typed SQL literal. -#}
    {%- set text = value.isoformat(sep=' ') if value.hour is defined else value | string -%}
    {{ return("cast(" ~ sparkify_quote(text) ~ " as " ~ data_type ~ ")") }}
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
