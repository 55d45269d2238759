"""Where a run keeps its temporary files: one directory per run, named for its process, removed
when the run ends; a run that was killed (SIGKILL, a lost machine) cannot remove its own, so the
next run removes every such directory whose process is gone."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from loader.logs import log

PREFIX = "sparkify-run-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def sweep(parent: Path) -> list[Path]:
    """Remove the run directories under ``parent`` whose process no longer runs."""
    removed = []
    for path in parent.glob(f"{PREFIX}*"):
        pid = path.name[len(PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)) and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    if removed:
        log(f"removed {len(removed)} temporary director(y/ies) left by killed runs in {parent}")
    return removed


@contextlib.contextmanager
def run_directory(parent: str | None = None) -> Iterator[Path]:
    """Make every temporary file of this run go into one directory, removed at the end."""
    base = Path(parent or tempfile.gettempdir())
    sweep(base)
    path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=base))
    previous = tempfile.tempdir
    tempfile.tempdir = str(path)
    try:
        yield path
    finally:
        tempfile.tempdir = previous
        shutil.rmtree(path, ignore_errors=True)
