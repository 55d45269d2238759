"""Progress that tells the truth: bytes and rows committed (not files read), a rate and an ETA,
a line that fits the terminal and is never glued to a log line, and periodic lines when the
output is not a terminal whatever the file count."""

from __future__ import annotations

import io
import re
from pathlib import Path

from loader import copy_staging
from loader import progress as progress_module
from loader.progress import CLEAR, Progress, log
from tests.python.loader.helpers import copy_days, stage


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def drawn(stream: io.StringIO) -> list[str]:
    """Each state of the terminal line (what follows each clear)."""
    return [part.rstrip("\n") for part in stream.getvalue().split(CLEAR)[1:]]


def test_files_read_are_not_done_until_their_rows_commit_with_rate_and_eta() -> None:
    terminal, clock = Terminal(), Clock()
    bar = Progress(
        "loading staging_events",
        30,
        stream=terminal,
        total_bytes=992_000_000,
        clock=clock,
        width=200,
    )
    clock.now += 1
    bar.update(30)  # every file read: nothing committed yet
    assert drawn(terminal)[-1].startswith("loading staging_events: 0.0 MB of 992 MB committed")
    assert "30/30 files read" in drawn(terminal)[-1]
    clock.now += 9
    bar.committed(rows=1_000_000, nbytes=496_000_000)  # half, in 10 s
    last = drawn(terminal)[-1]
    assert "496 MB of 992 MB committed, 1,000,000 rows" in last
    assert "49.6 MB/s" in last and "ETA 10s" in last
    clock.now += 10
    bar.committed(rows=1_000_000, nbytes=496_000_000)
    bar.close()
    assert "992 MB of 992 MB committed, 2,000,000 rows" in drawn(terminal)[-1]
    assert "ETA" not in drawn(terminal)[-1] and terminal.getvalue().endswith("\n")


def test_the_line_fits_a_narrow_terminal_dropping_the_least_useful_parts() -> None:
    for width in (40, 60, 80):
        terminal, clock = Terminal(), Clock()
        bar = Progress(
            "loading staging_events",
            30,
            stream=terminal,
            total_bytes=992_000_000,
            clock=clock,
            width=width,
        )
        for _ in range(30):
            clock.now += 1
            bar.update()
            bar.committed(rows=33_000, nbytes=33_000_000)
        bar.close()
        lines = drawn(terminal)
        assert lines and all(len(line) < width for line in lines), (width, lines)
        assert all(line.startswith("loading staging_events: ") for line in lines)
    assert "committed" in lines[-1]  # the most useful part stays at 80 columns


def test_a_log_line_clears_the_bar_and_the_bar_comes_back_after_it() -> None:
    terminal, clock = Terminal(), Clock()
    bar = Progress(
        "loading staging_events", 3, stream=terminal, total_bytes=3_000, clock=clock, width=100
    )
    bar.update()
    log("staging_events: committed batch 1/3", terminal)
    bar.close()
    text = terminal.getvalue()
    logged = re.search(r"(.{0,4})\d\d:\d\d:\d\d staging_events: committed batch 1/3\n", text)
    assert logged and logged.group(1) == CLEAR, repr(text)  # at column 0, nothing glued
    after = text[logged.end() :]
    assert after.startswith(CLEAR + "loading staging_events: ")  # drawn again below it


def test_not_on_a_terminal_progress_is_logged_every_few_seconds_whatever_the_file_count() -> None:
    log_file, clock = io.StringIO(), Clock()
    bar = Progress("loading staging_events", 3, stream=log_file, total_bytes=3_000_000, clock=clock)
    bar.update(3)
    assert log_file.getvalue() == ""  # nothing to say yet
    for _ in range(3):
        clock.now += progress_module.LOG_EVERY
        bar.committed(rows=10, nbytes=1_000_000)
    bar.close()
    lines = log_file.getvalue().splitlines()
    assert len(lines) == 4, lines  # one per interval, then the end
    assert "\r" not in log_file.getvalue() and "\x1b" not in log_file.getvalue()
    assert lines[0].endswith(
        "loading staging_events: 1.0 MB of 3.0 MB committed, 10 rows, "
        "3/3 files read, 0.1 MB/s, ETA 20s, 10s"
    )
    assert "3.0 MB of 3.0 MB committed, 30 rows" in lines[-1]


def test_a_load_reports_the_bytes_and_rows_it_committed(
    small_generated: Path, tmp_path: Path, profiles_dir: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setattr(progress_module, "LOG_EVERY", 0.0)
    source = tmp_path / "source"
    copy_days(small_generated, source, days=[1, 2], songs=False)
    size = sum(p.stat().st_size for p in (source / "log_data").rglob("*.json"))
    rows = sum(len(p.read_bytes().splitlines()) for p in (source / "log_data").rglob("*.json"))
    assert stage("--source", str(source), "--tables", "events") == 0  # --no-progress
    assert "committed," not in capsys.readouterr().err
    args = ["--source", str(source), "--tables", "events", "--full-refresh"]
    assert copy_staging.main(args) == 0
    err = capsys.readouterr().err
    final = [line for line in err.splitlines() if "loading staging_events:" in line][-1]
    assert f"{size / 1e6:,.1f} MB of {size / 1e6:,.1f} MB committed, {rows:,} rows" in final
