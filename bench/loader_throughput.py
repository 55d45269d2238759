"""Benchmark 2: loader throughput on generated events (1 GB; 5 GB with --big).

Prints MB/s into DuckDB and into PostgreSQL, and ratios measured in the same run against
(a) a naive baseline: json.loads per line plus row inserts (DuckDB executemany), run on a slice
    and reported as MB/s; and
(b) DuckDB's own read_json over the same bytes (goal: the loader at least a third of it);
(c) dlt (dlt[duckdb]) loading the same files, when `--dlt` is given: dlt is installed into a
    separate virtualenv for the benchmark only, never into the project.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from bench.common import PROJECT, Report, profiles_env, wall_seconds, warm_page_cache
from generator.synthetic import Options, generate

EVENTS_PER_GB = 2_100_000
REPEATS = 3


def dataset(size_gb: float, work: Path) -> Path:
    out = work / f"events-{size_gb:g}gb"
    if not (out / "log_json_path.json").exists():
        generate(
            Options(
                output=out,
                songs=2000,
                users=2000,
                days=30,
                events=int(EVENTS_PER_GB * size_gb),
                seed=1,
            )
        )
    return out


def event_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in (root / "log_data").rglob("*.json"))


def naive_mb_per_s(root: Path, limit_bytes: int = 30_000_000) -> float:
    """json.loads per line and executemany inserts, over the first ~30 MB."""
    con = duckdb.connect()
    paths = json.loads((root / "log_json_path.json").read_text())["jsonpaths"]
    keys = [p.split("'")[1] for p in paths]
    con.execute("create table events (" + ", ".join(f'"{k}" varchar' for k in keys) + ")")
    started, done = time.perf_counter(), 0
    for path in sorted((root / "log_data").rglob("*.json")):
        rows = []
        for line in path.read_text().splitlines():
            record = json.loads(line)
            rows.append(tuple(None if record.get(k) is None else str(record.get(k)) for k in keys))
            done += len(line) + 1
        con.executemany(f"insert into events values ({', '.join('?' * len(keys))})", rows)
        if done >= limit_bytes:
            break
    return done / 1e6 / (time.perf_counter() - started)


def duckdb_read_json_seconds(root: Path, database: str = ":memory:") -> float:
    """DuckDB's own reader into a table: in memory, or into a database file (as a load must),
    including the checkpoint that makes it durable."""
    started = time.perf_counter()
    con = duckdb.connect(database)
    con.execute(f"create table e as select * from read_json_auto('{root}/log_data/*/*/*.json')")
    con.close()
    return time.perf_counter() - started


def dlt_seconds(root: Path, work: Path) -> float | None:
    venv = work / "dlt-venv"
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "dlt[duckdb]"], check=True)
    script = f"""
import dlt, json, glob, time
def events():
    for path in sorted(glob.glob({str(root)!r} + '/log_data/*/*/*.json')):
        with open(path) as f:
            for line in f:
                yield json.loads(line)
destination = dlt.destinations.duckdb({str(work / "dlt.duckdb")!r})
pipeline = dlt.pipeline(pipeline_name='bench', destination=destination, dataset_name='staging',
                        pipelines_dir={str(work / "dlt-pipelines")!r})
