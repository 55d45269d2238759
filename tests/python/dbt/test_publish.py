"""Write-Audit-Publish (macros/publish): analysts read only builds whose every test passed.

dbt builds the marts in `analytics_audit`; `analytics` changes only when a whole build passed,
and then by exactly what changed. A build whose tests fail leaves `analytics` as it was, down to
the load times, says what failed, and its changes are tested again and published by the next
build that passes. On DuckDB, on a real PostgreSQL server and on the Redshift stand-in
(support/redshift_standin), which refuses what Redshift refuses.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from tests.python.dbt.helpers import dbt, mart_rows
from tests.python.loader.helpers import copy_days, stage

pytestmark = pytest.mark.slow

Execute = Callable[[str], list[tuple]]


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from generator.synthetic import Options, generate

    out = tmp_path_factory.mktemp("publish-month")
    generate(Options(output=out, songs=200, users=30, days=6, events=1500, seed=11))
    return out


@pytest.fixture(
    params=[
        "duckdb",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("redshift", marks=[pytest.mark.postgres, pytest.mark.s3]),
    ]
)
def engine(request, profiles_dir: Path) -> tuple[list[str], Execute]:
    """The dbt/loader target arguments, and a function running SQL on that warehouse (on the
    Redshift stand-in, on the database behind it: the test's own reads and breakages)."""
    if request.param == "duckdb":
        path = os.environ["SPARKIFY_DUCKDB_PATH"]

        def run_duckdb(sql: str) -> list[tuple]:
            with duckdb.connect(path) as con:
                result = con.execute(sql)
                return result.fetchall() if result.description else []

        return [], run_duckdb
    server = request.getfixturevalue("postgres_server")
    if request.param == "redshift":
        standin = request.getfixturevalue("redshift_standin")
        name = standin.database
    else:
        name = request.getfixturevalue("postgres_db")

    def run_postgres(sql: str) -> list[tuple]:
        con = server.connect(name)
        try:
            with con, con.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall() if cur.description else []
        finally:
            con.close()

    return ["--target", request.param], run_postgres


def test_a_failing_test_leaves_analytics_as_it_was_and_the_next_passing_build_publishes(
    month: Path, tmp_path: Path, engine: tuple[list[str], Execute]
) -> None:
    target, sql = engine
    source = tmp_path / "source"
    build = ("build", *target, "--exclude-resource-type", "unit_test")
    copy_days(month, source, days=[1, 2])
    assert stage(*target, "--source", str(source)) == 0
    first = dbt(*build, target_dir=tmp_path)
    assert "publishing to analytics: " in first.stdout and "(first publish)" in first.stdout
    published = mart_rows(sql, exclude=())
    assert published == mart_rows(sql, exclude=(), schema="analytics_audit")
    assert len(published["songplays"]) > 100

    # a broken build wrote a weekday that does not exist into an old row of `time` (nothing a
    # model does today): the next build's tests check it, as a change not yet audited, and fail
    [(weekday,)] = sql("select weekday from analytics_audit.time order by start_time limit 1")
    moment = "(select min(start_time) from analytics_audit.time)"
    sql(f"update analytics_audit.time set weekday = 9 where start_time = {moment}")
    sql(
        "insert into staging.build_changes select 'time', cast(start_time as varchar(64)), "
        "cast(start_time as varchar(64)), false, 'broken', null "
        f"from analytics_audit.time where start_time = {moment}"
    )
    copy_days(month, source, days=[3])
    assert stage(*target, "--source", str(source)) == 0
    failed = dbt(*build, target_dir=tmp_path, check=False)
    assert failed.returncode == 1
    assert "analytics not published, left as it was: 1 of this invocation's nodes" in failed.stdout
    assert (
        "test accepted_values_time_weekday__False__1__2__3__4__5__6__7: fail (1 rows), SQL in "
        in failed.stdout
    )
    built = mart_rows(sql, exclude=(), schema="analytics_audit")
    assert len(built["songplays"]) > len(published["songplays"])  # day 3 was built ...
    assert mart_rows(sql, exclude=()) == published  # ... and analysts do not see it

    # fixed; the next build has nothing new to build but tests day 3 and publishes it
    sql(f"update analytics_audit.time set weekday = {weekday} where start_time = {moment}")
    fixed = dbt(*build, target_dir=tmp_path)
    assert "publishing to analytics: " in fixed.stdout and "changed keys" in fixed.stdout
    assert mart_rows(sql, exclude=()) == mart_rows(sql, exclude=(), schema="analytics_audit")
    assert mart_rows(sql, exclude=())["songplays"] == built["songplays"]
    again = dbt(*build, target_dir=tmp_path)
    assert "analytics is up to date" in again.stdout
    runs = sql(
        "select command, outcome, published, failed from staging.build_runs order by finished_at"
    )
    assert [(r[0], r[1]) for r in runs] == [("build", "passed"), ("build", "failed")] + [
        ("build", "passed")
    ] * 2
    assert "songplays" in runs[0][2] and "accepted_values_time_weekday" in runs[1][3]
    assert runs[3][2] == ""  # nothing to publish
    assert sql("select count(*) from staging.build_changes where audited_by is null") == [(0,)]


def test_dbt_run_builds_without_publishing_and_a_deselected_test_holds_a_mart_back(
    month: Path, tmp_path: Path, profiles_dir: Path
) -> None:
    source = tmp_path / "source"
    copy_days(month, source, days=[1])
    assert stage("--source", str(source)) == 0
    dbt("seed", target_dir=tmp_path)
    ran = dbt("run", target_dir=tmp_path)
    assert (
        "analytics not published: dbt run builds analytics_audit without testing it" in ran.stdout
    )
    path = os.environ["SPARKIFY_DUCKDB_PATH"]
    with duckdb.connect(path) as con:
        schemas = {
            row[0] for row in con.execute("select schema_name from duckdb_schemas()").fetchall()
        }
    assert "analytics_audit" in schemas and "analytics" not in schemas

    partial = dbt(
        "build", "--select", "songs", "--exclude", "unique_songs_song_id", target_dir=tmp_path
    )
    assert "songs not published: 1 of its tests were not selected" in partial.stdout
    tested = dbt("test", target_dir=tmp_path)  # every test of every mart: all are published
    assert "publishing to analytics: " in tested.stdout
    with duckdb.connect(path) as con:
        fetch = lambda q: con.execute(q).fetchall()  # noqa: E731
        assert mart_rows(fetch, exclude=()) == mart_rows(
            fetch, exclude=(), schema="analytics_audit"
        )
        comment = con.execute(
            "select comment from duckdb_tables() "
            "where schema_name = 'analytics' and table_name = 'songplays'"
        ).fetchone()[0]
    assert comment and "play" in comment.lower()
