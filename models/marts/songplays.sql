{{
    config(
        materialized='incremental',
        incremental_strategy='changed_keys',
        unique_key='songplay_id',
        prune_by='start_time',
        on_schema_change='fail',
        dist='start_time',
        sort=['start_time'],
    )
}}

{%- set build = sparkify_build() %}
{%- set incremental = build.incremental %}
{#- staging views, some read only incrementally: set here, so that dbt sees the refs #}
{%- set staged_events = ref('stg_events') %}
{%- set removed_events = ref('stg_removed_events') %}
{%- set staged_songs = ref('stg_songs') %}
{%- set removed_songs = ref('stg_removed_songs') %}
{{ sparkify_build_comment(build) }}

with

{% if incremental %}
    -- the songs a batch of this build staged or removed a copy of
    changed_songs as (
        {{ sparkify_changed_rows(
            staged_songs, removed_songs, build, 'staging_songs',
            'song_id, title, artist_name, duration'
        ) }}
    ),

    changed_song_keys as (
        -- what those songs were and are now in the catalogue (any copy can be the one `songs`
        -- keeps): the plays matching them may change their match
        select
            changed_songs.title,
            changed_songs.artist_name,
            changed_songs.duration
        from changed_songs
        union
        select
            copies.title,
            copies.artist_name,
            copies.duration
        from {{ staged_songs }} as copies
        where copies.song_id in (select changed_songs.song_id from changed_songs)
    ),

    -- the events a batch of this build staged or removed a copy of: recomputed from them
    changed_events as (
        {{ sparkify_changed_rows(
            staged_events, removed_events, build, 'staging_events',
            'event_id as songplay_id, event_at as start_time'
        ) }}
    ),

    -- the plays already built that a changed song may now match or no longer match, whose
    -- event did not change: only their match can differ, so they are matched again from
    -- what was built, without reading the events again
    rematched_plays as (
        select built.*
        from {{ this }} as built
        inner join changed_song_keys as song_keys
            on
                built.song_title = song_keys.title
                and built.artist_name = song_keys.artist_name
                and built.song_duration = song_keys.duration
        where built.songplay_id not in (select changed_events.songplay_id from changed_events)
    ),

    changed_plays as (
        select
            changed_events.songplay_id,
            changed_events.start_time
        from changed_events
        union all
        select
            rematched_plays.songplay_id,
            rematched_plays.start_time
        from rematched_plays
    ),

{% endif -%}
events as (
    select * from {{ ref('int_events') }}
    {% if incremental %}
        where
            {{ sparkify_within('event_at', 'changed_events', 'start_time', build=build) }}
            and event_id in (select changed_events.songplay_id from changed_events)
    {% endif %}
),

plays as (
    select
        event_id as songplay_id,
        event_at as start_time,
        user_id,
        level,
        session_id,
        location,
        user_agent,
        item_in_session,
        song_title,
        artist_name,
        song_duration,
        staged_at
    from events
    where page = 'NextSong'
    {% if incremental %}
        union all
        select
            rematched_plays.songplay_id,
            rematched_plays.start_time,
            rematched_plays.user_id,
            rematched_plays.level,
            rematched_plays.session_id,
            rematched_plays.location,
            rematched_plays.user_agent,
            rematched_plays.item_in_session,
            rematched_plays.song_title,
            rematched_plays.artist_name,
            rematched_plays.song_duration,
            rematched_plays.staged_at
        from rematched_plays
    {% endif %}
),

matches as (
    -- the course's rule: title, artist name and duration all equal (the event's text repaired);
    -- when several catalogue songs qualify, the smallest song_id wins so the result is
    -- deterministic
    select
        plays.songplay_id,
        songs.song_id,
        songs.artist_id,
        row_number() over (
            partition by plays.songplay_id
            order by songs.song_id
        ) as match_rank
    from plays
    inner join {{ ref('songs') }} as songs
        on
            plays.song_title = songs.title
            and plays.artist_name = songs.artist_name
            and plays.song_duration = songs.duration
),

final as (
    select
        cast(plays.songplay_id as varchar(32)) as songplay_id,
        cast(plays.start_time as timestamp) as start_time,
        cast(plays.user_id as integer) as user_id,
        cast(plays.level as varchar(16)) as level,
        cast(matches.song_id as varchar(64)) as song_id,
        cast(matches.artist_id as varchar(64)) as artist_id,
        cast(plays.session_id as bigint) as session_id,
        cast(plays.location as varchar(1024)) as location,
        cast(plays.user_agent as varchar(1024)) as user_agent,
        cast(plays.item_in_session as integer) as item_in_session,
        cast(plays.song_title as varchar(1024)) as song_title,
        cast(plays.artist_name as varchar(1024)) as artist_name,
        cast(plays.song_duration as double precision) as song_duration,
        cast(plays.staged_at as timestamp) as staged_at
    from plays
    left join matches
        on
            plays.songplay_id = matches.songplay_id
            and matches.match_rank = 1
)

select {{ sparkify_columns() }} from final
{% if incremental %}
    union all
    -- the plays that are no more (plays has the keys of final, without the match)
    {{ sparkify_removed_keys('changed_plays', 'plays', 'songplay_id', 'start_time') }}
{% endif %}
{{ sparkify_prune_order(build) }}
