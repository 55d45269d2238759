{{
    config(
        materialized='incremental',
        incremental_strategy='changed_keys',
        unique_key='user_id',
        on_schema_change='fail',
        dist='all',
        sort=['user_id'],
    )
}}

{%- set build = sparkify_build() %}
{%- set incremental = build.incremental %}
{#- the events a build reads: every one, or incrementally those in the changed spans #}
{%- set events = 'span_events' if incremental else ref('int_events') %}
{#- staging views, some read only incrementally: set here, so that dbt sees the refs #}
{%- set staged_events = ref('stg_events') %}
{%- set removed_events = ref('stg_removed_events') %}
{{ sparkify_build_comment(build) }}

with

{% if incremental %}
    -- the rows of staging_events a batch of this build staged or removed
    changes as (
        {{ sparkify_changed_rows(
            staged_events, removed_events, build, 'staging_events', 'user_id, event_at'
        ) }}
    ),

    changed_users as (
        -- each user a batch of this build staged or removed an event of, with the span of time
        -- those events cover
        select
            changes.user_id,
            min(changes.event_at) as changed_from,
            max(changes.event_at) as changed_to
        from changes
        where changes.user_id is not null
        group by changes.user_id
    ),

    built as (
        select
            built.*,
            changed_users.changed_from,
            changed_users.changed_to
        from {{ this }} as built
        inner join changed_users on built.user_id = changed_users.user_id
    ),

    span_events as (
        -- each changed user's events inside their span
        select events.*
        from {{ ref('int_events') }} as events
        inner join changed_users
            on
                events.user_id = changed_users.user_id
                and events.event_at between changed_users.changed_from and changed_users.changed_to
        where
            {{ sparkify_within(
                'events.event_at', 'changed_users', 'changed_from', 'changed_to', build=build
            ) }}
    ),

{% endif -%}
candidates as (
    -- events that can be a user's latest: on a full build every event; incrementally the
    -- events in each changed user's span, the user's built row while its event lies outside
    -- the span (it is still the latest of everything outside it), and, when the built latest
    -- event lies inside the span (it may be gone), the user's events before the span
    select
        events.user_id,
        events.first_name,
        events.last_name,
        events.gender,
        events.level,
        events.event_at as last_seen_at,
        events.session_id as last_session_id,
        events.item_in_session as last_item_in_session,
        events.staged_at
    from {{ events }} as events
    where
        events.user_id is not null
    {% if incremental %}
        union all
        select
            built.user_id,
            built.first_name,
            built.last_name,
            built.gender,
            built.level,
            built.last_seen_at,
            built.last_session_id,
            built.last_item_in_session,
            built.staged_at
        from built
        where built.last_seen_at < built.changed_from or built.last_seen_at > built.changed_to
        union all
        select
            earlier.user_id,
            earlier.first_name,
            earlier.last_name,
            earlier.gender,
            earlier.level,
            earlier.event_at,
            earlier.session_id,
            earlier.item_in_session,
            earlier.staged_at
        from {{ ref('int_events') }} as earlier
        inner join built
            on
                earlier.user_id = built.user_id
                and earlier.event_at < built.changed_from
        where built.last_seen_at between built.changed_from and built.changed_to
    {% endif %}
),

ranked as (
    -- a user's latest event decides their current attributes and level
    select
        *,
        row_number() over (
            partition by user_id
            order by last_seen_at desc, last_session_id desc, last_item_in_session desc
        ) as recency_rank
    from candidates
),

final as (
    select
        cast(user_id as integer) as user_id,
        cast(first_name as varchar(1024)) as first_name,
        cast(last_name as varchar(1024)) as last_name,
        cast(gender as varchar(16)) as gender,
        cast(level as varchar(16)) as level,
        cast(last_seen_at as timestamp) as last_seen_at,
        cast(last_session_id as bigint) as last_session_id,
        cast(last_item_in_session as integer) as last_item_in_session,
        cast(staged_at as timestamp) as staged_at
    from ranked
    where recency_rank = 1
)

select {{ sparkify_columns() }} from final
{% if incremental %}
    union all
    {{ sparkify_removed_keys('changed_users', 'final', 'user_id') }}
{% endif %}
