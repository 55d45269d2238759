-- Plays and users by subscription level (plays by the level at play time, users by current level).
with

plays as (
    select
        level,
        count(*) as plays
    from {{ ref('songplays') }}
    group by level
),

users as (
    select
        level,
        count(*) as users
    from {{ ref('users') }}
    group by level
)

select
    coalesce(plays.level, users.level) as level,
    coalesce(plays.plays, 0) as plays,
    round(
        100 * cast(coalesce(plays.plays, 0) as numeric(28, 6))
        / sum(coalesce(plays.plays, 0)) over (),
        1
    )
        as pct_of_plays,
    coalesce(users.users, 0) as users
from plays
full outer join users on plays.level = users.level
order by level