started = time.perf_counter()
pipeline.run(events(), table_name='staging_events', write_disposition='replace')
print(time.perf_counter() - started)
"""
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-c", script],
        capture_output=True,
        text=True,
        env={
            "DLT_TELEMETRY": "false",
            "RUNTIME__DLTHUB_TELEMETRY": "false",
            "PATH": "/usr/bin:/bin",
        },
    )
    if result.returncode != 0:
        print(result.stderr[-2000:], file=sys.stderr)
        return None
    return float(result.stdout.strip().splitlines()[-1])


def postgres_seconds(root: Path, work: Path) -> float:
    from support.servers import PostgresServer

    server = PostgresServer.start()
    try:
        db = server.create_database("bench")
        env = profiles_env(work, **server.env(db))
        return wall_seconds(
            [
                sys.executable,
                "loader/copy_staging.py",
                "--target",
                "postgres",
                "--source",
                str(root),
                "--tables",
                "events",
                "--no-progress",
            ],
            env,
        )
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", action="store_true", help="also 5 GB")
    parser.add_argument("--dlt", action="store_true", help="also time dlt (installs it aside)")
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "sparkify-bench"
    )
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    report = Report("Loader throughput on generated events")
    for size in [1.0, 5.0] if args.big else [1.0]:
        root = dataset(size, args.workdir)
        mb = event_bytes(root) / 1e6
        work = Path(tempfile.mkdtemp(dir=args.workdir))
        warm_page_cache(root)
        # Each contender runs REPEATS times, interleaved, each time into a fresh database; the
        # medians are compared (this machine is noisy).
        baselines, baseline_files, ducks = [], [], []
        for attempt in range(REPEATS):
            fresh = work / f"attempt-{attempt}"
            fresh.mkdir()
            baselines.append(duckdb_read_json_seconds(root))
            baseline_files.append(duckdb_read_json_seconds(root, str(fresh / "baseline.duckdb")))
            ducks.append(
                wall_seconds(
                    [
                        sys.executable,
                        "loader/copy_staging.py",
                        "--source",
                        str(root),
                        "--tables",
                        "events",
                        "--no-progress",
                    ],
                    profiles_env(fresh),
                )
            )
        baseline, baseline_file, duck = map(statistics.median, (baselines, baseline_files, ducks))
        pg = postgres_seconds(root, work)
        naive = naive_mb_per_s(root)
        report.add(
            f"{mb:,.0f} MB of NDJSON events ({root.name}); DuckDB figures: median of {REPEATS} "
            f"(loader runs {', '.join(f'{d:.1f}' for d in ducks)} s)"
        )
        report.add(f"  loader -> DuckDB:        {duck:7.1f} s  {mb / duck:7.1f} MB/s")
        report.add(f"  loader -> PostgreSQL:    {pg:7.1f} s  {mb / pg:7.1f} MB/s")
        report.add(
            f"  DuckDB read_json_auto:   {baseline:7.1f} s  {mb / baseline:7.1f} MB/s; "
            f"loader/DuckDB speed ratio {baseline / duck:.2f} (goal >= 0.33)"
        )
        report.add(
            f"  same, into a database file: {baseline_file:4.1f} s  "
            f"{mb / baseline_file:7.1f} MB/s; ratio {baseline_file / duck:.2f}"
        )
        report.add(
            f"  naive json+inserts:                {naive:7.1f} MB/s; loader is "
            f"{mb / duck / naive:.1f}x faster"
        )
        if args.dlt and size == 1.0:
            # dlt needs many minutes for 1 GB: compare both on the same 3-day slice
            part = work / "slice"
            files = sorted((root / "log_data").rglob("*.json"))[:3]
            for path in files:
                target = part / path.relative_to(root)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(path)
            (part / "log_json_path.json").symlink_to(root / "log_json_path.json")
            slice_mb = sum(p.stat().st_size for p in files) / 1e6
            (work / "slice-run").mkdir()
            ours = wall_seconds(
                [
                    sys.executable,
                    "loader/copy_staging.py",
                    "--source",
                    str(part),
                    "--tables",
                    "events",
                    "--no-progress",
                ],
                profiles_env(work / "slice-run"),
            )
            dlt = dlt_seconds(part, work)
            if dlt is None:
                report.add("  dlt: failed (see stderr)")
            else:
                report.add(
                    f"  on a {slice_mb:,.0f} MB slice: loader {ours:6.1f} s "
                    f"({slice_mb / ours:5.1f} MB/s), dlt[duckdb] {dlt:6.1f} s "
                    f"({slice_mb / dlt:5.1f} MB/s): loader is {dlt / ours:.1f}x faster "
                    "(goal >= 10x)"
                )
    report.save()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(PROJECT))
    sys.exit(main())
