"""Benchmark 5: scale. 100x the real events (~800k) with 10x the songs (~150k files) end to end
on DuckDB and on PostgreSQL; then 1000x the events (~8M, several GB) on DuckDB, with peak memory.
Each step's time is printed next to its input size so a step growing faster than its input shows.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import PROJECT, Report, profiles_env, venv_bin, warm_page_cache
from generator.synthetic import Options, generate

REAL_EVENTS, REAL_SONGS = 8056, 14896


def wall_seconds(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(seconds, peak RSS in MB of this child)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        args, cwd=PROJECT, env={**os.environ, **env}, stdout=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit(f"{args} failed ({status})")
    return time.perf_counter() - started, usage.ru_maxrss / 1024


def pipeline(
    label: str,
    root: Path,
    work: Path,
    report: Report,
    target: str = "dev",
    extra_env: dict[str, str] | None = None,
) -> None:
    env = profiles_env(work, **(extra_env or {}))
    warm_page_cache(root)
    stage, stage_mem = wall_seconds(
        [
            sys.executable,
            "loader/copy_staging.py",
            "--target",
            target,
            "--source",
            str(root),
            "--no-progress",
        ],
        env,
    )
    build, build_mem = wall_seconds([venv_bin("dbt"), "build", "--target", target], env)
    report.add(
        f"{label}: stage {stage:7.1f} s (peak {stage_mem:6.0f} MB), dbt build "
        f"{build:7.1f} s (peak {build_mem:6.0f} MB), total {stage + build:7.1f} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-1000x", action="store_true")
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "sparkify-scale"
    )
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    report = Report("Scale")
    root = args.workdir / "x100"
    if not (root / "log_json_path.json").exists():
        started = time.perf_counter()
        generate(
            Options(
                output=root,
                songs=REAL_SONGS * 10,
                users=1000,
                days=30,
                events=REAL_EVENTS * 100,
                seed=100,
            )
        )
        report.add(f"generated 100x events + 10x songs in {time.perf_counter() - started:.1f} s")
    pipeline(
        f"100x events ({REAL_EVENTS * 100:,}) + 10x songs ({REAL_SONGS * 10:,} files), DuckDB",
        root,
        Path(tempfile.mkdtemp(dir=args.workdir)),
        report,
    )
    from support.servers import PostgresServer

    server = PostgresServer.start()
    try:
        db = server.create_database("scale")
        pipeline(
            "same, PostgreSQL",
            root,
            Path(tempfile.mkdtemp(dir=args.workdir)),
            report,
            "postgres",
            server.env(db),
        )
    finally:
        server.stop()
    if not args.skip_1000x:
        big = args.workdir / "x1000"
        if not (big / "log_json_path.json").exists():
            generate(
                Options(
                    output=big,
                    songs=REAL_SONGS,
                    users=5000,
                    days=30,
                    events=REAL_EVENTS * 1000,
                    seed=1000,
                )
            )
        size = sum(p.stat().st_size for p in (big / "log_data").rglob("*.json")) / 1e9
        pipeline(
            f"1000x events ({REAL_EVENTS * 1000:,}, {size:.1f} GB), DuckDB",
            big,
            Path(tempfile.mkdtemp(dir=args.workdir)),
            report,
        )
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    report.add(f"largest child peak RSS: {peak:,.0f} MB")
    report.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
