"""Benchmark 4: the cost of what changed, against a full rebuild, at 1000x the real event volume.

History: 30 days of generated events at 1000x the real month's volume (about 8M events), and the
catalogue but for 1% of it. Measured, each in this run:

- the full rebuild: stage everything from scratch, then `dbt build --full-refresh`;
- the daily job: one new day arrives and the scheduled job runs, exactly as cron or Airflow runs
  it (`python -m orchestration.daily --source ...`: the lock, the loader, freshness, `dbt build`
  of the seed, every model and data test, the run history, in one process; like a scheduler's
  runs, each after the first reuses the Jinja the one before compiled);
- the late catalogue: the 1% of songs held back (their plays were built unmatched) arrive and the
  same job runs;
- dbt with nothing new, and dbt's own start-up (importing dbt, `dbt parse`);
- the publish (Write-Audit-Publish, macros/publish) within each build: the on-run-end hook's
  seconds, from dbt's run_results.json (a full rebuild copies every mart into `analytics`; the
  daily job publishes only the keys it changed).

Goals: the daily job and the late catalogue each cost at most 10% of the full rebuild; with 60
days of history the daily job costs at most 1.1x what it costs with 30. This machine is noisy, so
the daily job and the late catalogue are each run five times from the same warehouse (restored
from a copy) and their medians reported; the full rebuild is run twice, before and after them,
and their mean reported (the machine's speed drifts over minutes: a baseline measured once can
land in a slow spell or a fast one). With 60 days, one full rebuild (it is not in a goal).

    python -m bench.incremental [SCALE]   # default 1000; make bench runs it
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.common import Report, profiles_env, run_timed, venv_bin
from generator.synthetic import Options, generate

REAL_EVENTS_PER_DAY = 8056 / 30
SONGS = 20_000
HELD_BACK = 0.01  # the share of the catalogue staged after its plays
REPEATS = 5  # runs of each small job, from the same warehouse: the median is reported


@dataclass(frozen=True)
class Cost:
    """Wall and CPU seconds of a step (CPU: user and system time of every thread)."""

    wall: float
    cpu: float

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.wall + other.wall, self.cpu + other.cpu)

    def share_of(self, other: Cost) -> str:
        return f"{self.wall / other.wall:.1%} wall, {self.cpu / other.cpu:.1%} CPU"

    def __str__(self) -> str:
        return f"{self.wall:6.1f} s ({self.cpu:6.1f} s CPU)"


def median(costs: list[Cost]) -> Cost:
    return Cost(statistics.median(c.wall for c in costs), statistics.median(c.cpu for c in costs))


def mean(costs: list[Cost]) -> Cost:
    return Cost(statistics.mean(c.wall for c in costs), statistics.mean(c.cpu for c in costs))


@dataclass
class Figures:
    events: int
    full_stage: Cost
    full_build: Cost
    full_totals: list[Cost]  # each full rebuild, stage and build
    day: Cost
    songs: Cost
    noop_build: Cost
    version: Cost
    parse: Cost
    full_publish: float
    day_publish: float
    songs_publish: float

    @property
    def full(self) -> Cost:
        return self.full_stage + self.full_build


def publish_seconds(env: dict[str, str]) -> float:
    """Seconds of the latest dbt invocation's publish (its on-run-end hook)."""
    results = json.loads((Path(env["DBT_TARGET_PATH"]) / "run_results.json").read_text())
    return sum(r["execution_time"] for r in results["results"] if "on-run-end" in r["unique_id"])


def link_tree(source: Path, target: Path, keep) -> None:
    """Hard-link the files of ``source`` that ``keep`` accepts into ``target`` (no copies)."""
    for path in source.rglob("*"):
        if path.is_file() and keep(path):
            destination = target / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, destination)


