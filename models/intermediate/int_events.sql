{{
    config(
        materialized='incremental',
        incremental_strategy='changed_keys',
        unique_key='event_id',
        prune_by='event_ts_ms',
        on_schema_change='fail',
        dist='even',
        sort=['event_at'],
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
    -- the events a batch of this build staged or removed a copy of
    changed_events as (
        {{ sparkify_changed_rows(
            staged_events, removed_events, build, 'staging_events',
            'event_id, event_at, event_ts_ms'
        ) }}
    ),

{% endif -%}
copies as (
    -- every staged copy of the events to build
    select * from {{ staged_events }}
    {% if incremental %}
        where
            {{ sparkify_within('event_ts_ms', 'changed_events', 'event_ts_ms', build=build) }}
            and event_id in (select changed_events.event_id from changed_events)
    {% endif %}
),

first_copies as (
    -- the same event staged twice (a duplicated or re-exported file) is one event: its first
    -- copy
    select *
    from (
        select
            *,
            row_number() over (
                partition by event_id
                order by {{ first_copy_order() }}
            ) as copy_number
        from copies
    ) as numbered
    where copy_number = 1
),

{{ repaired_texts_ctes(
    'first_copies', ['artist_name', 'song_title', 'first_name', 'last_name', 'location']
) }}

final as (
    select
        cast(first_copies.event_id as varchar(32)) as event_id,
        cast(first_copies.event_at as timestamp) as event_at,
        cast(first_copies.event_ts_ms as bigint) as event_ts_ms,
        cast(first_copies.user_id as integer) as user_id,
        cast(first_copies.session_id as bigint) as session_id,
        cast(first_copies.item_in_session as integer) as item_in_session,
        cast(first_copies.page as varchar(64)) as page,
        cast(first_copies.auth as varchar(32)) as auth,
        cast(first_copies.level as varchar(16)) as level,
        cast(coalesce(first_names.repaired_text, first_copies.first_name) as varchar(1024))
            as first_name,
        cast(coalesce(last_names.repaired_text, first_copies.last_name) as varchar(1024))
            as last_name,
        cast(first_copies.gender as varchar(16)) as gender,
        cast(coalesce(locations.repaired_text, first_copies.location) as varchar(1024))
            as location,
        cast(first_copies.user_agent as varchar(1024)) as user_agent,
        cast(first_copies.http_method as varchar(16)) as http_method,
        cast(first_copies.http_status as integer) as http_status,
        cast(first_copies.registered_at as timestamp) as registered_at,
        cast(coalesce(artists.repaired_text, first_copies.artist_name) as varchar(1024))
            as artist_name,
        cast(coalesce(titles.repaired_text, first_copies.song_title) as varchar(1024))
            as song_title,
        cast(first_copies.song_duration as double precision) as song_duration,
        cast(first_copies.source_key as varchar(1024)) as source_key,
        cast(first_copies.source_line as integer) as source_line,
        cast(first_copies.loaded_at as timestamp) as staged_at
    from first_copies
    left join repaired_texts as artists on first_copies.artist_name = artists.raw_text
    left join repaired_texts as titles on first_copies.song_title = titles.raw_text
    left join repaired_texts as first_names on first_copies.first_name = first_names.raw_text
    left join repaired_texts as last_names on first_copies.last_name = last_names.raw_text
    left join repaired_texts as locations on first_copies.location = locations.raw_text
)

select {{ sparkify_columns() }} from final
{% if incremental %}
    union all
    -- the events with no copy left (first_copies has the keys of final: one row per event,
    -- read once more instead of the repaired, wide rows)
    {{ sparkify_removed_keys('changed_events', 'first_copies', 'event_id', 'event_ts_ms') }}
{% endif %}
{{ sparkify_prune_order(build) }}
