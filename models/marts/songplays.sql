{{
    config(
        materialized='incremental',
        unique_key='songplay_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        incremental_predicates=sparkify_songplays_predicates(),
        dist='songplay_id',
        sort=['start_time'],
    )
}}

with

events as (
    select * from {{ ref('stg_events') }}
    where
        page = 'NextSong'
        -- on incremental runs: only what was staged since the last build, minus the lookback
        and {{ incremental_window_filter('loaded_at', 'staged_at') }}
),

plays as (
    select
        {{ event_id('event_ts_ms', 'user_id', 'session_id', 'item_in_session') }} as songplay_id,
        event_at as start_time,
        user_id,
        level,
        session_id,
        item_in_session,
        location,
        user_agent,
        song_title,
        artist_name,
        song_duration,
        loaded_at,
        source_key,
        source_line
    from events
),

distinct_plays as (
    -- the same event staged twice (a duplicated file) is one play: keep its first copy
    select *
    from (
        select
            *,
            row_number() over (
                partition by songplay_id
                order by loaded_at, source_key, source_line
            ) as copy_number
        from plays
    ) as numbered
    where copy_number = 1
),

new_plays as (
    select * from distinct_plays
    {% if sparkify_is_incremental() %}
        -- plays already built (re-read by the lookback, or a duplicated file) are left as they
        -- are, so a run with nothing new changes nothing and the first copy is always kept
        where not exists (
            select 1 from {{ this }} as built
            where built.songplay_id = distinct_plays.songplay_id
        )
    {% endif %}
),

catalogue as (
    select
        song_id,
        title,
        artist_id,
        artist_name,
        duration
    from {{ ref('stg_songs') }}
),

matches as (
    -- the course's rule: title, artist name and duration all equal; when several catalogue
    -- songs qualify, the smallest song_id wins so the result is deterministic
    select
        new_plays.songplay_id,
        catalogue.song_id,
        catalogue.artist_id,
        row_number() over (
            partition by new_plays.songplay_id
            order by catalogue.song_id
        ) as match_rank
    from new_plays
    inner join catalogue
        on
            new_plays.song_title = catalogue.title
            and new_plays.artist_name = catalogue.artist_name
            and new_plays.song_duration = catalogue.duration
),

final as (
    select
        cast(new_plays.songplay_id as varchar(32)) as songplay_id,
        cast(new_plays.start_time as timestamp) as start_time,
        cast(new_plays.user_id as integer) as user_id,
        cast(new_plays.level as varchar(16)) as level,
        cast(matches.song_id as varchar(64)) as song_id,
        cast(matches.artist_id as varchar(64)) as artist_id,
        cast(new_plays.session_id as bigint) as session_id,
        cast(new_plays.location as varchar(1024)) as location,
        cast(new_plays.user_agent as varchar(1024)) as user_agent,
        cast(new_plays.item_in_session as integer) as item_in_session,
        cast(new_plays.song_title as varchar(1024)) as song_title,
        cast(new_plays.artist_name as varchar(1024)) as artist_name,
        cast(new_plays.loaded_at as timestamp) as staged_at
    from new_plays
    left join matches
        on
            new_plays.songplay_id = matches.songplay_id
            and matches.match_rank = 1
)

select * from final
