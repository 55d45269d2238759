-- Every event with a copy staged now is in int_events exactly once, and nothing else is: checked
-- for the events the latest build of int_events changed (every event after a full build, or with
-- full_checks). Returns the offending event ids.
{#- the events the latest build of int_events changed, bounded by their times (raw epoch ms,
    so that zone maps skip the rest of staging before any id is hashed) -#}
{%- set scope = sparkify_changed_keys_filter('int_events', 'event_id', prune='event_ts_ms') %}

with

staged as (
    select distinct event_id
    from {{ ref('stg_events') }}
    where {{ scope }}
),

built as (
    select
        event_id,
        count(*) as copies
    from {{ ref('int_events') }}
    where {{ scope }}
    group by event_id
),

missing as (
    select
        staged.event_id,
        'staged but not in int_events' as problem
    from staged
    left join built on staged.event_id = built.event_id
    where built.event_id is null
),

extra as (
    select
        built.event_id,
        'in int_events but not staged' as problem
    from built
    left join staged on built.event_id = staged.event_id
    where staged.event_id is null
),

duplicated as (
    select
        event_id,
        'more than once in int_events' as problem
    from built
    where copies > 1
)

select * from missing
union all
select * from extra
union all
select * from duplicated
