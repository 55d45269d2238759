"""The contract between the parts of one load: what the pipeline, the parser and the
destinations hand one another.

The pipeline (loader/pipeline.py) reads ``RunOptions``, lists a source and diffs it with the
ledger into a ``Plan``; the parser (loader/fast_parse.py) turns each chunk of objects into a
``ParsedBatch``; the pipeline wraps it in a ``Batch`` with its ``LedgerEntry`` rows and a
destination (loader/destinations/) commits it in one transaction; ``TableStats`` add up what
happened. This module depends on nothing above it, so every part can import it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb

from loader.records import Reject, Unmapped
from loader.sources import SourceObject
from loader.tables import Table

# Where staging lives: the staged tables, and beside them the change log of what was staged
# (the ledger), the records refused (rejects) and the keys no column maps (unmapped).
SCHEMA = "staging"
LEDGER = "load_ledger"
REJECTS = "load_rejects"
UNMAPPED = "load_unmapped"
REMOVED_SUFFIX = "_removed"
ADDED, REPLACED, WITHDRAWN = "added", "replaced", "withdrawn"  # the changes the ledger records
DEFAULT_BATCH_BYTES = 256 * 1024 * 1024
ORIGIN_COLUMNS = ("_source_key", "_source_line")  # where a staged row's record was


def removed_table(table: str) -> str:
    """The table that keeps the rows removed from ``table``, with the batch that removed them."""
    return table + REMOVED_SUFFIX


@dataclass(frozen=True)
class RunOptions:
    full_refresh: bool = False
    dry_run: bool = False
    max_errors: int = 0
    invalid_char: str | None = None  # replacement for invalid UTF-8 (ACCEPTINVCHARS); None: reject
    replace_changed: bool = False
    withdraw_missing: bool = False  # remove the rows of loaded objects the source lost
    batch_bytes: int = DEFAULT_BATCH_BYTES
    progress: bool = True
    workdir: str | None = None  # where temporary batch files go (default: the system's)
    retries: int = 3  # transient failures of a batch commit are retried this often
    retry_delay: float = 1.0  # seconds before the first retry; doubles each time
    # --since/--until: only the event files whose key holds a date in this range (inclusive)
    since: dt.date | None = None
    until: dt.date | None = None
    restage: bool = False  # stage the objects in range again, as new versions of themselves
    add_source: bool = False  # stage a second source beside what another one staged

    @property
    def dated(self) -> bool:
        return self.since is not None or self.until is not None

    def in_range(self, day: dt.date) -> bool:
        return (self.since is None or day >= self.since) and (
            self.until is None or day <= self.until
        )


@dataclass
class Plan:
    table: Table
    listed: list[SourceObject]
    new: list[SourceObject] = field(default_factory=list)
    skipped: list[SourceObject] = field(default_factory=list)
    changed: list[tuple[SourceObject, LedgerEntry]] = field(default_factory=list)
    missing: list[LedgerEntry] = field(default_factory=list)  # loaded, no longer listed
    # unchanged files whose modification time moved (hashed to be sure): the ledger learns the
    # new time, so the next run skips them without reading them
    touched: list[tuple[LedgerEntry, dt.datetime]] = field(default_factory=list)


@dataclass
class TableStats:
    table: str
    listed_files: int = 0
    new_files: int = 0
    skipped_files: int = 0
    changed_files: int = 0
    missing_files: int = 0
    withdrawn_files: int = 0
    restaged_files: int = 0  # loaded objects staged again as new versions (--restage)
    replaced_files: int = 0  # objects whose new version replaced the old one's rows
    rows: int = 0
    rejects: int = 0
    bytes: int = 0
    seconds: float = 0.0
    batches: int = 0
    # keys no column maps (kept in staging.load_unmapped): path -> [records, first key:line]
    unmapped: dict[str, list] = field(default_factory=dict)
    unmapped_records: int = 0
    not_kept: list[Unmapped] = field(default_factory=list)  # values too large to keep

    def add_unmapped(self, found: list[Unmapped]) -> None:
        self.unmapped_records += len(found)
        for record in found:
            for name in record.names:
                seen = self.unmapped.setdefault(name, [0, f"{record.key}:{record.line}"])
                seen[0] += 1
            if record.not_kept is not None:
                self.not_kept.append(record)

    def unmapped_warnings(self, source_uri: str) -> list[str]:
        """A line naming each unmapped key, how many records had it and the first of them, and
        one for the values that could not be kept."""
        if not self.unmapped_records:
            return []
        ranked = sorted(self.unmapped.items(), key=lambda item: (-item[1][0], item[0]))
        shown = "; ".join(
            f"{name} ({count:,} record(s), first {source_uri}/{first})"
            for name, (count, first) in ranked[:5]
        )
        more = f"; and {len(ranked) - 5:,} more key(s)" if len(ranked) > 5 else ""
        lines = [
            f"{self.table}: {self.unmapped_records:,} staged record(s) have keys no column "
            f"maps, kept with their values in {SCHEMA}.{UNMAPPED} (by batch, key and line): "
            f"{shown}{more}"
        ]
        if self.not_kept:
            first = self.not_kept[0]
            lines.append(
                f"{self.table}: the unmapped values of {len(self.not_kept):,} record(s) could "
                f"not be kept (their keys are listed in {SCHEMA}.{UNMAPPED}, unmapped_json is "
                f"null): first {source_uri}/{first.key}:{first.line} "
                f"({', '.join(first.names[:3])}: {first.not_kept})"
            )
        return lines


@dataclass(frozen=True)
class LedgerEntry:
    key: str
    etag: str
    size: int
    rows: int | None
    rejected: int
    batch_id: str
    loaded_at: dt.datetime | None = None
    change: str = ADDED
    removed: int = 0  # rows of the previous version this change removed
    modified: dt.datetime | None = None  # the object's modification time when loaded
    # the batch of the version this change replaces or withdraws (None for a new object): a
    # loader that waited for another checks, under the lock, that the version is still current
    replaces: str | None = None


@dataclass
class Batch:
    """Everything one transaction commits for one table."""

    table: Table
    batch_id: str
    loaded_at: dt.datetime
    source_uri: str
    rows: list[tuple] = field(default_factory=list)  # parsed in Python: ParsedBatch.columns
    rejects: list[Reject] = field(default_factory=list)
    unmapped: list[Unmapped] = field(default_factory=list)
    entries: list[LedgerEntry] = field(default_factory=list)
    delete_all: bool = False  # --full-refresh: replace the table's rows and ledger
    # objects whose staged rows this batch removes (a new version replaces them, or they were
    # withdrawn): the rows move to the _removed table, tagged with this batch
    remove_keys: list[str] = field(default_factory=list)
    parsed: ParsedBatch | None = None  # the parser's result (the rows DuckDB parsed)
    # objects another loader staged meanwhile, left out of this batch (engines that lock per
    # batch); a full refresh replaces everything and checks nothing
    skip_keys: list[str] = field(default_factory=list)
    check_current: bool = True


@dataclass
class ParsedBatch:
    """The parser's result for one batch. The rows DuckDB's reader vouched for stay in
    ``relation`` of the parser's DuckDB ``connection`` (a destination copies them from there in
    its own bulk path); the rest were parsed in Python into ``python_rows``. ``columns`` names,
    for both, which staging column each value fills, in order: the data columns, then the
    record's origin. A destination reads the layout from here and never works it out."""

    connection: duckdb.DuckDBPyConnection
    relation: str
    # (column of ``relation``, staging column it fills); a Python row holds the same values in
    # the same order
    columns: tuple[tuple[str, str], ...]
    temp_tables: tuple[str, ...] = ()  # the parser's work tables, dropped with the relation
    fast_rows: int = 0
    python_rows: list[tuple] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)  # key -> (rows, rejects)
    present: set[str] = field(default_factory=set)  # columns whose key some record had
    # records with keys no column maps (every one goes to Python: its key set is not the
    # expected one)
    unmapped: list[Unmapped] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return self.fast_rows + len(self.python_rows)

    @property
    def staging_columns(self) -> list[str]:
        """The staging columns a row fills, in order (``_batch_id`` and ``_loaded_at`` follow,
        from the batch)."""
        return [staging for _, staging in self.columns]

    def origin_column(self, staging: str) -> str:
        """The relation's column that fills the origin column ``staging`` (``_source_key``)."""
        return next(own for own, filled in self.columns if filled == staging)

    def select_list(
        self, quote: Callable[[str], str], renamed: bool = True, origin_first: bool = False
    ) -> str:
        """The relation's columns for a ``select``, each named for the staging column it fills
        unless ``renamed`` is false; the record's origin first when ``origin_first``."""
        columns = list(self.columns)
        if origin_first:
            columns.sort(key=lambda pair: pair[1] not in ORIGIN_COLUMNS)  # stable
        return ", ".join(
            f"{own} as {quote(staging)}" if renamed else own for own, staging in columns
        )

    def drop(self) -> None:
        """Drop the relation and the parser's work tables."""
        with contextlib.suppress(duckdb.Error):
            self.connection.execute(f"drop view if exists {self.relation}")
        for name in self.temp_tables:
            with contextlib.suppress(duckdb.Error):
                self.connection.execute(f"drop table if exists {name}")


def new_batch_id(now: dt.datetime) -> str:
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
