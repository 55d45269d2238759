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


# --- every engine classes its own errors, once ------------------------------------------------


@pytest.mark.parametrize(
    ("engine", "error", "kind"),
    [
        ("duckdb", duckdb.CatalogException("Table with name nope does not exist"), "ConfigError"),
        ("duckdb", duckdb.ConversionException("Could not convert 'x' to INT32"), "DataError"),
        ("duckdb", duckdb.TransactionException("write-write conflict"), "TransientError"),
        ("postgres", psycopg2.OperationalError("server closed the connection"), "TransientError"),
        (
            "postgres",
            psycopg2.errors.UndefinedTable('relation "nope" does not exist'),
            "ConfigError",
        ),
        ("postgres", psycopg2.errors.NumericValueOutOfRange("integer out of range"), "DataError"),
        ("postgres", psycopg2.errors.InsufficientPrivilege("permission denied"), "ConfigError"),
    ],
    ids=lambda value: value if isinstance(value, str) else type(value).__name__,
)
def test_each_engine_classes_its_driver_errors(engine: str, error: Exception, kind: str) -> None:
    from loader.destinations import duckdb as duckdb_engine
    from loader.destinations import postgres as postgres_engine

    classify_error = {"duckdb": duckdb_engine.classify, "postgres": postgres_engine.classify}
    classed = classify_error[engine](error, "query")
    assert type(classed).__name__ == kind
    assert "\n" not in str(classed)


def test_a_duckdb_query_error_reaches_the_caller_classed() -> None:
    from loader.destinations.duckdb import DuckDBDestination
    from loader.errors import ConfigError

    with DuckDBDestination(":memory:") as dest, pytest.raises(ConfigError, match="nope"):
        dest.query("select * from staging.nope")


@pytest.mark.postgres
def test_a_postgres_error_reaches_the_user_as_one_line_not_a_traceback(
    profiles_dir, postgres_db: str
) -> None:
    """A non-transient PostgreSQL error (here a missing table) is a ConfigError naming its
    SQLSTATE, in a query and inside a load transaction alike; the connection stays usable."""
    from loader.destinations.postgres import PostgresDestination
    from loader.errors import ConfigError
    from loader.profiles import load_target

    config = load_target("postgres")[1]
    with PostgresDestination(config) as dest:
        with pytest.raises(ConfigError, match="SQLSTATE 42P01"):
            dest.query("select * from staging.nope")
        with pytest.raises(ConfigError, match="SQLSTATE 42P01"), dest.transaction():
            dest.execute("insert into staging.nope values (1)")
        assert dest.query("select 1") == [(1,)]
