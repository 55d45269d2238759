{% macro first_copy_order() -%}
    {#- Which staged copy of a record wins when it was staged more than once (a duplicated or
        re-exported file): the one committed first, then by object key and line. -#}
    loaded_at, source_key, source_line
{%- endmacro %}
