"""DuckDB: typed rows go through a temporary NDJSON file read by DuckDB's own JSON reader."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import duckdb

from loader.contract import Batch, ParsedBatch
from loader.destinations.base import quote_ident, quote_literal
from loader.destinations.driver_errors import message
from loader.destinations.transactional import TransactionalDestination
from loader.errors import ConfigError, DataError, LoaderError, TransientError, out_of_space

DUCK_TYPES = {
    "text": "VARCHAR",
    "key": "VARCHAR",
    "id": "VARCHAR",
    "integer": "INTEGER",
    "bigint": "BIGINT",
    "double": "DOUBLE",
    "timestamp": "TIMESTAMP",
}


MAX_OBJECT_BYTES = 512 * 1024 * 1024  # the largest single record DuckDB's reader accepts


def classify(exc: BaseException, doing: str) -> LoaderError:
    """A DuckDB error as the loader's kind of error. A failed commit or a write conflict is
    transient (nothing of the batch was kept; a rerun continues); a value DuckDB refused is bad
    data; anything else (a missing table, a file that is not a database) is configuration."""
    if isinstance(exc, LoaderError):
        return exc
    if full := out_of_space(exc):
        return full
    text = message(exc)
    if isinstance(exc, duckdb.TransactionException | duckdb.IOException) or doing == "commit":
        return TransientError(f"DuckDB {doing} failed: {text}")
    if isinstance(exc, duckdb.ConversionException | duckdb.ConstraintException):
        return DataError(f"DuckDB refused the batch ({doing}): {text}")
    return ConfigError(f"DuckDB {doing}: {text}")


def connect(path: str, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection to the DuckDB file at ``path`` (an empty in-memory database when only
    reading one that does not exist yet)."""
    if read_only and path != ":memory:" and not Path(path).exists():
        return duckdb.connect(":memory:")
    try:
        return duckdb.connect(path, read_only=read_only)
    except duckdb.Error as exc:  # locked, unreadable, not a DuckDB file, corrupt
        raise ConfigError(f"cannot open DuckDB file {path}: {message(exc)}") from None


def _default(value: object) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    raise TypeError(type(value).__name__)


class DuckDBDestination(TransactionalDestination):
    engine = "duckdb"
    type_names = DUCK_TYPES

    def __init__(self, path: str, read_only: bool = False) -> None:
        self.path = path
        self.con = connect(path, read_only=read_only)
        self.tmpdir = tempfile.TemporaryDirectory(prefix="sparkify-load-")

    def close(self) -> None:
        self.con.close()
        self.tmpdir.cleanup()

    def classify(self, exc: BaseException, doing: str) -> LoaderError:
        return classify(exc, doing)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self.con.execute("begin transaction")
        try:
            yield
        except BaseException as exc:
            with contextlib.suppress(duckdb.Error):
                self.con.execute("rollback")
            if isinstance(exc, duckdb.Error | OSError):  # not a defect of the loader's
                raise classify(exc, "load") from None
            raise
        try:
            self.con.execute("commit")
        except duckdb.Error as exc:
            raise classify(exc, "commit") from None

    def execute(self, sql: str, params: Sequence[object] = ()) -> None:
        self.con.execute(sql, list(params))

    def execute_ddl(self, statements: list[str]) -> None:
        with self.transaction():
            for statement in statements:
                self.con.execute(statement)

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        try:
            return self.con.execute(sql, list(params)).fetchall()
        except duckdb.Error as exc:
            raise classify(exc, "query") from None

    def parser_connection(self) -> duckdb.DuckDBPyConnection:
        return self.con

    def insert_parsed(self, table: str, parsed: ParsedBatch, batch: Batch) -> None:
        """The parser's relation is in this very connection: one insert ... select."""
        names = ", ".join(map(quote_ident, [*parsed.staging_columns, "_batch_id", "_loaded_at"]))
        self.con.execute(
            f"insert into {self.qualified(table)} ({names}) "  # noqa: S608 - quoted identifiers
            f"select {parsed.select_list(quote_ident, renamed=False)}, ?, ? "
            f"from {parsed.relation}",
            [batch.batch_id, batch.loaded_at],
        )

    def bulk_insert(self, table: str, columns: list[tuple[str, str]], rows: list[tuple]) -> None:
        if not rows:
            return
        names = [name for name, _ in columns]
        fd, tmp = tempfile.mkstemp(suffix=".ndjson", dir=self.tmpdir.name)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                dumps = json.JSONEncoder(
                    ensure_ascii=False, default=_default, check_circular=False
                ).encode
                out.writelines(dumps(dict(zip(names, row, strict=True))) + "\n" for row in rows)
            spec = ", ".join(
                f"{quote_literal(n)}: {quote_literal(DUCK_TYPES[k])}" for n, k in columns
            )
            # Identifiers via quote_ident; the path and types via quote_literal (read_json takes
            # no bound parameters).
            self.con.execute(
                f"insert into {self.qualified(table)} ({', '.join(map(quote_ident, names))}) "  # noqa: S608
                f"select {', '.join(map(quote_ident, names))} from read_json({quote_literal(tmp)}, "
                f"format = 'newline_delimited', columns = {{{spec}}}, "
                f"maximum_object_size = {MAX_OBJECT_BYTES})"
            )
        finally:
            os.unlink(tmp)
