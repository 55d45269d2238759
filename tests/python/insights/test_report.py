"""The analysts' report: every question answered from a built warehouse, dashboards drawn."""

from __future__ import annotations

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
