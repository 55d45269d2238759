{% macro event_id(ts, user_id, session_id, item_in_session) -%}
    {#- md5 of the event's identity: the same event gets the same id on every engine and run. -#}
    {{ dbt.hash(dbt.concat([
        "coalesce(cast(" ~ ts ~ " as varchar), '')", "'|'",
        "coalesce(cast(" ~ user_id ~ " as varchar), '')", "'|'",
        "coalesce(cast(" ~ session_id ~ " as varchar), '')", "'|'",
        "coalesce(cast(" ~ item_in_session ~ " as varchar), '')"
    ])) }}
{%- endmacro %}
