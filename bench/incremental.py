"""Benchmark 4: the cost of one new day against a full rebuild, with 30 days of history at 100x
the real event volume (about 800,000 events). Goal: staging and building one new day costs at
most 10% of staging and building everything from scratch.

The history is staged in one go, then dated as if each day's file had been staged one day after
it happened (as a daily job would have), so the incremental models' lookback (72 h of staging
time) re-reads the last few days, as in production, rather than the whole history.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb

from bench.common import Report, profiles_env, run, venv_bin
from loader.generate import Options, generate

REAL_EVENTS_PER_DAY = 8056 / 30


def date_history(warehouse: Path, keys: list[str]) -> None:
    """Date the rows of the n day files (in order) as staged 1..n days ago, the catalogue
    before all of them: what a daily job would have done."""
    con = duckdb.connect(str(warehouse))
    con.execute("create temp table ages (key varchar, age integer)")
    con.executemany(
        "insert into ages values (?, ?)", [(k, len(keys) - i) for i, k in enumerate(keys)]
    )
    con.execute(
        "update staging.staging_events set _loaded_at = _loaded_at - to_days(ages.age) "
        "from ages where ages.key = staging_events._source_key"
    )
    con.execute(
        f"update staging.staging_songs set _loaded_at = _loaded_at - to_days({len(keys) + 1})"
    )
    con.close()


def seconds_by_kind(target: Path) -> dict[str, float]:
    """Execution seconds per node kind in the last dbt run (summed over its threads)."""
    results = json.loads((target / "run_results.json").read_text())["results"]
    kinds: dict[str, float] = {}
    for result in results:
        kind = result["unique_id"].split(".")[0]
        kinds[kind] = kinds.get(kind, 0.0) + result["execution_time"]
    return kinds


@dataclass
class Figures:
    events: int
    full_stage: float
    full_build: float
    day_stage: float
    day_build: float
    kinds: dict[str, float]
    noop_build: float
    floor: float
    job_stage: float
    job_build: float

    @property
    def full(self) -> float:
        return self.full_stage + self.full_build

    @property
    def day(self) -> float:
        return self.day_stage + self.day_build

    @property
    def job(self) -> float:
        return self.job_stage + self.job_build


def measure(scale: int, history_days: int) -> Figures:
    """Stage and build ``history_days`` days from scratch, then two new days, one at a time."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        full = work / "full"
        total_days = history_days + 2
        generate(
            Options(
                output=full,
                songs=2000,
                users=1000,
                days=total_days,
                events=int(REAL_EVENTS_PER_DAY * total_days * scale),
                seed=3,
            )
        )
        days = sorted((full / "log_data").rglob("*.json"))
        history = work / "history"
        shutil.copytree(full, history)
        for path in days[history_days:]:
            (history / path.relative_to(full)).unlink()
        env = profiles_env(work)
        stage = [sys.executable, "loader/copy_staging.py", "--no-progress", "--source"]
        dbt = venv_bin("dbt")

        def new_day(path: Path) -> None:
            (history / path.relative_to(full)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, history / path.relative_to(full))

        full_stage = run([*stage, str(history)], env)
        keys = [p.relative_to(full).as_posix() for p in days[:history_days]]
        date_history(Path(env["SPARKIFY_DUCKDB_PATH"]), keys)
        full_build = run([dbt, "build", "--full-refresh"], env)
        # a new day, built with everything (models, data tests, unit tests)
        new_day(days[history_days])
        day_stage = run([*stage, str(history)], env)
        day_build = run([dbt, "build"], env)
        kinds = seconds_by_kind(Path(env["DBT_TARGET_PATH"]))
        noop_build = run([dbt, "build"], env)  # nothing new: dbt's fixed cost (start-up, tests)
        floor = run([dbt, "build", "--select", "pages"], env)  # dbt start-up and one seed
        # the next day, as a scheduled job runs it: unit tests belong to CI, not to every load
        new_day(days[history_days + 1])
        job_stage = run([*stage, str(history)], env)
        job_build = run([dbt, "build", "--exclude-resource-type", "unit_test"], env)
        events = sum(len(p.read_bytes().splitlines()) for p in days[:history_days])
    return Figures(
        events,
        full_stage,
        full_build,
        day_stage,
        day_build,
        kinds,
        noop_build,
        floor,
        job_stage,
        job_build,
    )


def main(scale: int = 100) -> int:
    report = Report(f"Incremental cost at {scale}x the real event volume")
    f = measure(scale, 30)
    report.add(f"history: {f.events:,} events over 30 days")
    report.add(
        f"full rebuild: stage {f.full_stage:6.1f} s + dbt build --full-refresh "
        f"{f.full_build:6.1f} s = {f.full:6.1f} s"
    )
    report.add(
        f"one new day:  stage {f.day_stage:6.1f} s + dbt build (incremental) "
        f"{f.day_build:6.1f} s = {f.day:6.1f} s"
    )
    report.add(f"ratio new day / full rebuild: {f.day / f.full:.1%} (goal <= 10%)")
    report.add(
        f"the next day as a scheduled job (dbt build --exclude-resource-type unit_test): "
        f"{f.job_stage:.1f} s + {f.job_build:.1f} s = {f.job:.1f} s = {f.job / f.full:.1%}"
    )
    report.add(f"dbt build with nothing new (fixed cost): {f.noop_build:6.1f} s")
    marginal = f.day - f.noop_build
    report.add(
        f"marginal cost of the day (new day minus the no-op build): {marginal:6.1f} s = "
        f"{marginal / f.full:.1%} of the full rebuild"
    )
    report.add(
        f"dbt's floor (start-up, parse, one seed: `dbt build --select pages`): "
        f"{f.floor:6.1f} s = {f.floor / f.full:.1%} of the full rebuild"
    )
    report.add(
        "the new day's dbt build, execution seconds summed over its 4 threads: "
        + ", ".join(f"{kind} {seconds:.1f}" for kind, seconds in sorted(f.kinds.items()))
    )
    g = measure(scale, 60)
    report.add(
        f"with twice the history ({g.events:,} events over 60 days): full rebuild {g.full:.1f} s "
        f"({g.full / f.full:.2f}x), one new day {g.day:.1f} s ({g.day / f.day:.2f}x), "
        f"scheduled job {g.job:.1f} s ({g.job / f.job:.2f}x)"
    )
    report.save()
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100))
