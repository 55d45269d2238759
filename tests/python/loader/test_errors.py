"""A full disk is one kind of error on every engine: exit 2, never retried, one line."""

from __future__ import annotations

import errno

import duckdb
import psycopg2.errors
import pytest

from loader.destinations.redshift import classify
from loader.errors import OutOfSpaceError, TransientError, out_of_space


@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.ENOSPC, "No space left on device", "/tmp/x.ndjson"),
        OSError(errno.EDQUOT, "Disk quota exceeded", "/tmp/x.ndjson"),
        duckdb.IOException('Could not write file "w.duckdb.wal": No space left on device'),
        psycopg2.errors.DiskFull('could not extend file "base/1/2": No space left on device'),
        TransientError("PostgreSQL connection failed: could not write: No space left on device"),
    ],
    ids=["enospc", "quota", "duckdb", "postgres", "wrapped"],
)
def test_a_full_disk_is_out_of_space_with_exit_2(error: BaseException) -> None:
    full = out_of_space(error)
    assert isinstance(full, OutOfSpaceError) and full.exit_code == 2
    assert "\n" not in str(full) and "rerun" in str(full)


def test_the_file_that_filled_up_is_named() -> None:
    full = out_of_space(OSError(errno.ENOSPC, "No space left on device", "/tmp/x.ndjson"))
    assert "/tmp/x.ndjson" in str(full)


def test_other_errors_are_not_out_of_space() -> None:
    assert out_of_space(OSError(errno.ECONNRESET, "Connection reset by peer")) is None
    assert out_of_space(TransientError("PostgreSQL connection failed: server closed")) is None


def test_redshift_disk_full_is_not_retried() -> None:
    class ProgrammingError(Exception):
        pass

    error = ProgrammingError({"S": "ERROR", "C": "53100", "M": "Disk Full"})
    assert isinstance(classify(error, "COPY"), OutOfSpaceError)
    error = ProgrammingError({"S": "ERROR", "C": "53200", "M": "out of memory"})
    assert isinstance(classify(error, "COPY"), TransientError)
