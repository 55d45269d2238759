"""What analysts build on the warehouse survives what dbt builds: a view whose columns change is
created again only when no one's view depends on it (else the build says which, in one line,
and drops nothing), and a published mart that gained columns keeps its table and the views on
it. On PostgreSQL and on the Redshift stand-in, whose CREATE OR REPLACE VIEW accepts only the
identical set of columns."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.python.dbt.helpers import dbt, mart_rows
from tests.python.loader.helpers import stage

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture(params=["postgres", pytest.param("redshift", marks=pytest.mark.s3)])
def warehouse(request, profiles_dir: Path, postgres_server):
    """(target, a function running SQL straight on the database, as an analyst would)."""
    if request.param == "redshift":
        name = request.getfixturevalue("redshift_standin").database
    else:
        name = request.getfixturevalue("postgres_db")

    def run(sql: str) -> list[tuple]:
        con = postgres_server.connect(name)
        con.autocommit = True
        try:
            with con.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall() if cur.description else []
        finally:
            con.close()

    return request.param, run


def views(run) -> set[str]:
    return {
        f"{schema}.{name}"
        for schema, name in run(
            "select table_schema, table_name from information_schema.views "
            "where table_schema in ('staging', 'analyst')"
        )
    }


def test_a_view_whose_columns_change_is_created_again_unless_someone_depends_on_it(
    warehouse, small_generated: Path, tmp_path: Path
) -> None:
    target, run = warehouse
    assert stage("--target", target, "--source", str(small_generated)) == 0
    select = ("--target", target, "--select", "staging")
    dbt("run", *select, target_dir=tmp_path)

    # an older release's stg_songs had fewer columns: the new one appends some, which Redshift's
    # CREATE OR REPLACE VIEW refuses; it is dropped and created again, in one transaction
    run("drop view staging.stg_songs; create view staging.stg_songs as "
        "select song_id from staging.staging_songs; "
        "update staging.build_views set definition_md5 = 'an older release'")  # fmt: skip
    dbt("run", *select, target_dir=tmp_path)
    columns = run(
        "select column_name from information_schema.columns where table_name = 'stg_songs'"
    )
    assert ("title",) in columns

    # an older release's with a column since retired (no engine replaces that in place), and an
    # analyst's view on it: refused, naming the view; nothing dropped
    run("drop view staging.stg_songs; create view staging.stg_songs as "
        "select song_id, 1 as retired_column from staging.staging_songs; create schema analyst; "
        "create view analyst.song_ids as select song_id from staging.stg_songs; "
        "update staging.build_views set definition_md5 = 'an older release'")  # fmt: skip
    refused = dbt("run", *select, target_dir=tmp_path, check=False)
    assert refused.returncode == 1
    assert "staging.stg_songs its columns change, so it must be dropped and created again, but " \
        "these views depend on it: analyst.song_ids" in refused.stdout  # fmt: skip
    assert {"analyst.song_ids", "staging.stg_songs"} <= views(run)

    # a new definition with the very same columns is replaced in place: the analyst's view stays
    run("drop view analyst.song_ids")
    dbt("run", *select, target_dir=tmp_path)
    run("create view analyst.songs as select * from staging.stg_songs; "
        "update staging.build_views set definition_md5 = 'an older release'")  # fmt: skip
    dbt("run", *select, target_dir=tmp_path)
    assert "analyst.songs" in views(run)


def test_a_mart_published_with_fewer_columns_gains_them_and_keeps_the_views_on_it(
    warehouse, small_generated: Path, tmp_path: Path
) -> None:
    target, run = warehouse
    build = ("build", "--target", target, "--exclude-resource-type", "unit_test")
    assert stage("--target", target, "--source", str(small_generated)) == 0
    dbt(*build, target_dir=tmp_path)
    [(last,)] = run(
        "select column_name from information_schema.columns where table_schema = 'analytics' "
        "and table_name = 'songs' order by ordinal_position desc limit 1"
    )
    # published by an older release, without its last column; an analyst's view on it
    run(f'alter table analytics.songs drop column "{last}"; create schema analyst; '
        "create view analyst.titles as select song_id, title from analytics.songs")  # fmt: skip
    extended = dbt(*build, target_dir=tmp_path)
    assert "songs (1 columns added)" in extended.stdout
    assert run("select count(*) from analyst.titles") == run("select count(*) from analytics.songs")
    assert mart_rows(run, exclude=())["songs"] == mart_rows(
        run, exclude=(), schema="analytics_audit")["songs"]  # fmt: skip

    # a column renamed is no addition: the table would be replaced; refused, naming the view
    run('alter table analytics.songs rename column title to "old_title"')
    before = mart_rows(run, exclude=())
    refused = dbt(*build, target_dir=tmp_path, check=False)
    assert refused.returncode != 0
    assert "these views depend on it: analyst.titles" in refused.stdout
    assert mart_rows(run, exclude=()) == before  # analytics as it was
