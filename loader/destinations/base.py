"""One interface for every warehouse engine; one small class per engine behind it.

The loader decides *what* to load (the plan: new, already loaded, changed and missing objects); a
destination decides *how*: it creates the staging schema, reads the ledger and commits each batch
of rows, rejects and ledger entries in a single transaction, so a batch is either wholly visible or
not at all.

The ledger is the change log of staging, written once and never rewritten: one row per change to
an object, in the batch that made it. An object is ``added`` when first loaded, ``replaced`` when
its rows were swapped for a new version of it, ``withdrawn`` when its rows were removed because it
left the source. Rows a batch removes are moved to ``staging.<table>_removed`` with that batch's id,
so what every batch added or removed stays readable: dbt's incremental models read exactly that.
"""

from __future__ import annotations

import datetime as dt
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence

import duckdb

from loader.contract import (
    ADDED,
    LEDGER,
    REJECTS,
    SCHEMA,
    UNMAPPED,
    WITHDRAWN,
    Batch,
    LedgerEntry,
    removed_table,
)
from loader.errors import ConfigError, LoaderError
from loader.tables import ID, KEY, META_COLUMNS, Column, Table

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")

LEDGER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("table_name", ID),
    ("object_key", KEY),
    ("etag", "text"),
    ("size_bytes", "bigint"),
    ("rows_loaded", "bigint"),
    ("rows_rejected", "bigint"),
    ("batch_id", ID),
    ("source_uri", "text"),
    ("loaded_at", "timestamp"),
    ("change", "text"),  # added | replaced | withdrawn
    ("rows_removed", "bigint"),  # rows of the object's previous version this change removed
    ("last_modified", "timestamp"),  # the object's modification time when loaded (UTC)
)
# The first layout (one row per object, rewritten on a reload): migrated in place.
LEDGER_V1 = [name for name, _ in LEDGER_COLUMNS[:9]]
LEDGER_KEY = "primary key (table_name, object_key, batch_id)"
REJECT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("batch_id", ID),
    ("table_name", ID),
    ("object_key", KEY),
    ("line_number", "bigint"),
    ("raw_record", "text"),
    ("reason", "text"),
    ("rejected_at", "timestamp"),
)
# Keys of staged records that no column maps (schema drift), one row per record: joined to the
# record's staged (or removed) row on (batch_id, object_key, line_number) = (_batch_id,
# _source_key, _source_line), so a column added later can be filled without reading S3 again.
UNMAPPED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("batch_id", ID),
    ("table_name", ID),
    ("object_key", KEY),
    ("line_number", "bigint"),
    ("unmapped_keys", "text"),  # their paths, comma-separated: experiment, page.referrer
    ("unmapped_json", "text"),  # {"experiment": {...}}: exactly those keys, numbers as written
    ("loaded_at", "timestamp"),
)
# Appended to a staging table's columns in its _removed twin.
REMOVED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("_removed_batch_id", ID),  # the batch that removed the row
    ("_removed_at", "timestamp"),
)
# The current state: each object's latest change, unless it withdrew the object. ``?`` marks the
# table name; batches of one table commit one after another, so loaded_at orders them.
CURRENT_LEDGER_SQL = f"""
select
    object_key, etag, size_bytes, rows_loaded, rows_rejected, batch_id, loaded_at, change,
    rows_removed, last_modified
from (
    select
        *,
        row_number() over (
            partition by object_key order by loaded_at desc, batch_id desc
        ) as recency
    from {SCHEMA}.{LEDGER}
    where table_name = ?
) as changes
where recency = 1 and change <> '{WITHDRAWN}'
"""  # noqa: S608 - constants only


# Where the objects staged in a table came from (each object's latest change, withdrawn ones
# left out).
STAGED_SOURCES_SQL = f"""
select distinct source_uri
from (
    select
        source_uri,
        change,
        row_number() over (
            partition by table_name, object_key order by loaded_at desc, batch_id desc
        ) as recency
    from {SCHEMA}.{LEDGER}
    where table_name = ?
) as changes
where recency = 1 and change <> '{WITHDRAWN}'
"""  # noqa: S608 - constants only


def quote_ident(name: str) -> str:
    """Quote an identifier; only plain lower-case names are ever generated, but quote anyway."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """A standard SQL string literal, for where an engine cannot bind a parameter (DDL, COPY)."""
    if "\x00" in value:
        raise ValueError("NUL character in a SQL literal")
    return "'" + value.replace("'", "''") + "'"


def cut_utf8(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` bytes of UTF-8, never inside a character (Redshift's
    VARCHAR widths count bytes)."""
    data = text.encode("utf-8", "surrogatepass")
    return text if len(data) <= limit else data[:limit].decode("utf-8", "ignore")


def check_identifier(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"unexpected identifier {name!r}")
    return name


