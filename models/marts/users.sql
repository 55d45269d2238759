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

latest_candidates as (
    -- every event is a candidate for its user's latest; an incremental build reads only the
    -- events staged since the last build (minus the lookback) and adds the built row of each of
    -- their users, which holds the latest of all the older events: the result is the same
    select
        user_id,
        first_name,
        last_name,
        gender,
        level,
        event_at as last_seen_at,
        session_id as last_session_id,
        item_in_session as last_item_in_session,
        loaded_at as staged_at
    from {{ ref('stg_events') }}
    where
        user_id is not null
        and {{ incremental_window_filter('loaded_at', 'staged_at') }}
    {% if sparkify_is_incremental() %}
        union all
        select
            user_id,
            first_name,
            last_name,
            gender,
            level,
            last_seen_at,
            last_session_id,
            last_item_in_session,
            staged_at
        from {{ this }}
        where user_id in (
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
            order by
                last_seen_at desc,
                last_session_id desc,
                last_item_in_session desc,
                level desc
        ) as recency_rank,
        max(staged_at) over (partition by user_id) as last_staged_at
    from latest_candidates
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
        cast(last_staged_at as timestamp) as staged_at
    from ranked
    where recency_rank = 1
)

select * from final
