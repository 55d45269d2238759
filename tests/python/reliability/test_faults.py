"""Faults mid-load: the object store stops, the database connection drops, the loader is killed,
dbt dies half-way. Each time a plain rerun ends with exact counts reconciled against the source
files (no duplicate, no missing row) and a ledger that agrees with the staged rows.

The tests synchronise on the processes' own log lines ("committed batch ..."), never on sleeps.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest

from tests.python.conftest import PROJECT_DIR
from tests.python.dbt.helpers import dbt

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 day files of about 1 MB each: with --batch-mb 1 a load takes many batches."""
    from generator.synthetic import Options, generate

    out = tmp_path_factory.mktemp("faults")
    generate(Options(output=out, songs=300, users=200, days=30, events=60_000, seed=21))
    return out


def source_records(root: Path) -> dict[str, int]:
    return {
        p.relative_to(root).as_posix(): len(p.read_bytes().splitlines())
        for p in (root / "log_data").rglob("*.json")
    }


def loader(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "loader/copy_staging.py",
            "--no-progress",
            "--tables",
            "events",
            "--batch-mb",
            "1",
            *args,
        ],
        cwd=PROJECT_DIR,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(process: subprocess.Popen, text: str, then: Callable[[], None]) -> str:
    """Read the process's log until a line contains ``text``, run ``then``; return the log."""
    seen = []
    assert process.stderr is not None
    for log_line in process.stderr:
        seen.append(log_line)
        if text in log_line:
            then()
            break
    seen.append(process.stderr.read())
    process.wait(timeout=300)
    return "".join(seen)


def reconcile(fetch: Callable[[str], list[tuple]], expected: dict[str, int]) -> None:
    staged = dict(fetch("select _source_key, count(*) from staging.staging_events group by 1"))
    assert staged == expected, "staged rows differ from the source files"
    ledger = dict(
        fetch(
            "select object_key, rows_loaded from staging.load_ledger "
            "where table_name = 'staging_events'"
        )
    )
    assert ledger == expected, "the ledger disagrees with the staged rows"
    duplicates = fetch(
        "select _source_key, _source_line from staging.staging_events "
        "group by 1, 2 having count(*) > 1"
    )
    assert duplicates == []


def duck_fetch(sql: str) -> list[tuple]:
    with duckdb.connect(os.environ["SPARKIFY_DUCKDB_PATH"], read_only=True) as con:
        return con.execute(sql).fetchall()


def drop_loader_connection(server, dbname: str) -> None:
    """Terminate the loader's PostgreSQL backend, as a server restart or a network cut would."""
    admin = server.connect(dbname)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity "
            "where application_name = 'sparkify-loader'"
        )
        assert cur.fetchall(), "the loader's connection was not found"
    admin.close()


def pg_fetcher(server, dbname: str) -> Callable[[str], list[tuple]]:
    def fetch(sql: str) -> list[tuple]:
        con = server.connect(dbname)
        with con.cursor() as cur:
            cur.execute(sql)
            rows = cur.fetchall()
        con.close()
        return rows

    return fetch


def test_loader_killed_mid_batch_then_rerun_is_exact(month: Path, profiles_dir: Path) -> None:
    process = loader("--source", str(month))
    log = wait_for(process, "committed batch 3/", lambda: process.send_signal(signal.SIGKILL))
    assert process.returncode == -signal.SIGKILL, log
    partial = dict(
        duck_fetch("select _source_key, count(*) from staging.staging_events group by 1")
    )
    assert 0 < len(partial) < 30  # stopped part-way, with whole objects only
    rerun = loader("--source", str(month))
    assert rerun.wait(timeout=300) == 0, rerun.stderr.read() if rerun.stderr else ""
    reconcile(duck_fetch, source_records(month))


@pytest.mark.postgres
def test_dropped_database_connection_is_retried_in_the_same_run(
    month: Path, profiles_dir: Path, postgres_server, postgres_db: str
) -> None:
    process = loader("--target", "postgres", "--source", str(month))
    log = wait_for(
        process, "committed batch 2/", lambda: drop_loader_connection(postgres_server, postgres_db)
    )
    assert process.returncode == 0, log
    assert "retrying batch" in log

    reconcile(pg_fetcher(postgres_server, postgres_db), source_records(month))


