-- Most played artists, by the name the events give.
select
    artist_name,
    count(*) as plays,
    count(distinct user_id) as listeners
from {{ ref('songplays') }}
group by artist_name
order by plays desc, artist_name asc
limit 10
