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

from loader.destinations.base import Batch, quote_ident, quote_literal
from loader.destinations.client_side import ClientSideDestination
from loader.errors import ConfigError, TransientError
from loader.fast_parse import FAST_TABLE

DUCK_TYPES = {
    "text": "VARCHAR",
    "integer": "INTEGER",
    "bigint": "BIGINT",
    "double": "DOUBLE",
    "timestamp": "TIMESTAMP",
}


MAX_OBJECT_BYTES = 512 * 1024 * 1024  # the largest single record DuckDB's reader accepts


def _default(value: object) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    raise TypeError(type(value).__name__)


class DuckDBDestination(ClientSideDestination):
    engine = "duckdb"
    type_names = DUCK_TYPES

    def __init__(self, path: str, read_only: bool = False) -> None:
        self.path = path
        if read_only and path != ":memory:" and not Path(path).exists():
            self.con = duckdb.connect(":memory:")
        else:
            try:
                self.con = duckdb.connect(path, read_only=read_only)
            except duckdb.Error as exc:  # locked, unreadable, not a DuckDB file, corrupt
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise ConfigError(f"cannot open DuckDB file {path}: {first}") from None
        self.tmpdir = tempfile.TemporaryDirectory(prefix="sparkify-load-")

    def close(self) -> None:
        self.con.close()
        self.tmpdir.cleanup()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self.con.execute("begin transaction")
        try:
            yield
        except BaseException:
            self.con.execute("rollback")
            raise
        try:
            self.con.execute("commit")
        except duckdb.Error as exc:
            raise TransientError(f"DuckDB commit failed: {exc}") from None

    def execute(self, sql: str, params: Sequence[object] = ()) -> None:
        self.con.execute(sql, list(params))

    def execute_ddl(self, statements: list[str]) -> None:
        with self.transaction():
            for statement in statements:
                self.con.execute(statement)

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        return self.con.execute(sql, list(params)).fetchall()

    def parser_connection(self) -> duckdb.DuckDBPyConnection:
        return self.con

    def insert_fast(self, table: str, columns: list[tuple[str, str]], batch: Batch) -> None:
        names = ", ".join(quote_ident(name) for name, _ in columns)
        count = len(columns) - 4  # data columns, then key, line, batch, loaded_at
        values = ", ".join(f"v{i}" for i in range(count))
        self.con.execute(
            f"insert into {self.qualified(table)} ({names}) "  # noqa: S608 - quoted identifiers
            f"select {values}, source_key, source_line, ?, ? from {FAST_TABLE}",
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
