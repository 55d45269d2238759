{% macro sparkify_songplays_predicates() -%}
    {{ return(adapter.dispatch('sparkify_songplays_predicates', 'sparkify')()) }}
{%- endmacro %}

{% macro default__sparkify_songplays_predicates() -%}
    {#- DuckDB and PostgreSQL: the unique-key delete is cheap enough without a bound. -#}
    {{ return([]) }}
{%- endmacro %}

{% macro redshift__sparkify_songplays_predicates() -%}
    {#- Bound the scan of the fact by delete+insert's delete: the model never re-inserts a play
        that is already built (it anti-joins them away), so no row outside the lookback window
        can match and the bound is always safe; zone maps then skip the older blocks. -#}
    {{ return([
        "staged_at >= (select " ~ dbt.dateadd('hour', -1 * var('lookback_hours'), 'max(staged_at)')
        ~ " from " ~ this ~ ")"
    ]) }}
{%- endmacro %}
