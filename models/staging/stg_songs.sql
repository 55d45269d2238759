with

source as (
    select * from {{ source('staging', 'staging_songs') }}
),

renamed as (
    select
        song_id,
        title,
        artist_id,
        artist_name,
        nullif(artist_location, '') as artist_location,
        artist_latitude,
        artist_longitude,
        nullif(year, 0) as release_year,
        duration,
        num_songs,
        _source_key as source_key,
        _loaded_at as loaded_at
    from source
)

select * from renamed
