with

source as (
    select * from {{ source('staging', 'staging_events') }}
),

renamed as (
    select
        {{ epoch_ms_to_timestamp('ts') }} as event_at,
        ts as event_ts_ms,
        cast(nullif(user_id, '') as integer) as user_id,
        session_id,
        item_in_session,
        nullif(page, '') as page,
        nullif(auth, '') as auth,
        nullif(level, '') as level,
        nullif(first_name, '') as first_name,
        nullif(last_name, '') as last_name,
        nullif(gender, '') as gender,
        nullif(location, '') as location,
        {{ strip_wrapping_quotes("nullif(user_agent, '')") }} as user_agent,
        nullif(method, '') as http_method,
        status as http_status,
        {{ epoch_ms_to_timestamp('cast(registration as bigint)') }} as registered_at,
        nullif(artist, '') as artist_name,
        nullif(song, '') as song_title,
        length as song_duration,
        _source_key as source_key,
        _source_line as source_line,
        _loaded_at as loaded_at
    from source
)

select * from renamed
