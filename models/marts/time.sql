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
start_times as (
    select distinct plays.start_time from {{ ref('songplays') }} as plays
    {% if incremental %}
        where
            {{ sparkify_within(
                'plays.start_time', 'changed_start_times', 'start_time', build=build
            ) }}
            and plays.start_time in (select changed.start_time from changed_start_times as changed)
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

select {{ sparkify_columns() }} from final
{% if incremental %}
    union all
    {{ sparkify_removed_keys('changed_start_times', 'final', 'start_time', 'start_time') }}
{% endif %}
