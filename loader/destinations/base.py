"""One interface for every warehouse engine; one small class per engine behind it.

The loader decides *what* to load (the plan: new, already loaded, changed objects); a destination
decides *how*: it creates the staging schema, reads the ledger and commits each batch of rows,
rejects and ledger entries in a single transaction, so a batch is either wholly visible or not at
all.
"""

from __future__ import annotations

import datetime as dt
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from loader.tables import META_COLUMNS, Table

SCHEMA = "staging"
LEDGER = "load_ledger"
REJECTS = "load_rejects"
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")

LEDGER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("table_name", "text"),
    ("object_key", "text"),
    ("etag", "text"),
    ("size_bytes", "bigint"),
    ("rows_loaded", "bigint"),
    ("rows_rejected", "bigint"),
    ("batch_id", "text"),
    ("source_uri", "text"),
    ("loaded_at", "timestamp"),
)
REJECT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("batch_id", "text"),
    ("table_name", "text"),
    ("object_key", "text"),
    ("line_number", "bigint"),
    ("raw_record", "text"),
    ("reason", "text"),
    ("rejected_at", "timestamp"),
)


def quote_ident(name: str) -> str:
    """Quote an identifier; only plain lower-case names are ever generated, but quote anyway."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """A standard SQL string literal, for where an engine cannot bind a parameter (DDL, COPY)."""
    if "\x00" in value:
        raise ValueError("NUL character in a SQL literal")
    return "'" + value.replace("'", "''") + "'"


def check_identifier(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"unexpected identifier {name!r}")
    return name


@dataclass(frozen=True)
class LedgerEntry:
    key: str
    etag: str
    size: int
    rows: int | None
    rejected: int
    batch_id: str
    loaded_at: dt.datetime | None = None


@dataclass
class Batch:
    """Everything one transaction commits for one table."""

    table: Table
    batch_id: str
    loaded_at: dt.datetime
    source_uri: str
    rows: list[tuple] = field(default_factory=list)
    rejects: list[Any] = field(default_factory=list)  # records.Reject
    entries: list[LedgerEntry] = field(default_factory=list)
    delete_all: bool = False  # --full-refresh: replace the table's rows and ledger
    replace_keys: list[str] = field(default_factory=list)  # changed objects being reloaded
    fast: Any = None  # fast_parse.FastBatch: rows DuckDB parsed, still in a temp table


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
    def ledger(self, table: str) -> dict[str, LedgerEntry]:
        """What the ledger says was loaded into ``table`` (empty if there is no ledger yet)."""

    @abstractmethod
    def table_columns(self, table: str) -> list[str] | None:
        """Column names of staging.<table>, or None when it does not exist."""

    # --- SQL shared by every engine -------------------------------------------------------

    def qualified(self, table: str) -> str:
        return f"{quote_ident(SCHEMA)}.{quote_ident(check_identifier(table))}"

    def column_defs(self, columns: list[tuple[str, str]]) -> str:
        return ",\n    ".join(
            f"{quote_ident(check_identifier(name))} {self.type_names[kind]}"
            for name, kind in columns
        )

    def data_columns(self, table: Table) -> list[tuple[str, str]]:
        return [(c.name, c.type) for c in table.columns] + list(META_COLUMNS)

    def schema_ddl(self, tables: list[Table]) -> list[str]:
        statements = [f"create schema if not exists {quote_ident(SCHEMA)}"]
        for table in tables:
            statements.append(self.create_table_sql(table.name, self.data_columns(table)))
        statements.append(
            self.create_table_sql(
                LEDGER, list(LEDGER_COLUMNS), "primary key (table_name, object_key)"
            )
        )
        statements.append(self.create_table_sql(REJECTS, list(REJECT_COLUMNS)))
        return statements

    def create_table_sql(self, name: str, columns: list[tuple[str, str]], extra: str = "") -> str:
        body = self.column_defs(columns) + (f",\n    {extra}" if extra else "")
        options = self.table_options(name)
        return f"create table if not exists {self.qualified(name)} (\n    {body}\n){options}"

    def table_options(self, name: str) -> str:
        return ""

    def refresh_sql(self, batch: Batch) -> list[str]:
        """Statements that clear what a batch replaces (run before its inserts)."""
        table, statements = batch.table.name, []
        if batch.delete_all:
            # DELETE, not TRUNCATE: TRUNCATE commits (Redshift) and the refresh must be atomic.
            # Identifiers come from quote_ident and the value from quote_literal.
            statements.append(f"delete from {self.qualified(table)}")  # noqa: S608
            where = f"table_name = {quote_literal(table)}"
            statements.append(f"delete from {self.qualified(LEDGER)} where {where}")  # noqa: S608
        return statements
