"""Run by the Airflow virtualenv's Python (not pytest's). Loads the DAG from its folder and
prints one JSON line per answer, for the test that starts it:

    airflow_driver.py DAGS_FOLDER run YYYY-MM-DD ...   dag.test() for each logical date: each
                                                       task's state and tries
    airflow_driver.py DAGS_FOLDER settings             schedule, catch-up, retries
    airflow_driver.py DAGS_FOLDER exits                what each exit code of the job raises
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import pendulum
from airflow.dag_processing.dagbag import DagBag


def load(dags_folder: str):
    bag = DagBag(dag_folder=dags_folder)
    if bag.import_errors:
        raise SystemExit(f"the DAG does not import: {bag.import_errors}")
    return bag.dags["sparkify_daily"]  # as parsed from the file, no metadata database needed


def say(kind: str, answer: dict) -> None:
    print(f"{kind} " + json.dumps(answer, default=str), flush=True)


def run(dags_folder: str, dates: list[str]) -> None:
    dag = load(dags_folder)
    for day in dates:
        dag_run = dag.test(logical_date=pendulum.parse(day))
        tasks = {
            ti.task_id: {"state": str(ti.state), "try_number": ti.try_number}
            for ti in dag_run.get_task_instances()
        }
        say("RUN", {"date": day, "state": str(dag_run.state), "tasks": tasks})


def settings(dags_folder: str) -> None:
    dag = load(dags_folder)
    say(
        "SETTINGS",
        {
            "catchup": dag.catchup,
            "max_active_runs": dag.max_active_runs,
            "timetable": type(dag.timetable).__name__,
            "summary": dag.timetable.summary,
            "tasks": {
                t.task_id: {
                    "retries": t.retries,
                    "retry_delay": t.retry_delay.total_seconds(),
                    "upstream": sorted(t.upstream_task_ids),
                }
                for t in dag.tasks
            },
        },
    )


def exits(dags_folder: str) -> None:
    """The DAG's run_job against a real process exiting with each code of the daily job."""
    sys.path.insert(0, dags_folder)
    import sparkify_daily

    for code in (0, 1, 2, 3):
        script = Path(tempfile.mkdtemp()) / "python"
        script.write_text(f"#!/bin/sh\necho 'exiting {code}'\nexit {code}\n")
        script.chmod(0o755)
        os.environ["SPARKIFY_PYTHON"] = str(script)
        try:
            sparkify_daily.run_job("--steps", "stage")
            raised = None
        except Exception as exc:
            raised = type(exc).__name__
        say("EXIT", {"code": code, "raised": raised})


if __name__ == "__main__":
    folder, mode, *rest = sys.argv[1:]
    {
        "run": lambda: run(folder, rest),
        "settings": lambda: settings(folder),
        "exits": lambda: exits(folder),
    }[mode]()
