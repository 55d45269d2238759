{% macro sparkify_require_staged() -%}
    {#- on-run-start: a build or run of models before the loader has staged anything stops at
        once, saying what to do, instead of failing every staging view on a missing table and
        skipping everything after them. -#}
    {%- set models = [] -%}
    {%- for unique_id in (selected_resources if execute else []) if unique_id.startswith('model.') -%}
        {%- do models.append(unique_id) -%}
    {%- endfor -%}
    {%- if execute and flags.WHICH in ['build', 'run'] and models -%}
        {%- set missing = [] -%}
        {%- for name in ['load_ledger', 'staging_events', 'staging_songs'] -%}
            {%- if adapter.get_relation(target.database, 'staging', name) is none -%}
                {%- do missing.append('staging.' ~ name) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if missing -%}
            {{ exceptions.raise_compiler_error(
                missing | join(', ') ~ ' not found in ' ~ target.name ~ ' (' ~ target.type
                ~ '): run the loader first, e.g. `python loader/copy_staging.py --target '
                ~ target.name ~ ' --source s3://udacity-dend` (or `make demo`), then dbt '
                ~ flags.WHICH) }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
