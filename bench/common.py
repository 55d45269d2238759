"""Shared helpers for the benchmarks: timing, peak memory, machine facts, result recording.

Benchmarks print each figure and each ratio measured in the same run (machines here are noisy:
only ratios within one run are meaningful) and append a dated section to bench/RESULTS.md.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
SHARED = PROJECT.parent / "shared" / "data"
RESULTS = PROJECT / "bench" / "RESULTS.md"
sys.path.insert(0, str(PROJECT))


def real_data() -> Path | None:
    """../shared/data/s3-full, or None (after saying so) when it is not there."""
    root = SHARED / "s3-full"
    if root.exists():
        return root
    print(f"no real data at {root}", file=sys.stderr)
    return None


def warm_page_cache(root: Path) -> None:
    """Read every file under root once, so no contender pays for reading it from disk first
    (this machine's disk is slow for many small files: a cold pass can take minutes)."""
    for path in root.rglob("*"):
        if path.is_file():
            with path.open("rb") as f:
                while f.read(1 << 24):
                    pass


def machine() -> str:
    import dbt.version
    import duckdb

    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, {mem:.0f} GiB, Python "
        f"{platform.python_version()}, DuckDB {duckdb.__version__}, dbt-core "
        f"{dbt.version.__version__}"
    )


def peak_rss_mb(children: bool = True) -> float:
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024


@dataclass
class Report:
    title: str
    lines: list[str] = field(default_factory=list)

    def add(self, text: str) -> None:
        print(text, flush=True)
        self.lines.append(text)

    def save(self) -> None:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        section = [
            f"## {self.title} ({stamp})",
            "",
            f"Machine: {machine()}",
            "",
            "```",
            *self.lines,
            "```",
            "",
        ]
        existing = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n\n"
        RESULTS.write_text(existing.rstrip("\n") + "\n\n" + "\n".join(section))


@contextmanager
def timer() -> Iterator[Callable[[], float]]:
    started = time.perf_counter()
    elapsed: list[float] = []
    yield lambda: elapsed[0] if elapsed else time.perf_counter() - started
    elapsed.append(time.perf_counter() - started)


def wall_seconds(args: list[str], env: dict[str, str] | None = None) -> float:
    """Run a command from the project directory; return its wall time in seconds."""
    return run_timed(args, env)[0]


def run_timed(args: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run a command from the project directory; return its (wall, CPU) seconds. CPU time (user
    and system, every thread of the command) is the work it did: much less noisy than the wall
    time on a shared machine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        args, cwd=PROJECT, env={**os.environ, **(env or {})}, check=True, stdout=subprocess.DEVNULL
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def venv_bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def profiles_env(tmp: Path, **extra: str) -> dict[str, str]:
    (tmp / "profiles.yml").write_text((PROJECT / "profiles.yml.example").read_text())
    env = {
        "DBT_PROFILES_DIR": str(tmp),
        "SPARKIFY_DUCKDB_PATH": str(tmp / "bench.duckdb"),
        "DBT_TARGET_PATH": str(tmp / "target"),
        "DBT_LOG_PATH": str(tmp / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    env.update(extra)
    return env
