{{ config(dist='all', sort=['artist_id']) }}

with

songs as (
    select * from {{ ref('stg_songs') }}
),

artist_ids as (
    select distinct artist_id from songs
),

name_votes as (
    select
        artist_id,
        artist_name,
        count(*) as song_count
    from songs
    where artist_name is not null
    group by artist_id, artist_name
),

names as (
    -- the name on most of the artist's songs; ties go to the shortest, then alphabetical
    -- (credits like "X featuring Y" lose to plain "X")
    select
        artist_id,
        artist_name,
        row_number() over (
            partition by artist_id
            order by song_count desc, length(artist_name), artist_name asc
        ) as choice
    from name_votes
),

location_votes as (
    select
        artist_id,
        artist_location,
        count(*) as song_count
    from songs
    where artist_location is not null
    group by artist_id, artist_location
),

locations as (
    select
        artist_id,
        artist_location,
        row_number() over (
            partition by artist_id
            order by song_count desc, artist_location asc
        ) as choice
    from location_votes
),

coordinate_votes as (
    select
        artist_id,
        artist_latitude,
        artist_longitude,
        count(*) as song_count
    from songs
    where artist_latitude is not null and artist_longitude is not null
    group by artist_id, artist_latitude, artist_longitude
),

coordinates as (
    select
        artist_id,
        artist_latitude,
        artist_longitude,
        row_number() over (
            partition by artist_id
            order by song_count desc, artist_latitude asc, artist_longitude asc
        ) as choice
    from coordinate_votes
),

final as (
    select
        cast(artist_ids.artist_id as varchar(64)) as artist_id,
        cast(names.artist_name as varchar(1024)) as name,
        cast(locations.artist_location as varchar(1024)) as location,
        cast(coordinates.artist_latitude as double precision) as latitude,
        cast(coordinates.artist_longitude as double precision) as longitude
    from artist_ids
    left join names
        on artist_ids.artist_id = names.artist_id and names.choice = 1
    left join locations
        on artist_ids.artist_id = locations.artist_id and locations.choice = 1
    left join coordinates
        on artist_ids.artist_id = coordinates.artist_id and coordinates.choice = 1
)

select * from final
