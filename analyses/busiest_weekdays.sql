-- Plays per ISO weekday (1 = Monday .. 7 = Sunday).
select
    t.weekday,
    case t.weekday
        when 1 then 'Monday' when 2 then 'Tuesday' when 3 then 'Wednesday'
        when 4 then 'Thursday' when 5 then 'Friday' when 6 then 'Saturday'
        else 'Sunday'
    end as weekday_name,
    count(*) as plays
from {{ ref('songplays') }} as sp
inner join {{ ref('time') }} as t on sp.start_time = t.start_time
group by t.weekday
order by t.weekday
