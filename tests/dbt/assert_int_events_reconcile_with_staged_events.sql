-- Every event with a copy staged now is in int_events exactly once, and nothing else is: checked
-- for the events the latest build of int_events changed (every event after a full build, or with
-- full_checks). Returns the offending event ids.
{%- set scope = sparkify_changed_keys_filter('int_events', 'event_id') %}
{#- the changed events' times find their staged copies without hashing every staged row #}
{%- set changed_times -%}
    event_at in (
        select cast(changes.prune_value as timestamp) from {{ sparkify_build_changes() }} as changes
        where changes.model_name = 'int_events'
    )
{%- endset %}

with

staged as (
    select distinct event_id
    from {{ ref('stg_events') }}
    where {{ scope }} and {{ 'true' if scope == 'true' else changed_times }}
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
