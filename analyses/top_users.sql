-- The users who play the most.
select
    u.user_id,
    u.first_name,
    u.last_name,
    u.level,
    count(*) as plays,
    count(distinct sp.session_id) as sessions
from {{ ref('songplays') }} as sp
inner join {{ ref('users') }} as u on sp.user_id = u.user_id
group by u.user_id, u.first_name, u.last_name, u.level
order by plays desc, u.user_id asc
limit 10
