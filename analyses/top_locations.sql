-- Where plays come from (the users' metropolitan areas).
select
    location,
    count(*) as plays,
    count(distinct user_id) as users
from {{ ref('songplays') }}
group by location
order by plays desc, location asc
limit 10