def measure(scale: int, history_days: int, full_rebuilds: int = 1) -> Figures:
    with tempfile.TemporaryDirectory(dir=os.environ.get("SPARKIFY_BENCH_DIR")) as tmp:
        work = Path(tmp)
        generated = work / "generated"
        total_days = history_days + 1
        generate(
            Options(
                output=generated,
                songs=SONGS,
                users=1000,
                days=total_days,
                events=int(REAL_EVENTS_PER_DAY * total_days * scale),
                seed=3,
            )
        )
        days = sorted((generated / "log_data").rglob("*.json"))
        songs = sorted((generated / "song_data").rglob("*.json"))
        held_back = set(songs[:: int(1 / HELD_BACK)])
        source = work / "source"
        link_tree(generated, source, lambda p: p not in held_back and p != days[-1])
        env = profiles_env(work)
        warehouse = Path(env["SPARKIFY_DUCKDB_PATH"])
        stage = [sys.executable, "loader/copy_staging.py", "--no-progress", "--source", str(source)]
        dbt = venv_bin("dbt")
        job = [
            sys.executable,
            "-m",
            "orchestration.daily",
            "--source",
            str(source),
        ]  # as cron runs it

        def full_rebuild() -> tuple[Cost, Cost, float]:
            """(stage, build, publish) of everything from scratch: an empty warehouse and a
            project dbt has not parsed yet."""
            for path in (warehouse, warehouse.with_name(warehouse.name + ".wal")):
                path.unlink(missing_ok=True)
            (Path(env["DBT_TARGET_PATH"]) / "partial_parse.msgpack").unlink(missing_ok=True)
            os.sync()
            stage_cost = Cost(*run_timed(stage, env))
            build_cost = Cost(*run_timed([dbt, "build", "--full-refresh"], env))
            return stage_cost, build_cost, publish_seconds(env)

        rebuilds = [full_rebuild()]
        base = work / "base.duckdb"
        shutil.copy(warehouse, base)

        def restore() -> None:
            warehouse.with_name(warehouse.name + ".wal").unlink(missing_ok=True)
            shutil.copy(base, warehouse)
            # write the copy (gigabytes at this scale) out now, so the job measured next does
            # not pay for the page cache flushing it in the background
            os.sync()

        def from_base(arrive, leave) -> tuple[Cost, float]:
            """Median (job, publish) of the daily job run REPEATS times from the base
            warehouse."""
            jobs, publishes = [], []
            for _ in range(REPEATS):
                restore()
                arrive()
                jobs.append(Cost(*run_timed(job, env)))
                publishes.append(publish_seconds(env))
                leave()
            return median(jobs), statistics.median(publishes)

        def unlink(keep) -> None:
            for path in source.rglob("*"):
                if path.is_file() and keep(generated / path.relative_to(source)):
                    path.unlink()

        last_day = days[-1]
        day_job, day_publish = from_base(
            lambda: link_tree(generated, source, lambda p: p == last_day),  # the next day
            lambda: unlink(lambda p: p == last_day),
        )
        songs_job, songs_publish = from_base(
            lambda: link_tree(generated, source, lambda p: p in held_back),  # songs after plays
            lambda: unlink(lambda p: p in held_back),
        )
        # the baseline is repeated too, after the small jobs: the machine's speed drifts over
        # minutes, and a ratio of one side measured in a slow spell to the other measured in a
        # fast one says more about the machine than about the job
        rebuilds += [full_rebuild() for _ in range(full_rebuilds - 1)]
        full_stage = mean([stage_cost for stage_cost, _, _ in rebuilds])
        full_build = mean([build_cost for _, build_cost, _ in rebuilds])
        full_publish = statistics.mean(r[2] for r in rebuilds)
        restore()
        # nothing new: dbt's fixed cost, every node
        noop_build = Cost(*run_timed([dbt, "build", "--exclude-resource-type", "unit_test"], env))
        # Python and dbt's imports (not `dbt --version`: it asks PyPI for the latest release)
        version = Cost(*run_timed([venv_bin("python"), "-c", "import dbt.cli.main"], env))
        parse = Cost(*run_timed([dbt, "parse"], env))  # and reading the project (partial parse)
        events = sum(len(p.read_bytes().splitlines()) for p in days[:-1])
    return Figures(
        events,
        full_stage,
        full_build,
        [r[0] + r[1] for r in rebuilds],
        day_job,
        songs_job,
        noop_build,
        version,
        parse,
        full_publish,
        day_publish,
        songs_publish,
    )


def main(scale: int = 1000) -> int:
    report = Report(f"Incremental cost at {scale}x the real event volume")
    f = measure(scale, 30, full_rebuilds=2)
    report.add(f"history: {f.events:,} events over 30 days, {SONGS:,} songs ({HELD_BACK:.0%} late)")
    report.add(
        f"full rebuild (mean of {len(f.full_totals)}, one before the small jobs and one after: "
        + ", ".join(f"{c.wall:.1f} s" for c in f.full_totals)
        + f"): stage {f.full_stage} + dbt build --full-refresh {f.full_build} = {f.full}"
    )
    report.add(
        f"daily job, one new day (median of {REPEATS}; stage, freshness, dbt build, run history): "
        f"{f.day}: {f.day.share_of(f.full)} of the full rebuild (goal <= 10%)"
    )
    report.add(
        f"late catalogue, {HELD_BACK:.0%} new songs (median of {REPEATS}; the same job): "
        f"{f.songs}: {f.songs.share_of(f.full)} of the full rebuild (goal <= 10%)"
    )
    report.add(
        f"dbt build with nothing new: {f.noop_build}; importing dbt {f.version}, dbt parse "
        f"{f.parse} in all (the start-up every job pays)"
    )
    report.add(
        f"publish to analytics (in the builds above): full rebuild {f.full_publish:.1f} s (every "
        f"mart copied), daily job {f.day_publish:.1f} s, late catalogue {f.songs_publish:.1f} s "
        "(the keys they changed)"
    )
    g = measure(scale, 60)
    report.add(
        f"with 60 days of history ({g.events:,} events): full rebuild {g.full} "
        f"({g.full.wall / f.full.wall:.2f}x wall, {g.full.cpu / f.full.cpu:.2f}x CPU); daily "
        f"job {g.day} = {g.day.wall / f.day.wall:.2f}x wall, {g.day.cpu / f.day.cpu:.2f}x CPU "
        f"the 30-day one (goal <= 1.1x); late catalogue {g.songs} "
        f"({g.songs.wall / f.songs.wall:.2f}x wall, {g.songs.cpu / f.songs.cpu:.2f}x CPU); "
        f"daily publish {g.day_publish:.1f} s"
    )
    report.save()
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
