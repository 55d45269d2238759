"""Engines the loader feeds from the client: it parses the JSON and bulk-loads typed rows.

DuckDB and PostgreSQL share everything here but the bulk path (DuckDB reads a temporary NDJSON
file of typed rows with its own reader; PostgreSQL takes ``COPY ... FROM STDIN``).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

from loader.destinations.base import (
    LEDGER,
    LEDGER_COLUMNS,
    REJECT_COLUMNS,
    REJECTS,
    Batch,
    Destination,
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

    def commit_batch(self, batch: Batch) -> None:
        table = batch.table
        data_columns = self.data_columns(table)
        with self.transaction():
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
