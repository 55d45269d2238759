"""The daily job on DuckDB: backfill by date, a rerun that changes nothing, a date-range rebuild
at the cost of that range, the lock, a killed run, and exit codes a scheduler can act on."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import duckdb

from loader.pipeline import key_date
from loader.profiles import DuckDBConfig, PostgresConfig, load_target
from orchestration.job_lock import lock_path
from tests.python.conftest import PROJECT_DIR
from tests.python.dbt.helpers import dbt, mart_rows
from tests.python.loader.helpers import duck
from tests.python.orchestration.helpers import (
    RUN_COLUMNS,
    children_of,
    daily,
    daily_process,
    ending,
)


def runs() -> list[dict]:
    with duck() as con:
        cursor = con.execute(f"select {RUN_COLUMNS} from staging.job_runs order by started_at")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def fetch(sql: str) -> list[tuple]:
    with duck() as con:
        return con.execute(sql).fetchall()


def plays_in(data: Path, days: set[str]) -> int:
    count = 0
    for path in (data / "log_data").rglob("*.json"):
        if str(key_date(path.name)) in days:
            count += sum(
                json.loads(line)["page"] == "NextSong" for line in path.read_text().splitlines()
            )
    return count


def test_backfill_builds_exactly_those_days_and_a_rerun_changes_nothing(
    small_generated: Path, profiles_dir: Path, tmp_path: Path
) -> None:
    source = ("--source", str(small_generated))
    days = ("--since", "2018-11-02", "--until", "2018-11-03")
    first = daily(*source, *days, tmp_path=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "backfill job" in first.stderr and "success (exit 0)" in first.stderr
    built_days = fetch("select distinct cast(start_time as date) from analytics.songplays")
    assert {str(row[0]) for row in built_days} == {"2018-11-02", "2018-11-03"}
    assert fetch("select count(*) from analytics.songplays")[0][0] == plays_in(
        small_generated, {"2018-11-02", "2018-11-03"}
    )
    [record] = runs()
    assert record["outcome"] == "success" and record["exit_code"] == 0
    assert (str(record["since_day"]), str(record["until_day"])) == ("2018-11-02", "2018-11-03")
    assert record["objects_staged"] == 200 + 2  # the catalogue and two day files
    assert record["rows_staged"] == fetch("select count(*) from staging.staging_events")[0][0] + 200
    assert record["models_built"] > 0 and record["tests_failed"] == 0
    assert record["freshness"] == "pass"
    # it staged event rows just now: fresh without a second dbt invocation (no sources.json)
    freshness_artifact = tmp_path / "target" / "sources.json"
    assert not freshness_artifact.exists()
    marts = mart_rows(fetch)

    again = daily(*source, *days, tmp_path=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert mart_rows(fetch) == marts
    assert runs()[-1]["objects_staged"] == 0 and runs()[-1]["rows_staged"] == 0
    # nothing staged: dbt source freshness decides, from the rows staged before
    assert freshness_artifact.exists() and runs()[-1]["freshness"] == "pass"
    # dbt typed by hand reuses the job's parse of the project (the same command-line target)
    by_hand = dbt("ls", "--resource-type", "seed", target_dir=tmp_path)
    assert "Unable to do partial parsing" not in by_hand.stdout

    # a date-range rebuild: the day's files staged again, the marts rebuilt where that day is
    rebuild = daily(
        *source, "--since", "2018-11-03", "--until", "2018-11-03", "--restage", tmp_path=tmp_path
    )
    assert rebuild.returncode == 0, rebuild.stderr[-3000:]
    assert mart_rows(fetch) == marts
    changed_days = fetch(
        "select distinct cast(prune_value as date) from staging.build_changes "
        "where model_name = 'songplays' and prune_value is not null"
    )
    assert {str(row[0]) for row in changed_days} == {"2018-11-03"}
    assert runs()[-1]["objects_staged"] == 1


def test_a_second_job_is_refused_while_one_runs_and_a_killed_one_frees_the_lock(
    small_generated: Path, profiles_dir: Path, tmp_path: Path
) -> None:
    lock = lock_path(*load_target())
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from orchestration.job_lock import job_lock\n"
            "with job_lock(Path(sys.argv[1])):\n    print('held', flush=True); sys.stdin.read()",
            str(lock),
        ],
        cwd=PROJECT_DIR,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        refused = daily("--source", str(small_generated), tmp_path=tmp_path)
        assert refused.returncode == 3
        lines = [line for line in refused.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, refused.stderr
        assert f"pid {holder.pid}" in lines[0] and "another daily job holds" in lines[0]
    finally:
        holder.kill()
        holder.wait()

    # the holder was killed: its lock is gone. A job killed in the middle leaves a row that
    # the next job marks as killed.
    victim = daily_process("--source", str(small_generated), tmp_path=tmp_path)
    assert victim.stderr is not None
    for line in victim.stderr:
        if "listing" in line:  # the loader started: the run row says "running"
            break
    with ending(children_of(victim.pid)) as ended:  # the loader stages in a child process
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=120)
        assert ended(timeout=60)  # it goes with the job: the warehouse is free
    assert victim.returncode == -signal.SIGKILL
    assert [r["outcome"] for r in runs()] == ["running"]
    after = daily("--source", str(small_generated), tmp_path=tmp_path)
    assert after.returncode == 0, after.stderr[-3000:]
    assert [r["outcome"] for r in runs()] == ["killed", "success"]
    assert "killed" in runs()[0]["message"]


def test_bad_data_exits_1_records_it_and_builds_nothing(
    small_generated: Path, profiles_dir: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(small_generated, data)
    day = next((data / "log_data").rglob("2018-11-04-events.json"))
    day.write_text(day.read_text() + '{"ts": "not json\n')
    result = daily("--source", str(data), tmp_path=tmp_path)
    assert result.returncode == 1
    assert "2018-11-04-events.json" in result.stderr
    [record] = runs()
    assert record["outcome"] == "data_error" and record["exit_code"] == 1
    assert record["models_built"] == 0 and "nothing was built" in record["message"]


def test_a_failing_data_test_exits_1_naming_it(
    small_generated: Path, profiles_dir: Path, tmp_path: Path
) -> None:
    first = daily("--source", str(small_generated), "--skip-freshness", tmp_path=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    with duckdb.connect(os.environ["SPARKIFY_DUCKDB_PATH"]) as con:  # damage the built fact
        con.execute(
            "delete from analytics_audit.songplays where songplay_id = "
            "(select min(songplay_id) from analytics_audit.songplays)"
        )
        published = con.execute("select count(*) from analytics.songplays").fetchone()
    # a plain build checks what it changed (nothing); the weekly audit checks every row
    audit = daily("--steps", "build", "--full-checks", "--skip-freshness", tmp_path=tmp_path)
    assert audit.returncode == 1, audit.stderr[-3000:]
    assert "assert_songplays_reconcile_with_int_events" in audit.stderr
    assert "analytics was not published and still holds the last build that passed" in audit.stderr
    with duckdb.connect(os.environ["SPARKIFY_DUCKDB_PATH"]) as con:  # analysts see no damage
        assert con.execute("select count(*) from analytics.songplays").fetchone() == published
    record = runs()[-1]
    assert record["outcome"] == "data_error" and record["tests_failed"] == 1
    assert record["job"] == "daily build"


def test_configuration_errors_exit_2_in_one_line(profiles_dir: Path, tmp_path: Path) -> None:
    for args, message in (
        (("--target", "nowhere"), "unknown target 'nowhere'"),
        (("--since", "2018-02-30"), "is not a date"),
        (("--steps", "deploy"), "the steps are stage and build"),
    ):
        result = daily(*args, tmp_path=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr


def test_the_lock_is_per_warehouse_file(profiles_dir: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("SPARKIFY_JOB_LOCK", raising=False)
    a = lock_path("dev", DuckDBConfig(path=str(tmp_path / "a.duckdb")))
    b = lock_path("dev", DuckDBConfig(path=str(tmp_path / "b.duckdb")))
    assert a != b and a.parent == tmp_path and a.name == "a.duckdb.job.lock"
    monkeypatch.setenv("SPARKIFY_LOCK_DIR", str(tmp_path / "locks"))
    server = PostgresConfig(host="db", port=5432, user="u", password="", dbname="one")
    other = PostgresConfig(host="db", port=5432, user="u", password="", dbname="two")
    assert lock_path("postgres", server) != lock_path("postgres", other)
    assert lock_path("postgres", server).parent == tmp_path / "locks"
