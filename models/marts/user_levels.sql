{{
    config(
        materialized='incremental',
        unique_key='user_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        dist='all',
        sort=['user_id', 'valid_from'],
    )
}}

with

events as (
    select
        user_id,
        level,
        event_at,
        event_ts_ms,
        session_id,
        item_in_session,
        loaded_at
    from {{ ref('stg_events') }}
    where user_id is not null and level is not null
    {% if sparkify_is_incremental() %}
        -- only users with events staged since the last build (minus the lookback): all their
        -- versions are rebuilt from all their events and replace the old ones
        and user_id in (
            select user_id from {{ ref('stg_events') }}
            where {{ incremental_window_filter('loaded_at', 'staged_at') }}
        )
    {% endif %}
),

ordered as (
    select
        *,
        lag(level) over (
            partition by user_id
            order by event_ts_ms, session_id, item_in_session, level
        ) as previous_level,
        max(loaded_at) over (partition by user_id) as last_staged_at
    from events
),

changes as (
    -- a new version starts at a user's first event and wherever the level differs from the
    -- level of the event before
    select
        user_id,
        level,
        event_at as valid_from,
        last_staged_at
    from ordered
    where previous_level is null or previous_level <> level
),

versions as (
    select
        user_id,
        level,
        valid_from,
        lead(valid_from) over (partition by user_id order by valid_from) as valid_to,
        last_staged_at
    from changes
),

final as (
    select
        cast({{ dbt.hash(dbt.concat([
            "cast(user_id as varchar)", "'|'", "cast(valid_from as varchar)"
        ])) }} as varchar(32)) as user_level_id,
        cast(user_id as integer) as user_id,
        cast(level as varchar(16)) as level,
        cast(valid_from as timestamp) as valid_from,
        cast(valid_to as timestamp) as valid_to,
        cast(valid_to is null as boolean) as is_current,
        cast(last_staged_at as timestamp) as staged_at
    from versions
)

select * from final
