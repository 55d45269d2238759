{% macro iso_weekday(column) -%}
    {{ return(adapter.dispatch('iso_weekday', 'sparkify')(column)) }}
{%- endmacro %}

{% macro default__iso_weekday(column) -%}
    cast(extract(isodow from {{ column }}) as integer)
{%- endmacro %}

{% macro redshift__iso_weekday(column) -%}
    {#- Redshift has no isodow: its dow is 0 = Sunday .. 6 = Saturday -#}
    cast((extract(dow from {{ column }}) + 6) % 7 + 1 as integer)
{%- endmacro %}
