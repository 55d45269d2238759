{{
    config(
        materialized='incremental',
        unique_key='user_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        dist='all',
        sort=['user_id'],
    )
}}

with

events as (
    select * from {{ ref('stg_events') }}
    where user_id is not null
    {% if sparkify_is_incremental() %}
        -- only users with events staged since the last build (minus the lookback), rebuilt
        -- from all their events: the same rows a full build gives them
        and user_id in (
            select user_id from {{ ref('stg_events') }}
            where {{ incremental_window_filter('loaded_at', 'staged_at') }}
        )
    {% endif %}
),

ranked as (
    -- a user's latest event decides their current attributes and level
    select
        *,
        row_number() over (
            partition by user_id
            order by event_ts_ms desc, session_id desc, item_in_session desc, level desc
        ) as recency_rank,
        max(loaded_at) over (partition by user_id) as last_staged_at
    from events
),

final as (
    select
        cast(user_id as integer) as user_id,
        cast(first_name as varchar(1024)) as first_name,
        cast(last_name as varchar(1024)) as last_name,
        cast(gender as varchar(16)) as gender,
        cast(level as varchar(16)) as level,
        cast(event_at as timestamp) as last_seen_at,
        cast(last_staged_at as timestamp) as staged_at
    from ranked
    where recency_rank = 1
)

select * from final
