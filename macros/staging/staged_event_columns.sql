{% macro staged_event_columns() -%}
    {#- The renamed, cast columns of a staged event, from a staging_events-shaped relation:
        the one projection stg_events (the rows staged now) and stg_removed_events (the rows
        the loader removed) share. -#}
    {{ event_id('ts', "cast(nullif(user_id, '') as integer)", 'session_id', 'item_in_session') }}
        as event_id,
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
    _batch_id as batch_id,
    _loaded_at as loaded_at
{%- endmacro %}

{% macro staged_song_columns() -%}
    {#- The renamed, cast columns of a staged song (stg_songs and stg_removed_songs). -#}
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
    _source_line as source_line,
    _batch_id as batch_id,
    _loaded_at as loaded_at
{%- endmacro %}
