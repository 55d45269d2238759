-- Plays per day and level: the dashboard's daily chart.
select
    cast(start_time as date) as play_date,
    level,
    count(*) as plays
from {{ ref('songplays') }}
group by cast(start_time as date), level
order by play_date, level
