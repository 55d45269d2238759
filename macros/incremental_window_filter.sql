{% macro incremental_window_filter(source_column, built_column) -%}
    {#- A predicate: on an incremental run `<source_column>` after max(<built_column>) of this
        model minus var('lookback_hours'); on a full build `true`. -#}
    {%- if sparkify_is_incremental() -%}
        {{ source_column }} > (
            select {{ dbt.dateadd('hour', -1 * var('lookback_hours'), 'max(' ~ built_column ~ ')') }}
            from {{ this }}
        )
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
