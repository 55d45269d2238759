"""The part of Redshift the loader talks to, on the real PostgreSQL test server and the real S3
API (moto on 127.0.0.1): Redshift is PostgreSQL-derived, so everything but COPY from S3 and the
load-error system tables runs as PostgreSQL runs it (transactions, LOCK, temporary tables,
parameters). Installed as ``redshift_connector.connect`` in tests, so the loader's real Redshift
path runs end to end.

COPY ... MANIFEST is done as Redshift documents it: the manifest is read from S3, every entry
must exist (``mandatory``), gzip NDJSON records are matched to the listed columns by key
(``format as json 'auto'``), a VARCHAR(n) value longer than n *bytes* is an error, and the
REGION must be the bucket's. An error writes ``stl_load_errors`` rows that outlive the rollback
(as a system table does) and fails the statement like Redshift. ``faults`` lets a test make the
next COPY fail with a given SQLSTATE and message, once.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable
from typing import Any

import psycopg2
import psycopg2.extras

_COPY = re.compile(
    r"^copy (?P<into>\S+) \((?P<columns>[^)]*)\)\nfrom '(?P<url>[^']*)'\n(?P<options>.*)$",
    re.DOTALL,
)
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
        emulator = self.connection.emulator
        emulator.copies.append(sql)
        found = _COPY.match(sql)
        if not found:
            raise RedshiftError("42601", f"syntax error in COPY: {sql[:80]}")
        options = found["options"]
        if "manifest" not in options.split():
            raise AssertionError("the loader COPYs only through a manifest")
        if emulator.faults:
            code, text = emulator.faults.pop(0)
            raise RedshiftError(code, text)
        region = re.search(r"region '([^']*)'", options)
        bucket, _, key = found["url"][len("s3://") :].partition("/")
        location = emulator.s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
        if region is None or region[1] != (location or "us-east-1"):
            raise RedshiftError(
                "XX000",
                "S3ServiceException:The bucket you are attempting to access must be addressed "
                "using the specified endpoint.",
            )
        manifest = json.loads(emulator.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        columns = [c.strip().strip('"') for c in found["columns"].split(",")]
        into = found["into"].strip('"')
        widths = self._widths(into)
        rows, errors = [], []
        for entry in manifest["entries"]:
            part_bucket, _, part_key = entry["url"][len("s3://") :].partition("/")
            body = emulator.s3.get_object(Bucket=part_bucket, Key=part_key)["Body"].read()
            if "gzip" in options.split():
                body = gzip.decompress(body)
            for number, line in enumerate(body.decode("utf-8").splitlines(), start=1):
                record = json.loads(line)
                row = []
                for column in columns:
                    value = record.get(column)
                    width = widths.get(column)
                    if (
                        isinstance(value, str)
                        and width is not None
                        and len(value.encode("utf-8")) > width
                    ):
                        errors.append(
                            (entry["url"], number, column, "String length exceeds DDL length", line)
                        )
                    row.append(value)
                rows.append(tuple(row))
        maxerror = int(re.search(r"maxerror (\d+)", options)[1])
        if errors and len(errors) >= max(maxerror, 1):
            with self.connection.errors.cursor() as cur:
                cur.executemany(
                    "insert into public.stl_load_errors (session, filename, line_number, "
                    "colname, err_reason, raw_line) values (%s, %s, %s, %s, %s, %s)",
                    [(self._pid(), u, n, c, r, raw[:1024]) for u, n, c, r, raw in errors],
                )
            raise RedshiftError(
                "XX000",
                f"Load into table '{into}' failed.  Check 'stl_load_errors' system table for "
                "details.",
            )
        names = ", ".join(f'"{c}"' for c in columns)
        psycopg2.extras.execute_values(
            self.cur, f"insert into {found['into']} ({names}) values %s", rows, page_size=1000
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
