"""One staging run: list the source, diff it with the ledger, load what is new, report.

Exactly once: an object is loaded when its key is not in the ledger; its rows and its ledger entry
commit in the same transaction. An object whose size or ETag differs from the ledger's is *changed*:
it is reported (exit 1) and never silently loaded twice; ``--replace-changed`` swaps its old rows
for the new ones in one transaction. An object the ledger holds that the source no longer lists is
*missing*: it is reported, and ``--withdraw-missing`` removes its rows. Every replacement and
withdrawal is a change in the ledger, and the rows it removed are kept in the table's ``_removed``
twin, so the models built from staging can apply it. ``--full-refresh`` reloads everything from
scratch and starts a new history.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TextIO

from loader.contract import (
    ADDED,
    REPLACED,
    WITHDRAWN,
    Batch,
    LedgerEntry,
    Plan,
    RunOptions,
    TableStats,
    new_batch_id,
    removed_table,
    utcnow,
)
from loader.destinations.base import Destination
from loader.errors import ConfigError, DataError, TransientError, out_of_space
from loader.fast_parse import FastParser, ParserInput
from loader.logs import debug, log
from loader.progress import Progress
from loader.records import check_rejects
from loader.sources import Source, SourceObject
from loader.tables import Table

FIRST_BATCH_BYTES = 32 * 1024 * 1024  # the first batch's cap: work starts early


KEY_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
DATED_TABLES = frozenset({"staging_events"})  # the catalogue's keys hold no dates


def key_date(key: str) -> dt.date | None:
    """The day an object's key names (``log_data/2018/11/2018-11-05-events.json``): the last
    YYYY-MM-DD in its file name, or None."""
    found = KEY_DATE.findall(key.rsplit("/", 1)[-1])
    if not found:
        return None
    try:
        return dt.date(*(int(part) for part in found[-1]))
    except ValueError:
        return None


def within_dates(
    listed: list[SourceObject], opts: RunOptions
) -> tuple[list[SourceObject], list[SourceObject]]:
    """The listed objects whose key's day is in --since/--until, and those with no day."""
    kept, undated = [], []
    for obj in listed:
        day = key_date(obj.key)
        if day is None:
            undated.append(obj)
        elif opts.in_range(day):
            kept.append(obj)
    return kept, undated


def is_changed(obj: SourceObject, entry: LedgerEntry) -> bool:
    """Whether an object differs from the version the ledger holds: another size, or another
    ETag (an MD5 for files and single-part uploads, a hash of part hashes for multipart ones;
    a new upload gives a new one)."""
    if obj.size != entry.size:
        return True
    return bool(obj.etag and entry.etag and obj.etag != entry.etag)


def unchanged_by_stat(obj: SourceObject, entry: LedgerEntry) -> bool:
    """A local file with the size and modification time it had when loaded is taken as
    unchanged without reading it (rsync's quick check), so a routine run costs what is new."""
    return obj.size == entry.size and obj.modified is not None and obj.modified == entry.modified


def make_plan(
    table: Table,
    listed: list[SourceObject],
    ledger: dict[str, LedgerEntry],
    full_refresh: bool,
    source: Source | None = None,
) -> Plan:
    """Split the listing into new, already loaded and changed objects, and find the loaded
    objects under the table's prefix that are no longer listed. Objects listed without an ETag
    (local files) are fingerprinted only when the ledger knows their key and size."""
    plan = Plan(table, listed)
    if full_refresh:
        plan.new = list(listed)
        return plan
    keys = {obj.key for obj in listed}
    plan.missing = [
        entry
        for key, entry in sorted(ledger.items())
        if key.startswith(table.prefix) and key not in keys
    ]
    # Local files have no ETag: hash the already-loaded ones whose size still matches but whose
    # modification time moved, in parallel (hashing releases the GIL).
    unhashed = [
        obj
        for obj in listed
        if not obj.etag
        and obj.key in ledger
        and obj.size == ledger[obj.key].size
        and not unchanged_by_stat(obj, ledger[obj.key])
    ]
    hashed = {}
    if unhashed and source is not None:
        hashed = {obj.key: obj for obj in source.fingerprint_many(unhashed)}
    for obj in listed:
        entry = ledger.get(obj.key)
        if entry is None:
            plan.new.append(obj)
            continue
        obj = hashed.get(obj.key, obj)
        if not obj.etag and unchanged_by_stat(obj, entry):
            plan.skipped.append(obj)
        elif is_changed(obj, entry):
            plan.changed.append((obj, entry))
        else:
            plan.skipped.append(obj)
            if obj.key in hashed and obj.modified is not None:
                plan.touched.append((entry, obj.modified))
    return plan


