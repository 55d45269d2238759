{{
    config(
        materialized='incremental',
        incremental_strategy='changed_keys',
        unique_key='start_time',
        prune_by='start_time',
        on_schema_change='fail',
        dist='start_time',
        sort=['start_time'],
    )
}}

{%- set build = sparkify_build() %}
{%- set incremental = build.incremental %}
{#- staging views, some read only incrementally: set here, so that dbt sees the refs #}
{%- set staged_events = ref('stg_events') %}
{%- set removed_events = ref('stg_removed_events') %}
{{ sparkify_build_comment(build) }}

with

{% if incremental %}
    -- the rows of staging_events a batch of this build staged or removed
    changes as (
        {{ sparkify_changed_rows(
            staged_events, removed_events, build, 'staging_events', 'event_at'
        ) }}
    ),

    changed_start_times as (
        -- when the events a batch of this build staged or removed a copy of happened
        select distinct changes.event_at as start_time
        from changes
    ),

{% endif -%}
events as (
    select * from {{ ref('int_events') }}
    {% if incremental %}
        where
            {{ sparkify_within('event_at', 'changed_start_times', 'start_time', build=build) }}
            and event_at in (select changed_start_times.start_time from changed_start_times)
    {% endif %}
),

start_times as (
    -- the times of the plays: songplays has one row per NextSong event of int_events, at its
    -- time; read from int_events, so time is built beside songplays rather than after it
    select distinct events.event_at as start_time
    from events
    where events.page = 'NextSong'
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

select {{ sparkify_columns() }} from final
{% if incremental %}
    union all
    {{ sparkify_removed_keys('changed_start_times', 'final', 'start_time', 'start_time') }}
{% endif %}
{{ sparkify_prune_order(build) }}
