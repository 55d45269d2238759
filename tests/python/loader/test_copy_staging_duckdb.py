"""The loader end to end into DuckDB: exactly once, incremental, atomic, with clear errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.python.conftest import PROJECT_DIR
from tests.python.loader.helpers import (
    copy_days,
    duck,
    duck_counts,
    source_counts,
    stage,
    write_events,
)


@pytest.fixture
def data(small_generated: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "source"
    copy_days(small_generated, copy)
    return copy


def test_stages_every_record_and_records_the_ledger(data: Path, profiles_dir: Path) -> None:
    assert stage("--source", str(data)) == 0
    counts, expected = duck_counts(), source_counts(data)
    assert counts["staging_events"] == expected["staging_events"]
    assert counts["staging_songs"] == expected["staging_songs"]
    assert counts["load_ledger"] == expected["staging_songs"] + 5
    with duck() as con:
        assert (
            con.execute(
                "select count(*) from staging.staging_events where _loaded_at is null "
                "or _batch_id is null or _source_key is null"
            ).fetchone()[0]
            == 0
        )


def test_rerun_loads_nothing_new(data: Path, profiles_dir: Path, capsys) -> None:
    assert stage("--source", str(data)) == 0
    before = duck_counts()
    capsys.readouterr()
    assert stage("--source", str(data)) == 0
    assert duck_counts() == before
    assert "nothing new to load" in capsys.readouterr().out


def test_new_day_loads_alone(small_generated: Path, tmp_path: Path, profiles_dir: Path) -> None:
    source = tmp_path / "source"
    copy_days(small_generated, source, days=[1, 2])
    assert stage("--source", str(source)) == 0
    copy_days(small_generated, source, days=[3])
    assert stage("--source", str(source)) == 0
    with duck() as con:
        batches = con.execute(
            "select count(distinct batch_id) from staging.load_ledger "
            "where table_name = 'staging_events'"
        ).fetchone()[0]
    assert batches == 2
    assert duck_counts()["staging_events"] == source_counts(source)["staging_events"]


def test_day_by_day_equals_all_at_once(
    small_generated: Path, tmp_path: Path, profiles_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    daily = tmp_path / "daily"
    for day in range(1, 6):
        copy_days(small_generated, daily, days=[day])
        assert stage("--source", str(daily)) == 0
    query = "select * exclude (_batch_id, _loaded_at) from staging.staging_events order by all"
    with duck() as con:
        day_by_day = con.execute(query).fetchall()
    monkeypatch.setenv("SPARKIFY_DUCKDB_PATH", str(tmp_path / "once.duckdb"))
    assert stage("--source", str(small_generated)) == 0
    with duck() as con:
        assert con.execute(query).fetchall() == day_by_day


def test_full_refresh_replaces_everything(data: Path, profiles_dir: Path) -> None:
    assert stage("--source", str(data)) == 0
    before = duck_counts()
    assert stage("--source", str(data), "--full-refresh") == 0
    assert duck_counts() == before


def test_a_second_source_is_refused_unless_replacing_or_added_on_purpose(
    data: Path, small_generated: Path, tmp_path: Path, profiles_dir: Path, capsys
) -> None:
    """The demo's data and the real data in one warehouse would blend in every answer."""
    other = tmp_path / "other"  # another source, none of whose keys the first one has
    copy_days(small_generated, other, days=[], songs=False)
    day = sorted((data / "log_data").rglob("*.json"))[0]
    write_events(
        other / "log_data" / "2019" / "01" / "2019-01-01-events.json",
        [json.loads(line) for line in day.read_text().splitlines()[:5]],
    )
    assert stage("--source", str(data)) == 0
    before = duck_counts()
    capsys.readouterr()
    assert stage("--source", str(other)) == 2
    err = capsys.readouterr().err
    assert (
        f"staging.staging_songs holds data staged from {data.resolve()}; staging {other.resolve()}"
        in err
    )
    assert "--full-refresh" in err and "--add-source" in err and "Traceback" not in err
    assert duck_counts() == before  # nothing staged, nothing lost
    assert stage("--source", str(data)) == 0  # the first source goes on as before
    assert stage("--source", str(other), "--add-source") == 0  # both, on purpose
    with duck() as con:
        assert con.execute(
            "select count(distinct source_uri) from staging.load_ledger"
        ).fetchone() == (2,)
    assert stage("--source", str(other), "--full-refresh") == 0  # the second replaces both
    assert duck_counts()["staging_events"] == source_counts(other)["staging_events"]
    assert stage("--source", str(other)) == 0


