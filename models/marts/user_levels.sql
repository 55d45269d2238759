{{
    config(
        materialized='incremental',
        incremental_strategy='changed_keys',
        unique_key='user_level_id',
        on_schema_change='fail',
        dist='all',
        sort=['user_id', 'valid_from'],
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
        -- those events cover: only periods starting in the span, and whether the first event
        -- after it starts one, can change
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

    level_before as (
        -- the level in effect just before each span: that of the last period starting before it
        select
            user_id,
            level
        from (
            select
                user_id,
                level,
                row_number() over (
                    partition by user_id
                    order by valid_from desc, session_id desc, item_in_session desc
                ) as recency
            from built
            where valid_from < changed_from
        ) as earlier
        where recency = 1
    ),

    first_after as (
        -- each changed user's first event after the span
        select *
        from (
            select
                events.*,
                row_number() over (
                    partition by events.user_id
                    order by events.event_at, events.session_id, events.item_in_session
                ) as position_after
            from {{ ref('int_events') }} as events
            inner join changed_users
                on
                    events.user_id = changed_users.user_id
                    and events.event_at > changed_users.changed_to
            where
                events.level is not null
                and events.event_at > (select min(spans.changed_to) from changed_users as spans)
        ) as later
        where position_after = 1
    ),

{% endif -%}
events as (
    -- the events whose period starts are decided: all (a full build), or each changed user's
    -- events in the span and the first one after it
    select
        events.event_id,
        events.user_id,
        events.level,
        events.event_at,
        events.session_id,
        events.item_in_session,
        events.staged_at
    from {{ events }} as events
    where
        events.user_id is not null
        and events.level is not null
    {% if incremental %}
        union all
        select
            first_after.event_id,
            first_after.user_id,
            first_after.level,
            first_after.event_at,
            first_after.session_id,
            first_after.item_in_session,
            first_after.staged_at
        from first_after
    {% endif %}
),

ordered as (
    select
        events.*,
        lag(events.level) over (
            partition by events.user_id
            order by events.event_at, events.session_id, events.item_in_session
        ) as previous_level
    from events
),

starts as (
    -- a period starts at a user's first event and wherever the level differs from the event
    -- before (for the first event of a span: from the level in effect before it)
    select
        ordered.event_id as user_level_id,
        ordered.user_id,
        ordered.level,
        ordered.event_at as valid_from,
        ordered.session_id,
        ordered.item_in_session,
        ordered.staged_at
    from ordered
    {% if incremental %}
        left join level_before on ordered.user_id = level_before.user_id
        where coalesce(ordered.previous_level, level_before.level, '') <> ordered.level
    {%- else %}
        where coalesce(ordered.previous_level, '') <> ordered.level
    {% endif %}
),

periods as (
    select * from starts
    {% if incremental %}
        union all
        -- built periods outside what was decided again: starting before the span, or after the
        -- first event after it
        select
            built.user_level_id,
            built.user_id,
            built.level,
            built.valid_from,
            built.session_id,
            built.item_in_session,
            built.staged_at
        from built
        left join first_after on built.user_id = first_after.user_id
        where
            built.valid_from < built.changed_from
            or built.valid_from > first_after.event_at
            or (
                built.valid_from = first_after.event_at
                and (
                    built.session_id > first_after.session_id
                    or (
                        built.session_id = first_after.session_id
                        and built.item_in_session > first_after.item_in_session
                    )
                )
            )
    {% endif %}
),

final as (
    select
        cast(user_level_id as varchar(32)) as user_level_id,
        cast(user_id as integer) as user_id,
        cast(level as varchar(16)) as level,
        cast(valid_from as timestamp) as valid_from,
        cast(lead(valid_from) over (
            partition by user_id order by valid_from, session_id, item_in_session
        ) as timestamp) as valid_to,
        cast(
            lead(valid_from) over (
                partition by user_id order by valid_from, session_id, item_in_session
            ) is null as boolean
        ) as is_current,
        cast(session_id as bigint) as session_id,
        cast(item_in_session as integer) as item_in_session,
        cast(staged_at as timestamp) as staged_at
    from periods
)

select {{ sparkify_columns() }} from final
{% if incremental %}
    union all
    {{ sparkify_removed_keys('built', 'final', 'user_level_id') }}
{% endif %}
