{% macro strip_wrapping_quotes(column) -%}
    {#- The real user agents carry literal double quotes around the value: drop that one pair. -#}
    case
        when
            length({{ column }}) >= 2
            and left({{ column }}, 1) = '"'
            and right({{ column }}, 1) = '"'
            then substr({{ column }}, 2, length({{ column }}) - 2)
        else {{ column }}
    end
{%- endmacro %}
