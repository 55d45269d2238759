"""The one way a batch is committed, on every engine: one transaction out of a few primitives.

The engines differ only in how rows reach a table inside that transaction (``bulk_insert`` for
rows parsed in Python, ``insert_parsed`` for the rows DuckDB's reader left in the parser's
relation): DuckDB inserts them in this process, PostgreSQL streams them with ``COPY ... FROM
STDIN``, Redshift stages them in S3 and has the warehouse ``COPY`` them. Everything else (the
refresh, the removals, the ledger, the rejects, the unmapped keys, the lock taken per batch) is
here, once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from abc import abstractmethod
from collections.abc import Sequence

from loader.contract import LEDGER, REJECTS, UNMAPPED, Batch, LedgerEntry, ParsedBatch
from loader.destinations.base import (
    LEDGER_COLUMNS,
    REJECT_COLUMNS,
    UNMAPPED_COLUMNS,
    Destination,
)


class TransactionalDestination(Destination):
    """An engine that commits each batch in one SQL transaction of its own."""

    @abstractmethod
    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """Commit on success; on an error roll back and raise it classed (``classify``)."""

    @abstractmethod
    def execute(self, sql: str, params: Sequence[object] = ()) -> None: ...

    @abstractmethod
    def bulk_insert(self, table: str, columns: list[tuple[str, str]], rows: list[tuple]) -> None:
        """Insert many rows inside the current transaction, through the engine's bulk path."""

    @abstractmethod
    def insert_parsed(self, table: str, parsed: ParsedBatch, batch: Batch) -> None:
        """Insert the rows DuckDB's reader left in ``parsed.relation`` (columns as
        ``parsed.columns`` names them) with the batch's id and time, in the current
        transaction."""

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
            if batch.parsed is not None and batch.parsed.fast_rows:
                self.insert_parsed(table.name, batch.parsed, batch)
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
