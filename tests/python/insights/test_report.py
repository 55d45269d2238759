"""The analysts' report: every question answered from a built warehouse, dashboards drawn."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from insights.tables import repair_text
from tests.python.conftest import PROJECT_DIR
from tests.python.dbt.helpers import dbt
from tests.python.loader.helpers import stage


def test_report_prints_every_answer_and_writes_the_dashboards(
    small_generated: Path, tmp_path: Path, profiles_dir: Path
) -> None:
    assert stage("--source", str(small_generated)) == 0
    dbt("build", target_dir=tmp_path)
    out = tmp_path / "reports"
    result = subprocess.run(
        [sys.executable, "-m", "insights", "--output", str(out)],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    text = result.stdout
    for heading in (
        "Most played songs",
        "Most played artists",
        "Plays per hour",
        "Plays per ISO weekday",
        "free",
        "paid",
        "users who play the most",
        "Where plays come from",
        "sessions per user",
        "Upgrades",
    ):
        assert heading.lower() in text.lower(), heading
    assert "(no rows)" not in text
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == [
        "plays_per_day_by_level.png",
        "plays_per_hour.png",
        "top_songs_and_artists.png",
        "user_level_transitions.png",
    ]
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert "Glyph" not in result.stderr


def _report(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "insights", *args], cwd=PROJECT_DIR, capture_output=True, text=True
    )


def test_the_html_report_says_where_its_figures_come_from_and_is_kept_per_run(
    small_generated: Path, tmp_path: Path, profiles_dir: Path
) -> None:
    import duckdb

    assert stage("--source", str(small_generated)) == 0
    dbt("build", "--exclude-resource-type", "unit_test", target_dir=tmp_path)
    out = tmp_path / "reports"
    first = _report("--output", str(out))
    assert first.returncode == 0, first.stderr
    assert f"staging_events: staged from {small_generated.resolve()} (5 files)" in first.stdout
    assert "Events 2018-11-01 to 2018-11-05 (UTC)" in first.stdout
    assert "matched to a song in the catalogue" in first.stdout
    assert "every test passed" in first.stdout and "warning" not in first.stderr
    [page] = out.glob("report-*.html")
    html = page.read_text()
    assert html.count("<svg") == 9 and html.count("<table>") == 10
    assert "staging_songs: staged from" in html and "2018-11-01 to 2018-11-05" in html
    for remote in ("<script", 'src="http', "src='http", 'href="http', "url(http"):
        assert remote not in html, remote  # nothing to fetch: it opens offline
    assert "Demo data" not in html  # generated in a temp dir, not the demo's data/demo

    # a later build failed: the report says so, loudly, and can refuse
    with duckdb.connect(os.environ["SPARKIFY_DUCKDB_PATH"]) as con:
        con.execute(
            "insert into staging.build_runs values ('x', 'build', current_timestamp, "
            "cast('2999-01-01' as timestamp), 'failed', '', 'test unique_songs_song_id (fail)')"
        )
    second = _report("--output", str(out), "--quiet")
    assert second.returncode == 0
    assert "the latest dbt build (2999-01-01 00:00 UTC) failed: test unique_songs_song_id" in (
        second.stderr
    )
    assert "these answers are from the last build that passed" in second.stderr
    assert len(list(out.glob("report-*.html"))) == 2  # yesterday's report is kept
    assert [line for line in second.stdout.splitlines() if line.endswith(".html")]
    refused = _report("--output", str(out), "--require-passing", "--log-format", "json")
    assert refused.returncode == 1
    events = [json.loads(line) for line in refused.stderr.splitlines()]
    assert {e["event"] for e in events} >= {"provenance", "provenance_warning", "error"}
    [origin] = [e for e in events if e["event"] == "provenance"]
    assert origin["rows"]["songplays"] > 0 and origin["run_id"]
    assert refused.stdout == ""


def test_report_without_a_warehouse_says_what_to_do(profiles_dir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "insights"], cwd=PROJECT_DIR, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "make demo" in result.stderr and "Traceback" not in result.stderr


def test_repair_text_undoes_double_encoding_only() -> None:
    assert repair_text("Bj\u00c3\u0083\u00c2\u00b6rk") == "Björk"
    assert repair_text("Björk") == "Björk"
    assert repair_text("plain") == "plain"


def test_chart_labels_end_in_an_ellipsis_at_a_word_break() -> None:
    from insights.html_report import ellipsised

    assert ellipsised("Short title") == "Short title"
    long = "Rain Again Ghost Time – Café Street Winter Girl"
    shown = ellipsised(long, 24)
    assert shown.endswith("…") and len(shown) <= 24
    assert long.startswith(shown.removesuffix(" …"))  # whole words only
    assert ellipsised("Supercalifragilisticexpialidocious", 10) == "Supercali…"
