{#-
    The `changed_keys` incremental strategy: one idea for every incremental model.

    A model is a function of its inputs grouped by its unique key. An incremental build finds the
    keys whose inputs the batches it takes in changed (added, replaced or withdrawn rows: see
    batches.sql), recomputes those keys from all of their current inputs, and replaces them:
    every row of a changed key is deleted and the recomputed rows are inserted. A key that has
    no inputs left comes back as a *removed key*: a row that holds nothing but the key (and the
    prune column), which deletes the key and is not inserted. Keys whose inputs did not change
    are left as they are, so the result is the full build's, at the cost of what changed.

    Config: unique_key (one column); prune_by (optional): a column that is a function of the
    key (a play's start time), used to bound the delete's scan of the table to the changed range.
-#}

{% macro get_incremental_changed_keys_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set key = arg_dict['unique_key'] -%}
    {%- set prune = config.get('prune_by') -%}
    {%- if key is none or key is not string -%}
        {{ exceptions.raise_compiler_error(
            "the changed_keys strategy needs unique_key set to one column in " ~ this) }}
    {%- endif -%}
    {%- if '-- sparkify build: incremental' not in (model.get('compiled_code') or '') -%}
        {{ exceptions.raise_compiler_error(
            this ~ " uses the changed_keys strategy without {{ sparkify_build_comment(...) }}") }}
    {%- endif -%}
    {%- set names = arg_dict['dest_columns'] | map(attribute='name') | list -%}
    {%- set carried = [key, prune] | select | map('lower') | list -%}
    {%- set values = names | reject('in', carried) | list -%}
    {%- set quoted = [] -%}
    {%- for name in names -%}{%- do quoted.append(adapter.quote(name)) -%}{%- endfor -%}
    {%- if not (sparkify_compiled_batches().values() | select | list) %}
    {#- no batch to read: nothing changes, and the scoped tests have nothing to check -#}
    {{ sparkify_record_changes(
        'select cast(null as varchar(1024)) as key_value, cast(null as varchar(64)) as prune_value,'
        ~ ' cast(null as boolean) as is_removed where 1 = 0') }}
    {%- else %}
    {#- first what this build changes (for the scoped tests; a removed key only counts when
        it was there: the table is read for the removed keys alone, so a build that removes
        nothing does not scan it), then the delete, then the insert -#}
    {%- set nothing_left = [] -%}
    {%- for name in values -%}
        {%- do nothing_left.append(adapter.quote(name) ~ ' is null') -%}
    {%- endfor -%}
    {%- set nothing_left = nothing_left | join(' and ') or 'true' %}
    {% set changed -%}
        select
            cast(rebuilt.{{ key }} as varchar(1024)) as key_value,
            cast({{ 'rebuilt.' ~ prune if prune else 'null' }} as varchar(64)) as prune_value,
            (built.{{ key }} is not null) as is_removed
        from {{ source }} as rebuilt
        left join (
            select {{ key }} from {{ target }}
            where {{ key }} in (select {{ key }} from {{ source }} where {{ nothing_left }})
            {%- if prune %} and {{ sparkify_within(prune, source, prune) }}{% endif %}
        ) as built on rebuilt.{{ key }} = built.{{ key }}
    {%- endset %}
    {{ sparkify_record_changes(changed) }};

    delete from {{ target }}
    where {{ key }} in (select {{ key }} from {{ source }})
    {%- if prune %}
        and {{ sparkify_within(prune, source, prune) }}
    {%- endif %};

    insert into {{ target }} ({{ quoted | join(', ') }})
    select {{ quoted | join(', ') }}
    from {{ source }}
    where not ({{ nothing_left }})
    {%- endif %}
{%- endmacro %}

{% macro sparkify_removed_keys(changed, built, key, prune=none, final='final') -%}
    {#- The changed keys that have no row in `built` (the recomputed rows, or any relation with
        their keys), as removed-key rows: the key (and prune column) and a typed null in every
        other column, in the model's documented column order. Use as `select ... from final
        union all <this>`. Unit tests do not see the model's YAML: there the removed keys are
        left out, as no row shaped like `final` (the property tests in tests/python/dbt run
        them on every engine). -#}
    {%- set columns = sparkify_model_columns() -%}
    {%- if not columns %}
    select * from {{ final }} where 1 = 0
    {%- else %}
    select
    {%- for column in columns %}
        {%- if column.name == key or column.name == prune %}
        cast({{ changed }}.{{ column.name }} as {{ column.data_type }}) as {{ column.name }}
        {%- else %}
        cast(null as {{ column.data_type }}) as {{ column.name }}
        {%- endif %}{{ ',' if not loop.last }}
    {%- endfor %}
    from {{ changed }}
    where not exists (
        select 1 from {{ built }} where {{ built }}.{{ key }} = {{ changed }}.{{ key }}
    )
    {%- endif %}
{%- endmacro %}

{% macro sparkify_columns() -%}
    {#- The model's documented columns, in order (`*` inside unit tests, which lack them). -#}
    {%- for column in sparkify_model_columns() -%}
        {{ column.name }}{{ ', ' if not loop.last }}
    {%- else -%}
        *
    {%- endfor -%}
{%- endmacro %}

{% macro sparkify_model_columns() -%}
    {{ return(model.get('columns', {}).values() | list) }}
{%- endmacro %}

{% macro sparkify_within(column, relation, low, high=none, build=none) -%}
    {#- A predicate bounding `column` to the range a relation of changes covers, min(`low`) to
        max(`high`, default `low`): constant once computed, so zone maps skip every block of
        older history before any other predicate or join runs. No change: no row; and with the
        model's `build` given, a build with no batch to read says so as a constant, which
        engines fold before reading anything. -#}
    {%- if build is not none and build.nothing -%}
    1 = 0
    {%- else -%}
    {{ column }} between (select min(changed_range.{{ low }}) from {{ relation }} as changed_range)
    and (select max(changed_range.{{ high or low }}) from {{ relation }} as changed_range)
    {%- endif -%}
{%- endmacro %}

{% macro sparkify_prune_order(build) -%}
    {#- The end of a model with a prune column: a full build writes its rows in that column's
        order, so each block of the table holds a narrow range of it and the range bounds of
        later builds, tests and publishes skip the rest of history (zone maps on DuckDB; the
        sort key does it on Redshift). Unordered, every block of a month spans the month, and a
        new day's delete and publish read all of history. An incremental build appends its
        changed keys, which lie in their own narrow range (a day) already. -#}
    {%- set prune = config.get('prune_by') -%}
    {%- if prune and not build.incremental %}
order by {{ prune }}
    {%- endif %}
{%- endmacro %}
