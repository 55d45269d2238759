"""Benchmark 1: the real data (../shared/data/s3-full) end to end on DuckDB.

Prints the loader's staging time and its ratio to DuckDB's own read_json_auto glob over the same
files (goal <= 1.0), the `dbt build` time, end-to-end wall time (goal <= 15 s) and peak memory.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import duckdb

from bench.common import Report, peak_rss_mb, profiles_env, real_data, run, venv_bin


def duckdb_glob_seconds(root: Path) -> float:
    import time

    con = duckdb.connect()
    started = time.perf_counter()
    con.execute(
        f"create table songs as select * from read_json_auto('{root}/song_data/*/*/*/*.json')"
    )
    con.execute(
        f"create table events as select * from read_json_auto('{root}/log_data/*/*/*.json')"
    )
    return time.perf_counter() - started


def main() -> int:
    root = real_data()
    if root is None:
        return 2
    report = Report("Real data end to end (s3-full, DuckDB)")
    with tempfile.TemporaryDirectory() as tmp:
        env = profiles_env(Path(tmp))
        baseline = duckdb_glob_seconds(root)
        stage = run(
            [sys.executable, "loader/copy_staging.py", "--source", str(root), "--no-progress"], env
        )
        build = run([venv_bin("dbt"), "build"], env)
    report.add(f"DuckDB read_json_auto glob (baseline): {baseline:6.2f} s")
    report.add(
        f"loader staging (ledger, checks, both tables): {stage:6.2f} s  "
        f"ratio to baseline {stage / baseline:.2f} (goal <= 1.0)"
    )
    report.add(f"dbt build (models + all tests):            {build:6.2f} s")
    report.add(f"end to end (stage + build):                {stage + build:6.2f} s (goal <= 15 s)")
    report.add(f"peak memory of the pipeline's processes:   {peak_rss_mb():6.0f} MB")
    report.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