def test_bad_record_refuses_the_batch_and_names_file_line_reason(
    data: Path, profiles_dir: Path, capsys
) -> None:
    bad = data / "log_data" / "2018" / "11" / "2018-11-30-events.json"
    write_events(
        bad,
        [
            {"ts": 1541105830796, "userId": "1", "level": "free"},
            '{"ts": "soon", "userId": "2", "level": "free"}',
        ],
    )
    assert stage("--source", str(data), "--tables", "events") == 1
    err = capsys.readouterr().err
    assert "log_data/2018/11/2018-11-30-events.json:2: ts: expected an integer" in err
    assert "Traceback" not in err
    with duck() as con:
        assert con.execute("select count(*) from staging.staging_events").fetchone()[0] == 0


def test_max_errors_keeps_good_records_and_rejects_bad_ones(data: Path, profiles_dir: Path) -> None:
    bad = data / "log_data" / "2018" / "11" / "2018-11-30-events.json"
    write_events(
        bad, [{"ts": 1, "userId": "1", "level": "paid"}, '{"ts": "soon"}', "not json", {"ts": 2}]
    )
    assert stage("--source", str(data), "--tables", "events", "--max-errors", "2") == 0
    with duck() as con:
        rejects = con.execute(
            "select object_key, line_number, raw_record, reason "
            "from staging.load_rejects order by line_number"
        ).fetchall()
        staged = con.execute(
            "select count(*) from staging.staging_events where _source_key = ?",
            ["log_data/2018/11/2018-11-30-events.json"],
        ).fetchone()[0]
    assert staged == 2
    assert [(r[1], r[2]) for r in rejects] == [(2, '{"ts": "soon"}'), (3, "not json")]
    assert all(r[0] == "log_data/2018/11/2018-11-30-events.json" for r in rejects)


def test_changed_object_is_reported_not_loaded_twice(
    data: Path, profiles_dir: Path, capsys
) -> None:
    assert stage("--source", str(data)) == 0
    before = duck_counts()
    day = sorted((data / "log_data").rglob("*.json"))[0]
    day.write_bytes(day.read_bytes() + b'\n{"ts": 1, "userId": "9", "level": "free"}')
    capsys.readouterr()
    assert stage("--source", str(data)) == 1
    assert "changed since it was loaded" in capsys.readouterr().err
    assert duck_counts() == before
    assert stage("--source", str(data), "--replace-changed") == 0
    after = duck_counts()
    assert after["staging_events"] == before["staging_events"] + 1
    key = day.relative_to(data).as_posix()
    with duck() as con:
        changes = con.execute(
            "select change, rows_loaded, rows_removed from staging.load_ledger "
            "where object_key = ? order by loaded_at",
            [key],
        ).fetchall()
        removed = con.execute(
            "select count(*), count(distinct _removed_batch_id) "
            "from staging.staging_events_removed where _source_key = ?",
            [key],
        ).fetchone()
    old_rows = changes[0][1]
    assert changes == [("added", old_rows, 0), ("replaced", old_rows + 1, old_rows)]
    assert removed == (old_rows, 1)  # the old version's rows, kept for dbt to apply the change
    assert after["load_ledger"] == before["load_ledger"] + 1  # the ledger is a log of changes


def test_unknown_target_is_a_usage_error(data: Path, profiles_dir: Path, capsys) -> None:
    assert stage("--source", str(data), "--target", "nope") == 2
    err = capsys.readouterr().err
    assert "unknown target 'nope'" in err and "dev" in err and "Traceback" not in err


def test_missing_jsonpaths_is_a_configuration_error(data: Path, profiles_dir: Path, capsys) -> None:
    (data / "log_json_path.json").unlink()
    assert stage("--source", str(data)) == 2
    assert "JSONPaths" in capsys.readouterr().err
    # nothing was created: the configuration is checked before the warehouse is touched
    assert not Path(os.environ["SPARKIFY_DUCKDB_PATH"]).exists()


