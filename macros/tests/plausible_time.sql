{% test plausible_time(model, column_name, earliest='2000-01-01', days_ahead=1) -%}
    {#- Rows whose time is implausible for a streaming service's events: before `earliest`
        (an epoch in seconds read as milliseconds lands in January 1970; a negative one before
        it) or more than `days_ahead` days after now (a year 2100). Meant for severity warn:
        the data is staged as it came and the build says how many rows look wrong. -#}
    select {{ column_name }}
    from {{ model }}
    where
        {{ column_name }} < cast('{{ earliest }}' as timestamp)
        or {{ column_name }} > cast({{ dbt.dateadd('day', days_ahead, dbt.current_timestamp()) }} as timestamp)
{%- endtest %}
