"""Engines the loader feeds from the client: it parses the JSON and bulk-loads typed rows.

DuckDB and PostgreSQL share everything here but the bulk path (DuckDB reads a temporary NDJSON
file of typed rows with its own reader; PostgreSQL takes ``COPY ... FROM STDIN``).
"""

from __future__ import annotations

import datetime as dt
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

from loader.destinations.base import (
    LEDGER,
    LEDGER_COLUMNS,
    REJECT_COLUMNS,
    REJECTS,
    UNMAPPED,
    UNMAPPED_COLUMNS,
    Batch,
    Destination,
    LedgerEntry,
)


class ClientSideDestination(Destination):
    @abstractmethod
    def transaction(self):  # context manager: commit on success, roll back on error
        ...

    @abstractmethod
    def execute(self, sql: str, params: Sequence[object] = ()) -> None: ...

    @abstractmethod
    def bulk_insert(self, table: str, columns: list[tuple[str, str]], rows: list[tuple]) -> None:
        """Insert many rows inside the current transaction, through the engine's bulk path."""

    def reconnect(self) -> None:
        """Open a fresh connection after a transient failure (engines with a server)."""

    @abstractmethod
    def parser_connection(self) -> Any:
        """The DuckDB connection the fast parser works in (its temp tables live there)."""

    @abstractmethod
    def insert_fast(self, table: str, columns: list[tuple[str, str]], batch: Batch) -> None:
        """Insert the rows the fast parser left in its temp table, in the current transaction."""

    def record_modified(self, table: str, touched: list[tuple[LedgerEntry, dt.datetime]]) -> None:
        """The one update the change log gets: a fact it lacked (an unchanged file's new
        modification time, or a time a ledger from before the column never had)."""
        with self.transaction():
            for start in range(0, len(touched), 500):
                chunk = touched[start : start + 500]
                values = ", ".join(["(?, ?, cast(? as timestamp))"] * len(chunk))
                self.execute(
                    f"update {self.qualified(LEDGER)} set last_modified = touched.modified "  # noqa: S608 - quoted identifiers, bound values
                    f"from (values {values}) as touched (object_key, batch_id, modified) "
                    f"where {self.qualified(LEDGER)}.table_name = ? "
                    f"and {self.qualified(LEDGER)}.object_key = touched.object_key "
                    f"and {self.qualified(LEDGER)}.batch_id = touched.batch_id",
                    [v for e, m in chunk for v in (e.key, e.batch_id, m)] + [table],
                )

    def begin_batch(self, batch: Batch) -> None:
        """First statements of a batch's transaction (engines that lock per batch)."""

    def commit_batch(self, batch: Batch) -> None:
        table = batch.table
        data_columns = self.data_columns(table)
        with self.transaction():
            self.begin_batch(batch)
            for statement in self.refresh_sql(batch):
                self.execute(statement)
            removals = self.remove_sql(batch)
            for key in batch.remove_keys:
                for statement in removals:
                    self.execute(statement, (key,))
            rows = [(*row, batch.batch_id, batch.loaded_at) for row in batch.rows]
            self.bulk_insert(table.name, data_columns, rows)
            if batch.fast is not None and batch.fast.fast_rows:
                self.insert_fast(table.name, data_columns, batch)
            self.bulk_insert(LEDGER, list(LEDGER_COLUMNS), self.ledger_rows(batch))
            reject_rows = [
                (batch.batch_id, table.name, r.key, r.line, r.raw, r.reason, batch.loaded_at)
                for r in batch.rejects
            ]
            if reject_rows:
                self.bulk_insert(REJECTS, list(REJECT_COLUMNS), reject_rows)
            unmapped_rows = [
                (
                    batch.batch_id,
                    table.name,
                    u.key,
                    u.line,
                    ", ".join(u.names),
                    u.json,
                    batch.loaded_at,
                )
                for u in batch.unmapped
            ]
            if unmapped_rows:
                self.bulk_insert(UNMAPPED, list(UNMAPPED_COLUMNS), unmapped_rows)
