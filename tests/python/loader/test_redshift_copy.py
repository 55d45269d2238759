"""Redshift, end to end without a cluster: the loader's real Redshift path (the CLI, the
destination, its SQL and transactions) against tests/python/redshift_emulator.py, which runs the
statements on the real PostgreSQL test server and COPY from the real S3 API (moto), as Redshift
documents them.

Each engine must stage the same rows with the same origin from the same files; the Redshift
path must COPY only what a manifest lists, keep the loader's rules (rejects, --max-errors,
retries, the lock) and class its errors.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from loader.destinations.redshift import classify, mask
from loader.errors import ConfigError, TransientError
from tests.python.loader.helpers import copy_days, stage
from tests.python.redshift_emulator import Emulator, RedshiftError, emulated

pytestmark = [pytest.mark.postgres, pytest.mark.s3]

ROLE = "arn:aws:iam::123456789012:role/sparkify-redshift-s3-read"  # the fixture's
COMPARED = "select * from staging.{table} order by _source_key, _source_line"


@pytest.fixture
def one_day(small_generated: Path, tmp_path: Path) -> Path:
    """A source holding one day of events (and no songs)."""
    source = tmp_path / "source"
    copy_days(small_generated, source, days=[1], songs=False)
    return source


def rows(connect, table: str) -> list[tuple]:
    """A staging table's rows without the columns a load stamps (batch id and time)."""
    with connect() as con, con.cursor() as cur:
        cur.execute(COMPARED.format(table=table))
        names = [d[0] for d in cur.description]
        keep = [i for i, n in enumerate(names) if n not in ("_batch_id", "_loaded_at")]
        return [tuple(row[i] for i in keep) for row in cur.fetchall()]


def staged_objects(redshift: Emulator) -> list[str]:
    listing = redshift.s3.list_objects_v2(Bucket="sparkify-stage")
    return [o["Key"] for o in listing.get("Contents", [])]