def test_missing_source_directory_is_a_configuration_error(profiles_dir: Path, capsys) -> None:
    assert stage("--source", "/no/such/dir") == 2
    assert "does not exist" in capsys.readouterr().err


def test_dry_run_changes_nothing(data: Path, profiles_dir: Path, capsys) -> None:
    assert stage("--source", str(data), "--dry-run") == 0
    out = capsys.readouterr().out
    assert "create table if not exists" in out and "would load" in out
    assert not Path(os.environ["SPARKIFY_DUCKDB_PATH"]).exists()


def test_runs_as_a_script_with_help() -> None:
    result = subprocess.run(
        [sys.executable, "loader/copy_staging.py", "--help"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    for flag in ("--target", "--source", "--full-refresh", "--dry-run", "--max-errors"):
        assert flag in result.stdout
    assert "exit codes" in result.stdout


def test_bad_flag_exits_2_with_one_line(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        stage("--max-errors", "many")
    assert info.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_json_paths_are_honoured_not_hard_coded(data: Path, profiles_dir: Path) -> None:
    paths = {"jsonpaths": ["$['userId']", "$['ts']", "$['page']"]}
    (data / "log_json_path.json").write_text(json.dumps(paths))
    assert stage("--source", str(data), "--tables", "events") == 0
    with duck() as con:
        columns = [r[0] for r in con.execute("describe staging.staging_events").fetchall()]
    assert columns[:3] == ["user_id", "ts", "page"]


def test_same_size_edit_is_detected_by_its_etag(data: Path, profiles_dir: Path, capsys) -> None:
    assert stage("--source", str(data), "--tables", "events") == 0
    day = sorted((data / "log_data").rglob("*.json"))[0]
    raw = day.read_bytes()
    day.write_bytes(
        raw.replace(b'"level":"free"', b'"level":"paid"', 1)
        if b'"level":"free"' in raw
        else raw.replace(b'"level":"paid"', b'"level":"free"', 1)
    )
    assert len(day.read_bytes()) == len(raw)
    capsys.readouterr()
    assert stage("--source", str(data), "--tables", "events") == 1
    assert "changed since it was loaded" in capsys.readouterr().err


def _ledger(key: str) -> list[tuple]:
    with duck() as con:
        return con.execute(
            "select change, rows_loaded, rows_removed from staging.load_ledger "
            "where object_key = ? order by loaded_at",
            [key],
        ).fetchall()


def test_missing_object_is_reported_and_withdrawn_only_when_asked(
    data: Path, profiles_dir: Path, capsys
) -> None:
    assert stage("--source", str(data), "--tables", "events") == 0
    before = duck_counts()
    day = sorted((data / "log_data").rglob("*.json"))[1]
    key = day.relative_to(data).as_posix()
    rows = _ledger(key)[0][1]
    moved = day.with_suffix(".bak")  # no longer a .json: no longer listed
    day.rename(moved)
    capsys.readouterr()
    assert stage("--source", str(data), "--tables", "events") == 0
    err = capsys.readouterr().err
    assert "1 object(s) loaded before are no longer in" in err and key in err
    assert "--withdraw-missing" in err
    assert duck_counts() == before  # reported, nothing removed
    assert stage("--source", str(data), "--tables", "events", "--withdraw-missing") == 0
    after = duck_counts()
    assert after["staging_events"] == before["staging_events"] - rows
    assert _ledger(key) == [("added", rows, 0), ("withdrawn", 0, rows)]
    with duck() as con:
        kept = con.execute(
            "select count(*) from staging.staging_events_removed where _source_key = ?", [key]
        ).fetchone()[0]
    assert kept == rows
    capsys.readouterr()
    assert stage("--source", str(data), "--tables", "events", "--withdraw-missing") == 0
    assert "no longer in" not in capsys.readouterr().err  # withdrawn once, not again
    moved.rename(day)  # the file comes back: it is new again
    assert stage("--source", str(data), "--tables", "events") == 0
    assert duck_counts()["staging_events"] == before["staging_events"]
    assert [change for change, _, _ in _ledger(key)] == ["added", "withdrawn", "added"]


def test_full_refresh_starts_a_new_history(data: Path, profiles_dir: Path) -> None:
    assert stage("--source", str(data), "--tables", "events") == 0
    day = sorted((data / "log_data").rglob("*.json"))[0]
    day.write_bytes(day.read_bytes() + b'\n{"ts": 1, "userId": "9", "level": "free"}')
    assert stage("--source", str(data), "--tables", "events", "--replace-changed") == 0
    assert stage("--source", str(data), "--tables", "events", "--full-refresh") == 0
    with duck() as con:
        changes = con.execute("select distinct change from staging.load_ledger").fetchall()
        removed = con.execute("select count(*) from staging.staging_events_removed").fetchone()
    assert changes == [("added",)] and removed == (0,)
    assert duck_counts()["staging_events"] == source_counts(data)["staging_events"]


def test_a_ledger_of_the_first_layout_is_migrated_in_place(data: Path, profiles_dir: Path) -> None:
    import duckdb

    assert stage("--source", str(data), "--tables", "events") == 0
    path = os.environ["SPARKIFY_DUCKDB_PATH"]
    with duckdb.connect(path) as con:  # rebuild the ledger as the first release wrote it
        con.execute(
            "create table staging.old as select table_name, object_key, etag, size_bytes, "
            "rows_loaded, rows_rejected, batch_id, source_uri, loaded_at from staging.load_ledger"
        )
        con.execute("drop table staging.load_ledger")
        con.execute("alter table staging.old rename to load_ledger")
        before = con.execute("select * from staging.load_ledger order by object_key").fetchall()
    assert stage("--source", str(data), "--tables", "events") == 0  # nothing new, migrated
    with duck() as con:
        after = con.execute(
            "select * exclude (change, rows_removed, last_modified), change, rows_removed, "
            "last_modified from staging.load_ledger order by object_key"
        ).fetchall()
    assert [row[:-1] for row in after] == [(*row, "added", 0) for row in before]
    assert all(row[-1] is not None for row in after)  # hashed once, their times recorded


def test_a_routine_rerun_reads_no_file_it_loaded_before(
    data: Path, profiles_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loaded files whose size and modification time are unchanged are not read again, so a
    daily run costs the new files, not the history; a touched file is hashed and skipped."""
    from loader.sources import LocalSource

    assert stage("--source", str(data)) == 0
    reads: list[str] = []
    original = LocalSource.read

    def counting_read(self, key: str) -> bytes:
        reads.append(key)
        return original(self, key)

    monkeypatch.setattr(LocalSource, "read", counting_read)
    assert stage("--source", str(data)) == 0
    assert [key for key in reads if key != "log_json_path.json"] == []
    day = sorted((data / "log_data").rglob("*.json"))[0]
    os.utime(day, ns=(day.stat().st_atime_ns, day.stat().st_mtime_ns + 10**9))
    before = duck_counts()
    assert stage("--source", str(data)) == 0  # touched, same bytes: read once, not reloaded
    assert [key for key in reads if key != "log_json_path.json"] == [
        day.relative_to(data).as_posix()
    ]
    assert duck_counts() == before
    reads.clear()
    assert stage("--source", str(data)) == 0  # the ledger learnt the new time
    assert [key for key in reads if key != "log_json_path.json"] == []


def test_each_table_may_come_from_a_source_of_its_own(
    data: Path, tmp_path: Path, profiles_dir: Path
) -> None:
    """The compacted catalogue in one place, the events where the app writes them."""
    catalogue = tmp_path / "catalogue"  # no log_data/, no JSONPaths file: songs only
    shutil.copytree(data / "song_data", catalogue / "song_data")
    assert stage("--source", str(catalogue), "--tables", "songs") == 0
    assert stage("--source", str(data), "--tables", "events") == 0
    before = duck_counts()
    assert stage("--source", str(catalogue), "--tables", "songs") == 0  # nothing new
    assert stage("--source", str(data), "--tables", "events") == 0
    assert duck_counts() == before
    expected = source_counts(data)
    assert before["staging_songs"] == expected["staging_songs"]
    assert before["staging_events"] == expected["staging_events"]
