{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        dist='all',
        sort=['start_time'],
    )
}}

with

start_times as (
    select distinct plays.start_time from {{ ref('songplays') }} as plays
    {% if sparkify_is_incremental() %}
        -- only start times not built yet (exact whatever was missed: one column's anti-join)
        where not exists (
            select 1 from {{ this }} as built
            where built.start_time = plays.start_time
        )
    {% endif %}
),

final as (
    select
        cast(start_time as timestamp) as start_time,
        cast(extract(hour from start_time) as integer) as hour,
        cast(extract(day from start_time) as integer) as day,
        cast(extract(week from start_time) as integer) as week,
        cast(extract(month from start_time) as integer) as month,
        cast(extract(year from start_time) as integer) as year,
        {{ iso_weekday('start_time') }} as weekday
    from start_times
)

select * from final
