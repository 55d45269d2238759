"""Schema drift: when the app adds a key no column maps, the loader stages the records as before,
says which keys it found (how many records, the first file:line) and keeps their values in
staging.load_unmapped, joined to the staged row by batch, object and line, on every engine."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.python.loader.helpers import copy_days, duck, stage
from tests.python.redshift_emulator import Emulator, emulated

EXTRA = b'"experiment": {"arm": "b", "share": 0.50, "id": 9007199254740993}'
KEPT = '{"experiment":{"arm":"b","share":0.50,"id":9007199254740993}}'
DRIFTED = 50

JOINED = """
select count(*)
from staging.load_unmapped as kept
inner join staging.staging_events as staged
    on kept.batch_id = staged._batch_id
    and kept.object_key = staged._source_key
    and kept.line_number = staged._source_line
where kept.table_name = 'staging_events'
"""


def drifted_source(small_generated: Path, tmp_path: Path) -> tuple[Path, str, list[int]]:
    """One day of events whose records every few lines carry a key the JSONPaths do not map."""
    source = tmp_path / "source"
    copy_days(small_generated, source, days=[1])
    [day] = sorted((source / "log_data").rglob("*.json"))
    lines = day.read_bytes().splitlines()
    step = len(lines) // DRIFTED
    drifted = [index * step + 1 for index in range(DRIFTED)]  # 1-based line numbers
    for number in drifted:
        lines[number - 1] = lines[number - 1][:-1] + b", " + EXTRA + b"}"
    day.write_bytes(b"\n".join(lines) + b"\n")
    return source, day.relative_to(source).as_posix(), drifted


def check_kept(fetch: Callable[[str], list[tuple]], key: str, drifted: list[int]) -> None:
    kept = fetch(
        "select object_key, line_number, unmapped_keys, unmapped_json from staging.load_unmapped "
        "order by line_number"
    )
    assert kept == [(key, line, "experiment", KEPT) for line in drifted]
    assert fetch(JOINED) == [(DRIFTED,)]  # each kept with its staged row


def test_unmapped_keys_are_reported_and_kept_beside_their_rows_on_duckdb(
    small_generated: Path, tmp_path: Path, profiles_dir: Path, capsys
) -> None:
    source, key, drifted = drifted_source(small_generated, tmp_path)
    lines = len((source / key).read_bytes().splitlines())
    assert stage("--source", str(source), "--tables", "events") == 0
    err = capsys.readouterr().err
    found = re.search(
        r"warning: staging_events: (\d+) staged record\(s\) have keys no column maps", err
    )
    assert found and int(found.group(1)) == DRIFTED, err
    assert f"experiment ({DRIFTED} record(s), first {source}/{key}:{drifted[0]})" in err

    def fetch(sql: str) -> list[tuple]:
        with duck() as con:
            return con.execute(sql).fetchall()

    assert fetch("select count(*) from staging.staging_events") == [(lines,)]
    check_kept(fetch, key, drifted)
    # a rerun stages nothing and keeps nothing twice; a full refresh starts the table again
    assert stage("--source", str(source), "--tables", "events") == 0
    assert "no column maps" not in capsys.readouterr().err
    assert fetch("select count(*) from staging.load_unmapped") == [(DRIFTED,)]
    assert stage("--source", str(source), "--tables", "events", "--full-refresh") == 0
    check_kept(fetch, key, drifted)


@pytest.mark.postgres
def test_unmapped_keys_are_kept_on_postgres(
    small_generated: Path, tmp_path: Path, profiles_dir: Path, postgres_server, postgres_db: str
) -> None:
    source, key, drifted = drifted_source(small_generated, tmp_path)
    assert stage("--target", "postgres", "--source", str(source), "--tables", "events") == 0

    def fetch(sql: str) -> list[tuple]:
        with postgres_server.connect(postgres_db) as con, con.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()

    check_kept(fetch, key, drifted)


@pytest.mark.postgres
@pytest.mark.s3
def test_unmapped_keys_are_kept_on_redshift_in_redshift_sql(
    redshift: Emulator, small_generated: Path, tmp_path: Path
) -> None:
    source, key, drifted = drifted_source(small_generated, tmp_path)
    assert stage("--target", "redshift", "--source", str(source), "--tables", "events") == 0

    def fetch(sql: str) -> list[tuple]:
        with emulated(redshift)() as con, con.cursor() as cur:
            cur.execute(sql)
            return [tuple(row) for row in cur.fetchall()]

    check_kept(fetch, key, drifted)
    sqlglot = pytest.importorskip("sqlglot")
    from tests.python.redshift_sql import redshift_problems

    sent = [s for s in redshift.statements if "load_unmapped" in s]
    assert any(s.startswith("insert") for s in sent)
    for statement in sent:
        sqlglot.parse(statement, read="redshift")
        assert redshift_problems(statement, "loader") == [], statement


def test_unmapped_values_too_large_to_keep_stage_the_record_and_say_so(
    small_generated: Path, tmp_path: Path, profiles_dir: Path, capsys
) -> None:
    source = tmp_path / "source"
    copy_days(small_generated, source, days=[1])
    [day] = sorted((source / "log_data").rglob("*.json"))
    lines = day.read_bytes().splitlines()
    lines[2] = lines[2][:-1] + b', "notes": "' + b"x" * 70_000 + b'"}'
    day.write_bytes(b"\n".join(lines) + b"\n")
    assert stage("--source", str(source), "--tables", "events") == 0
    err = capsys.readouterr().err
    key = day.relative_to(source).as_posix()
    assert (
        "the unmapped values of 1 record(s) could not be kept (their keys are listed in "
        "staging.load_unmapped, unmapped_json is null): first "
        f"{source}/{key}:3 (notes: 70,012 bytes of JSON, more than 65,535)"
    ) in err, err
    with duck() as con:
        assert con.execute(
            "select line_number, unmapped_keys, unmapped_json from staging.load_unmapped"
        ).fetchall() == [(3, "notes", None)]
        assert con.execute("select count(*) from staging.staging_events").fetchone() == (
            len(lines),
        )
