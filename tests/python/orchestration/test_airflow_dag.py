"""The Airflow DAG, run offline: a pinned apache-airflow in a virtualenv of its own
(`make airflow-venv`), `dag.test()` for logical dates against DuckDB, the warehouse read back."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.python.conftest import PROJECT_DIR
from tests.python.dbt.helpers import mart_rows
from tests.python.loader.helpers import duck

DAGS = PROJECT_DIR / "orchestration" / "airflow" / "dags"


@pytest.fixture(scope="module")
def airflow_python() -> Path:
    """The Airflow virtualenv, installed from the pinned requirements when missing."""
    subprocess.run(["make", "-s", "airflow-venv"], cwd=PROJECT_DIR, check=True)
    return PROJECT_DIR / ".venv-airflow" / "bin" / "python"


@pytest.fixture
def airflow_env(tmp_path: Path, profiles_dir: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "SPARKIFY_PYTHON": sys.executable,  # the project's virtualenv runs the job
        "DBT_TARGET_PATH": str(tmp_path / "target"),
        "DBT_LOG_PATH": str(tmp_path / "logs"),
    }
    env.pop("PYTHONPATH", None)
    return env


def driver(python: Path, env: dict[str, str], *args: str) -> list[dict]:
    result = subprocess.run(
        [str(python), str(Path(__file__).with_name("airflow_driver.py")), str(DAGS), *args],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    answers = [
        json.loads(line.split(" ", 1)[1])
        for line in result.stdout.splitlines()
        if line.split(" ", 1)[0] in ("RUN", "SETTINGS", "EXIT")
    ]
    assert answers, result.stdout[-4000:]
    return answers


def fetch(sql: str) -> list[tuple]:
    with duck() as con:
        return con.execute(sql).fetchall()


def test_the_dag_is_daily_with_catch_up_and_retries_only_transient_failures(
    airflow_python: Path, airflow_env: dict[str, str]
) -> None:
    [settings] = driver(airflow_python, airflow_env, "settings")
    assert settings["catchup"] is True and settings["max_active_runs"] == 1
    assert settings["timetable"] == "CronDataIntervalTimetable"
    assert settings["tasks"]["stage"] == {"retries": 3, "retry_delay": 300.0, "upstream": []}
    assert settings["tasks"]["build"]["upstream"] == ["stage"]
    exits = {
        answer["code"]: answer["raised"] for answer in driver(airflow_python, airflow_env, "exits")
    }
    # exit 3 (transient) raises what Airflow retries; bad data and configuration fail at once
    assert exits == {
        0: None,
        1: "AirflowFailException",
        2: "AirflowFailException",
        3: "AirflowException",
    }


def test_each_run_stages_its_logical_date_a_rerun_changes_nothing_and_bad_data_fails_at_once(
    airflow_python: Path, airflow_env: dict[str, str], small_generated: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(small_generated, data)
    bad = next((data / "log_data").rglob("2018-11-05-events.json"))
    bad.write_text(bad.read_text() + '{"ts": 1541376000000, "page": \n')
    airflow_env["SPARKIFY_SOURCE"] = str(data)
    migrate = subprocess.run(
        [str(airflow_python.with_name("airflow")), "db", "migrate"],
        env=airflow_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert migrate.returncode == 0, migrate.stderr[-3000:]

    runs = driver(airflow_python, airflow_env, "run", "2018-11-02", "2018-11-03")
    for run in runs:
        assert run["state"] == "success", run
        assert run["tasks"]["stage"] == {"state": "success", "try_number": 1}
        assert run["tasks"]["build"] == {"state": "success", "try_number": 1}
    built = fetch("select distinct cast(start_time as date) from analytics.songplays")
    assert {str(row[0]) for row in built} == {"2018-11-02", "2018-11-03"}
    staged = fetch("select distinct _source_key from staging.staging_events")
    assert sorted(Path(row[0]).name for row in staged) == [
        "2018-11-02-events.json",
        "2018-11-03-events.json",
    ]
    marts = mart_rows(fetch)

    rerun, bad_day = driver(airflow_python, airflow_env, "run", "2018-11-02", "2018-11-05")
    assert rerun["state"] == "success"
    assert mart_rows(fetch) == marts  # the rerun changed nothing
    assert bad_day["state"] == "failed"
    # bad data: failed on the first try, not retried, and nothing built after it
    assert bad_day["tasks"]["stage"] == {"state": "failed", "try_number": 1}
    assert bad_day["tasks"]["build"]["state"] == "upstream_failed"
    assert mart_rows(fetch) == marts
    history = fetch(
        "select job, since_day, outcome, exit_code from staging.job_runs order by started_at"
    )
    assert [(job, str(day), outcome) for job, day, outcome, _ in history] == [
        ("backfill stage", "2018-11-02", "success"),
        ("daily build", "None", "success"),
        ("backfill stage", "2018-11-03", "success"),
        ("daily build", "None", "success"),
        ("backfill stage", "2018-11-02", "success"),
        ("daily build", "None", "success"),
        ("backfill stage", "2018-11-05", "data_error"),
    ]
