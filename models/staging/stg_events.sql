with

source as (
    select * from {{ source('staging', 'staging_events') }}
),

renamed as (
    select
        {{ staged_event_columns() }}
    from source
)

select * from renamed
