-- Upgrades (free -> paid) and downgrades (paid -> free) from the level history.
with

changes as (
    select
        user_id,
        level,
        valid_from,
        lag(level) over (partition by user_id order by valid_from) as previous_level
    from {{ ref('user_levels') }}
)

select
    case when level = 'paid' then 'upgrade' else 'downgrade' end as change,
    count(*) as changes,
    count(distinct user_id) as users
from changes
where previous_level is not null
group by case when level = 'paid' then 'upgrade' else 'downgrade' end
order by change
