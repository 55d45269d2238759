"""The part of Redshift the loader talks to, on the real PostgreSQL test server and the real S3
API (moto on 127.0.0.1): Redshift is PostgreSQL-derived, so everything but COPY from S3 and the
load-error system tables runs as PostgreSQL runs it (transactions, LOCK, temporary tables,
parameters). Installed as ``redshift_connector.connect`` in tests, so the loader's real Redshift
path runs end to end.

COPY ... MANIFEST is done as the Redshift stand-in does it (support/redshift_standin/copy.py:
the manifest read from S3, every entry mandatory, records matched by key, VARCHAR(n) in bytes,
the REGION the bucket's). An error writes ``stl_load_errors`` rows that outlive the rollback
and fails the statement like Redshift. Tests of dbt and of Redshift's rules use the stand-in
itself; this emulator stays for the loader's fault injection: ``faults`` makes the next COPY
fail with a given SQLSTATE and message, once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import psycopg2
import psycopg2.extras

_REDSHIFT_ONLY = re.compile(r"\s*\bdiststyle (all|even|key)\b|\s*\b(sortkey|distkey)\s*\([^)]*\)")


class RedshiftError(Exception):
    """Raised like redshift_connector's ProgrammingError: the server's fields in a dict."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__({"S": "ERROR", "C": code, "M": text})


class Emulator:
    """Shared state of the emulated cluster: the S3 client and the faults to inject."""

    def __init__(self, dsn: dict[str, Any], s3: Any, region: str) -> None:
        self.dsn, self.s3, self.region = dsn, s3, region
        self.faults: list[tuple[str, str]] = []  # (sqlstate, message) for the next COPYs
        self.before: dict[str, Callable[[], None]] = {}  # statement prefix -> hook
        self.copies: list[str] = []
        self.statements: list[str] = []  # every statement the loader sent, as sent
        self.connections: list[Connection] = []
        admin = psycopg2.connect(**dsn)
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(
                "create table if not exists public.stl_load_errors ("
                "session integer, starttime timestamp default now(), filename text, "
                "line_number bigint, colname text, err_reason text, raw_line text)"
            )
        admin.close()

    def connect(self, **_: Any) -> Connection:
        connection = Connection(self)
        self.connections.append(connection)
        return connection


class Connection:
    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.pg = psycopg2.connect(**emulator.dsn)
        self.errors = psycopg2.connect(**emulator.dsn)  # system tables outlive a rollback
        self.errors.autocommit = True
        self.last_copy_count = 0

    def cursor(self) -> Cursor:
        return Cursor(self)

    def commit(self) -> None:
        self.pg.commit()

    def rollback(self) -> None:
        self.pg.rollback()

    def close(self) -> None:
        self.pg.close()
        self.errors.close()


class Cursor:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.cur = connection.pg.cursor()
        self.description: Any = None

    def execute(self, sql: str, params: Any = None) -> None:
        self.connection.emulator.statements.append(sql)
        for prefix, hook in list(self.connection.emulator.before.items()):
            if sql.startswith(prefix):
                hook()
        if sql.startswith("copy "):
            self._copy(sql)
            self.description = None
            return
        self.cur.execute(_REDSHIFT_ONLY.sub("", sql), params)
        self.description = self.cur.description

    def fetchall(self) -> list[tuple]:
        return self.cur.fetchall()

    def close(self) -> None:
        self.cur.close()

    # --- COPY ----------------------------------------------------------------------------

    def _copy(self, sql: str) -> None:
        """COPY as the Redshift stand-in does it (support/redshift_standin/copy.py), into this
        session's transaction; an injected fault first."""
        from support.redshift_standin import copy as s3copy

        emulator = self.connection.emulator
        emulator.copies.append(sql)
        statement = s3copy.parse(sql)
        if "manifest" not in statement.options:
            raise AssertionError("the loader COPYs only through a manifest")
        if emulator.faults:
            code, text = emulator.faults.pop(0)
            raise RedshiftError(code, text)
        try:
            rows, errors = s3copy.read_rows(
                statement, emulator.s3, lambda: self._widths(statement.into.strip('"')), None
            )
            if len(errors) > statement.maxerror:
                with self.connection.errors.cursor() as cur:
                    cur.executemany(
                        "insert into public.stl_load_errors (session, filename, line_number, "
                        "colname, err_reason, raw_line) values (%s, %s, %s, %s, %s, %s)",
                        [
                            (self._pid(), e.filename, e.line_number, e.colname, e.reason,
                             e.raw_line[:1024])
                            for e in errors
                        ],
                    )  # fmt: skip
                raise s3copy.failure(statement, serverless=False)
        except s3copy.CopyRefused as exc:
            raise RedshiftError(exc.sqlstate, exc.message) from None
        names = ", ".join(f'"{c}"' for c in statement.columns)
        values = [tuple(row[c] for c in statement.columns) for row in rows]
        psycopg2.extras.execute_values(
            self.cur, f"insert into {statement.into} ({names}) values %s", values, page_size=1000
        )
        self.connection.last_copy_count = len(rows)

    def _pid(self) -> int:
        self.cur.execute("select pg_backend_pid()")
        return self.cur.fetchone()[0]

    def _widths(self, table: str) -> dict[str, int]:
        self.cur.execute(
            "select a.attname, a.atttypmod - 4 from pg_attribute a "
            "where a.attrelid = %s::regclass and a.attnum > 0 and a.atttypmod > 4",
            (table,),
        )
        return dict(self.cur.fetchall())


def emulated(emulator: Emulator) -> Callable[[], Any]:
    """A function opening a plain PostgreSQL connection to the emulated cluster's database."""
    return lambda: psycopg2.connect(**emulator.dsn)
