"""The loader in a process of its own (the daily job parses the dbt project meanwhile): it
reports what it staged, a loader that dies is an error with a code, and a killed job takes its
loader with it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from orchestration.staging_process import StagingProcess
from tests.python.conftest import PROJECT_DIR
from tests.python.loader.helpers import duck
from tests.python.orchestration.helpers import children_of, ending, job_env


def test_the_loader_stages_in_its_own_process_and_reports_its_stats(
    small_generated: Path, profiles_dir: Path
) -> None:
    with StagingProcess(["--source", str(small_generated), "--no-progress"], "run-1") as staging:
        assert staging.pid != os.getpid()
        code, stats = staging.result()
    assert code == 0
    by_table = {s.table: s for s in stats}
    with duck() as con:
        for table in ("staging_events", "staging_songs"):
            staged = con.execute(f"select count(*) from staging.{table}").fetchone()[0]
            assert by_table[table].rows == staged > 0


def test_a_loader_refusing_its_options_is_exit_2(profiles_dir: Path) -> None:
    with StagingProcess(["--max-errors", "many"], "run-1") as staging:
        assert staging.result() == (2, [])


def test_a_loader_process_that_is_killed_is_a_transient_error(
    small_generated: Path, profiles_dir: Path, capfd
) -> None:
    staging = StagingProcess(["--source", str(small_generated), "--no-progress"], "run-1")
    assert staging.pid
    os.kill(staging.pid, signal.SIGKILL)  # long before it can have staged anything
    assert staging.result() == (3, [])
    assert "the loader process was stopped by SIGKILL" in capfd.readouterr().err
    assert not Path(os.environ["SPARKIFY_DUCKDB_PATH"]).exists()  # it never got to the warehouse


def test_a_killed_job_takes_its_loader_with_it(
    profiles_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    # an S3 endpoint on 127.0.0.1 that takes the connection and never answers: the loader waits
    # in its listing for minutes (read timeout and retries) unless something ends it
    silent = socket.create_server(("127.0.0.1", 0), backlog=16)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{silent.getsockname()[1]}")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    job = subprocess.Popen(
        [sys.executable, "-m", "orchestration.daily", "--source", "s3://sparkify-silent"],
        cwd=PROJECT_DIR,
        env=job_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    loaders: list[int] = []
    try:
        assert job.stdout is not None
        for line in job.stdout:
            if "Running with dbt=" in line:  # parsing: the loader was started before it
                break
        loaders = children_of(job.pid)
        assert loaders, "the job runs its loader in a child process"
        with ending(loaders) as ended:
            job.send_signal(signal.SIGKILL)
            job.wait(timeout=60)
            # without a word from the job, the kernel ends its loader with it (it would wait on
            # the silent endpoint for minutes)
            assert ended(timeout=30), "the loader outlived its job"
    finally:
        job.kill()
        for pid in loaders:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        silent.close()