def chunk_by_bytes(
    objects: list[SourceObject], limit: int, first_limit: int | None = None
) -> list[list[SourceObject]]:
    """Consecutive batches of at most ``limit`` bytes (one object may exceed it alone); the
    first batch at most ``first_limit``, so that work starts early."""
    chunks: list[list[SourceObject]] = []
    current: list[SourceObject] = []
    size = 0
    for obj in objects:
        cap = limit if chunks or first_limit is None else min(limit, first_limit)
        if current and size + obj.size > cap:
            chunks.append(current)
            current, size = [], 0
        current.append(obj)
        size += obj.size
    if current:
        chunks.append(current)
    return chunks


def load_batches(
    dest: Destination, source: Source, plan: Plan, opts: RunOptions, stats: TableStats
) -> None:
    """The one load loop, on every engine: fetch the new and replaced objects, parse them and
    commit them batch by batch (retries, rejects and stats the same everywhere)."""
    replace = (
        {obj.key: entry for obj, entry in plan.changed}
        if opts.replace_changed or opts.restage
        else {}
    )
    todo = plan.new + [obj for obj, _ in plan.changed if obj.key in replace]
    # A small first batch: DuckDB starts on it while the read-ahead fetches the next one.
    chunks = chunk_by_bytes(todo, opts.batch_bytes, FIRST_BATCH_BYTES)
    if opts.full_refresh and not chunks:
        chunks = [[]]  # still clear the table
    progress = Progress(
        f"loading {plan.table.name}",
        len(todo),
        enabled=opts.progress,
        total_bytes=sum(obj.size for obj in todo),
    )
    parser = FastParser(
        plan.table, dest.parser_connection(), opts.invalid_char, workdir=opts.workdir
    )

    def fetch(objects: list[SourceObject]) -> tuple[list[SourceObject], ParserInput]:
        fetched = list(source.fetch_many(objects, on_done=lambda _: progress.update()))
        return [obj for obj, _ in fetched], parser.prepare(fetched)  # objects with their ETags

    rejected_so_far = 0
    try:
        for index, (objects, prepared) in enumerate(read_ahead(fetch, chunks)):
            now = utcnow()
            batch = Batch(
                plan.table,
                new_batch_id(now),
                now,
                source.uri,
                delete_all=opts.full_refresh and index == 0,
                remove_keys=[o.key for o in objects if o.key in replace],
                check_current=not opts.full_refresh,
            )
            parsed = parser.parse_prepared(prepared)
            del prepared
            try:
                batch.rows, batch.rejects, batch.parsed = (
                    parsed.python_rows,
                    parsed.rejects,
                    parsed,
                )
                batch.unmapped = parsed.unmapped
                for obj in objects:
                    rows, rejected = parsed.counts.get(obj.key, (0, 0))
                    old = replace.get(obj.key)
                    batch.entries.append(
                        LedgerEntry(
                            obj.key,
                            obj.etag,
                            obj.size,
                            rows,
                            rejected,
                            batch.batch_id,
                            change=ADDED if old is None else REPLACED,
                            removed=0 if old is None else old.rows or 0,
                            modified=obj.modified,
                            replaces=None if old is None else old.batch_id,
                        )
                    )
                check_rejects(batch.rejects, opts.max_errors - rejected_so_far, plan.table.name)
                check_fields(plan.table, parsed.present, parsed.rows)
                committing = time.monotonic()
                commit_with_retries(dest, batch, opts)
                size = sum(o.size for o in objects)
                progress.committed(parsed.rows, size)
                log(
                    f"{plan.table.name}: committed batch {index + 1}/{len(chunks)} "
                    f"({parsed.rows:,} rows from {len(objects):,} objects)",
                    event="batch_committed",
                    table=plan.table.name,
                    batch=batch.batch_id,
                    batch_number=index + 1,
                    batches=len(chunks),
                    rows=parsed.rows,
                    rows_python=len(parsed.python_rows),
                    rejects=len(batch.rejects),
                    objects=len(objects),
                    bytes=size,
                    seconds=round(time.monotonic() - committing, 3),
                )
                debug(
                    f"{plan.table.name}: batch {batch.batch_id}: {len(objects):,} object(s), "
                    f"{size:,} bytes, {parsed.fast_rows:,} rows by DuckDB's reader and "
                    f"{len(parsed.python_rows):,} by the exact parser, committed in "
                    f"{time.monotonic() - committing:.2f} s",
                    table=plan.table.name,
                    batch=batch.batch_id,
                )
            finally:
                parsed.drop()
            rejected_so_far += len(batch.rejects)
            stats.rows += parsed.rows
            stats.rejects += len(batch.rejects)
            stats.add_unmapped(batch.unmapped)
            stats.bytes += sum(o.size for o in objects)
            stats.new_files += sum(1 for o in objects if o.key not in replace)
            stats.replaced_files += sum(1 for o in objects if o.key in replace)
            stats.batches += 1
            for reject in batch.rejects:
                log(
                    f"rejected {reject}",
                    event="rejected",
                    table=plan.table.name,
                    batch=batch.batch_id,
                    key=reject.key,
                    line=reject.line,
                    reason=reject.reason,
                )
    finally:
        progress.close()


