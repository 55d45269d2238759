-- Listening sessions per user: spread and the plays a session holds.
with

per_user as (
    select
        user_id,
        count(distinct session_id) as sessions,
        count(*) as plays
    from {{ ref('songplays') }}
    group by user_id
)

select
    count(*) as users,
    round(avg(cast(sessions as numeric(28, 6))), 1) as avg_sessions_per_user,
    min(sessions) as min_sessions,
    max(sessions) as max_sessions,
    round(cast(sum(plays) as numeric(28, 6)) / sum(sessions), 1) as avg_plays_per_session
from per_user
