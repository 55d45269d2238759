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

from loader.contract import Batch, ParsedBatch
from loader.destinations.base import quote_ident, quote_literal
from loader.destinations.driver_errors import TRANSIENT_SQLSTATES, message, sqlstate
from loader.destinations.transactional import TransactionalDestination
from loader.errors import ConfigError, DataError, LoaderError, TransientError, out_of_space
from loader.logs import log
from loader.profiles import PostgresConfig

PG_TYPES = {
    "text": "text",
    "key": "text",
    "id": "text",
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


def classify(exc: BaseException, doing: str) -> LoaderError:
    """A PostgreSQL error as the loader's kind of error: a lost connection, a serialization
    failure, a deadlock, a cancelled query or a lock not granted is transient; a value the
    server refused (SQLSTATE classes 22 and 23) is bad data; anything else (a missing
    privilege, a missing table, a syntax error) is configuration no rerun fixes."""
    if isinstance(exc, LoaderError):
        return exc
    if full := out_of_space(exc):
        return full
    text, state = message(exc), sqlstate(exc)
    where = f" (SQLSTATE {state})" if state else ""
    if isinstance(
        exc, psycopg2.OperationalError | psycopg2.InterfaceError | OSError
    ) or state.startswith(TRANSIENT_SQLSTATES):
        return TransientError(f"PostgreSQL connection failed: {text}{where}")
    if state.startswith(("22", "23")) or isinstance(
        exc, psycopg2.DataError | psycopg2.IntegrityError
    ):
        return DataError(f"PostgreSQL refused the batch ({doing}): {text}{where}")
    return ConfigError(f"PostgreSQL {doing}: {text}{where}")


def connect(
    config: PostgresConfig, *, read_only: bool = False, application_name: str = "sparkify"
) -> psycopg2.extensions.connection:
    """A connection to the PostgreSQL target, in a transaction of its own until committed."""
    try:
        con = psycopg2.connect(
            host=config.host,
            port=config.port,
            user=config.user,
            password=config.password or None,
            dbname=config.dbname,
            connect_timeout=10,
            application_name=application_name,
        )
    except psycopg2.OperationalError as exc:
        raise ConfigError(
            f"cannot connect to PostgreSQL at {config.host}:{config.port} as {config.user}: "
            f"{message(exc)}"
        ) from None
    con.autocommit = False
    if read_only:
        con.set_session(readonly=True)
    return con


class PostgresDestination(TransactionalDestination):
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
        self.con = connect(self.config, read_only=self.read_only, application_name=LOCK_NAME)

    def close(self) -> None:
        with contextlib.suppress(psycopg2.Error):
            self.con.close()
        if self._parser is not None:
            self._parser.close()

    def classify(self, exc: BaseException, doing: str) -> LoaderError:
        return classify(exc, doing)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        try:
            yield
            self.con.commit()
        except (psycopg2.Error, OSError) as exc:
            with contextlib.suppress(psycopg2.Error):
                self.con.rollback()
            raise classify(exc, "load") from None
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
        except psycopg2.Error as exc:
            with contextlib.suppress(psycopg2.Error):
                self.con.rollback()
            raise classify(exc, "query") from None
        return rows

    def lock(self) -> None:
        """One loader at a time: a session-level advisory lock, held until the connection
        closes (and taken again after a reconnect). A second loader waits for the first."""
        self._locked = True
        try:
            self._take_lock()
        except psycopg2.Error as exc:
            raise classify(exc, "lock") from None

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

    def insert_parsed(self, table: str, parsed: ParsedBatch, batch: Batch) -> None:
        """DuckDB writes the parsed rows as CSV; PostgreSQL's COPY reads them."""
        values = parsed.select_list(quote_ident, renamed=False)
        with tempfile.TemporaryDirectory(prefix="sparkify-pg-") as tmp:
            path = f"{tmp}/rows.csv"
            parsed.connection.execute(
                f"copy (select {values}, ?, ? from {parsed.relation}) "  # noqa: S608
                f"to {quote_literal(path)} (format csv, header false)",
                [batch.batch_id, batch.loaded_at],
            )
            names = ", ".join(
                map(quote_ident, [*parsed.staging_columns, "_batch_id", "_loaded_at"])
            )
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
