"""``staging.job_runs``: one row per daily job, where a person can query it on every engine.

A run inserts its row as ``running`` once it holds the lock and updates it when it ends. A row
left ``running`` by a process of this host that no longer exists was killed: the next run says so
(outcome ``killed``), so the history never shows a run as still going when it is not.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from dataclasses import dataclass, field

from loader.contract import SCHEMA
from loader.destinations.base import Destination, cut_utf8

TABLE = "job_runs"

COLUMNS: list[tuple[str, str]] = [
    ("run_id", "varchar(64)"),
    ("job", "varchar(32)"),
    ("target", "varchar(64)"),
    ("host", "varchar(256)"),
    ("pid", "integer"),
    ("started_at", "timestamp"),
    ("ended_at", "timestamp"),
    ("outcome", "varchar(32)"),
    ("exit_code", "integer"),
    ("since_day", "date"),
    ("until_day", "date"),
    ("objects_staged", "integer"),
    ("rows_staged", "bigint"),
    ("rows_rejected", "bigint"),
    ("models_built", "integer"),
    ("models_failed", "integer"),
    ("tests_passed", "integer"),
    ("tests_failed", "integer"),
    ("tests_warned", "integer"),
    ("freshness", "varchar(16)"),
    ("message", "varchar(4096)"),  # bytes on Redshift: the message is cut to MESSAGE_BYTES
]

MESSAGE_BYTES = 4000  # of UTF-8, within the message column on every engine

# exit code -> outcome, as the README's table for operators
OUTCOMES = {0: "success", 1: "data_error", 2: "config_error", 3: "transient", 130: "interrupted"}


@dataclass
class RunRecord:
    run_id: str
    job: str
    target: str
    started_at: dt.datetime
    since_day: dt.date | None = None
    until_day: dt.date | None = None
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    ended_at: dt.datetime | None = None
    outcome: str = "running"
    exit_code: int | None = None
    objects_staged: int = 0
    rows_staged: int = 0
    rows_rejected: int = 0
    models_built: int = 0
    models_failed: int = 0
    tests_passed: int = 0
    tests_failed: int = 0
    tests_warned: int = 0
    freshness: str | None = None
    message: str = ""

    def finish(self, code: int, message: str) -> None:
        self.ended_at = utcnow()
        self.exit_code = code
        self.outcome = OUTCOMES.get(code, "failed")
        self.message = cut_utf8(message, MESSAGE_BYTES)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def _literal(value: object, dest: Destination) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime):
        return f"cast('{value:%Y-%m-%d %H:%M:%S}' as timestamp)"
    if isinstance(value, dt.date):
        return f"cast('{value.isoformat()}' as date)"
    return dest.literal(str(value))  # as the engine reads literals (Redshift: backslashes)


def _table() -> str:
    return f"{SCHEMA}.{TABLE}"


def create_sql() -> list[str]:
    columns = ",\n    ".join(f"{name} {kind}" for name, kind in COLUMNS)
    return [
        f"create schema if not exists {SCHEMA}",
        f"create table if not exists {_table()} (\n    {columns}\n)",
    ]


def mark_killed_sql(dest: Destination, host: str) -> list[str]:
    """The rows this host left ``running`` whose process is gone: killed."""
    rows = dest.query(
        f"select run_id, pid from {_table()} where outcome = 'running' and host = ?",  # noqa: S608 - constants
        (host,),
    )
    dead = [run_id for run_id, pid in rows if not _alive(pid)]
    if not dead:
        return []
    ids = ", ".join(dest.literal(run_id) for run_id in dead)
    return [
        f"update {_table()} set outcome = 'killed', exit_code = null, "  # noqa: S608 - constants
        "message = 'the process ended without recording an outcome (killed, or its machine "
        f"stopped)' where run_id in ({ids})"
    ]


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def insert_sql(record: RunRecord, dest: Destination) -> str:
    names = ", ".join(name for name, _ in COLUMNS)
    values = ", ".join(_literal(getattr(record, name), dest) for name, _ in COLUMNS)
    return f"insert into {_table()} ({names}) values ({values})"  # noqa: S608 - literals quoted


def update_sql(record: RunRecord, dest: Destination) -> str:
    sets = ", ".join(
        f"{name} = {_literal(getattr(record, name), dest)}"
        for name, _ in COLUMNS
        if name != "run_id"
    )
    return f"update {_table()} set {sets} where run_id = {dest.literal(record.run_id)}"  # noqa: S608


def start(dest: Destination, record: RunRecord) -> None:
    dest.execute_ddl(create_sql())
    dest.execute_ddl([*mark_killed_sql(dest, record.host), insert_sql(record, dest)])


def finish(dest: Destination, record: RunRecord) -> None:
    dest.execute_ddl([update_sql(record, dest)])
