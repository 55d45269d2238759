-- Most played songs, by the title and artist the events name (every play counts, matched or not).
select
    song_title,
    artist_name,
    count(*) as plays,
    count(distinct user_id) as listeners
from {{ ref('songplays') }}
group by song_title, artist_name
order by plays desc, song_title asc, artist_name asc
limit 10
