-- Plays per hour of the day (UTC).
select
    t.hour,
    count(*) as plays,
    round(
        100 * cast(count(*) as numeric(28, 6)) / sum(count(*)) over (), 1
    ) as pct_of_plays
from {{ ref('songplays') }} as sp
inner join {{ ref('time') }} as t on sp.start_time = t.start_time
group by t.hour
order by t.hour
