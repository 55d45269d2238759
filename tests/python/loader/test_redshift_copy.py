"""Redshift: the exact COPY SQL (golden files), masking, manifests and COPY error reporting.

No Redshift runs here, so the SQL is checked against golden files and parsed as Redshift SQL, and
the load flow runs against a recording connection that answers like Redshift's system tables.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

from loader.destinations.base import Batch
from loader.destinations.redshift import RedshiftDestination, manifest_document, mask
from loader.errors import ConfigError, DataError
from loader.pipeline import RunOptions, TableStats, make_plan
from loader.profiles import RedshiftConfig
from loader.sources import S3Source, SourceObject
from loader.tables import events_table, songs_table

GOLDEN = Path(__file__).parent / "golden"
ROLE = "arn:aws:iam::123456789012:role/sparkify-redshift-s3-read"
PATHS = json.dumps({"jsonpaths": [f"$['{k}']" for k in ("artist", "ts", "userId")]}).encode()
WHEN = dt.datetime(2026, 11, 21, 12, 0, 0)
CONFIG = RedshiftConfig(
    host="sparkify.abc.us-west-2.redshift.amazonaws.com",
    port=5439,
    user="sparkify",
    password="s3cret-Password",
    dbname="dev",
)


class RecordingConnection:
    """Answers like a Redshift connection: records SQL, can fail a COPY like Redshift does."""

    def __init__(self, fail_copy: bool = False) -> None:
        self.sql: list[str] = []
        self.fail_copy = fail_copy
        self.commits = self.rollbacks = 0
        self._result: list[tuple] = []

    def cursor(self):
        return self

    def execute(self, sql: str, params=None) -> None:
        self.sql.append(sql)
        self._result = []
        if sql.startswith("copy ") and self.fail_copy:
            raise RuntimeError(
                "Load into table 'new_staging_events' failed. Check "
                "'stl_load_errors' system table for details."
            )
        if "pg_last_copy_count" in sql:
            self._result = [(42,)]
        if "stl_load_errors" in sql:
            self._result = [
                (
                    "s3://bucket/log_data/2018-11-02-events.json",
                    7,
                    "ts",
                    "Invalid digit, Value 's', Pos 0, Type: Long",
                )
            ]

    def fetchall(self):
        return self._result

    def close(self) -> None: ...

    def commit(self) -> None:
        self.commits += 1

    def rollback(self) -> None:
        self.rollbacks += 1


def _source() -> S3Source:
    return S3Source("s3://udacity-dend", unsigned=True)


def _objects(n: int, prefix: str = "log_data/2018/11/") -> list[SourceObject]:
    return [
        SourceObject(f"{prefix}2018-11-{d:02d}-events.json", 1000 + d, f"{d:032x}")
        for d in range(1, n + 1)
    ]


def _destination(connection=None, manifest: str | None = None) -> RedshiftDestination:
    return RedshiftDestination(connection, CONFIG, iam_role=ROLE, manifest_prefix=manifest)


def _events():
    return events_table(PATHS, "s3://udacity-dend/log_json_path.json")


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"differs from {path}; UPDATE_GOLDEN=1 rewrites it"


def test_copy_of_a_first_load_reads_the_prefix_once() -> None:
    table, objects = _events(), _objects(3)
    plan = make_plan(table, objects, {}, full_refresh=False)
    batch = Batch(table, "20261121T120000Z-abcdef", WHEN, "s3://udacity-dend")
    sql = ";\n\n".join(_destination().statements(_source(), plan, RunOptions(), batch)) + ";\n"
    _golden("redshift_events_first_load.sql", sql)
    assert sql.count("\ncopy ") + sql.startswith("copy ") == 1
    assert "from 's3://udacity-dend/log_data/'" in sql  # the table's prefix, one COPY


def test_copy_with_a_manifest_lists_exactly_the_new_objects() -> None:
    table = songs_table()
    objects = _objects(2, "song_data/A/A/A/")
    ledger = {
        objects[0].key: __import__(
            "loader.destinations.base", fromlist=["LedgerEntry"]
        ).LedgerEntry(objects[0].key, objects[0].etag, objects[0].size, 1, 0, "b0")
    }
    plan = make_plan(table, objects, ledger, full_refresh=False)
    dest = _destination(manifest="s3://my-bucket/manifests")
    batch = Batch(table, "20261121T120000Z-abcdef", WHEN, "s3://udacity-dend")
    urls, uses_manifest, document = dest.copy_sources(_source(), plan, batch.batch_id)
    assert uses_manifest and urls == [
        "s3://my-bucket/manifests/staging_songs/20261121T120000Z-abcdef.manifest"
    ]
    entries = json.loads(document)["entries"]
    assert [e["url"] for e in entries] == [f"s3://udacity-dend/{objects[1].key}"]
    assert entries[0]["mandatory"] is True
    sql = ";\n\n".join(dest.statements(_source(), plan, RunOptions(), batch)) + ";\n"
    _golden("redshift_songs_manifest.sql", sql)


def test_full_refresh_deletes_in_the_transaction_never_truncates() -> None:
    table = _events()
    plan = make_plan(table, _objects(2), {}, full_refresh=True)
    batch = Batch(table, "b1", WHEN, "s3://udacity-dend", delete_all=True)
    statements = _destination().statements(_source(), plan, RunOptions(full_refresh=True), batch)
    text = "\n".join(statements).lower()
    assert "truncate" not in text
    assert statements[0] == "begin" and statements[-1] == "commit"
    assert statements[1] == 'delete from "staging"."staging_events"'


def test_options_reach_the_copy() -> None:
    table = _events()
    plan = make_plan(table, _objects(1), {}, full_refresh=False)
    batch = Batch(table, "b1", WHEN, "s3://udacity-dend")
    opts = RunOptions(max_errors=5, invalid_char="?")
    copy = next(
        s for s in _destination().statements(_source(), plan, opts, batch) if s.startswith("copy")
    )
    for clause in (
        "maxerror 5",
        "acceptinvchars as '?'",
        "timeformat 'epochmillisecs'",
        "region 'us-west-2'",
        "compupdate off statupdate off",
        "format as json 's3://udacity-dend/log_json_path.json'",
    ):
        assert clause in copy


def test_every_statement_parses_as_redshift_sql() -> None:
    sqlglot = pytest.importorskip("sqlglot")
    for name in ("redshift_events_first_load.sql", "redshift_songs_manifest.sql"):
        for statement in (GOLDEN / name).read_text().split(";\n"):
            statement = statement.strip()
            if statement and not statement.startswith(("copy", "begin", "commit")):
                sqlglot.parse_one(statement, read="redshift")


def test_literals_cannot_break_out_of_quotes() -> None:
    from loader.destinations.redshift import quote_literal

    assert quote_literal("it's") == "'it''s'"
    assert quote_literal("a\\'; drop table x; --") == "'a\\\\''; drop table x; --'"


def test_mask_hides_account_ids_and_secrets() -> None:
    sql = (
        f"copy t from 's3://b/k' iam_role '{ROLE}' credentials "
        "'aws_access_key_id=AKIA;aws_secret_access_key=abc/def+ghi'"
    )
    masked = mask(sql)
    assert "123456789012" not in masked and "abc/def+ghi" not in masked
    assert "arn:aws:iam::************:role/sparkify-redshift-s3-read" in masked


def test_dry_run_prints_masked_sql_and_runs_nothing() -> None:
    dest = RedshiftDestination(None, CONFIG, iam_role=ROLE, manifest_prefix=None, dry_run=True)
    plan = make_plan(_events(), _objects(2), {}, full_refresh=False)
    lines = dest.describe_load(_source(), plan, RunOptions(dry_run=True))
    text = "\n".join(lines)
    assert "copy " in text and "123456789012" not in text and dest.executed == []
    assert "s3cret" not in repr(CONFIG)


def test_failed_copy_rolls_back_and_reports_file_line_column_reason() -> None:
    connection = RecordingConnection(fail_copy=True)
    dest = _destination(connection)
    plan = make_plan(_events(), _objects(2), {}, full_refresh=False)
    with pytest.raises(DataError) as info:
        dest.load_plan(_source(), plan, RunOptions(), TableStats("staging_events"))
    message = str(info.value)
    assert "s3://bucket/log_data/2018-11-02-events.json:7: column ts: Invalid digit" in message
    assert connection.rollbacks == 1 and connection.commits == 0
    assert not any(s.startswith("insert") for s in connection.sql)  # stopped at the COPY


def test_successful_copy_commits_rows_and_ledger_together() -> None:
    connection = RecordingConnection()
    dest = _destination(connection)
    plan = make_plan(_events(), _objects(3), {}, full_refresh=False)
    stats = TableStats("staging_events")
    dest.load_plan(_source(), plan, RunOptions(), stats)
    assert connection.commits == 1
    assert stats.rows == 42 and stats.new_files == 3
    ledger_insert = next(s for s in connection.sql if "load_ledger" in s and s.startswith("insert"))
    assert ledger_insert.count("2018-11-0") == 3


def test_serverless_reads_sys_load_error_detail() -> None:
    connection = RecordingConnection()
    config = RedshiftConfig(
        host="wg.123456789012.us-west-2.redshift-serverless.amazonaws.com",
        port=5439,
        user="u",
        password="p",
        dbname="dev",
    )
    RedshiftDestination(connection, config, iam_role=ROLE, manifest_prefix=None).load_errors()
    assert "sys_load_error_detail" in connection.sql[-1]


def test_local_source_and_missing_role_are_configuration_errors(tmp_path: Path) -> None:
    from loader.sources import LocalSource

    plan = make_plan(_events(), _objects(1), {}, full_refresh=False)
    with pytest.raises(ConfigError, match="reads from S3"):
        _destination(RecordingConnection()).load_plan(
            LocalSource(tmp_path), plan, RunOptions(), TableStats("e")
        )
    no_role = RedshiftDestination(
        RecordingConnection(), CONFIG, iam_role=None, manifest_prefix=None
    )
    with pytest.raises(ConfigError, match="IAM role"):
        no_role.load_plan(_source(), plan, RunOptions(), TableStats("e"))
    with pytest.raises(ConfigError, match="not an IAM role ARN"):
        RedshiftDestination(None, CONFIG, iam_role="admin", manifest_prefix=None)


def test_manifest_document_shape() -> None:
    doc = json.loads(manifest_document([("s3://b/k1", 10)]))
    assert doc == {
        "entries": [{"url": "s3://b/k1", "mandatory": True, "meta": {"content_length": 10}}]
    }
