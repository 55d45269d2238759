{{
    config(
        materialized='incremental',
        incremental_strategy='changed_keys',
        unique_key='song_id',
        on_schema_change='fail',
        dist='all',
        sort=['song_id'],
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
    changed_songs as (
        {{ sparkify_changed_rows(staged_songs, removed_songs, build, 'staging_songs', 'song_id') }}
    ),

{% endif -%}
copies as (
    select * from {{ staged_songs }}
    {% if incremental %}
        where song_id in (select changed_songs.song_id from changed_songs)
    {% endif %}
),

first_copies as (
    -- a song file staged twice (the same song under two keys) is one song: its first copy
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

final as (
    select
        cast(song_id as varchar(64)) as song_id,
        cast(title as varchar(1024)) as title,
        cast(artist_id as varchar(64)) as artist_id,
        cast(artist_name as varchar(1024)) as artist_name,
        cast(release_year as integer) as year,
        cast(duration as double precision) as duration,
        cast(loaded_at as timestamp) as staged_at
    from first_copies
)

select {{ sparkify_columns() }} from final
{% if incremental %}
    union all
    {{ sparkify_removed_keys('changed_songs', 'final', 'song_id') }}
{% endif %}
