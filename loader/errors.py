"""The loader's error kinds. Each maps to one exit code so that schedulers can react to it.

- ``ConfigError`` (exit 2): the run cannot start (unknown target, unreachable source, missing
  JSONPaths file, invalid option). Fix the configuration and run again.
- ``DataError`` (exit 1): the data is bad (malformed JSON, wrong types, invalid UTF-8, an object
  that changed after it was loaded). Retrying does not help; fix the data or allow rejects.
- ``TransientError`` (exit 3): the network, the object store or the warehouse failed after the
  retries. Nothing of the failed batch was committed; rerun to continue where it stopped.
- ``OutOfSpaceError`` (exit 2, a kind of configuration error): a disk (the warehouse's, the
  scratch directory's, the server's) is full. Waiting does not free it, so it is never retried:
  a person frees space or points the loader elsewhere, then reruns.
"""

from __future__ import annotations

import errno


class LoaderError(Exception):
    exit_code = 1


class ConfigError(LoaderError):
    exit_code = 2


class DataError(LoaderError):
    exit_code = 1


class TransientError(LoaderError):
    exit_code = 3


class OutOfSpaceError(ConfigError):
    pass


# How each engine words a full disk: the OS (ENOSPC), DuckDB and PostgreSQL ("No space left on
# device", SQLSTATE 53100 disk_full), Redshift ("Disk Full").
_NO_SPACE_TEXT = ("no space left on device", "disk full", "disk quota exceeded")


def out_of_space(exc: BaseException) -> OutOfSpaceError | None:
    """The error as an ``OutOfSpaceError`` when it says a disk is full, else None."""
    if isinstance(exc, OutOfSpaceError):
        return exc
    full = isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)
    state = getattr(exc, "pgcode", None) or getattr(exc, "sqlstate", None)
    text = str(exc).strip()
    if not (full or state == "53100" or any(s in text.lower() for s in _NO_SPACE_TEXT)):
        return None
    if isinstance(exc, OSError) and exc.filename:
        text = f"{exc.strerror}: {exc.filename}"
    detail = text.splitlines()[0] if text else type(exc).__name__
    return OutOfSpaceError(
        f"out of disk space ({detail}); free space, or point the warehouse or TMPDIR at a "
        "larger disk, then rerun: committed batches are kept, the unfinished one was rolled back"
    )
