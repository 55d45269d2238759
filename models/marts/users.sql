{{ config(dist='all', sort=['user_id']) }}

with

events as (
    select * from {{ ref('stg_events') }}
    where user_id is not null
),

ranked as (
    -- a user's latest event decides their current attributes and level
    select
        *,
        row_number() over (
            partition by user_id
            order by event_ts_ms desc, session_id desc, item_in_session desc, level desc
        ) as recency_rank
    from events
),

final as (
    select
        cast(user_id as integer) as user_id,
        cast(first_name as varchar(1024)) as first_name,
        cast(last_name as varchar(1024)) as last_name,
        cast(gender as varchar(16)) as gender,
        cast(level as varchar(16)) as level,
        cast(event_at as timestamp) as last_seen_at
    from ranked
    where recency_rank = 1
)

select * from final
