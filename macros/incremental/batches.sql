{#-
    Which loader batches a model has taken in, and which it takes in now.

    The loader's ledger (staging.load_ledger) is the change log of staging: every batch that
    added, replaced or withdrew an object. staging.build_ledger records, per incremental model
    built with the `changed_keys` strategy ("tracked"), every batch it has taken in. A build takes
    in the batches its feeds offer that it has not taken yet: for a staging table the model reads
    through views, every batch of that table in the loader's ledger; for one it reads through a
    tracked model, the batches that model has taken in (so `time` never runs ahead of
    `songplays`). It decides them when it compiles (sparkify_build: their ids are constants in its
    SQL, so engines skip every other block and a build with nothing new reads nothing), records
    exactly those inside its own transaction with this invocation's id, and reads exactly those: a
    loader committing meanwhile is left for the next build, and a build that fails records nothing.
-#}

{% macro sparkify_build_ledger() -%}
    {{ return(api.Relation.create(database=target.database, schema='staging', identifier='build_ledger')) }}
{%- endmacro %}

{% macro sparkify_load_ledger() -%}
    {{ return(api.Relation.create(database=target.database, schema='staging', identifier='load_ledger')) }}
{%- endmacro %}

{% macro sparkify_build_changes() -%}
    {{ return(api.Relation.create(database=target.database, schema='staging', identifier='build_changes')) }}
{%- endmacro %}

{% macro sparkify_build_runs() -%}
    {#- one row per dbt build, test or run: when, whether it passed, what it published -#}
    {{ return(api.Relation.create(database=target.database, schema='staging', identifier='build_runs')) }}
{%- endmacro %}

{% macro sparkify_create_build_ledger() -%}
    {#- on-run-start: the tables exist before any model reads or writes them -#}
    {% if execute and flags.WHICH in ['build', 'run', 'test', 'retry'] %}
        {% do adapter.create_schema(sparkify_build_ledger()) %}
        {#- build_changes holds the changes not yet audited: a table of an older layout is
            replaced by one that says "everything" for every model (the next tests check every
            row, and the next publish copies each mart whole) -#}
        {%- set columns = run_query(
            "select column_name from information_schema.columns "
            ~ "where table_schema = 'staging' and table_name = 'build_changes'"
        ).columns[0].values() | map('lower') | list -%}
        {%- set relayout = columns and 'audited_by' not in columns -%}
        {%- if relayout %}
        drop table {{ sparkify_build_changes() }};
        {%- endif %}
        create table if not exists {{ sparkify_build_ledger() }} (
            model_name varchar(256),
            table_name varchar(256),
            batch_id varchar(64),
            invocation_id varchar(64),
            build_kind varchar(16),
            recorded_at timestamp
        ){{ sparkify_small_table_options() }};
        create table if not exists {{ sparkify_build_views() }} (
            view_name varchar(512),
            definition_md5 varchar(32),
            invocation_id varchar(64),
            built_at timestamp
        ){{ sparkify_small_table_options() }};
        create table if not exists {{ sparkify_build_runs() }} (
            invocation_id varchar(64),
            command varchar(16),
            started_at timestamp,
            finished_at timestamp,
            outcome varchar(16),
            published varchar(4096),
            failed varchar(4096)
        ){{ sparkify_small_table_options() }};
        create table if not exists {{ sparkify_build_changes() }} (
            model_name varchar(256),
            key_value varchar(1024),
            prune_value varchar(64),
            is_removed boolean,
            invocation_id varchar(64),
            audited_by varchar(64)
        )
        {%- if relayout %};
        insert into {{ sparkify_build_changes() }}
            (model_name, key_value, prune_value, is_removed, invocation_id, audited_by)
        select distinct model_name, null, null, null, '{{ invocation_id }}', null
        from {{ sparkify_build_ledger() }}
        {%- endif %}
    {% endif %}
{%- endmacro %}

{% macro sparkify_small_table_options() -%}
    {{ return(adapter.dispatch('sparkify_small_table_options', 'sparkify')()) }}
{%- endmacro %}

{% macro default__sparkify_small_table_options() -%}{%- endmacro %}

{% macro redshift__sparkify_small_table_options() -%}
    diststyle all
{%- endmacro %}

{% macro sparkify_is_tracked(node=none) -%}
    {#- Whether a node is an incremental model built with the changed_keys strategy. -#}
    {%- set node = node if node is not none else model -%}
    {%- set config = node.get('config', {}) -%}
    {{ return(node.get('resource_type') == 'model'
        and config.get('materialized') == 'incremental'
        and config.get('incremental_strategy') == 'changed_keys') }}
{%- endmacro %}

{% macro sparkify_feeds(node=none) -%}
    {#- {staging table: [upstreams]} where an upstream is 'loader' (the model reads the staging
        table through views) or the name of a tracked model it reads the table through. -#}
    {%- set node = node if node is not none else graph.nodes[model.unique_id] -%}
    {%- set feeds = {} -%}
    {%- for parent_id in node.depends_on.nodes -%}
        {%- if parent_id in graph.sources -%}
            {%- set table = graph.sources[parent_id].meta.get('ledger_table') -%}
            {%- if table -%}
                {%- do feeds.setdefault(table, []).append('loader') -%}
            {%- endif -%}
        {%- elif parent_id in graph.nodes -%}
            {%- set parent = graph.nodes[parent_id] -%}
            {%- if parent.resource_type == 'model' -%}
                {%- for table, upstreams in sparkify_feeds(parent).items() -%}
                    {%- if sparkify_is_tracked(parent) -%}
                        {%- do feeds.setdefault(table, []).append(parent.name) -%}
                    {%- else -%}
                        {%- do feeds.setdefault(table, []).extend(upstreams) -%}
                    {%- endif -%}
                {%- endfor -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for table in feeds -%}
        {%- do feeds.update({table: feeds[table] | unique | sort}) -%}
    {%- endfor -%}
    {{ return(feeds) }}
{%- endmacro %}

{% macro sparkify_offered_batches(table, upstreams) -%}
    {#- The batches of a staging table every upstream of a model offers (an intersection). -#}
    select distinct offered.batch_id
    from {{ sparkify_load_ledger() if 'loader' in upstreams else sparkify_build_ledger() }} as offered
    where offered.table_name = '{{ table }}'
    {%- if 'loader' not in upstreams %}
        and offered.model_name = '{{ upstreams[0] }}'
    {%- endif %}
    {%- for upstream in upstreams if upstream != 'loader' %}
        and offered.batch_id in (
            select taken.batch_id from {{ sparkify_build_ledger() }} as taken
            where taken.model_name = '{{ upstream }}' and taken.table_name = '{{ table }}'
        )
    {%- endfor %}
{%- endmacro %}

{% macro sparkify_history_lost() -%}
    {#- True when this model cannot be built incrementally: it has no record of what it took
        in (built before it was tracked), or it took in a batch its feeds no longer offer (the
        loader's full refresh started a new history, or an upstream model was rebuilt). -#}
    {%- set feeds = sparkify_feeds() -%}
    {%- set check -%}
        select
            (select count(*) from {{ sparkify_build_ledger() }} where model_name = '{{ this.name }}')
            as recorded,
            (
                select count(*) from {{ sparkify_build_ledger() }} as taken
                where taken.model_name = '{{ this.name }}'
                and ({% for table, upstreams in feeds.items() %}
                    (taken.table_name = '{{ table }}' and taken.batch_id not in (
                        {{ sparkify_offered_batches(table, upstreams) }}
                    )){{ ' or' if not loop.last }}
                {% else %} false {% endfor %})
            ) as lost
    {%- endset -%}
    {%- set row = run_query(check).rows[0] -%}
    {{ return(row[0] == 0 or row[1] > 0) }}
{%- endmacro %}

{% macro should_full_refresh() -%}
    {#- dbt's own rule (--full-refresh, or the model's full_refresh config), and for tracked
        models the ledgers' verdict. Decided once, when the model is compiled: the compiled SQL
        says which build it is (sparkify_build_comment), and the materialization and hooks read
        that instead of asking again, so a loader committing meanwhile cannot split them. -#}
    {%- set config_full_refresh = config.get('full_refresh') -%}
    {%- if config_full_refresh is none -%}
        {%- set config_full_refresh = flags.FULL_REFRESH -%}
    {%- endif -%}
    {%- if config_full_refresh or not execute or not sparkify_is_tracked() -%}
        {{ return(config_full_refresh) }}
    {%- endif -%}
    {%- set compiled = model.get('compiled_code') or '' -%}
    {%- if '-- sparkify build: ' in compiled -%}
        {{ return('-- sparkify build: full' in compiled) }}
    {%- endif -%}
    {{ return(sparkify_history_lost()) }}
{%- endmacro %}

{% macro sparkify_build() -%}
    {#- What this build is, decided once when the model compiles: {'incremental': bool,
        'batches': {staging table: [[batch id, its time], ...]}, 'nothing': bool}, the batches
        its feeds offer that it has not taken in (none for a full build, which reads
        everything), and whether an incremental build has none at all to read. Compiled
        without a warehouse (--no-introspect, or assume_incremental set), one placeholder batch
        per table. -#}
    {%- set incremental = sparkify_is_incremental() -%}
    {%- set batches = {} -%}
    {%- if incremental and execute and not var('every_row_changed', false) -%}
        {%- for table, upstreams in sparkify_feeds().items() -%}
            {%- if flags.INTROSPECT == false or var('assume_incremental', none) is not none -%}
                {#- compiled for a look at the SQL (offline, lint): no warehouse to ask -#}
                {%- do batches.update({table: [['<batch>', '1970-01-01 00:00:00']]}) -%}
            {%- else -%}
                {%- set pending -%}
                    select offered.batch_id, min(ledger.loaded_at) as loaded_at
                    from ({{ sparkify_offered_batches(table, upstreams) }}) as offered
                    inner join {{ sparkify_load_ledger() }} as ledger
                        on offered.batch_id = ledger.batch_id
                    where offered.batch_id not in (
                        select taken.batch_id from {{ sparkify_build_ledger() }} as taken
                        where taken.model_name = '{{ this.name }}'
                        and taken.table_name = '{{ table }}'
                    )
                    group by offered.batch_id
                    order by 2, 1
                {%- endset -%}
                {%- do batches.update({table: []}) -%}
                {%- for row in run_query(pending).rows -%}
                    {%- do batches[table].append([row[0], row[1].isoformat(sep=' ')]) -%}
                {%- endfor -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set nothing = incremental and not var('every_row_changed', false)
        and not (batches.values() | select | list) -%}
    {{ return({'incremental': incremental, 'batches': batches, 'nothing': nothing}) }}
{%- endmacro %}

{% macro sparkify_build_comment(build) -%}
    {#- The decision, written into the compiled SQL for the materialization and hooks. -#}
    -- sparkify build: {{ 'incremental' if build.incremental else 'full' }}
    -- sparkify batches: {{ tojson(build.batches) }}
{%- endmacro %}

{% macro sparkify_compiled_batches() -%}
    {#- The batches the compiled SQL of this model reads (sparkify_build_comment). -#}
    {%- set marker = '-- sparkify batches: ' -%}
    {%- for line in (model.get('compiled_code') or '').split('\n') if line.strip().startswith(marker) -%}
        {{ return(fromjson(line.strip()[marker | length:])) }}
    {%- endfor -%}
    {{ return({}) }}
{%- endmacro %}

{% macro sparkify_begin_build() -%}
    {#- pre-hook of every model; for tracked models, inside the build's transaction: take turns
        with another invocation building the same model, forget what a full build replaces,
        and record the batches this build takes in. -#}
    {% if execute and sparkify_is_tracked() %}
        {%- set incremental = sparkify_is_incremental() -%}
        {{ adapter.dispatch('sparkify_lock_build', 'sparkify')(incremental) }};
        {%- if not incremental %}
            delete from {{ sparkify_build_ledger() }} where model_name = '{{ this.name }}';
            {{ sparkify_record_changes() }};
        {%- endif %}
        {{ sparkify_take_batches(incremental) }}
    {% endif %}
{%- endmacro %}

{% macro default__sparkify_lock_build(incremental) -%}
    {#- DuckDB: one process holds the file, so there is nothing to take turns with -#}
    select 1
{%- endmacro %}

{% macro postgres__sparkify_lock_build(incremental) -%}
    {#- PostgreSQL: sparkify_take_turns already holds the model's lock, for the whole node -#}
    select 1
{%- endmacro %}

{% macro redshift__sparkify_lock_build(incremental) -%}
    {#- Redshift: the bookkeeping lock, the first statement of the build's transaction (the
        compile's queries ran before it, each on its own, outside any transaction) -#}
    {{ sparkify_bookkeeping_lock() }}
{%- endmacro %}

{% macro sparkify_bookkeeping_lock() -%}
    {#- The one lock order of the warehouse's writers: every transaction that writes the
        project's bookkeeping (a tracked model's build, a view's record, the publish) takes
        this first, before it reads or writes anything else. Redshift has no session or
        advisory locks, only LOCK, held to the end of the transaction; taken first, the
        transaction's snapshot also starts after the previous holder committed, so snapshot
        and serializable isolation see no conflict between two of them. Two dbt invocations,
        on one host or two, take turns here; the loader takes only its own
        (staging.load_ledger) and never this one, so the two cannot wait on each other in a
        circle. Nothing on DuckDB (one process holds the file) and PostgreSQL (advisory
        locks, sparkify_take_turns). -#}
    {{ return(adapter.dispatch('sparkify_bookkeeping_lock', 'sparkify')()) }}
{%- endmacro %}

{% macro default__sparkify_bookkeeping_lock() -%}{%- endmacro %}

{% macro redshift__sparkify_bookkeeping_lock() -%}
    lock {{ sparkify_build_ledger() }}
{%- endmacro %}

{% macro sparkify_take_bookkeeping_lock() -%}
    {#- As the first statement of the node's transaction (a build that writes the
        bookkeeping, in build, run or retry): see sparkify_bookkeeping_lock. -#}
    {%- set lock = sparkify_bookkeeping_lock() -%}
    {%- if execute and lock | trim and flags.WHICH in ['build', 'run', 'retry'] -%}
        {%- call statement('sparkify_bookkeeping_lock', auto_begin=true) -%}{{ lock }}{%- endcall -%}
    {%- endif -%}
{%- endmacro %}

{% macro sparkify_take_batches(incremental) -%}
    {#- Record the batches this build takes in: those its compiled SQL reads (incremental;
        any another invocation took meanwhile are not taken twice), or every one its feeds
        offer (a full build, which reads everything staged). -#}
    {%- if incremental %}
        {%- set rows = [] -%}
        {%- for table, batches in sparkify_compiled_batches().items() -%}
            {%- for batch_id, loaded_at in batches -%}
                {%- do rows.append("select '" ~ table ~ "' as table_name, "
                    ~ sparkify_quote(batch_id) ~ " as batch_id") -%}
            {%- endfor -%}
        {%- endfor -%}
        {%- if rows %}
    insert into {{ sparkify_build_ledger() }}
        (model_name, table_name, batch_id, invocation_id, build_kind, recorded_at)
    select
        '{{ this.name }}', compiled.table_name, compiled.batch_id, '{{ invocation_id }}',
        'incremental', {{ dbt.current_timestamp() }}
    from ({{ rows | join(' union all ') }}) as compiled
    where compiled.batch_id not in (
        select taken.batch_id from {{ sparkify_build_ledger() }} as taken
        where taken.model_name = '{{ this.name }}'
    )
        {%- else %}
    select 1
        {%- endif %}
    {%- else %}
    insert into {{ sparkify_build_ledger() }}
        (model_name, table_name, batch_id, invocation_id, build_kind, recorded_at)
    {% for table, upstreams in sparkify_feeds().items() %}
        select
            '{{ this.name }}', '{{ table }}', offered.batch_id, '{{ invocation_id }}', 'full',
            {{ dbt.current_timestamp() }}
        from ({{ sparkify_offered_batches(table, upstreams) }}) as offered
        {{ 'union all' if not loop.last }}
    {% endfor %}
    {%- endif %}
{%- endmacro %}

{% macro sparkify_record_changes(changed=none) -%}
    {#- Add to what staging.build_changes says this model changed since its changes were last
        audited: the rows (key_value, prune_value, is_removed) of the query `changed`, or, for
        a full build, one row of nulls ("everything", which replaces the rest). Changes a build
        whose tests failed made stay unaudited, so the next build's tests check them again and
        its publish carries them (macros/publish); the last audited ones are kept until the
        model's next build, to look at. The scoped data tests read it (macros/tests). -#}
    delete from {{ sparkify_build_changes() }} where model_name = '{{ this.name }}'
    {%- if changed is not none %} and audited_by is not null{% endif %};
    insert into {{ sparkify_build_changes() }}
        (model_name, key_value, prune_value, is_removed, invocation_id, audited_by)
    {%- if changed is none %}
    select '{{ this.name }}', null, null, null, '{{ invocation_id }}', null
    {%- else %}
    select distinct
        '{{ this.name }}', changed.key_value, changed.prune_value, changed.is_removed,
        '{{ invocation_id }}', cast(null as varchar(64))
    from ({{ changed }}) as changed
    {%- endif %}
{%- endmacro %}

{% macro sparkify_changed_rows(live, removed, build, table, columns) -%}
    {#- The rows of `table` the batches this build reads (sparkify_build) added (still staged,
        in the view `live`) or removed (kept by the loader, in the view `removed`), as
        `columns`. Every page: a copy that is not a play can still decide whether an event is
        one (when the copy that won is withdrawn, another copy wins). The batches' ids and
        earliest time are constants, so zone maps skip older blocks and a build with no new
        batch reads nothing. Unit tests set the var every_row_changed: their fixture rows are
        the changes. -#}
    {%- set batches = build.batches.get(table, []) -%}
    {%- if var('every_row_changed', false) %}
    select {{ columns }} from {{ live }} as changed_row
    union all
    select {{ columns }} from {{ removed }} as changed_row
    {%- elif not batches %}
    select {{ columns }} from {{ live }} as changed_row where 1 = 0
    {%- else %}
        {%- set ids, times = [], [] -%}
        {%- for batch_id, loaded_at in batches -%}
            {%- do ids.append(sparkify_quote(batch_id)) -%}
            {%- do times.append(loaded_at) -%}
        {%- endfor -%}
        {%- set since = "cast('" ~ times | min ~ "' as timestamp)" %}
    select {{ columns }}
    from {{ live }} as changed_row
    where changed_row.loaded_at >= {{ since }} and changed_row.batch_id in ({{ ids | join(', ') }})
    union all
    select {{ columns }}
    from {{ removed }} as changed_row
    where
        changed_row.removed_at >= {{ since }}
        and changed_row.removed_batch_id in ({{ ids | join(', ') }})
    {%- endif %}
{%- endmacro %}

{% macro sparkify_take_turns() -%}
    {#- pre-hook outside the transaction, and sparkify_end_turn the post-hook after it: two
        invocations building the same node one after the other, the whole node (dbt's views
        and full builds rename relations before and after their transaction, which two at
        once would collide on). Nothing on DuckDB (one process holds the file). -#}
    {{ return(adapter.dispatch('sparkify_take_turns', 'sparkify')()) }}
{%- endmacro %}

{% macro default__sparkify_take_turns() -%}{%- endmacro %}

{% macro redshift__sparkify_take_turns() -%}
    {#- none: Redshift has no advisory locks (docs/redshift-rules.md); the node's transaction
        takes the bookkeeping lock first instead (sparkify_bookkeeping_lock) -#}
{%- endmacro %}

{% macro postgres__sparkify_take_turns() -%}
    {#- a session lock: released by sparkify_end_turn, or when the connection closes -#}
    select pg_advisory_lock(hashtext('sparkify-build-{{ this.name }}'))
{%- endmacro %}

{% macro sparkify_end_turn() -%}
    {{ return(adapter.dispatch('sparkify_end_turn', 'sparkify')()) }}
{%- endmacro %}

{% macro default__sparkify_end_turn() -%}{%- endmacro %}

{% macro redshift__sparkify_end_turn() -%}{%- endmacro %}

{% macro postgres__sparkify_end_turn() -%}
    select pg_advisory_unlock(hashtext('sparkify-build-{{ this.name }}'))
{%- endmacro %}
