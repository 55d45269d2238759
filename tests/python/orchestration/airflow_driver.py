"""Run by the Airflow virtualenv's Python (not pytest's): load the DAG from its folder, run it with
``dag.test()`` for the logical dates given, and print one JSON line per run with each task's
state and tries. The test that starts this reads the warehouse the runs built."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pendulum
from airflow.dag_processing.dagbag import DagBag


def main(dags_folder: str, dates: list[str]) -> None:
    bag = DagBag(dag_folder=dags_folder)
    if bag.import_errors:
        raise SystemExit(f"the DAG does not import: {bag.import_errors}")
    dag = bag.get_dag("sparkify_daily")
    for day in dates:
        run = dag.test(logical_date=pendulum.parse(day))
        tasks = {
            ti.task_id: {"state": str(ti.state), "try_number": ti.try_number}
            for ti in run.get_task_instances()
        }
        print("RUN " + json.dumps({"date": day, "state": str(run.state), "tasks": tasks}))
        sys.stdout.flush()


if __name__ == "__main__":
    main(str(Path(sys.argv[1])), sys.argv[2:])
