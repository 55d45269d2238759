"""The loader into a real PostgreSQL server (started by the tests on 127.0.0.1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.python.loader.helpers import copy_days, duck, source_counts, stage, write_events

pytestmark = pytest.mark.postgres


def pg_counts(server, dbname: str) -> dict[str, int]:
    con = server.connect(dbname)
    with con.cursor() as cur:
        counts = {}
        for table in ("staging_events", "staging_songs", "load_ledger", "load_rejects"):
            cur.execute("select to_regclass(%s) is not null", (f"staging.{table}",))
            if not cur.fetchone()[0]:
                counts[table] = 0
                continue
            cur.execute(f"select count(*) from staging.{table}")
            counts[table] = cur.fetchone()[0]
    con.close()
    return counts


def test_stages_exactly_once_and_incrementally(
    small_generated: Path,
    tmp_path: Path,
    profiles_dir: Path,
    postgres_server,
    postgres_db: str,
    capsys,
) -> None:
    source = tmp_path / "source"
    copy_days(small_generated, source, days=[1, 2, 3])
    assert stage("--target", "postgres", "--source", str(source)) == 0
    expected = source_counts(source)
    counts = pg_counts(postgres_server, postgres_db)
    assert counts["staging_events"] == expected["staging_events"]
    assert counts["staging_songs"] == expected["staging_songs"]
    assert stage("--target", "postgres", "--source", str(source)) == 0
    assert pg_counts(postgres_server, postgres_db) == counts
    copy_days(small_generated, source, days=[4, 5])
    assert stage("--target", "postgres", "--source", str(source)) == 0
    assert (
        pg_counts(postgres_server, postgres_db)["staging_events"]
        == source_counts(source)["staging_events"]
    )


def test_values_equal_duckdbs(
    small_generated: Path, profiles_dir: Path, postgres_server, postgres_db: str
) -> None:
    assert stage("--target", "postgres", "--source", str(small_generated)) == 0
    assert stage("--target", "dev", "--source", str(small_generated)) == 0
    columns = (
        "artist, auth, first_name, gender, item_in_session, last_name, length, level, "
        "location, method, page, registration, session_id, song, status, ts, user_agent, "
        "user_id, _source_key, _source_line"
    )
    query = f"select {columns} from staging.staging_events order by _source_key, _source_line"
    con = postgres_server.connect(postgres_db)
    with con.cursor() as cur:
        cur.execute(query)
        from_pg = cur.fetchall()
        cur.execute(
            "select song_id, title, artist_name, artist_latitude, year "
            "from staging.staging_songs order by song_id"
        )
        songs_pg = cur.fetchall()
    con.close()
    with duck() as dcon:
        assert dcon.execute(query).fetchall() == from_pg
        assert (
            dcon.execute(
                "select song_id, title, artist_name, artist_latitude, year "
                "from staging.staging_songs order by song_id"
            ).fetchall()
            == songs_pg
        )


def test_bad_batch_is_refused_whole_then_rejects_are_kept(
    small_generated: Path, tmp_path: Path, profiles_dir: Path, postgres_server, postgres_db: str
) -> None:
    source = tmp_path / "source"
    copy_days(small_generated, source, days=[1])
    bad = source / "log_data" / "2018" / "11" / "2018-11-29-events.json"
    write_events(
        bad,
        [{"ts": 1, "userId": "1", "page": "Home", "level": "free"}, b"{\xff}".decode("latin-1")],
    )
    bad.write_bytes(bad.read_bytes().replace("ÿ".encode(), b"\xff"))
    assert stage("--target", "postgres", "--source", str(source), "--tables", "events") == 1
    assert pg_counts(postgres_server, postgres_db)["staging_events"] == 0
    assert (
        stage(
            "--target",
            "postgres",
            "--source",
            str(source),
            "--tables",
            "events",
            "--max-errors",
            "1",
        )
        == 0
    )
    counts = pg_counts(postgres_server, postgres_db)
    assert counts["load_rejects"] == 1
    assert counts["staging_events"] == source_counts(source)["staging_events"] - 1


def test_full_refresh_in_one_transaction(
    small_generated: Path, profiles_dir: Path, postgres_server, postgres_db: str
) -> None:
    assert stage("--target", "postgres", "--source", str(small_generated)) == 0
    before = pg_counts(postgres_server, postgres_db)
    assert stage("--target", "postgres", "--source", str(small_generated), "--full-refresh") == 0
    assert pg_counts(postgres_server, postgres_db) == before


def test_unreachable_server_is_a_configuration_error(
    small_generated: Path, profiles_dir: Path, monkeypatch, capsys
) -> None:
    from support.servers import free_port

    monkeypatch.setenv("SPARKIFY_PG_PORT", str(free_port()))
    assert stage("--target", "postgres", "--source", str(small_generated)) == 2
    err = capsys.readouterr().err
    assert "cannot connect to PostgreSQL" in err and "Traceback" not in err


def test_a_second_loader_waits_for_the_first(
    small_generated: Path, tmp_path: Path, profiles_dir: Path, postgres_server, postgres_db: str
) -> None:
    import os
    import subprocess
    import sys

    from loader.destinations.postgres import LOCK_NAME
    from tests.python.conftest import PROJECT_DIR

    holder = postgres_server.connect(postgres_db)  # plays the first loader, mid-run
    holder.autocommit = True
    with holder.cursor() as cur:
        cur.execute("select pg_advisory_lock(hashtext(%s))", (LOCK_NAME,))
    command = ["loader/copy_staging.py", "--no-progress", "--target", "postgres", "--source"]
    second = subprocess.Popen(
        [sys.executable, *command, str(small_generated)],
        cwd=PROJECT_DIR,
        env=dict(os.environ),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert second.stderr is not None
        for line in second.stderr:  # synchronised on its log line, not on time
            if "waiting for it to finish" in line:
                break
        else:
            raise AssertionError("the second loader did not wait")
        assert second.poll() is None
        assert pg_counts(postgres_server, postgres_db)["load_ledger"] == 0
    finally:
        with holder.cursor() as cur:
            cur.execute("select pg_advisory_unlock(hashtext(%s))", (LOCK_NAME,))
        holder.close()
    assert second.wait(timeout=120) == 0
    expected = source_counts(small_generated)
    assert pg_counts(postgres_server, postgres_db)["staging_events"] == expected["staging_events"]
