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
        "assert_songplays_reconcile_with_staged_events",
    ):
        assert kind in result.stdout


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
            songs = catalogue.get((e["song"], e["artist"], e["length"]))
            key = hashlib.md5(
                f"{e['ts']}|{int(e['userId'])}|{e['sessionId']}|{e['itemInSession']}".encode()
            ).hexdigest()
            expected[key] = min(songs) if songs else None
    built = dict(_query(path, "select songplay_id, song_id from analytics.songplays"))
    assert built == expected
    assert sum(v is not None for v in built.values()) == 319


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
    from loader.generate import Options, generate

    out = tmp_path_factory.mktemp("month")
    generate(Options(output=out, songs=300, users=40, days=30, events=6000, seed=5))
    return out


def _duck_marts(path: Path, exclude=("staged_at",)) -> dict[str, list[tuple]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return mart_rows(lambda q: con.execute(q).fetchall(), exclude)


def _age(path: Path, days: int) -> None:
    """Make everything staged and built so far look ``days`` older, as if a daily job had
    staged it then: later incremental builds then see only the lookback window as new."""
    with duckdb.connect(str(path)) as con:
        for table in ("staging.staging_events", "staging.staging_songs"):
            con.execute(f"update {table} set _loaded_at = _loaded_at - to_days({days})")
        for table in ("songplays", "users", "user_levels"):
            con.execute(f"update analytics.{table} set staged_at = staged_at - to_days({days})")


def test_day_halves_then_rerun_equal_one_full_build(
    month: Path, tmp_path: Path, profiles_dir: Path, monkeypatch
) -> None:
    source = tmp_path / "source"
    copy_days(month, source, days=list(range(1, 16)))
    assert stage("--source", str(source)) == 0
    dbt("build", target_dir=tmp_path)
    _age(Path(os.environ["SPARKIFY_DUCKDB_PATH"]), days=10)  # the incremental models narrow
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
    assert "assert_songplays_reconcile_with_staged_events" in result.stdout
    path = Path(os.environ["SPARKIFY_DUCKDB_PATH"])
    plays = {
        (e["ts"], e["sessionId"], e["itemInSession"])
        for p in (source / "log_data").rglob("*.json")
        for e in map(json.loads, p.read_text().splitlines())
        if e["page"] == "NextSong"
    }
    assert _query(path, "select count(*) from analytics.songplays")[0][0] == len(plays)
