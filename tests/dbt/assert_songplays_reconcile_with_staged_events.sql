-- Every distinct NextSong event staged appears in songplays exactly once, and nothing else does.
-- Returns the offending event ids (the test fails when any row comes back).
with

staged as (
    select distinct
        {{ event_id('event_ts_ms', 'user_id', 'session_id', 'item_in_session') }} as songplay_id
    from {{ ref('stg_events') }}
    where page = 'NextSong'
),

built as (
    select
        songplay_id,
        count(*) as copies
    from {{ ref('songplays') }}
    group by songplay_id
),

missing as (
    select
        staged.songplay_id,
        'staged but not in songplays' as problem
    from staged
    left join built on staged.songplay_id = built.songplay_id
    where built.songplay_id is null
),

extra as (
    select
        built.songplay_id,
        'in songplays but not staged' as problem
    from built
    left join staged on built.songplay_id = staged.songplay_id
    where staged.songplay_id is null
),

duplicated as (
    select
        songplay_id,
        'more than once in songplays' as problem
    from built
    where copies > 1
)

select * from missing
union all
select * from extra
union all
select * from duplicated
