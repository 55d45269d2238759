"""`--since` / `--until`: the loader stages the event files of a date range, from the dates in
their keys, exactly once as always; `--restage` stages a range again as new versions."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from loader.pipeline import RunOptions, key_date
from tests.python.loader.helpers import duck, duck_counts, stage


def _days(data: Path) -> list[Path]:
    return sorted((data / "log_data").rglob("*.json"))


def _lines(path: Path) -> int:
    return len(path.read_bytes().splitlines())


def _ledger_keys(change: str | None = None) -> set[str]:
    with duck() as con:
        sql = "select object_key from staging.load_ledger where table_name = 'staging_events'"
        if change:
            sql += f" and change = '{change}'"
        return {row[0] for row in con.execute(sql).fetchall()}


@pytest.fixture
def data(small_generated: Path, tmp_path: Path) -> Path:
    out = tmp_path / "data"
    shutil.copytree(small_generated, out)
    return out


def test_key_date_reads_the_day_in_the_file_name() -> None:
    assert str(key_date("log_data/2018/11/2018-11-05-events.json")) == "2018-11-05"
    assert str(key_date("log_data/2018-11-05-events.json.gz")) == "2018-11-05"
    assert key_date("log_data/2018/11/events.json") is None  # the folders are not the day
    assert key_date("log_data/2018-13-05-events.json") is None  # no such day
    assert key_date("log_data/12018-11-05-events.json") is None
    opts = RunOptions(since=key_date("a/2018-11-02.json"), until=key_date("a/2018-11-03.json"))
    assert [opts.in_range(key_date(f"x/2018-11-0{d}.json")) for d in (1, 2, 3, 4)] == [
        False,
        True,
        True,
        False,
    ]


def test_a_date_range_stages_exactly_those_days_and_reruns_nothing(
    data: Path, profiles_dir: Path, capsys
) -> None:
    days = _days(data)
    wanted = [
        p
        for p in days
        if key_date(p.name) and "11-02" <= key_date(p.name).isoformat()[5:] <= "11-03"
    ]
    assert len(wanted) == 2
    args = ("--source", str(data), "--tables", "events")
    assert stage(*args, "--since", "2018-11-02", "--until", "2018-11-03") == 0
    assert duck_counts()["staging_events"] == sum(_lines(p) for p in wanted)
    assert _ledger_keys() == {str(p.relative_to(data)) for p in wanted}
    with duck() as con:
        days_staged = con.execute(
            "select distinct cast(epoch_ms(cast(ts as bigint)) as date) from staging.staging_events"
        ).fetchall()
    assert {str(row[0]) for row in days_staged} <= {"2018-11-02", "2018-11-03"}

    # the same backfill again stages nothing, and says so
    capsys.readouterr()
    assert stage(*args, "--since", "2018-11-02", "--until", "2018-11-03") == 0
    out = capsys.readouterr()
    assert "nothing new to load" in out.out
    assert duck_counts()["staging_events"] == sum(_lines(p) for p in wanted)

    # an open-ended range from the first day stages the rest; the loaded days are not
    # reported missing by a range that does not hold them
    assert stage(*args, "--until", "2018-11-01", "--withdraw-missing") == 0
    assert "no longer in" not in capsys.readouterr().err
    assert stage(*args) == 0
    assert duck_counts()["staging_events"] == sum(_lines(p) for p in days)
    assert _ledger_keys("withdrawn") == set()


def test_files_with_no_date_are_named_when_a_range_leaves_them_out(
    data: Path, profiles_dir: Path, capsys
) -> None:
    undated = data / "log_data" / "late-export.json"
    shutil.copy(_days(data)[0], undated)
    assert stage("--source", str(data), "--tables", "events", "--since", "2018-11-04") == 0
    err = capsys.readouterr().err
    assert "1 object(s)" in err and "late-export.json" in err and "no date" in err
    assert "log_data/late-export.json" not in _ledger_keys()


def test_a_range_with_no_files_says_so(data: Path, profiles_dir: Path, capsys) -> None:
    assert stage("--source", str(data), "--tables", "events", "--since", "2019-01-01") == 0
    captured = capsys.readouterr()
    assert "dated from 2019-01-01 to any day" in captured.err
    assert duck_counts()["staging_events"] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--since", "2018-11-31"), "is not a date"),
        (("--since", "yesterday"), "is not a date"),
        (("--since", "2018-11-05", "--until", "2018-11-04"), "is after --until"),
        (("--restage",), "--restage needs --since"),
        (("--restage", "--since", "2018-11-01", "--full-refresh"), "do not go together"),
    ],
)
def test_bad_date_options_are_refused_in_one_line(
    data: Path, profiles_dir: Path, capsys, args: tuple[str, ...], message: str
) -> None:
    try:
        code = stage("--source", str(data), *args)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not Path(os.environ["SPARKIFY_DUCKDB_PATH"]).exists()  # refused before any write


def test_restage_stages_a_range_again_as_new_versions(data: Path, profiles_dir: Path) -> None:
    days = _days(data)
    assert stage("--source", str(data)) == 0
    before = duck_counts()
    restage = ("--source", str(data), "--since", "2018-11-03", "--until", "2018-11-03")
    assert stage(*restage, "--restage") == 0  # both tables: the catalogue has no dates
    after = duck_counts()
    # the same rows staged, the old copy of the day kept aside, the ledger says "replaced"
    assert after["staging_events"] == before["staging_events"]
    replaced = _ledger_keys("replaced")
    assert replaced == {str(p.relative_to(data)) for p in days if "2018-11-03" in p.name}
    with duck() as con:
        kept = con.execute("select count(*) from staging.staging_events_removed").fetchone()[0]
    assert kept == sum(_lines(p) for p in days if "2018-11-03" in p.name)
    with duck() as con:
        songs = con.execute(
            "select count(*) from staging.load_ledger where table_name = 'staging_songs'"
        ).fetchone()[0]
    assert songs == sum(1 for _ in (data / "song_data").rglob("*.json"))  # none staged again
