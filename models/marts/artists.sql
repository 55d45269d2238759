{{
    config(
        materialized='incremental',
        incremental_strategy='changed_keys',
        unique_key='artist_id',
        on_schema_change='fail',
        dist='all',
        sort=['artist_id'],
    )
}}

{%- set build = sparkify_build() %}
{%- set incremental = build.incremental %}
{#- staging views, some read only incrementally: set here, so that dbt sees the refs #}
{%- set staged_songs = ref('stg_songs') %}
{%- set removed_songs = ref('stg_removed_songs') %}
{{ sparkify_build_comment(build) }}

with

{% if incremental %}
    -- the songs a batch of this build staged or removed a copy of
    changed_copies as (
        {{ sparkify_changed_rows(
            staged_songs, removed_songs, build, 'staging_songs', 'song_id, artist_id'
        ) }}
    ),

    changed_artists as (
        -- every artist such a song belonged to or belongs to now (its copies can disagree)
        select changed_copies.artist_id from changed_copies
        union
        select copies.artist_id from {{ staged_songs }} as copies
        where copies.song_id in (select changed_copies.song_id from changed_copies)
    ),

{% endif -%}
copies as (
    select * from {{ staged_songs }}
    {% if incremental %}
        -- every copy of the songs any copy of which credits an artist to build
        where song_id in (
            select credited.song_id from {{ staged_songs }} as credited
            where credited.artist_id in (select changed_artists.artist_id from changed_artists)
        )
    {% endif %}
),

first_copies as (
    -- each song's first copy, as in `songs`
    select *
    from (
        select
            *,
            row_number() over (
                partition by song_id
                order by {{ first_copy_order() }}
            ) as copy_number
        from copies
    ) as numbered
    where copy_number = 1
),

songs as (
    select * from first_copies
    {% if incremental %}
        where artist_id in (select changed_artists.artist_id from changed_artists)
    {% endif %}
),

artist_ids as (
    select
        artist_id,
        max(loaded_at) as staged_at
    from songs
    group by artist_id
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
            order by song_count desc, length(artist_name) asc, artist_name asc
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
        cast(coordinates.artist_longitude as double precision) as longitude,
        cast(artist_ids.staged_at as timestamp) as staged_at
    from artist_ids
    left join names
        on artist_ids.artist_id = names.artist_id and names.choice = 1
    left join locations
        on artist_ids.artist_id = locations.artist_id and locations.choice = 1
    left join coordinates
        on artist_ids.artist_id = coordinates.artist_id and coordinates.choice = 1
)

select {{ sparkify_columns() }} from final
{% if incremental %}
    union all
    {{ sparkify_removed_keys('changed_artists', 'final', 'artist_id') }}
{% endif %}
