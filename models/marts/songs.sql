{{ config(dist='all', sort=['song_id']) }}

with

songs as (
    select * from {{ ref('stg_songs') }}
),

ranked as (
    -- a song file staged twice (the same file under two keys) is one song
    select
        *,
        row_number() over (
            partition by song_id
            order by loaded_at, source_key
        ) as copy_number
    from songs
),

final as (
    select
        cast(song_id as varchar(64)) as song_id,
        cast(title as varchar(1024)) as title,
        cast(artist_id as varchar(64)) as artist_id,
        cast(release_year as integer) as year,
        cast(duration as double precision) as duration
    from ranked
    where copy_number = 1
)

select * from final
