with

source as (
    select * from {{ source('staging', 'staging_events_removed') }}
),

renamed as (
    select
        {{ staged_event_columns() }},
        _removed_batch_id as removed_batch_id,
        _removed_at as removed_at
    from source
)

select * from renamed