class Destination(ABC):
    """A warehouse engine the loader writes staging tables into."""

    engine: str
    type_names: dict[str, str]

    def __enter__(self) -> Destination:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def execute_ddl(self, statements: list[str]) -> None:
        """Run schema statements in one transaction."""

    @abstractmethod
    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        """Rows of a read-only query (``?`` placeholders), outside any load transaction."""

    def literal(self, value: str) -> str:
        """A string literal as this engine reads it (for SQL built as text, where nothing can
        be bound)."""
        return quote_literal(value)

    def record_modified(self, table: str, touched: list[tuple[LedgerEntry, dt.datetime]]) -> None:
        """Record the new modification time of files found unchanged by their hash (engines
        that read local files; Redshift reads only S3, whose ETags need no hashing)."""
        return None

    def lock(self) -> None:
        """Make this the only loader writing to the warehouse until it closes (engines whose
        transactions would otherwise interleave); DuckDB's file lock already does that."""
        return None

    # --- loading: what the pipeline asks of every engine ---------------------------------

    @abstractmethod
    def parser_connection(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection the parser works in: its result (``ParsedBatch.relation``)
        lives there until the batch is committed."""

    @abstractmethod
    def commit_batch(self, batch: Batch) -> None:
        """Commit a batch in one transaction: its removals, rows, ledger entries, rejects and
        unmapped keys, all or nothing. Failures are raised classed (``classify``)."""

    def reconnect(self) -> None:
        """Open a fresh connection after a transient failure (engines with a server)."""
        return None

    def describe_batch(self, table: Table) -> list[str]:
        """The statements one batch of ``table`` would run, for ``--dry-run``; none by default."""
        return []

    @abstractmethod
    def classify(self, exc: BaseException, doing: str) -> LoaderError:
        """This engine's driver error as the loader's kind of error: ``TransientError`` when
        a rerun can succeed, ``OutOfSpaceError`` for a full disk, ``DataError`` for data the
        engine refused, ``ConfigError`` otherwise. ``doing`` says what failed ("load",
        "query"). The one place an engine's errors are classed."""

    # --- reading the warehouse, the same on every engine ----------------------------------

    def table_columns(self, table: str) -> list[str] | None:
        """Column names of staging.<table>, or None when it does not exist."""
        rows = self.query(
            "select column_name from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            (SCHEMA, table),
        )
        return [r[0] for r in rows] or None

    def ledger(self, table: str) -> dict[str, LedgerEntry]:
        """The objects staged in ``table`` now (each one's latest change), by key."""
        if self.table_columns(LEDGER) is None:
            return {}
        rows = self.query(CURRENT_LEDGER_SQL, (table,))
        return {r[0]: LedgerEntry(*r) for r in rows}

    def staged_sources(self, table: str) -> set[str]:
        """The sources (``--source`` roots) the objects staged in ``table`` were loaded from."""
        columns = self.table_columns(LEDGER)
        if columns is None:
            return set()
        sql = (
            STAGED_SOURCES_SQL
            if "change" in columns  # a ledger of the first layout has no withdrawals yet
            else f"select distinct source_uri from {SCHEMA}.{LEDGER} where table_name = ?"  # noqa: S608 - constants
        )
        return {r[0] for r in self.query(sql, (table,)) if r[0]}

    def has_batch(self, table: str, batch_id: str) -> bool:
        """Whether the ledger holds a change committed by ``batch_id`` (after a lost commit)."""
        if self.table_columns(LEDGER) is None:
            return False
        rows = self.query(
            f"select count(*) from {SCHEMA}.{LEDGER} where table_name = ? and batch_id = ?",  # noqa: S608 - constants
            (table, batch_id),
        )
        return bool(rows and rows[0][0])

    # --- SQL shared by every engine -------------------------------------------------------

    def qualified(self, table: str) -> str:
        return f"{quote_ident(SCHEMA)}.{quote_ident(check_identifier(table))}"

    def column_defs(self, columns: list[tuple[str, str]]) -> str:
        return ",\n    ".join(
            f"{quote_ident(check_identifier(name))} {self.type_names.get(kind, kind)}"
            for name, kind in columns
        )

    def data_columns(self, table: Table) -> list[tuple[str, str]]:
        return [(c.name, self.column_type(c)) for c in table.columns] + list(META_COLUMNS)

    def column_type(self, column: Column) -> str:
        """A data column's type: its kind (a key of ``type_names``) or the engine's type."""
        return column.type

    def removed_columns(self, table: Table) -> list[tuple[str, str]]:
        return self.data_columns(table) + list(REMOVED_COLUMNS)

    def schema_ddl(self, tables: list[Table]) -> list[str]:
        statements = [f"create schema if not exists {quote_ident(SCHEMA)}"]
        for table in tables:
            statements.append(self.create_table_sql(table.name, self.data_columns(table)))
            statements.append(
                self.create_table_sql(removed_table(table.name), self.removed_columns(table))
            )
        statements.append(self.create_table_sql(LEDGER, list(LEDGER_COLUMNS), LEDGER_KEY))
        statements.append(self.create_table_sql(REJECTS, list(REJECT_COLUMNS)))
        statements.append(self.create_table_sql(UNMAPPED, list(UNMAPPED_COLUMNS)))
        return statements

    def migrate_ledger_ddl(self) -> list[str]:
        """Statements that bring an older ledger to the current change log: the first layout
        (one row per object) becomes a log of ``added`` changes; a log missing columns appended
        since gets them. None when it is current or absent."""
        existing = self.table_columns(LEDGER)
        wanted = [name for name, _ in LEDGER_COLUMNS]
        if existing is None or existing == wanted:
            return []
        if len(existing) > len(LEDGER_V1) and wanted[: len(existing)] == existing:
            # a change log from before some columns were appended: append them
            return [
                f"alter table {self.qualified(LEDGER)} add column {self.column_defs([column])}"
                for column in LEDGER_COLUMNS[len(existing) :]
            ]
        if existing != LEDGER_V1:
            raise ConfigError(
                f"{SCHEMA}.{LEDGER} has columns ({', '.join(existing)}), which this loader does "
                "not know; rerun with --full-refresh to recreate it"
            )
        old = f"{LEDGER}_v1"
        names = ", ".join(quote_ident(n) for n in LEDGER_V1)
        return [
            f"alter table {self.qualified(LEDGER)} rename to {quote_ident(old)}",
            self.create_table_sql(LEDGER, list(LEDGER_COLUMNS), LEDGER_KEY),
            f"insert into {self.qualified(LEDGER)} ({names}, change, rows_removed) "  # noqa: S608 - quoted identifiers
            f"select {names}, '{ADDED}', 0 from {self.qualified(old)}",
            f"drop table {self.qualified(old)}",
        ]

    def create_table_sql(self, name: str, columns: list[tuple[str, str]], extra: str = "") -> str:
        body = self.column_defs(columns) + (f",\n    {extra}" if extra else "")
        options = self.table_options(name)
        return f"create table if not exists {self.qualified(name)} (\n    {body}\n){options}"

    def table_options(self, name: str) -> str:
        return ""

    def refresh_sql(self, batch: Batch) -> list[str]:
        """Statements that clear what a full refresh replaces (run before its inserts): the
        rows, the removed rows and the table's change log, so dbt sees a new history and
        rebuilds what it built from the old one."""
        table, statements = batch.table.name, []
        if batch.delete_all:
            # DELETE, not TRUNCATE: TRUNCATE commits (Redshift) and the refresh must be atomic.
            # Identifiers come from quote_ident and the value from quote_literal.
            where = f"table_name = {quote_literal(table)}"
            statements += [
                f"delete from {self.qualified(table)}",  # noqa: S608
                f"delete from {self.qualified(removed_table(table))}",  # noqa: S608
                f"delete from {self.qualified(LEDGER)} where {where}",  # noqa: S608
                f"delete from {self.qualified(REJECTS)} where {where}",  # noqa: S608
                f"delete from {self.qualified(UNMAPPED)} where {where}",  # noqa: S608
            ]
        return statements

    def remove_sql(self, batch: Batch) -> list[str]:
        """Statements (one ``?`` for the object key each) that move an object's staged rows to
        the _removed table, tagged with this batch, and drop its old rejects."""
        table = batch.table
        names = ", ".join(quote_ident(n) for n, _ in self.data_columns(table))
        stamp = quote_literal(batch.loaded_at.isoformat(sep=" "))
        key = quote_ident("_source_key")
        # Identifiers via quote_ident; the batch id and time via quote_literal.
        return [
            f"insert into {self.qualified(removed_table(table.name))} "  # noqa: S608
            f"({names}, {quote_ident('_removed_batch_id')}, {quote_ident('_removed_at')}) "
            f"select {names}, {quote_literal(batch.batch_id)}, cast({stamp} as timestamp) "
            f"from {self.qualified(table.name)} where {key} = ?",
            f"delete from {self.qualified(table.name)} where {key} = ?",  # noqa: S608
            f"delete from {self.qualified(REJECTS)} "  # noqa: S608
            f"where table_name = {quote_literal(table.name)} and object_key = ?",
        ]

    def ledger_rows(self, batch: Batch) -> list[tuple]:
        return [
            (
                batch.table.name,
                e.key,
                e.etag,
                e.size,
                e.rows,
                e.rejected,
                batch.batch_id,
                batch.source_uri,
                batch.loaded_at,
                e.change,
                e.removed,
                e.modified,
            )
            for e in batch.entries
        ]
