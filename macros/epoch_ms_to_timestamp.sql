{% macro epoch_ms_to_timestamp(column) -%}
    {{ return(adapter.dispatch('epoch_ms_to_timestamp', 'sparkify')(column)) }}
{%- endmacro %}

{% macro default__epoch_ms_to_timestamp(column) -%}
    (cast('1970-01-01 00:00:00' as timestamp) + {{ column }} * interval '1 millisecond')
{%- endmacro %}

{% macro duckdb__epoch_ms_to_timestamp(column) -%}
    epoch_ms({{ column }})
{%- endmacro %}

{% macro redshift__epoch_ms_to_timestamp(column) -%}
    {#- whole seconds through an interval (integer division, truncating toward zero like the
        remainder), then the milliseconds (dateadd takes an int) -#}
    dateadd(
        millisecond,
        cast({{ column }} % 1000 as integer),
        timestamp 'epoch' + (cast({{ column }} as bigint) / 1000) * interval '1 second'
    )
{%- endmacro %}
