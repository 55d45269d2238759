"""Sparkify's daily pipeline as an Airflow DAG.

Each run stages the event files of its logical date (and any new song files), then builds and
tests the warehouse: two tasks, each one call of the daily job (``python -m orchestration.daily``)
in the project's own virtualenv, so Airflow and dbt never share one set of packages.

- Schedule: daily, one interval per day; a run's logical date is the day it stages. Catch-up and
  ``airflow backfill create --dag-id sparkify_daily --from-date 2018-11-05 --to-date 2018-11-07``
  stage and build day by day; rerunning a day changes nothing (the loader stages each file once).
- Retries: three, five minutes apart, only for a transient failure (exit 3: network, warehouse,
  another job holding the lock). Bad data (exit 1) and configuration (exit 2) fail the task at once.
- The gate: the build task runs ``dbt source freshness`` and ``dbt build`` with every test;
  a stale source or a failing test fails the run.
- Settings come from the environment of the Airflow worker or from Airflow itself, never from this
  file: the Variables ``sparkify_project_dir``, ``sparkify_python``, ``sparkify_source``,
  ``sparkify_target`` (else the environment variables of the same names in upper case), and the
  Connection ``sparkify_warehouse`` (a PostgreSQL or Redshift login, its password passed to dbt
  and the loader as their secret environment variable, never on a command line).
"""

from __future__ import annotations

import os
import subprocess
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import DAG, Connection, Variable, task
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from airflow.timetables.interval import CronDataIntervalTimetable

DEFAULT_PROJECT_DIR = Path(__file__).resolve().parents[3]

# the daily job's exit codes (orchestration/daily.py) and what Airflow does with each
RETRYABLE = {3}


def setting(name: str, default: str | None = None) -> str | None:
    """An Airflow Variable ``sparkify_<name>``, else the environment's ``SPARKIFY_<NAME>``."""
    value = Variable.get(f"sparkify_{name}", default=None)
    return value or os.environ.get(f"SPARKIFY_{name.upper()}", default)


def job_environment() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    for name in ("source", "target"):
        value = setting(name)
        if value:
            env[f"SPARKIFY_{name.upper()}"] = value
    try:
        warehouse = Connection.get("sparkify_warehouse")
    except Exception:  # no such connection: the environment has the settings
        warehouse = None
    if warehouse is not None:
        kind = "REDSHIFT" if "redshift" in (warehouse.conn_type or "") else "PG"
        for key, value in (
            ("HOST", warehouse.host),
            ("PORT", warehouse.port),
            ("USER", warehouse.login),
            ("DATABASE", warehouse.schema),
        ):
            if value:
                env[f"SPARKIFY_{kind}_{key}"] = str(value)
        if warehouse.password:
            env[f"DBT_ENV_SECRET_{'REDSHIFT' if kind == 'REDSHIFT' else 'PG'}_PASSWORD"] = (
                warehouse.password
            )
    return env


def run_job(*args: str) -> None:
    """Run the daily job; raise what tells Airflow whether to retry."""
    project = Path(setting("project_dir") or DEFAULT_PROJECT_DIR)
    python = setting("python") or str(project / ".venv" / "bin" / "python")
    completed = subprocess.run(  # noqa: S603 - our own job, arguments from the DAG
        [python, "-m", "orchestration.daily", *args],
        cwd=project,
        env=job_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    print(completed.stdout)
    code = completed.returncode
    if code == 0:
        return
    last = next((line for line in reversed(completed.stdout.splitlines()) if line.strip()), "")
    if code in RETRYABLE:
        raise AirflowException(f"the daily job failed transiently (exit {code}): {last}")
    raise AirflowFailException(f"the daily job failed (exit {code}), not retried: {last}")


with DAG(
    dag_id="sparkify_daily",
    description="Stage a day of Sparkify events from S3, then build and test the star schema",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2018, 11, 1, tz="UTC"),
    catchup=True,
    max_active_runs=1,  # the job's lock would refuse a second one anyway
    default_args={"retries": 3, "retry_delay": timedelta(minutes=5)},
    tags=["sparkify"],
) as dag:

    @task
    def stage(ds: str | None = None) -> None:
        """Stage the event files of the logical date, and any new song files."""
        run_job("--steps", "stage", "--since", str(ds), "--until", str(ds))

    @task
    def build() -> None:
        """Freshness, then dbt build with every test: the data-quality gate."""
        run_job("--steps", "build")

    stage() >> build()


if __name__ == "__main__":  # python sparkify_daily.py YYYY-MM-DD: one run, no scheduler
    import sys

    dag.test(logical_date=pendulum.parse(sys.argv[1]) if len(sys.argv) > 1 else None)
