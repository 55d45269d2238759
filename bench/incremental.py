"""Benchmark 4: the cost of one new day against a full rebuild, with 30 days of history at 100x
the real event volume (about 800,000 events). Goal: staging and building one new day costs at
most 10% of staging and building everything from scratch.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from bench.common import Report, profiles_env, run, venv_bin
from loader.generate import Options, generate

REAL_EVENTS_PER_DAY = 8056 / 30


def main(scale: int = 100) -> int:
    report = Report(f"Incremental cost at {scale}x the real event volume")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        full = work / "full"
        generate(
            Options(
                output=full,
                songs=2000,
                users=1000,
                days=31,
                events=int(REAL_EVENTS_PER_DAY * 31 * scale),
                seed=3,
            )
        )
        days = sorted((full / "log_data").rglob("*.json"))
        history = work / "history"
        shutil.copytree(full, history)
        (history / days[-1].relative_to(full)).unlink()
        env = profiles_env(work)
        stage = [sys.executable, "loader/copy_staging.py", "--no-progress", "--source"]
        dbt = venv_bin("dbt")
        # from scratch over 30 days
        full_stage = run([*stage, str(history)], env)
        full_build = run([dbt, "build", "--full-refresh"], env)
        # one new day arrives
        shutil.copy(days[-1], history / days[-1].relative_to(full))
        day_stage = run([*stage, str(history)], env)
        day_build = run([dbt, "build"], env)
        noop_build = run([dbt, "build"], env)  # nothing new: dbt's fixed cost (start-up, tests)
        events = sum(len(p.read_bytes().splitlines()) for p in days[:-1])
    total_full = full_stage + full_build
    total_day = day_stage + day_build
    report.add(f"history: {events:,} events over 30 days")
    report.add(
        f"full rebuild: stage {full_stage:6.1f} s + dbt build --full-refresh "
        f"{full_build:6.1f} s = {total_full:6.1f} s"
    )
    report.add(
        f"one new day:  stage {day_stage:6.1f} s + dbt build (incremental) "
        f"{day_build:6.1f} s = {total_day:6.1f} s"
    )
    report.add(f"ratio new day / full rebuild: {total_day / total_full:.1%} (goal <= 10%)")
    report.add(
        f"dbt build with nothing new (fixed cost: start-up, full-table tests and the "
        f"small table models): {noop_build:6.1f} s"
    )
    marginal = total_day - noop_build
    report.add(
        f"marginal cost of the day (new day minus the no-op build): {marginal:6.1f} s = "
        f"{marginal / total_full:.1%} of the full rebuild"
    )
    report.save()
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100))