def test_redshift_stages_the_rows_postgres_stages_with_their_origin(
    redshift: Emulator, postgres_server, postgres_db: str, small_generated: Path, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    copy_days(small_generated, source, days=[1, 2])
    (source / "log_data" / "README.txt").write_text("not data")
    assert stage("--target", "redshift", "--source", str(source)) == 0
    assert stage("--target", "postgres", "--source", str(source)) == 0
    for table in ("staging_events", "staging_songs"):
        on_redshift = rows(emulated(redshift), table)
        assert on_redshift == rows(lambda: postgres_server.connect(postgres_db), table)
        assert on_redshift and all(row[-2] is not None for row in on_redshift)  # _source_key
    # every COPY read a manifest; the staged parts are gone after the commit
    assert redshift.copies and all("\nmanifest\n" in sql for sql in redshift.copies)
    assert all("maxerror 0" in sql and "timeformat" not in sql for sql in redshift.copies)
    assert staged_objects(redshift) == []
    # every statement the loader sent is Redshift SQL, with nothing Redshift treats differently
    sqlglot = pytest.importorskip("sqlglot")
    from tests.python.redshift_sql import redshift_problems

    assert {s.split()[0].lower() for s in redshift.statements} >= {"copy", "lock", "insert"}
    for statement in redshift.statements:
        sqlglot.parse(statement, read="redshift")
        assert redshift_problems(statement, "loader") == [], statement
    # the rerun stages nothing
    before = rows(emulated(redshift), "staging_events")
    assert stage("--target", "redshift", "--source", str(source)) == 0
    assert rows(emulated(redshift), "staging_events") == before


def test_replaced_file_moves_its_old_rows_aside_as_on_postgres(
    redshift: Emulator, one_day: Path, tmp_path: Path
) -> None:
    assert stage("--target", "redshift", "--source", str(one_day), "--tables", "events") == 0
    day = sorted((one_day / "log_data").rglob("*.json"))[0]
    lines = day.read_bytes().splitlines()
    day.write_bytes(b"\n".join(lines[:-3]) + b"\n")
    args = ("--target", "redshift", "--source", str(one_day), "--tables", "events")
    assert stage(*args) == 1  # changed: reported, not loaded
    assert stage(*args, "--replace-changed") == 0
    with emulated(redshift)() as con, con.cursor() as cur:
        cur.execute("select count(*) from staging.staging_events")
        assert cur.fetchone()[0] == len(lines) - 3
        cur.execute("select count(*) from staging.staging_events_removed")
        assert cur.fetchone()[0] == len(lines)
        cur.execute("select change from staging.load_ledger order by loaded_at")
        assert [r[0] for r in cur.fetchall()] == ["added", "replaced"]


def test_max_errors_n_keeps_n_bad_records_aside_with_file_and_line(
    redshift: Emulator, one_day: Path, tmp_path: Path, capsys
) -> None:
    day = sorted((one_day / "log_data").rglob("*.json"))[0]
    lines = day.read_bytes().splitlines()
    bad_ts = json.loads(lines[1]) | {"ts": "x"}
    too_long = json.loads(lines[4]) | {"artist": "x" * 2000}
    lines[1], lines[4] = json.dumps(bad_ts).encode(), json.dumps(too_long).encode()
    day.write_bytes(b"\n".join(lines) + b"\n")
    key = day.relative_to(one_day).as_posix()
    args = ("--target", "redshift", "--source", str(one_day), "--tables", "events")
    assert stage(*args, "--max-errors", "1") == 1
    err = capsys.readouterr().err
    assert f"{key}:2: ts: expected an integer" in err
    assert stage(*args, "--max-errors", "2") == 0
    with emulated(redshift)() as con, con.cursor() as cur:
        cur.execute("select object_key, line_number, reason from staging.load_rejects")
        rejects = sorted(cur.fetchall(), key=lambda r: r[1])
        cur.execute("select rows_loaded, rows_rejected from staging.load_ledger")
        assert cur.fetchall() == [(len(lines) - 2, 2)]
    assert [(k, n) for k, n, _ in rejects] == [(key, 2), (key, 5)]
    assert "artist: the text is 2,000 bytes, longer than the 1,024" in rejects[1][2]


def test_copy_refusing_a_row_names_its_object_and_line(
    redshift: Emulator, one_day: Path, tmp_path: Path, capsys
) -> None:
    """Were Redshift to refuse a row the loader accepted (a width the loader does not know),
    the error names the row's origin, read back from STL_LOAD_ERRORS; nothing is loaded."""
    args = ("--target", "redshift", "--source", str(one_day), "--tables", "events")
    assert stage(*args) == 0
    with emulated(redshift)() as con, con.cursor() as cur:
        cur.execute("delete from staging.staging_events")
        cur.execute("delete from staging.load_ledger")
        cur.execute('alter table staging.staging_events alter column "level" type varchar(3)')
        con.commit()
    capsys.readouterr()
    assert stage(*args) == 1
    err = capsys.readouterr().err
    day = sorted((one_day / "log_data").rglob("*.json"))[0].relative_to(one_day).as_posix()
    assert "COPY refused rows the loader had accepted" in err
    assert f"{day}:" in err and "column level: String length exceeds DDL length" in err
    with emulated(redshift)() as con, con.cursor() as cur:
        cur.execute("select count(*) from staging.staging_events")
        assert cur.fetchone()[0] == 0


@pytest.mark.parametrize(
    ("code", "text", "exit_code", "says"),
    [
        ("XX000", "S3ServiceException:Access Denied,Status 403", 2, "may not read the stage"),
        ("XX000", "User arn:aws:redshift:... is not authorized to perform: sts:AssumeRole", 2,
         "cannot assume the IAM role"),
        ("42501", "permission denied for schema staging", 2, "lacks a privilege"),
        ("42601", "syntax error at or near \"copy\"", 2, "SQLSTATE 42601"),
    ],
)  # fmt: skip
def test_errors_no_rerun_fixes_are_configuration_errors(
    redshift: Emulator,
    one_day: Path,
    tmp_path: Path,
    capsys,
    code: str,
    text: str,
    exit_code: int,
    says: str,
) -> None:
    redshift.faults = [(code, text)]
    capsys.readouterr()
    assert stage("--target", "redshift", "--source", str(one_day), "--tables", "events") == 2
    err = capsys.readouterr().err
    assert says in err and "rerun to continue" not in err and "Traceback" not in err
    assert len(redshift.copies) == 1  # not retried


def test_serialization_conflict_is_retried_and_loads_once(
    redshift: Emulator, one_day: Path, tmp_path: Path
) -> None:
    redshift.faults = [("40001", "1023 Serializable isolation violation on table staging")]
    args = ("--target", "redshift", "--source", str(one_day), "--tables", "events")
    assert stage(*args) == 0
    assert len(redshift.copies) == 2
    lines = sum(len(p.read_bytes().splitlines()) for p in (one_day / "log_data").rglob("*.json"))
    with emulated(redshift)() as con, con.cursor() as cur:
        cur.execute("select count(*), count(distinct _batch_id) from staging.staging_events")
        assert cur.fetchone() == (lines, 1)


def test_two_loaders_at_once_stage_each_object_once(
    redshift: Emulator, small_generated: Path, tmp_path: Path, capsys
) -> None:
    """The second loader planned before the first committed: it waits at the lock, then leaves
    out what the first staged."""
    source = tmp_path / "source"
    copy_days(small_generated, source, days=[1, 2], songs=False)
    args = ("--target", "redshift", "--source", str(source), "--tables", "events")
    at_lock, first_done = threading.Event(), threading.Event()
    holder = {"thread": None}

    def second_waits_at_the_lock() -> None:
        if threading.current_thread() is holder["thread"]:
            at_lock.set()
            assert first_done.wait(120)

    redshift.before['lock "staging"."load_ledger"'] = second_waits_at_the_lock
    codes: list[int] = []
    second = threading.Thread(target=lambda: codes.append(stage(*args)))
    holder["thread"] = second
    second.start()
    assert at_lock.wait(120)  # the second has planned everything and reached the lock
    assert stage(*args) == 0  # the first runs meanwhile, to the end
    first_done.set()
    second.join(120)
    assert codes == [0]
    assert "another loader staged" in capsys.readouterr().err
    lines = sum(len(p.read_bytes().splitlines()) for p in (source / "log_data").rglob("*.json"))
    with emulated(redshift)() as con, con.cursor() as cur:
        cur.execute("select count(*) from staging.staging_events")
        assert cur.fetchone()[0] == lines
        cur.execute("select count(*), count(distinct object_key) from staging.load_ledger")
        assert cur.fetchone() == (2, 2)


def test_stage_prefix_in_another_region_is_refused_up_front(
    redshift: Emulator, one_day: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    import boto3

    east = boto3.client(
        "s3",
        endpoint_url=redshift.s3.meta.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    if "sparkify-stage-east" not in {b["Name"] for b in east.list_buckets()["Buckets"]}:
        east.create_bucket(Bucket="sparkify-stage-east")  # us-east-1
    monkeypatch.setenv("SPARKIFY_MANIFEST_PREFIX", "s3://sparkify-stage-east/loads")
    assert stage("--target", "redshift", "--source", str(one_day)) == 2
    err = capsys.readouterr().err
    assert "is in us-east-1, the cluster in us-west-2" in err
    assert redshift.connections == []  # refused before connecting


def test_missing_stage_prefix_says_what_to_set(
    redshift: Emulator, one_day: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.delenv("SPARKIFY_MANIFEST_PREFIX")
    assert stage("--target", "redshift", "--source", str(one_day)) == 2
    assert "SPARKIFY_MANIFEST_PREFIX" in capsys.readouterr().err


def test_dry_run_needs_no_password_prints_the_copy_and_writes_nothing(
    redshift: Emulator, one_day: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.delenv("DBT_ENV_SECRET_REDSHIFT_PASSWORD")
    capsys.readouterr()
    assert stage("--target", "redshift", "--source", str(one_day), "--dry-run") == 0
    out = capsys.readouterr()
    assert "would load 1 object(s)" in out.out
    assert "\nmanifest\n" in out.out and "maxerror 0" in out.out
    assert "123456789012" not in out.out + out.err  # the account id is masked
    assert "manifest written" not in out.out
    assert staged_objects(redshift) == [] and redshift.connections == []


def test_classify_keeps_transient_and_terminal_apart() -> None:
    assert isinstance(classify(RedshiftError("40001", "conflict"), "x"), TransientError)
    assert isinstance(classify(RedshiftError("57014", "cancelled"), "x"), TransientError)
    assert isinstance(classify(ConnectionResetError("reset"), "x"), TransientError)
    assert isinstance(classify(RedshiftError("42P01", "no table"), "x"), ConfigError)
    assert isinstance(classify(RedshiftError("XX000", "Access Denied"), "x"), ConfigError)


def test_mask_hides_account_ids_and_secrets() -> None:
    sql = (
        f"copy t from 's3://b/k' iam_role '{ROLE}' credentials "
        "'aws_access_key_id=AKIA;aws_secret_access_key=abc/def+ghi'"
    )
    masked = mask(sql)
    assert "123456789012" not in masked and "abc/def+ghi" not in masked
    assert "arn:aws:iam::************:role/sparkify-redshift-s3-read" in masked
