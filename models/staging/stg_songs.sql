with

source as (
    select * from {{ source('staging', 'staging_songs') }}
),

renamed as (
    select
        {{ staged_song_columns() }}
    from source
)

select * from renamed
