"""The daily job's run history on the server engines: PostgreSQL (the job as a scheduler runs it,
loader and dbt build) and Redshift (the loader's Redshift path against the emulator, every
statement checked as Redshift SQL). A row a killed run left ``running`` is marked ``killed`` by
the next run on each engine."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestration import daily as daily_job
from tests.python.loader.helpers import copy_days
from tests.python.orchestration.helpers import RUN_COLUMNS, daily
from tests.python.redshift_emulator import Emulator, emulated

pytestmark = [pytest.mark.postgres]


def dead_pid() -> int:
    """The pid of a process of this host that has ended."""
    process = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    return int(process.stdout)


def runs(connect: Callable) -> list[dict]:
    with connect() as con, con.cursor() as cur:
        cur.execute(
            f"select run_id, {RUN_COLUMNS} from staging.job_runs order by started_at, run_id"
        )
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    return rows


def leave_a_killed_row(connect: Callable) -> None:
    """What a run killed after it recorded itself leaves behind."""
    with connect() as con, con.cursor() as cur:
        cur.execute(
            "insert into staging.job_runs (run_id, job, target, host, pid, started_at, outcome) "
            "values ('0-killed', 'daily', 'x', %s, %s, cast('2000-01-01' as timestamp), "
            "'running')",
            (socket.gethostname(), dead_pid()),
        )
        con.commit()


def test_postgres_records_each_run_and_marks_a_killed_one(
    postgres_server,
    postgres_db: str,
    small_generated: Path,
    profiles_dir: Path,
    tmp_path: Path,
    monkeypatch,
) -> None:
    monkeypatch.setenv("SPARKIFY_LOCK_DIR", str(tmp_path / "locks"))
    connect = lambda: postgres_server.connect(postgres_db)  # noqa: E731
    args = ("--target", "postgres", "--source", str(small_generated))
    first = daily(*args, "--since", "2018-11-02", "--until", "2018-11-02", tmp_path=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    [record] = runs(connect)
    assert record["outcome"] == "success" and record["exit_code"] == 0
    assert record["job"] == "backfill" and str(record["since_day"]) == "2018-11-02"
    with connect() as con, con.cursor() as cur:
        cur.execute("select count(*) from staging.staging_events")
        events = cur.fetchone()[0]
        cur.execute("select count(*) from analytics.songplays")
        assert cur.fetchone()[0] > 0
    assert record["objects_staged"] == 200 + 1 and record["rows_staged"] == events + 200
    assert record["models_built"] > 0 and record["tests_failed"] == 0
    assert record["freshness"] == "pass"

    leave_a_killed_row(connect)
    again = daily(*args, "--steps", "stage", tmp_path=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    by_id = {r["run_id"]: r for r in runs(connect)}
    assert by_id.pop("0-killed")["outcome"] == "killed"
    assert sorted((r["job"], r["outcome"]) for r in by_id.values()) == [
        ("backfill", "success"),
        ("daily stage", "success"),
    ]


@pytest.mark.s3
def test_redshift_records_each_run_in_redshift_sql(
    redshift: Emulator, small_generated: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("SPARKIFY_LOCK_DIR", str(tmp_path / "locks"))
    source = tmp_path / "source"
    copy_days(small_generated, source, days=[1], songs=False)
    args = ["--target", "redshift", "--source", str(source), "--steps", "stage"]
    assert daily_job.main(args) == 0
    connect = emulated(redshift)
    [record] = runs(connect)
    assert (record["job"], record["outcome"], record["exit_code"]) == ("daily stage", "success", 0)
    with connect() as con, con.cursor() as cur:
        cur.execute("select count(*) from staging.staging_events")
        assert record["objects_staged"] == 1 and record["rows_staged"] == cur.fetchone()[0] > 0

    leave_a_killed_row(connect)
    assert daily_job.main(args) == 0
    outcomes = {r["run_id"]: r["outcome"] for r in runs(connect)}
    assert outcomes.pop("0-killed") == "killed" and list(outcomes.values()) == ["success"] * 2

    sqlglot = pytest.importorskip("sqlglot")
    from tests.python.redshift_sql import redshift_problems

    history = [s for s in redshift.statements if "job_runs" in s]
    kinds = {s.split()[0].lower() for s in history}
    assert kinds >= {"create", "select", "insert", "update"}, kinds
    for statement in history:
        sqlglot.parse(statement, read="redshift")
        assert redshift_problems(statement, "run history") == [], statement
