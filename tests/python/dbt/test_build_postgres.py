"""dbt on a real PostgreSQL server: the whole project builds and tests, incrementally too."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.python.dbt.helpers import dbt, mart_rows
from tests.python.loader.helpers import copy_days, stage

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _pg_marts(server, dbname: str, exclude=("staged_at",)) -> dict[str, list[tuple]]:
    con = server.connect(dbname)
    try:

        def fetch(sql: str) -> list[tuple]:
            with con.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall()

        return mart_rows(fetch, exclude)
    finally:
        con.close()


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from generator.synthetic import Options, generate

    out = tmp_path_factory.mktemp("pg-month")
    generate(Options(output=out, songs=300, users=40, days=30, events=6000, seed=5))
    return out


def test_halves_then_rerun_equal_one_full_build(
    month: Path, tmp_path: Path, profiles_dir: Path, postgres_server, postgres_db: str, monkeypatch
) -> None:
    source = tmp_path / "source"
    copy_days(month, source, days=list(range(1, 16)))
    assert stage("--target", "postgres", "--source", str(source)) == 0
    dbt("build", "--target", "postgres", target_dir=tmp_path)
    copy_days(month, source, days=list(range(16, 31)))
    assert stage("--target", "postgres", "--source", str(source)) == 0
    result = dbt("build", "--target", "postgres", target_dir=tmp_path)
    assert "Completed successfully" in result.stdout and "unit_test" in result.stdout
    halves = _pg_marts(postgres_server, postgres_db)
    before_rerun = _pg_marts(postgres_server, postgres_db, exclude=())
    dbt("run", "--target", "postgres", target_dir=tmp_path)
    assert _pg_marts(postgres_server, postgres_db, exclude=()) == before_rerun

    full_db = postgres_server.create_database("full_build")
    monkeypatch.setenv("SPARKIFY_PG_DATABASE", full_db)
    assert stage("--target", "postgres", "--source", str(month)) == 0
    dbt("build", "--target", "postgres", target_dir=tmp_path)
    assert _pg_marts(postgres_server, full_db) == halves


def test_same_ids_and_answers_as_duckdb(
    month: Path, tmp_path: Path, profiles_dir: Path, postgres_server, postgres_db: str
) -> None:
    import os

    import duckdb

    assert stage("--target", "postgres", "--source", str(month)) == 0
    dbt("build", "--target", "postgres", target_dir=tmp_path)
    assert stage("--target", "dev", "--source", str(month)) == 0
    dbt("build", "--target", "dev", target_dir=tmp_path)
    query = (
        "select songplay_id, start_time, user_id, level, song_id, artist_id, session_id "
        "from analytics.songplays order by songplay_id"
    )
    con = postgres_server.connect(postgres_db)
    with con.cursor() as cur:
        cur.execute(query)
        from_pg = cur.fetchall()
        cur.execute("select start_time, weekday, week from analytics.time order by start_time")
        time_pg = cur.fetchall()
    con.close()
    with duckdb.connect(os.environ["SPARKIFY_DUCKDB_PATH"], read_only=True) as dcon:
        assert dcon.execute(query).fetchall() == from_pg
        assert (
            dcon.execute(
                "select start_time, weekday, week from analytics.time order by start_time"
            ).fetchall()
            == time_pg
        )


def test_a_rebuilt_view_is_replaced_in_place_and_never_missing(
    small_generated: Path, tmp_path: Path, profiles_dir: Path, postgres_server, postgres_db: str
) -> None:
    """A build replaces a staging view in one statement, keeping the relation: a build or a
    reader at the same time never finds it missing, and nothing is renamed aside (dbt's own
    materialization moves the old view to __dbt_backup and drops it after the commit). A view
    whose columns changed is dropped and created in the same transaction."""
    assert stage("--target", "postgres", "--source", str(small_generated)) == 0
    con = postgres_server.connect(postgres_db)
    con.autocommit = True

    def views() -> dict[str, int]:
        with con.cursor() as cur:
            cur.execute(
                "select c.relname, c.oid from pg_class as c join pg_namespace as n "
                "on c.relnamespace = n.oid where n.nspname = 'staging' and c.relkind = 'v'"
            )
            return dict(cur.fetchall())

    try:
        dbt("run", "--target", "postgres", "--select", "staging", target_dir=tmp_path)
        first = views()
        assert set(first) == {"stg_events", "stg_songs", "stg_removed_events", "stg_removed_songs"}
        with con.cursor() as cur:  # an old release's stg_songs, with other columns
            cur.execute("drop view staging.stg_songs")
            cur.execute("create view staging.stg_songs as select 1 as retired_column")
            # built by an older release: every view's definition differs from this one's
            cur.execute("update staging.build_views set definition_md5 = 'an older release'")
        dbt("run", "--target", "postgres", "--select", "staging", target_dir=tmp_path)
        second = views()
        assert set(second) == set(first)  # no __dbt_tmp, no __dbt_backup left
        assert {k: v for k, v in second.items() if k != "stg_songs"} == {
            k: v for k, v in first.items() if k != "stg_songs"
        }  # replaced in place: the same relations
        with con.cursor() as cur:
            cur.execute("select * from staging.stg_songs limit 0")
            assert "song_id" in [d[0] for d in cur.description]
            cur.execute("select count(*) from staging.build_views where definition_md5 like 'an%'")
            assert cur.fetchone()[0] == 0  # each rebuilt view recorded its new definition
    finally:
        con.close()
