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
    quote_ident,
)
from loader.tables import META_COLUMNS


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
        data_columns = [(c.name, c.type) for c in table.columns] + list(META_COLUMNS)
        key_column = self.qualified(table.name)
        with self.transaction():
            for statement in self.refresh_sql(batch):
                self.execute(statement)
            for key in batch.replace_keys:
                self.execute(
                    f"delete from {key_column} where {quote_ident('_source_key')} = ?",  # noqa: S608 - identifiers via quote_ident, values bound
                    (key,),
                )
                self.execute(
                    f"delete from {self.qualified(LEDGER)} where table_name = ? and object_key = ?",  # noqa: S608 - identifiers via quote_ident, values bound
                    (table.name, key),
                )
            rows = [(*row, batch.batch_id, batch.loaded_at) for row in batch.rows]
            self.bulk_insert(table.name, data_columns, rows)
            if batch.fast is not None and batch.fast.fast_rows:
                self.insert_fast(table.name, data_columns, batch)
            ledger_rows = [
                (
                    table.name,
                    e.key,
                    e.etag,
                    e.size,
                    e.rows,
                    e.rejected,
                    batch.batch_id,
                    batch.source_uri,
                    batch.loaded_at,
                )
                for e in batch.entries
            ]
            self.bulk_insert(LEDGER, list(LEDGER_COLUMNS), ledger_rows)
            reject_rows = [
                (batch.batch_id, table.name, r.key, r.line, r.raw, r.reason, batch.loaded_at)
                for r in batch.rejects
            ]
            if reject_rows:
                self.bulk_insert(REJECTS, list(REJECT_COLUMNS), reject_rows)
