{% macro strip_wrapping_quotes(column) -%}
    {#- The real user agents carry literal double quotes around the value: drop that one pair.
        SUBSTRING, not SUBSTR: Redshift runs SUBSTR on the leader node only, and it fails on
        table data there (docs/redshift-rules.md, leader-node-only). -#}
    case
        when
            length({{ column }}) >= 2
            and left({{ column }}, 1) = '"'
            and right({{ column }}, 1) = '"'
            then substring({{ column }}, 2, length({{ column }}) - 2)
        else {{ column }}
    end
{%- endmacro %}
