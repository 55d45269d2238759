"""Logs a scheduler can read: --log-format json (one object per event, one run id), --quiet
(warnings and errors only), --verbose (each batch's details), no colour or carriage return off
a terminal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loader import copy_staging, logs
from tests.python.loader.helpers import copy_days


@pytest.fixture(autouse=True)
def _restore_log_settings():
    saved = (logs.settings.level, logs.settings.format, logs.settings.run_id)
    yield
    logs.settings.level, logs.settings.format, logs.settings.run_id = saved


@pytest.fixture
def source(small_generated: Path, tmp_path: Path) -> Path:
    data = tmp_path / "source"
    copy_days(small_generated, data, days=[1, 2])
    return data


def events(err: str) -> list[dict]:
    return [json.loads(line) for line in err.splitlines()]  # every line is one JSON object


def test_json_logs_are_one_object_per_event_with_the_run_id_and_figures(
    source: Path, profiles_dir: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("SPARKIFY_RUN_ID", "run-42")
    logs.settings.run_id = "run-42"  # as the daily job sets it
    assert copy_staging.main(["--source", str(source), "--log-format", "json"]) == 0
    out, err = capsys.readouterr()
    assert out == ""  # the figures are events, not a table
    found = events(err)
    assert {e["run_id"] for e in found} == {"run-42"}
    assert "\r" not in err and "\x1b" not in err
    committed = [e for e in found if e["event"] == "batch_committed"]
    assert {e["table"] for e in committed} == {"staging_events", "staging_songs"}
    assert all(e["rows"] > 0 and e["batch"] and e["seconds"] >= 0 for e in committed)
    done = {e["table"]: e for e in found if e["event"] == "table_done"}
    assert done["staging_events"]["rows"] == sum(
        len(p.read_bytes().splitlines()) for p in (source / "log_data").rglob("*.json")
    )
    assert all(e["ts"].endswith("Z") and e["level"] in logs.LEVELS for e in found)


def test_json_logs_report_a_bad_record_as_an_error_event(
    source: Path, profiles_dir: Path, capsys
) -> None:
    day = sorted((source / "log_data").rglob("*.json"))[0]
    day.write_bytes(day.read_bytes() + b'{"ts": "soon"}\n')
    assert copy_staging.main(["--source", str(source), "--log-format", "json"]) == 1
    [failure] = [e for e in events(capsys.readouterr().err) if e["level"] == "error"]
    assert failure["exit_code"] == 1 and failure["kind"] == "DataError"
    assert f"{day.relative_to(source).as_posix()}:" in failure["message"]


def test_quiet_prints_only_warnings_and_errors(source: Path, profiles_dir: Path, capsys) -> None:
    assert copy_staging.main(["--source", str(source), "--quiet"]) == 0
    assert capsys.readouterr() == ("", "")
    (source / "log_data" / "notes.jsonl").write_text("{}\n")
    assert copy_staging.main(["--source", str(source), "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("warning: ") and "notes.jsonl" in err
    assert len(err.splitlines()) == 1


def test_verbose_adds_each_batchs_details(source: Path, profiles_dir: Path, capsys) -> None:
    assert copy_staging.main(["--source", str(source), "--verbose", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "rows by DuckDB's reader and 0 by the exact parser" in err


def test_an_unknown_log_format_is_a_usage_error(profiles_dir: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("SPARKIFY_LOG_FORMAT", "xml")
    with pytest.raises(SystemExit) as exit_info:
        copy_staging.main(["--source", "x"])
    assert exit_info.value.code == 2
    assert "text or json" in capsys.readouterr().err
