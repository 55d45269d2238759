"""PostgreSQL: typed rows stream in through ``COPY ... FROM STDIN`` (text format)."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import tempfile
from collections.abc import Iterator, Sequence

import duckdb
import psycopg2
import psycopg2.errors

from loader.destinations.base import Batch, quote_ident, quote_literal
from loader.destinations.client_side import ClientSideDestination
from loader.errors import ConfigError, TransientError, out_of_space
from loader.fast_parse import FAST_TABLE
from loader.logs import log
from loader.profiles import PostgresConfig

PG_TYPES = {
    "text": "text",
    "integer": "integer",
    "bigint": "bigint",
    "double": "double precision",
    "timestamp": "timestamp",
}
LOCK_NAME = "sparkify-loader"  # the advisory lock one loader holds while it runs
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text_value(value: object) -> str:
    """One field in COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_ESCAPES)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    return str(value)


def _is_transient(exc: Exception) -> bool:
    return isinstance(exc, psycopg2.OperationalError | psycopg2.InterfaceError)


class PostgresDestination(ClientSideDestination):
    engine = "postgres"
    type_names = PG_TYPES

    def __init__(self, config: PostgresConfig, read_only: bool = False) -> None:
        self.config, self.read_only = config, read_only
        self._locked = False
        self._connect()
        self._parser: duckdb.DuckDBPyConnection | None = None

    def reconnect(self) -> None:
        with contextlib.suppress(psycopg2.Error):
            self.con.close()
        try:
            self._connect()
            if self._locked:
                self._take_lock()
        except ConfigError as exc:
            raise TransientError(str(exc)) from None
        except psycopg2.Error as exc:
            raise TransientError(f"PostgreSQL connection failed: {exc}".strip()) from None

    def _connect(self) -> None:
        config, read_only = self.config, self.read_only
        try:
            self.con = psycopg2.connect(
                host=config.host,
                port=config.port,
                user=config.user,
                password=config.password or None,
                dbname=config.dbname,
                connect_timeout=10,
                application_name="sparkify-loader",
            )
        except psycopg2.OperationalError as exc:
            message = str(exc).strip().splitlines()[0]
            raise ConfigError(
                f"cannot connect to PostgreSQL at {config.host}:{config.port} as {config.user}: "
                f"{message}"
            ) from None
        self.con.autocommit = False
        if read_only:
            self.con.set_session(readonly=True)

    def close(self) -> None:
        with contextlib.suppress(psycopg2.Error):
            self.con.close()
        if self._parser is not None:
            self._parser.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        try:
            yield
            self.con.commit()
        except psycopg2.Error as exc:
            with contextlib.suppress(psycopg2.Error):
                self.con.rollback()
            if full := out_of_space(exc):
                raise full from None
            if _is_transient(exc):
                raise TransientError(f"PostgreSQL connection failed: {exc}".strip()) from None
            raise
        except BaseException:
            with contextlib.suppress(psycopg2.Error):
                self.con.rollback()
            raise

    def execute(self, sql: str, params: Sequence[object] = ()) -> None:
        with self.con.cursor() as cur:
            cur.execute(sql.replace("?", "%s"), tuple(params))

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        try:
            with self.con.cursor() as cur:
                cur.execute(sql.replace("?", "%s"), tuple(params))
                rows = cur.fetchall()
            self.con.rollback()  # end the read-only transaction
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            raise TransientError(f"PostgreSQL connection failed: {exc}".strip()) from None
        return rows

    def lock(self) -> None:
        """One loader at a time: a session-level advisory lock, held until the connection
        closes (and taken again after a reconnect). A second loader waits for the first."""
        self._locked = True
        self._take_lock()

    def _take_lock(self) -> None:
        with self.con.cursor() as cur:
            cur.execute("select pg_try_advisory_lock(hashtext(%s))", (LOCK_NAME,))
            (free,) = cur.fetchone()
            if not free:
                log("another loader is staging into this database; waiting for it to finish")
                cur.execute("select pg_advisory_lock(hashtext(%s))", (LOCK_NAME,))
        self.con.commit()

    def execute_ddl(self, statements: list[str]) -> None:
        with self.transaction():
            # Two loaders starting at once must not race on CREATE: serialise schema set-up.
            self.execute("select pg_advisory_xact_lock(hashtext('sparkify-staging-ddl'))")
            for statement in statements:
                self.execute(statement)

    def parser_connection(self) -> duckdb.DuckDBPyConnection:
        if self._parser is None:
            self._parser = duckdb.connect()
        return self._parser

    def insert_fast(self, table: str, columns: list[tuple[str, str]], batch: Batch) -> None:
        """DuckDB writes the parsed rows as CSV; PostgreSQL's COPY reads them."""
        count = len(columns) - 4
        values = ", ".join(f"v{i}" for i in range(count))
        with tempfile.TemporaryDirectory(prefix="sparkify-pg-") as tmp:
            path = f"{tmp}/rows.csv"
            self.parser_connection().execute(
                f"copy (select {values}, source_key, source_line, ?, ? from {FAST_TABLE}) "  # noqa: S608
                f"to {quote_literal(path)} (format csv, header false)",
                [batch.batch_id, batch.loaded_at],
            )
            names = ", ".join(quote_ident(name) for name, _ in columns)
            with open(path, encoding="utf-8") as rows, self.con.cursor() as cur:
                cur.copy_expert(
                    f"copy {self.qualified(table)} ({names}) from stdin with (format csv)", rows
                )

    def bulk_insert(self, table: str, columns: list[tuple[str, str]], rows: list[tuple]) -> None:
        if not rows:
            return
        buffer = io.StringIO()
        buffer.writelines("\t".join(copy_text_value(v) for v in row) + "\n" for row in rows)
        buffer.seek(0)
        names = ", ".join(quote_ident(name) for name, _ in columns)
        with self.con.cursor() as cur:
            cur.copy_expert(f"copy {self.qualified(table)} ({names}) from stdin", buffer)