def withdraw(
    dest: Destination, source: Source, plan: Plan, opts: RunOptions, stats: TableStats
) -> None:
    """Remove the rows of the loaded objects the source no longer lists, in one batch: the rows
    move to the _removed table and the ledger records each object as withdrawn."""
    now = utcnow()
    batch = Batch(
        plan.table,
        new_batch_id(now),
        now,
        source.uri,
        remove_keys=[entry.key for entry in plan.missing],
    )
    batch.entries = [
        LedgerEntry(
            e.key,
            "",
            0,
            0,
            0,
            batch.batch_id,
            change=WITHDRAWN,
            removed=e.rows or 0,
            replaces=e.batch_id,
        )
        for e in plan.missing
    ]
    commit_with_retries(dest, batch, opts)
    stats.withdrawn_files += len(plan.missing)
    stats.batches += 1
    log(
        f"{plan.table.name}: withdrew {len(plan.missing):,} object(s) and their "
        f"{sum(e.removed for e in batch.entries):,} rows (batch {batch.batch_id})"
    )


def read_ahead(
    fetch: Callable[[list[SourceObject]], tuple[list[SourceObject], ParserInput]],
    chunks: list[list[SourceObject]],
) -> Iterator[tuple[list[SourceObject], ParserInput]]:
    """Yield each chunk fetched and prepared, fetching the next one in a background thread
    meanwhile: reading, hashing and writing the batch file overlap DuckDB's work on the
    previous batch (both release the GIL). At most two batches are in memory."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead") as pool:
        pending: list[Future] = [pool.submit(fetch, chunks[0])] if chunks else []
        try:
            for index in range(len(chunks)):
                result = pending.pop().result()
                if index + 1 < len(chunks):
                    pending.append(pool.submit(fetch, chunks[index + 1]))
                yield result
        finally:
            for future in pending:  # stopped early: wait for the read-ahead, drop its file
                with contextlib.suppress(Exception):
                    future.result()[1].discard()


def check_fields(table: Table, present: set[str], rows: int) -> None:
    """Refuse a batch in which a column's key appears in no record: the JSONPaths file (or the
    data) is wrong, and loading would silently null the column."""
    missing = [c for c in table.columns if c.name not in present]
    if rows and missing:
        names = ", ".join(f"{c.json_path} ({c.name})" for c in missing)
        raise DataError(
            f"{table.name}: {names} found in no record of this batch; check the "
            "JSONPaths file and the data. Nothing of this batch was loaded"
        )


def commit_with_retries(dest: Destination, batch: Batch, opts: RunOptions) -> None:
    """Commit a batch; on a transient failure reconnect and retry with exponential backoff.
    A retry first asks the ledger whether the lost commit went through, so none is doubled."""
    for attempt in range(1, opts.retries + 2):
        try:
            if attempt > 1 and dest.has_batch(batch.table.name, batch.batch_id):
                log(f"{batch.table.name}: batch {batch.batch_id} was committed before the failure")
                return
            dest.commit_batch(batch)
            return
        except TransientError as exc:
            if full := out_of_space(exc):  # waiting frees no disk: never retried
                raise full from None
            if attempt > opts.retries:
                raise
            delay = opts.retry_delay * 2 ** (attempt - 1)
            log(
                f"transient failure ({exc}); retrying batch in {delay:.1f}s "
                f"(attempt {attempt + 1} of {opts.retries + 1})"
            )
            time.sleep(delay)
            dest.reconnect()


def check_schema(
    dest: Destination, tables: Iterable[Table], full_refresh: bool, loading: set[str] | None = None
) -> list[str]:
    """DDL to run: bring an old ledger to the change log, create what is missing, refuse a
    table whose columns differ from the spec (``--full-refresh`` recreates it and its _removed
    twin, but only for a table this run loads)."""
    tables = list(tables)
    statements = dest.schema_ddl(tables)
    statements[1:1] = dest.migrate_ledger_ddl()
    for table in tables:
        pairs = (
            (table.name, dest.data_columns(table)),
            (removed_table(table.name), dest.removed_columns(table)),
        )
        stale = []
        for name, columns in pairs:
            existing = dest.table_columns(name)
            wanted = [column for column, _ in columns]
            if existing is not None and existing != wanted:
                stale.append((name, existing, wanted))
        if not stale or (loading is not None and table.name not in loading):
            continue  # current, or not loaded by this run: left exactly as it is
        if not full_refresh:
            name, existing, wanted = stale[0]
            raise ConfigError(
                f"staging.{name} has columns ({', '.join(existing)}) but the JSONPaths "
                f"file and schema give ({', '.join(wanted)}); rerun with --full-refresh to "
                "recreate it"
            )
        for name, _, _ in stale:
            statements.insert(1, f"drop table {dest.qualified(name)}")
    return statements


def check_one_source(
    dest: Destination, source: Source, tables: Iterable[Table], opts: RunOptions
) -> None:
    """Refuse to stage a table from a second source beside another one's data (the demo's next
    to the real data), unless asked to: its files would count as changed or missing ones of the
    first, and the marts would blend the two. Each table may have a source of its own (the
    compacted catalogue, and the events where the app writes them)."""
    if opts.full_refresh or opts.add_source:
        return
    for table in tables:
        others = sorted(dest.staged_sources(table.name) - {source.uri})
        if others:
            more = f" (and {len(others) - 1} more)" if len(others) > 1 else ""
            raise ConfigError(
                f"staging.{table.name} holds data staged from {others[0]}{more}; staging "
                f"{source.uri} into it would mix two sources. Stage it into a warehouse of its "
                "own (another SPARKIFY_DUCKDB_PATH, database or --target), replace what is "
                "staged with --full-refresh, or add it beside on purpose with --add-source"
            )


def stage_tables(
    dest: Destination,
    source: Source,
    tables: list[Table],
    opts: RunOptions,
    out: TextIO,
    schema: list[Table] | None = None,
) -> tuple[list[TableStats], list[str]]:
    """Stage ``tables`` (after creating every table of ``schema``); return per-table stats and
    warnings (changed objects)."""
    if not opts.dry_run:
        dest.lock()
    statements = check_schema(dest, schema or tables, opts.full_refresh, {t.name for t in tables})
    check_one_source(dest, source, tables, opts)
    if opts.dry_run:
        print("-- schema (run only where missing)", file=out)
        for statement in statements:
            print(f"{statement};", file=out)
    else:
        dest.execute_ddl(statements)
    all_stats: list[TableStats] = []
    warnings: list[str] = []
    for table in tables:
        all_stats.append(stage_table(dest, source, table, opts, out, warnings))
    return all_stats, warnings


def stage_table(
    dest: Destination,
    source: Source,
    table: Table,
    opts: RunOptions,
    out: TextIO,
    warnings: list[str],
) -> TableStats:
    """List one table's objects, diff them with the ledger, and load (or, for a dry run,
    describe) what is new, changed or missing."""
    started = time.monotonic()
    stats = TableStats(table.name)
    dated = opts.dated and table.name in DATED_TABLES
    listed = list_table(source, table, opts, dated, warnings)
    stats.listed_files = len(listed)
    ledger = {} if opts.full_refresh else dest.ledger(table.name)
    if dated:  # objects outside the range are neither listed nor missing
        ledger = {
            key: entry
            for key, entry in ledger.items()
            if (day := key_date(key)) is not None and opts.in_range(day)
        }
    plan = make_plan(table, listed, ledger, opts.full_refresh, source)
    stats.skipped_files = len(plan.skipped)
    stats.changed_files = len(plan.changed)
    stats.missing_files = len(plan.missing)
    if plan.touched and not opts.dry_run:
        dest.record_modified(table.name, plan.touched)
    warnings.extend(plan_warnings(source, plan, opts))
    log(
        f"{table.name}: {len(listed):,} objects listed, {len(plan.new):,} new, "
        f"{len(plan.skipped):,} already loaded, {len(plan.changed):,} changed, "
        f"{len(plan.missing):,} missing",
        event="plan",
        table=table.name,
        listed=len(listed),
        new=len(plan.new),
        skipped=len(plan.skipped),
        changed=len(plan.changed),
        missing=len(plan.missing),
    )
    if opts.restage and dated and plan.skipped:
        # each loaded object again as a new version of itself: the ledger records the
        # replacement, so the next dbt build rebuilds what was built from them
        log(f"{table.name}: staging {len(plan.skipped):,} loaded object(s) again (--restage)")
        plan.changed += [(obj, ledger[obj.key]) for obj in plan.skipped]
        stats.restaged_files = len(plan.skipped)
        plan.skipped = []
    if opts.dry_run:
        describe_plan(dest, source, plan, opts, out)
    elif plan.new or plan.changed or plan.missing or opts.full_refresh:
        if plan.missing and opts.withdraw_missing:
            withdraw(dest, source, plan, opts, stats)
        load_batches(dest, source, plan, opts, stats)
        warnings.extend(stats.unmapped_warnings(source.uri))
    stats.seconds = time.monotonic() - started
    return stats


def list_table(
    source: Source, table: Table, opts: RunOptions, dated: bool, warnings: list[str]
) -> list[SourceObject]:
    """The objects under the table's prefix (in --since/--until when ``dated``), with a
    warning for what the listing leaves out or finds nothing."""
    log(f"listing {source.uri}/{table.prefix}", event="listing", table=table.name)
    listed = source.list_objects(table.prefix)
    if dated:
        listed, undated = within_dates(listed, opts)
        if undated:
            names = ", ".join(source.url(obj.key) for obj in undated[:3])
            more = f" and {len(undated) - 3:,} more" if len(undated) > 3 else ""
            warnings.append(
                f"{len(undated):,} object(s) under {source.uri}/{table.prefix} have no "
                f"date (YYYY-MM-DD) in their name, so --since/--until leave them out "
                f"({names}{more})"
            )
        log(f"{table.name}: {len(listed):,} objects dated {_range_text(opts)}")
    ignored = getattr(source, "ignored", [])
    if ignored:
        shown = "; ".join(f"{source.url(key)}: {why}" for key, why in ignored[:3])
        more = f"; and {len(ignored) - 3:,} more" if len(ignored) > 3 else ""
        warnings.append(
            f"{len(ignored):,} object(s) under {source.uri}/{table.prefix} not staged "
            f"({shown}{more})"
        )
    if not listed and dated:
        warnings.append(
            f"nothing to stage under {source.uri}/{table.prefix} dated {_range_text(opts)}"
        )
    elif not listed:
        warnings.append(
            f"nothing to stage under {source.uri}/{table.prefix}: no .json or .json.gz "
            "object there (check --source and the prefix)"
        )
    return listed


def plan_warnings(source: Source, plan: Plan, opts: RunOptions) -> list[str]:
    """A warning for the loaded objects the source no longer lists, and one per changed
    object, each saying what this run does about it."""
    warnings = []
    if plan.missing:
        names = ", ".join(source.url(e.key) for e in plan.missing[:3])
        more = f" and {len(plan.missing) - 3:,} more" if len(plan.missing) > 3 else ""
        action = (
            "withdrawing their rows"
            if opts.withdraw_missing
            else "their rows stay staged; rerun with --withdraw-missing to remove them"
        )
        warnings.append(
            f"{len(plan.missing):,} object(s) loaded before are no longer in "
            f"{source.uri}/{plan.table.prefix} ({names}{more}): {action}"
        )
    for obj, entry in plan.changed:
        action = (
            "reloading it"
            if opts.replace_changed or opts.restage
            else (
                "not loaded again; rerun with --replace-changed to swap its rows, or --full-refresh"
            )
        )
        warnings.append(
            f"{source.url(obj.key)} changed since it was loaded in batch {entry.batch_id} "
            f"(size {entry.size} -> {obj.size}, etag {entry.etag} -> {obj.etag}): {action}"
        )
    return warnings


def describe_plan(
    dest: Destination, source: Source, plan: Plan, opts: RunOptions, out: TextIO
) -> None:
    """--dry-run: what the run would load and the statements each batch would run."""
    table = plan.table
    print(
        f"-- {table.name}: would load {len(plan.new)} object(s) through the "
        f"{dest.engine} bulk path",
        file=out,
    )
    for obj in plan.new[:20]:
        print(f"--   {source.url(obj.key)}", file=out)
    if len(plan.new) > 20:
        print(f"--   ... and {len(plan.new) - 20} more", file=out)
    described = dest.describe_batch(table)
    if described and (plan.new or opts.full_refresh):
        print(f"-- {table.name}: each batch would run (nothing is written)", file=out)
        for statement in described:
            print(statement, file=out)
    if plan.missing and opts.withdraw_missing:
        print(f"-- {table.name}: would withdraw {len(plan.missing)} object(s)", file=out)


def _range_text(opts: RunOptions) -> str:
    since = opts.since.isoformat() if opts.since else "any day"
    until = opts.until.isoformat() if opts.until else "any day"
    return f"from {since} to {until}"


def summary_table(all_stats: list[TableStats]) -> str:
    header = (
        "table",
        "new files",
        "skipped",
        "changed",
        "withdrawn",
        "rows",
        "rejects",
        "seconds",
        "MB/s",
    )
    lines = [header]
    for s in all_stats:
        rate = s.bytes / 1e6 / s.seconds if s.seconds > 0 else 0.0
        lines.append(
            (
                s.table,
                f"{s.new_files:,}",
                f"{s.skipped_files:,}",
                f"{s.changed_files:,}",
                f"{s.withdrawn_files:,}",
                f"{s.rows:,}",
                f"{s.rejects:,}",
                f"{s.seconds:.2f}",
                f"{rate:.1f}",
            )
        )
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    rendered = []
    for number, row in enumerate(lines):
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        rendered.append("  ".join(cells))
        if number == 0:
            rendered.append("  ".join("-" * w for w in widths))
    return "\n".join(rendered)


__all__ = ["Plan", "RunOptions", "TableStats", "make_plan", "stage_tables", "summary_table"]
