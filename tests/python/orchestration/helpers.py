"""Run the daily job as a scheduler does (a subprocess in the project directory) and read the run
history it records."""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from tests.python.conftest import PROJECT_DIR


def job_env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DBT_TARGET_PATH": str(tmp_path / "target"),
        "DBT_LOG_PATH": str(tmp_path / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


def run_python(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """``python ARGS`` in the project directory with the job's environment, output captured."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=PROJECT_DIR,
        env=job_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
    )


def daily(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    return run_python("-m", "orchestration.daily", *args, tmp_path=tmp_path)


def daily_process(*args: str, tmp_path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "orchestration.daily", *args],
        cwd=PROJECT_DIR,
        env=job_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


RUN_COLUMNS = (
    "job, outcome, exit_code, since_day, until_day, objects_staged, rows_staged, "
    "models_built, tests_failed, freshness, message"
)


def children_of(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (the daily job's loader, while it stages)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # it ended while we looked
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


@contextlib.contextmanager
def ending(pids: list[int]) -> Iterator[Callable[..., bool]]:
    """``ended(timeout)``: whether every process of ``pids`` has ended, waiting up to
    ``timeout`` seconds for each (a pidfd becomes readable when its process ends; the pidfds
    are opened here, before anything can end them)."""
    handles = []
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # already gone
            handles.append(os.pidfd_open(pid))

    def ended(timeout: float) -> bool:
        return all(select.select([handle], [], [], timeout)[0] for handle in handles)

    try:
        yield ended
    finally:
        for handle in handles:
            os.close(handle)
