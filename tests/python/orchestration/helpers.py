"""Run the daily job as a scheduler does (a subprocess in the project directory) and read the run
history it records."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.python.conftest import PROJECT_DIR


def job_env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DBT_TARGET_PATH": str(tmp_path / "target"),
        "DBT_LOG_PATH": str(tmp_path / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


def daily(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "orchestration.daily", *args],
        cwd=PROJECT_DIR,
        env=job_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
    )


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