@pytest.mark.postgres
def test_dropped_connection_without_retries_fails_cleanly_then_rerun_is_exact(
    month: Path, profiles_dir: Path, postgres_server, postgres_db: str
) -> None:
    process = loader("--target", "postgres", "--source", str(month), "--retries", "0")
    log = wait_for(
        process, "committed batch 2/", lambda: drop_loader_connection(postgres_server, postgres_db)
    )
    assert process.returncode == 3, log
    assert "Traceback" not in log and "rerun to continue" in log
    assert loader("--target", "postgres", "--source", str(month)).wait(timeout=300) == 0

    reconcile(pg_fetcher(postgres_server, postgres_db), source_records(month))


@pytest.mark.s3
def test_object_store_stopping_mid_load_then_rerun_is_exact(
    month: Path, profiles_dir: Path
) -> None:
    from support.servers import S3Server

    server = S3Server.start()
    try:
        server.upload_dir("faults", month / "log_data", prefix="log_data")
        server.client().put_object(
            Bucket="faults",
            Key="log_json_path.json",
            Body=(month / "log_json_path.json").read_bytes(),
        )
        env = {"SPARKIFY_S3_MAX_ATTEMPTS": "2"}
        args = ("--source", "s3://faults", "--endpoint-url", server.endpoint, "--s3-workers", "1")
        process = loader(*args, env=env)
        log = wait_for(process, "committed batch 2/", server.stop)
        assert process.returncode == 3, log
        assert "Traceback" not in log and "rerun to continue" in log
        server = server.restart()
        rerun = loader(*args, env=env)
        assert rerun.wait(timeout=300) == 0, rerun.stderr.read() if rerun.stderr else ""
    finally:
        server.stop()
    reconcile(duck_fetch, source_records(month))


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MiB file system (tmpfs) that fills up, as a full disk does."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "--lazy", str(mount)], check=True)


def resize(disk: Path, size: str) -> None:
    subprocess.run(
        ["mount", "-o", f"remount,size={size}", str(disk)],
        check=True,
    )


def test_full_disk_stops_in_one_line_without_retrying_then_rerun_is_exact(
    month: Path, small_disk: Path, profiles_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPARKIFY_DUCKDB_PATH", str(small_disk / "warehouse.duckdb"))
    process = loader("--source", str(month))
    log = process.communicate(timeout=300)[1]
    assert process.returncode == 2, log  # not 3: waiting frees no disk
    assert "retrying" not in log and "Traceback" not in log
    errors = [line for line in log.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "out of disk space" in errors[0], log
    assert str(small_disk / "warehouse.duckdb") in errors[0]
    staged = dict(duck_fetch("select _source_key, count(*) from staging.staging_events group by 1"))
    expected = source_records(month)
    assert 0 < len(staged) < len(expected)  # what committed stays, whole objects only
    assert all(staged[key] == expected[key] for key in staged)

    resize(small_disk, "256m")
    rerun = loader("--source", str(month))
    assert rerun.wait(timeout=300) == 0, rerun.stderr.read() if rerun.stderr else ""
    reconcile(duck_fetch, expected)


def test_full_scratch_directory_names_the_file_it_could_not_write(
    month: Path, small_disk: Path, profiles_dir: Path
) -> None:
    (small_disk / "filler").write_bytes(b"x" * (2 * 1024 * 1024 - 64 * 1024))
    process = loader("--source", str(month), env={"TMPDIR": str(small_disk)})
    log = process.communicate(timeout=300)[1]
    assert process.returncode == 2, log
    assert "Traceback" not in log
    assert f"No space left on device: {small_disk}/sparkify-run-" in log
    assert duck_fetch("select count(*) from staging.staging_events") == [(0,)]


def test_dbt_killed_half_way_then_plain_rerun_is_green_and_exact(
    month: Path, tmp_path: Path, profiles_dir: Path
) -> None:
    assert loader("--source", str(month)).wait(timeout=300) == 0
    env = {
        **os.environ,
        "DBT_TARGET_PATH": str(tmp_path / "target"),
        "DBT_LOG_PATH": str(tmp_path / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_USE_COLORS": "false",
    }
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("dbt")), "build"],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    for out_line in process.stdout:
        if "OK created sql incremental model analytics_audit.songplays" in out_line:
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=300)
    assert process.returncode == -signal.SIGKILL
    result = dbt("build", target_dir=tmp_path)
    assert "Completed successfully" in result.stdout
    plays = {
        (
            line.split('"ts":')[1].split(",")[0],
            line.split('"sessionId":')[1].split(",")[0],
            line.split('"itemInSession":')[1].split(",")[0],
        )
        for p in (month / "log_data").rglob("*.json")
        for line in p.read_text().splitlines()
        if '"page":"NextSong"' in line
    }
    assert duck_fetch("select count(*) from analytics.songplays")[0][0] == len(plays)
