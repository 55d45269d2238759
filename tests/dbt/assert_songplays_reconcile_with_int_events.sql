-- Every NextSong event of int_events is in songplays exactly once, and nothing else is: checked
-- for the plays the latest build of songplays changed (every play after a full build, or with
-- full_checks). Returns the offending play ids.
{%- set built_rows = sparkify_unaudited_rows(
    ref('songplays'), graph.nodes.get('model.sparkify.songplays'), prune='start_time'
) %}
{%- set event_scope = sparkify_changed_keys_filter(
    'songplays', 'event_id', prune='start_time', prune_as='event_at'
) %}

with

expected as (
    select event_id as songplay_id
    from {{ ref('int_events') }}
    where page = 'NextSong' and {{ event_scope }}
),

built as (
    select
        songplay_id,
        count(*) as copies
    from {{ built_rows.relation }}
    where {{ built_rows.predicate }}
    group by songplay_id
),

missing as (
    select
        expected.songplay_id,
        'a play in int_events but not in songplays' as problem
    from expected
    left join built on expected.songplay_id = built.songplay_id
    where built.songplay_id is null
),

extra as (
    select
        built.songplay_id,
        'in songplays but not a play in int_events' as problem
    from built
    left join expected on built.songplay_id = expected.songplay_id
    where expected.songplay_id is null
),

duplicated as (
    select
        songplay_id,
        'more than once in songplays' as problem
    from built
    where copies > 1
)

select * from missing
union all
select * from extra
union all
select * from duplicated
