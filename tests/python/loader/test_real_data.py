"""The whole real data set (../shared/data/s3-full) staged from its directory, exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.python.loader.helpers import duck, duck_counts, stage

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def staged_real(real_full: Path, tmp_path_factory: pytest.TempPathFactory):
    monkeypatch = pytest.MonkeyPatch()
    tmp = tmp_path_factory.mktemp("real")
    (tmp / "profiles.yml").write_text(
        (Path(__file__).resolve().parents[3] / "profiles.yml.example").read_text()
    )
    monkeypatch.setenv("DBT_PROFILES_DIR", str(tmp))
    monkeypatch.setenv("SPARKIFY_DUCKDB_PATH", str(tmp / "real.duckdb"))
    assert stage("--source", str(real_full)) == 0
    yield real_full
    monkeypatch.undo()


def _real_songs(root: Path) -> list[dict]:
    return [json.loads(p.read_bytes()) for p in (root / "song_data").rglob("*.json")]


def test_exact_row_counts(staged_real: Path) -> None:
    counts = duck_counts()
    assert counts["staging_songs"] == 14_896
    assert counts["staging_events"] == 8_056
    assert counts["load_ledger"] == 14_896 + 30
    assert counts["load_rejects"] == 0


def test_numeric_titles_and_names_stay_text_exactly_as_written(staged_real: Path) -> None:
    with duck() as con:
        titles = dict(con.execute("select song_id, title from staging.staging_songs").fetchall())
        names = dict(
            con.execute("select song_id, artist_name from staging.staging_songs").fetchall()
        )
    numeric = 0
    for record in _real_songs(staged_real):
        for field, staged in (("title", titles), ("artist_name", names)):
            value = record[field]
            if isinstance(value, int | float):
                numeric += 1
                assert staged[record["song_id"]] == json.dumps(value)
    assert numeric == 40
    assert titles["SOYXDHH12A8C1337A7"] == "66"


def test_no_column_silently_becomes_null(staged_real: Path) -> None:
    songs = _real_songs(staged_real)
    with duck() as con:
        row = con.execute(
            "select count(artist_latitude), count(artist_longitude), "
            "count(artist_location), count(year) from staging.staging_songs"
        ).fetchone()
        events = con.execute(
            "select count(*) filter (where user_id = ''), count(registration), count(length), "
            "count(distinct user_agent), max(length(user_agent)) from staging.staging_events"
        ).fetchone()
    assert row[0] == sum(s["artist_latitude"] is not None for s in songs) == 5277
    assert row[1] == 5277 and row[2] == 14_895 and row[3] == 14_896
    assert events[:3] == (286, 7770, 6820)
    assert events[4] == 139


def test_event_values_match_the_files(staged_real: Path) -> None:
    first = (staged_real / "log_data/2018/11/2018-11-01-events.json").read_text().splitlines()[0]
    record = json.loads(first)
    with duck() as con:
        row = con.execute(
            "select first_name, ts, registration, user_agent, user_id, session_id "
            "from staging.staging_events where _source_key = ? and _source_line = 1",
            ["log_data/2018/11/2018-11-01-events.json"],
        ).fetchone()
    assert row == (
        record["firstName"],
        record["ts"],
        record["registration"],
        record["userAgent"],
        record["userId"],
        record["sessionId"],
    )
    with duck() as con:
        bjork = con.execute(
            "select count(*) from staging.staging_events "
            "where artist = 'Bj\u00c3\u0083\u00c2\u00b6rk'"
        ).fetchone()[0]
    assert bjork > 0  # double-encoded text is staged as written, not "repaired" here


def test_workspace_sample_with_its_other_serialisation_loads_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.python.conftest import WORKSPACE_SAMPLE

    if not WORKSPACE_SAMPLE.exists():
        pytest.skip("workspace sample not present")
    (tmp_path / "profiles.yml").write_text(
        (Path(__file__).resolve().parents[3] / "profiles.yml.example").read_text()
    )
    monkeypatch.setenv("DBT_PROFILES_DIR", str(tmp_path))
    monkeypatch.setenv("SPARKIFY_DUCKDB_PATH", str(tmp_path / "ws.duckdb"))
    assert stage("--source", str(WORKSPACE_SAMPLE)) == 0
    counts = duck_counts()
    assert counts["staging_songs"] == 71 and counts["staging_events"] == 8056
