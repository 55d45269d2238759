"""Benchmark: one `dbt build` task against one task per model, as an Airflow DAG would run it.

The daily DAG (orchestration/airflow/) runs the whole build as one task. The alternative that
astronomer-cosmos offers renders each model as its own task group. This measures both on the
same warehouse, after the same day of new events, in this run:

- one task: `dbt build` (models and data tests; unit tests belong to CI);
- a task per model, as cosmos renders a project: the seed, then for each model in dbt's order
  `dbt run --select M` and `dbt test --select M` (its own tests), then a task per test on more
  than one model once its parents are built, each a dbt process of its own (without Airflow's
  scheduling gaps between tasks, which only add to it).

    python -m bench.dbt_tasks [SCALE]   # default 10 (10x the real event volume)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import PROJECT, Report, profiles_env, run_timed, venv_bin
from bench.incremental import REAL_EVENTS_PER_DAY, link_tree
from generator.synthetic import Options, generate


def listing(env: dict[str, str], kind: str) -> list[dict]:
    found = subprocess.run(
        [venv_bin("dbt"), "ls", "--resource-type", kind, "--output", "json", "--quiet"],
        cwd=PROJECT,
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        text=True,
    )
    return [json.loads(line) for line in found.stdout.splitlines() if line.startswith("{")]


def models_in_order(env: dict[str, str]) -> list[str]:
    """The project's models, parents before children (dbt's selection order)."""
    nodes = listing(env, "model")
    parents = {n["unique_id"]: set(n["depends_on"]["nodes"]) for n in nodes}
    names = {n["unique_id"]: n["name"] for n in nodes}
    ordered: list[str] = []
    while len(ordered) < len(nodes):
        for uid in sorted(parents):
            if names[uid] not in ordered and all(
                names.get(p) in ordered for p in parents[uid] if p in names
            ):
                ordered.append(names[uid])
    return ordered


def detached_tests(env: dict[str, str]) -> list[str]:
    """Data tests on more than one model or seed: a task of their own after their parents."""
    return [
        t["name"]
        for t in listing(env, "test")
        if len([p for p in t["depends_on"]["nodes"] if p.split(".")[0] in ("model", "seed")]) > 1
    ]


def main(scale: int = 10) -> int:
    report = Report(f"One dbt build task against a task per model ({scale}x events)")
    with tempfile.TemporaryDirectory(dir=os.environ.get("SPARKIFY_BENCH_DIR")) as tmp:
        work = Path(tmp)
        generated = work / "generated"
        generate(
            Options(
                output=generated,
                songs=2000,
                users=200,
                days=8,
                events=int(REAL_EVENTS_PER_DAY * 8 * scale),
                seed=5,
            )
        )
        last_day = sorted((generated / "log_data").rglob("*.json"))[-1]
        source = work / "source"
        link_tree(generated, source, lambda p: p != last_day)
        env = profiles_env(work)
        stage = [sys.executable, "loader/copy_staging.py", "--no-progress", "--source", str(source)]
        dbt = venv_bin("dbt")
        run_timed(stage, env)
        run_timed([dbt, "build", "--full-refresh"], env)
        models = models_in_order(env)
        base = work / "base.duckdb"
        warehouse = Path(env["SPARKIFY_DUCKDB_PATH"])
        warehouse.with_name(warehouse.name + ".wal").unlink(missing_ok=True)
        base.write_bytes(warehouse.read_bytes())
        link_tree(generated, source, lambda p: p == last_day)
        run_timed(stage, env)  # the new day, staged once for both
        base.write_bytes(warehouse.read_bytes())

        one_wall, one_cpu = run_timed([dbt, "build", "--exclude-resource-type", "unit_test"], env)
        warehouse.write_bytes(base.read_bytes())
        per_wall = per_cpu = 0.0
        tasks = [[dbt, "seed", "--quiet"]]
        for model in models:
            tasks.append([dbt, "run", "--select", model, "--quiet"])
            tasks.append(
                [
                    dbt,
                    "test",
                    "--select",
                    model,
                    "--indirect-selection",
                    "cautious",
                    "--quiet",
                    "--exclude-resource-type",
                    "unit_test",
                ]
            )
        tasks += [[dbt, "test", "--select", name, "--quiet"] for name in detached_tests(env)]
        for task in tasks:
            wall, cpu = run_timed(task, env)
            per_wall, per_cpu = per_wall + wall, per_cpu + cpu
    report.add(
        f"{len(models)} models, {len(tasks)} tasks (seed, run and test per model, a test task "
        "per test on several models); one new day after 7 days of history"
    )
    report.add(f"one task (dbt build):            {one_wall:6.1f} s ({one_cpu:6.1f} s CPU)")
    report.add(
        f"a task per model (run + test):  {per_wall:6.1f} s ({per_cpu:6.1f} s CPU): "
        f"{per_wall / one_wall:.1f}x wall, {per_cpu / one_cpu:.1f}x CPU the one task"
    )
    report.save()
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10))
