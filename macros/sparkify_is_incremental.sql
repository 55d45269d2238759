{% macro sparkify_is_incremental() -%}
    {#- dbt's is_incremental(), unless the var assume_incremental says which branch to compile:
        that lets `dbt compile --target redshift` check both branches without a cluster. -#}
    {%- set assumed = var('assume_incremental', none) -%}
    {%- if assumed is not none -%}
        {{ return(assumed in [true, 'true', 'True', 1, '1']) }}
    {%- endif -%}
    {{ return(is_incremental()) }}
{%- endmacro %}
