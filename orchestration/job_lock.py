"""One daily job per warehouse at a time.

The lock is an exclusive ``flock`` on a file: the kernel releases it when the process ends, however
it ends, so a killed run never leaves it held. The file names the holder (pid, host, start), so a
refused run can say who has it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from loader.profiles import DuckDBConfig, TargetConfig


class LockHeld(Exception):
    """Another job holds the lock."""


def lock_path(target: str, config: TargetConfig) -> Path:
    """Beside a DuckDB warehouse file (one lock per file); for a server, one per target and
    address under ``$SPARKIFY_LOCK_DIR`` (else ~/.cache/sparkify)."""
    override = os.environ.get("SPARKIFY_JOB_LOCK")
    if override:
        return Path(override)
    if isinstance(config, DuckDBConfig) and config.path != ":memory:":
        warehouse = Path(config.path).resolve()
        return warehouse.with_name(warehouse.name + ".job.lock")
    where = "|".join(str(getattr(config, f, "")) for f in ("host", "port", "dbname"))
    digest = hashlib.sha256(where.encode()).hexdigest()[:12]
    directory = Path(os.environ.get("SPARKIFY_LOCK_DIR") or Path.home() / ".cache" / "sparkify")
    return directory / f"job-{target}-{digest}.lock"


@contextlib.contextmanager
def job_lock(path: Path) -> Iterator[None]:
    """Hold the lock for the body, or raise ``LockHeld`` at once naming its holder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 512, 0).decode(errors="replace").strip() or "another process"
            raise LockHeld(f"another daily job holds {path} ({holder})") from None
        started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}, since {started}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
