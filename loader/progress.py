"""Progress for long work: one line redrawn on a terminal, plain log lines every few seconds
otherwise (cron, CI, a scheduler's log).

What it counts is what is done: files read, and the bytes and rows *committed* (a batch is done
when its transaction commits, not when its files are read), with the rate of committed bytes and
an ETA from it. On a terminal the line fits its width (parts are dropped, least useful first) and
is cleared before any log line is printed, so a log line is never glued onto it.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

from loader import logs
from loader.logs import CLEAR, log

LOG_EVERY = 10.0  # seconds between progress lines when the output is not a terminal
DRAW_EVERY = 0.1  # seconds between redraws on a terminal

__all__ = ["CLEAR", "Progress", "log"]


def _megabytes(count: int) -> str:
    return f"{count / 1e6:,.0f} MB" if count >= 10e6 else f"{count / 1e6:,.1f} MB"


def _duration(seconds: float) -> str:
    seconds = max(int(seconds + 0.5), 0)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class Progress:
    """Files read, and bytes and rows committed, towards a total."""

    def __init__(
        self,
        label: str,
        total: int,
        unit: str = "files",
        stream: TextIO | None = None,
        enabled: bool = True,
        total_bytes: int = 0,
        clock: Callable[[], float] = time.monotonic,
        width: int | None = None,
    ) -> None:
        self.label, self.total, self.unit = label, max(total, 0), unit
        self.total_bytes = max(total_bytes, 0)
        self.stream = stream or sys.stderr
        self.enabled = enabled and total > 0 and logs.enabled("info")
        # a line redrawn in place only for a person at a terminal, never in JSON logs
        self.tty = self.stream.isatty() and logs.settings.format == "text"
        self.clock = clock
        self.width = width
        self.done = 0  # files read
        self.bytes_done = 0  # bytes of the files whose batch committed
        self.rows_done = 0  # rows committed
        self.started = clock()
        self._last_draw = float("-inf")
        self._last_log = self.started
        self._logged = False  # a progress line was logged (not on a terminal)
        self._lock = threading.Lock()  # updated from the read-ahead thread too

    # --- what is done -----------------------------------------------------------------------

    def update(self, count: int = 1) -> None:
        """``count`` more files read."""
        with self._lock:
            self.done += count
            self._show(final=False)

    def committed(self, rows: int, nbytes: int) -> None:
        """A batch committed ``rows`` rows from ``nbytes`` bytes of source."""
        with self._lock:
            self.rows_done += rows
            self.bytes_done += nbytes
            self._show(final=False)

    def close(self) -> None:
        with self._lock:
            if not self.enabled:
                return
            self._show(final=True)
            if self.tty:
                logs.show_line(None)
                self.stream.write("\n")
                self.stream.flush()

    # --- how it is shown --------------------------------------------------------------------

    def parts(self) -> list[tuple[int, str]]:
        """What the line says, in order, each with its rank: the highest rank is dropped first
        when the line does not fit."""
        elapsed = max(self.clock() - self.started, 1e-9)
        rate = self.bytes_done / elapsed
        if self.total_bytes:
            found = [
                (0, f"{_megabytes(self.bytes_done)} of {_megabytes(self.total_bytes)} committed"),
                (3, f"{self.rows_done:,} rows"),
                (5, f"{self.done:,}/{self.total:,} {self.unit} read"),
            ]
        else:
            found = [(0, f"{self.done:,}/{self.total:,} {self.unit}")]
        if self.bytes_done:
            found.append((2, f"{rate / 1e6:,.1f} MB/s"))
            remaining = self.total_bytes - self.bytes_done
            if self.total_bytes and remaining > 0 and rate > 0:
                found.append((1, f"ETA {_duration(remaining / rate)}"))
        found.append((4, _duration(elapsed)))
        return found

    def text(self, parts: list[tuple[int, str]]) -> str:
        return f"{self.label}: " + ", ".join(text for _, text in parts)

    def line(self, width: int) -> str:
        """The parts that fit in ``width`` columns (the least useful dropped first), never as
        wide as the terminal (a full line would wrap and leave a staircase)."""
        parts = self.parts()
        while len(parts) > 1 and len(self.text(parts)) >= width:
            parts.remove(max(parts))
        return self.text(parts)[: max(width - 1, 1)]

    def redraw(self) -> None:
        """Draw the line again (after a log line cleared it)."""
        width = self.width or shutil.get_terminal_size((80, 24)).columns
        logs.draw(self, self.line(width))

    def _show(self, final: bool) -> None:
        if not self.enabled:
            return
        now = self.clock()
        if self.tty:
            if final or now - self._last_draw >= DRAW_EVERY:
                self._last_draw = now
                logs.show_line(self)
                self.redraw()
        elif now - self._last_log >= LOG_EVERY or (final and self._logged):
            # every LOG_EVERY seconds whatever the file count, and the end once it was logged
            self._last_log, self._logged = now, True
            elapsed = max(now - self.started, 1e-9)
            log(
                self.text(self.parts()),
                self.stream,
                event="progress",
                label=self.label,
                files_read=self.done,
                files=self.total,
                bytes_committed=self.bytes_done,
                bytes=self.total_bytes or None,
                rows_committed=self.rows_done,
                mb_per_s=round(self.bytes_done / elapsed / 1e6, 2),
                seconds=round(elapsed, 1),
            )
