"""dbt on DuckDB: the real data builds green and every mart follows its documented semantics."""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import itertools
import json
import os
import shutil
from pathlib import Path

import duckdb
import pytest

from tests.python.dbt.helpers import dbt, mart_rows
from tests.python.loader.helpers import copy_days, stage

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def real_warehouse(real_full: Path, tmp_path_factory: pytest.TempPathFactory):
    """../shared/data/s3-full staged by the loader and built by `dbt build`."""
    tmp = tmp_path_factory.mktemp("real-dbt")
    monkeypatch = pytest.MonkeyPatch()
    shutil.copy(Path(__file__).resolve().parents[3] / "profiles.yml.example", tmp / "profiles.yml")
    monkeypatch.setenv("DBT_PROFILES_DIR", str(tmp))
    monkeypatch.setenv("SPARKIFY_DUCKDB_PATH", str(tmp / "real.duckdb"))
    assert stage("--source", str(real_full)) == 0
    result = dbt("build", target_dir=tmp)
    yield tmp / "real.duckdb", result
    monkeypatch.undo()


def _events(root: Path) -> list[dict]:
    return [
        json.loads(line)
        for p in sorted((root / "log_data").rglob("*.json"))
        for line in p.read_text().splitlines()
    ]


def _query(path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_build_is_green_with_every_kind_of_test(real_warehouse) -> None:
    _, result = real_warehouse
    assert "Completed successfully" in result.stdout
    for kind in (
        "unit_test",
        "unique_",
        "relationships_",
        "accepted_values_",
        "assert_int_events_reconcile_with_staged_events",
        "assert_songplays_reconcile_with_int_events",
    ):
        assert kind in result.stdout


def repaired(text: object) -> object:
    """The events' double-encoded UTF-8 decoded twice, or the text as it is when that fails."""
    if not isinstance(text, str):
        return text
    try:
        once = text.encode("latin-1").decode("utf-8")
        twice = once.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return text
    return twice if twice != text and not twice.isascii() else text


def test_songplays_one_row_per_distinct_play_with_deterministic_ids(
    real_warehouse, real_full: Path
) -> None:
    path, _ = real_warehouse
    plays = {
        (e["ts"], e["userId"], e["sessionId"], e["itemInSession"])
        for e in _events(real_full)
        if e["page"] == "NextSong"
    }
    expected_ids = {
        hashlib.md5(f"{ts}|{int(u)}|{s}|{i}".encode()).hexdigest() for ts, u, s, i in plays
    }
    ids = {r[0] for r in _query(path, "select songplay_id from analytics.songplays")}
    assert ids == expected_ids and len(ids) == 6820


def test_song_match_follows_the_course_rule(real_warehouse, real_full: Path) -> None:
    path, _ = real_warehouse
    catalogue = collections.defaultdict(list)
    for p in (real_full / "song_data").rglob("*.json"):
        s = json.loads(p.read_bytes())
        catalogue[
            (
                json.dumps(s["title"]) if not isinstance(s["title"], str) else s["title"],
                s["artist_name"]
                if isinstance(s["artist_name"], str)
                else json.dumps(s["artist_name"]),
                s["duration"],
            )
        ].append(s["song_id"])
    expected = {}
    for e in _events(real_full):
        if e["page"] == "NextSong":
            songs = catalogue.get((repaired(e["song"]), repaired(e["artist"]), e["length"]))
            key = hashlib.md5(
                f"{e['ts']}|{int(e['userId'])}|{e['sessionId']}|{e['itemInSession']}".encode()
            ).hexdigest()
            expected[key] = min(songs) if songs else None
    built = dict(_query(path, "select songplay_id, song_id from analytics.songplays"))
    assert built == expected
    assert sum(v is not None for v in built.values()) == 327  # 319 without the repair


def test_the_repair_adds_exactly_the_eight_double_encoded_plays(real_warehouse) -> None:
    path, _ = real_warehouse
    matched = _query(
        path,
        "select song_title, artist_name from analytics.songplays where song_id is not null",
    )
    beyond_ascii = sorted(row for row in matched if not (row[0] + row[1]).isascii())
    assert beyond_ascii == sorted(
        [
            ("Relicário", "Nando Reis"),
            ("Musti Sotakoira (2007 Digital Remaster)", "Kollaa Kestää"),
            ("Samba De Una Nota So´", "Joa~o Gilberto"),
            ("Everybody´s Free", "Global Deejays Feat. Rozalla"),
            ("Be With You", "Beyoncé"),
            ("I'll Never Get Over You Getting Over Me", "Exposé"),
            ("En Glad Calypso Om Våren (Live '62)", "Olle Adolphson"),
            ("Cliché Guevara", "Against Me!"),
        ]
    )
    garbled = _query(path, "select count(*) from analytics.songplays where artist_name like '%Ã%'")
    assert garbled == [(0,)]  # analysts see the repaired text


def test_title_and_artist_alone_would_match_other_recordings(real_warehouse) -> None:
    """The duration stays in the rule: 14 more plays share a title and artist with a song,
    and at least 4 of them are another recording of it."""
    path, _ = real_warehouse
    rows = _query(
        path,
        "select p.song_title, p.song_duration, min(s.duration), max(s.duration) "
        "from analytics.songplays as p inner join analytics.songs as s "
        "on p.song_title = s.title and p.artist_name = s.artist_name "
        "where p.song_id is null group by p.songplay_id, p.song_title, p.song_duration",
    )
    assert len(rows) == 14
    assert (
        sum(abs(played - low) > 1 and abs(played - high) > 1 for _, played, low, high in rows) >= 4
    )
    assert any(title == "Heads Will Roll" for title, *_ in rows)


def test_users_have_the_level_of_their_latest_event(real_warehouse, real_full: Path) -> None:
    path, _ = real_warehouse
    latest: dict[int, tuple] = {}
    for e in _events(real_full):
        if e["userId"]:
            key = (e["ts"], e["sessionId"], e["itemInSession"], e["level"])
            uid = int(e["userId"])
            if uid not in latest or key > latest[uid][0]:
                latest[uid] = (key, e["level"])
    built = dict(_query(path, "select user_id, level from analytics.users"))
    assert built == {uid: level for uid, (_, level) in latest.items()}


def test_user_levels_history_is_scd2(real_warehouse) -> None:
    path, _ = real_warehouse
    rows = _query(
        path,
        "select user_id, level, valid_from, valid_to, is_current "
        "from analytics.user_levels order by user_id, valid_from",
    )
    by_user = collections.defaultdict(list)
    for row in rows:
        by_user[row[0]].append(row)
    changers = [u for u, versions in by_user.items() if len(versions) > 1]
    assert len(changers) >= 8
    for versions in by_user.values():
        assert [v[4] for v in versions] == [False] * (len(versions) - 1) + [True]
        for before, after in itertools.pairwise(versions):
            assert before[3] == after[2] and before[1] != after[1]


def test_time_uses_iso_weekday_and_covers_every_play(real_warehouse) -> None:
    path, _ = real_warehouse
    rows = _query(
        path, "select start_time, hour, day, week, month, year, weekday from analytics.time"
    )
    assert (
        len(rows)
        == _query(path, "select count(distinct start_time) from analytics.songplays")[0][0]
    )
    for start, hour, day, week, month, year, weekday in rows:
        assert (hour, day, month, year) == (start.hour, start.day, start.month, start.year)
        assert (week, weekday) == (start.isocalendar()[1], start.isoweekday())


def test_dimensions_have_one_row_per_key(real_warehouse) -> None:
    path, _ = real_warehouse
    assert _query(path, "select count(*), count(distinct song_id) from analytics.songs")[0] == (
        14896,
        14896,
    )
    assert _query(path, "select count(*) from analytics.artists")[0][0] == 9553
    title = _query(
        path, "select title, year from analytics.songs where song_id = 'SOYXDHH12A8C1337A7'"
    )
    assert title == [("66", 1998)]
    assert _query(path, "select count(*) from analytics.songs where year = 0")[0][0] == 0


@pytest.mark.parametrize(
    ("table", "column"),
    [
        ("staging.int_events", "event_ts_ms"),
        ("analytics_audit.songplays", "start_time"),
        ("analytics_audit.time", "start_time"),
    ],
)
def test_a_full_build_stores_rows_in_their_prune_columns_order(
    real_warehouse, table: str, column: str
) -> None:
    # the range bounds of later builds skip blocks only if each block holds a narrow range
    path, _ = real_warehouse
    with duckdb.connect(str(path), read_only=True) as con:
        con.execute("set threads = 1")  # one scan, in storage order
        stored = [r[0] for r in con.execute(f"select {column} from {table}").fetchall()]
    assert len(stored) > 6000 and stored == sorted(stored)


def test_start_times_are_utc_from_epoch_ms(real_warehouse, real_full: Path) -> None:
    path, _ = real_warehouse
    first = next(e for e in _events(real_full) if e["page"] == "NextSong")
    expected = dt.datetime.fromtimestamp(first["ts"] / 1000, dt.UTC).replace(tzinfo=None)
    key = f"{first['ts']}|{int(first['userId'])}|{first['sessionId']}|{first['itemInSession']}"
    songplay_id = hashlib.md5(key.encode()).hexdigest()
    rows = _query(
        path, f"select start_time from analytics.songplays where songplay_id = '{songplay_id}'"
    )
    assert rows == [(expected,)]


# --- incremental ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from generator.synthetic import Options, generate

    out = tmp_path_factory.mktemp("month")
    generate(Options(output=out, songs=300, users=40, days=30, events=6000, seed=5))
    return out


def _duck_marts(path: Path, exclude=("staged_at",)) -> dict[str, list[tuple]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return mart_rows(lambda q: con.execute(q).fetchall(), exclude)


def test_day_halves_then_rerun_equal_one_full_build(
    month: Path, tmp_path: Path, profiles_dir: Path, monkeypatch
) -> None:
    source = tmp_path / "source"
    copy_days(month, source, days=list(range(1, 16)))
    assert stage("--source", str(source)) == 0
    dbt("build", target_dir=tmp_path)
    copy_days(month, source, days=list(range(16, 31)))
    assert stage("--source", str(source)) == 0
    dbt("build", target_dir=tmp_path)
    incremental = Path(os.environ["SPARKIFY_DUCKDB_PATH"])
    halves = _duck_marts(incremental)
    before_rerun = _duck_marts(incremental, exclude=())
    dbt("run", target_dir=tmp_path)  # nothing new: changes nothing, load times included
    assert _duck_marts(incremental, exclude=()) == before_rerun

    monkeypatch.setenv("SPARKIFY_DUCKDB_PATH", str(tmp_path / "full.duckdb"))
    assert stage("--source", str(month)) == 0
    dbt("build", target_dir=tmp_path)
    full = _duck_marts(tmp_path / "full.duckdb")
    assert halves == full
    assert len(full["songplays"]) > 4000


def test_duplicated_file_is_one_play_and_late_file_is_caught(
    month: Path, tmp_path: Path, profiles_dir: Path
) -> None:
    source = tmp_path / "source"
    copy_days(month, source, days=[1, 2, 4])
    assert stage("--source", str(source)) == 0
    dbt("build", target_dir=tmp_path)
    copy_days(month, source, days=[3])  # an older day arrives late
    day = sorted((source / "log_data").rglob("*.json"))[0]
    shutil.copy(day, day.with_name("copy-of-" + day.name))  # the same file under a second key
    assert stage("--source", str(source)) == 0
    result = dbt("build", target_dir=tmp_path)
    assert "assert_songplays_reconcile_with_int_events" in result.stdout
    path = Path(os.environ["SPARKIFY_DUCKDB_PATH"])
    plays = {
        (e["ts"], e["sessionId"], e["itemInSession"])
        for p in (source / "log_data").rglob("*.json")
        for e in map(json.loads, p.read_text().splitlines())
        if e["page"] == "NextSong"
    }
    assert _query(path, "select count(*) from analytics.songplays")[0][0] == len(plays)


# --- data tests that cost what changed ------------------------------------------------------


def test_data_tests_check_what_changed_and_make_check_checks_everything(
    month: Path, tmp_path: Path, profiles_dir: Path
) -> None:
    source = tmp_path / "source"
    copy_days(month, source, days=[1, 2])
    assert stage("--source", str(source)) == 0
    dbt("build", "--exclude-resource-type", "unit_test", target_dir=tmp_path)
    copy_days(month, source, days=[3])
    assert stage("--source", str(source)) == 0
    dbt("build", "--exclude-resource-type", "unit_test", target_dir=tmp_path)
    path = Path(os.environ["SPARKIFY_DUCKDB_PATH"])
    with duckdb.connect(str(path)) as con:
        changed = con.execute(
            "select count(*) from staging.build_changes where model_name = 'int_events'"
        ).fetchone()[0]
        old_id, old_ts = con.execute(  # an event built by the first build, not by the second
            "select event_id, event_ts_ms from staging.int_events where event_id not in "
            "(select key_value from staging.build_changes) limit 1"
        ).fetchone()
        # a broken build that wrote a second row for an old event: nothing recorded it
        con.execute(
            "insert into staging.int_events select * from staging.int_events where event_id = ?",
            [old_id],
        )
    day3 = sorted((source / "log_data").rglob("*.json"))[2]
    assert changed == len(day3.read_text().splitlines())  # the scope: the day the build added
    tests = ("test", "--select", "int_events", "--exclude-resource-type", "unit_test")
    assert dbt(*tests, target_dir=tmp_path, check=False).returncode == 0  # outside the scope
    full = dbt(*tests, "--vars", "{full_checks: true}", target_dir=tmp_path, check=False)
    assert full.returncode == 1 and "unique_int_events_event_id" in full.stdout
    with duckdb.connect(str(path)) as con:  # as if the latest build had written it
        con.execute(
            "insert into staging.build_changes values ('int_events', ?, ?, false, 'broken', null)",
            [old_id, str(old_ts)],
        )
    scoped = dbt(*tests, target_dir=tmp_path, check=False)
    assert scoped.returncode == 1 and "unique_int_events_event_id" in scoped.stdout


def test_late_songs_are_checked_and_published_from_a_copy_of_the_plays_they_changed(
    month: Path, tmp_path: Path, profiles_dir: Path
) -> None:
    source = tmp_path / "source"
    copy_days(month, source, days=[1, 2, 3, 4], songs=False)
    songs = sorted((month / "song_data").rglob("*.json"))
    late = set(songs[::10])

    def put(song: Path) -> None:
        (source / song.relative_to(month)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(song, source / song.relative_to(month))

    for song in songs:
        if song not in late:
            put(song)
    build = ("build", "--exclude-resource-type", "unit_test")
    assert stage("--source", str(source)) == 0
    dbt(*build, target_dir=tmp_path)
    copy_days(month, source, days=[5], songs=False)  # a new day: its plays fill their range
    assert stage("--source", str(source)) == 0
    dbt(*build, target_dir=tmp_path)
    path = Path(os.environ["SPARKIFY_DUCKDB_PATH"])
    copy_of_plays = (
        "select table_name from duckdb_tables() where table_name = 'songplays__unaudited'"
    )
    assert _query(path, copy_of_plays) == []

    for song in late:  # songs whose plays, on every day, were built unmatched
        put(song)
    assert stage("--source", str(source)) == 0
    dbt(*build, target_dir=tmp_path)
    assert _query(path, copy_of_plays) == [("songplays__unaudited",)]
    with duckdb.connect(str(path)) as con:
        results = json.loads((tmp_path / "target" / "run_results.json").read_text())
        latest = "'" + results["metadata"]["invocation_id"] + "'"
        changed = (
            "select * from analytics_audit.songplays where songplay_id in (select key_value from "
            f"staging.build_changes where model_name = 'songplays' and invocation_id = {latest})"
        )
        copy = con.execute("select * from analytics_audit.songplays__unaudited").fetchall()
        assert sorted(copy) == sorted(con.execute(changed).fetchall())
        total = con.execute("select count(*) from analytics_audit.songplays").fetchone()[0]
        assert 0 < len(copy) < total / 2  # rematched plays, spread over the days
        assert sorted(
            con.execute(
                "select * from analytics.songplays where songplay_id in "
                "(select songplay_id from analytics_audit.songplays__unaudited)"
            ).fetchall()
        ) == sorted(copy)  # published from the copy
        # as if this build's tests had failed: its changes are unaudited again, and the artist
        # of a rematched play is gone
        con.execute(
            f"update staging.build_changes set audited_by = null where invocation_id = {latest}"
        )
        con.execute(
            "delete from analytics_audit.artists where artist_id = (select min(artist_id) from "
            "analytics_audit.songplays__unaudited)"
        )
    tests = ("test", "--select", "songplays", "--exclude-resource-type", "unit_test")
    result = dbt(*tests, target_dir=tmp_path, check=False)
    assert result.returncode == 1
    assert "relationships_songplays_artist_id__artist_id__ref_artists_" in result.stdout
    compiled = next((tmp_path / "target" / "run").rglob("relationships_songplays_artist_id*.sql"))
    assert "songplays__unaudited" in compiled.read_text()


def test_a_build_before_any_load_says_run_the_loader_first(
    profiles_dir: Path, tmp_path: Path
) -> None:
    result = dbt("build", target_dir=tmp_path, check=False)
    assert result.returncode != 0
    assert (
        "staging.load_ledger, staging.staging_events, staging.staging_songs not found in dev "
        "(duckdb): run the loader first"
    ) in result.stdout, result.stdout[-3000:]
    assert "SKIP=" not in result.stdout  # stopped before any node, not 60 skips
    # a build of the seed alone needs nothing staged
    assert (
        "run the loader first"
        not in dbt(
            "build", "--select", "pages", "--exclude-resource-type", "test", target_dir=tmp_path
        ).stdout
    )


def test_dbt_writes_no_escape_codes_when_its_output_is_not_a_terminal(
    profiles_dir: Path, tmp_path: Path
) -> None:
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "DBT_USE_COLORS"}
    env.update(DBT_TARGET_PATH=str(tmp_path / "target"), DBT_LOG_PATH=str(tmp_path / "logs"))
    result = subprocess.run(
        [str(Path(sys.executable).with_name("dbt")), "build", "--select", "pages"],
        cwd=Path(__file__).resolve().parents[3],
        env=env,
        capture_output=True,
        text=True,
    )
    assert "Running with dbt" in result.stdout
    assert "\x1b[" not in result.stdout + result.stderr  # a cron or CI log stays plain text


# --- views change only with the code --------------------------------------------------------

VIEWS = ("stg_events", "stg_removed_events", "stg_songs", "stg_removed_songs")


def _view_outcomes(stdout: str) -> dict[str, str]:
    """Each staging view's outcome in dbt's log: 'UNCHANGED', or 'OK' when it was built."""
    outcomes = {}
    for line in stdout.splitlines():
        for view in VIEWS:
            if f"sql view model staging.{view} " in line and "[" in line and " in " in line:
                outcomes[view] = line.rsplit("[", 1)[1].split(" in ")[0]
    return outcomes


def _project_copy(tmp_path: Path) -> Path:
    """The dbt project's files in a directory of their own, to change as a new release would."""
    root = Path(__file__).resolve().parents[3]
    project = tmp_path / "project"
    for name in ("models", "macros", "seeds", "analyses", "tests/dbt"):
        shutil.copytree(root / name, project / name)
    shutil.copy(root / "dbt_project.yml", project / "dbt_project.yml")
    return project


def test_a_view_is_built_again_only_when_its_definition_changes(
    small_generated: Path, tmp_path: Path, profiles_dir: Path
) -> None:
    assert stage("--source", str(small_generated)) == 0
    project = _project_copy(tmp_path)
    views = ("run", "--project-dir", str(project), "--select", "config.materialized:view")
    assert set(_view_outcomes(dbt(*views, target_dir=tmp_path).stdout).values()) == {"OK"}
    again = _view_outcomes(dbt(*views, target_dir=tmp_path).stdout)
    assert again == dict.fromkeys(VIEWS, "UNCHANGED")

    path = Path(os.environ["SPARKIFY_DUCKDB_PATH"])
    with duckdb.connect(str(path)) as con:  # gone from the warehouse: built again
        con.execute("drop view staging.stg_songs")
    rebuilt = _view_outcomes(dbt(*views, target_dir=tmp_path).stdout)
    assert rebuilt == {**dict.fromkeys(VIEWS, "UNCHANGED"), "stg_songs": "OK"}

    # a release that changes a view's description and another's SQL builds exactly those two
    staging_yml = project / "models" / "staging" / "_staging.yml"
    text = staging_yml.read_text()
    marker = "- name: stg_removed_events\n    description: >\n"
    assert marker in text
    staging_yml.write_text(text.replace(marker, marker + "      Changed in this release.\n", 1))
    model = project / "models" / "staging" / "stg_songs.sql"
    model.write_text(
        model.read_text().replace(
            "select * from renamed", "select * from renamed\nwhere true  -- changed in this release"
        )
    )
    changed = _view_outcomes(dbt(*views, target_dir=tmp_path).stdout)
    assert changed == {
        **dict.fromkeys(VIEWS, "UNCHANGED"),
        "stg_removed_events": "OK",
        "stg_songs": "OK",
    }
    with duckdb.connect(str(path), read_only=True) as con:
        comment = con.execute(
            "select comment from duckdb_views() where view_name = 'stg_removed_events'"
        ).fetchone()[0]
        definition = con.execute(
            "select sql from duckdb_views() where view_name = 'stg_songs'"
        ).fetchone()[0]
    assert comment.startswith("Changed in this release.")
    assert "true" in definition.lower()
    full = _view_outcomes(dbt(*views, "--full-refresh", target_dir=tmp_path).stdout)
    assert set(full.values()) == {"OK"}
