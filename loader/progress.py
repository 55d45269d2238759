"""Progress for long work: a bar on a terminal, a few plain log lines otherwise."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


def log(message: str, stream: TextIO | None = None) -> None:
    stream = stream or sys.stderr
    print(f"{time.strftime('%H:%M:%S')} {message}", file=stream, flush=True)


class Progress:
    """Counts work done towards a total; draws a bar on a TTY, logs at most every 10% elsewhere."""

    def __init__(
        self,
        label: str,
        total: int,
        unit: str = "files",
        stream: TextIO | None = None,
        enabled: bool = True,
    ) -> None:
        self.label, self.total, self.unit = label, max(total, 0), unit
        self.stream = stream or sys.stderr
        self.enabled = enabled and total > 0
        self.tty = self.stream.isatty()
        self.done = 0
        self.started = time.monotonic()
        self._last_draw = 0.0
        self._next_log = 0.1
        self._lock = threading.Lock()  # updated from the read-ahead thread too

    def update(self, count: int = 1) -> None:
        with self._lock:
            self._update(count)

    def _update(self, count: int) -> None:
        self.done += count
        if not self.enabled:
            return
        fraction = self.done / self.total if self.total else 1.0
        now = time.monotonic()
        if self.tty:
            if now - self._last_draw >= 0.1 or self.done >= self.total:
                self._last_draw = now
                filled = int(30 * min(fraction, 1.0))
                bar = "#" * filled + "-" * (30 - filled)
                self.stream.write(
                    f"\r{self.label:<28} [{bar}] {self.done:,}/{self.total:,} "
                    f"{self.unit} {now - self.started:5.1f}s"
                )
                self.stream.flush()
        elif fraction >= self._next_log and self.total >= 1000:
            while self._next_log <= fraction:
                self._next_log += 0.1
            log(f"{self.label}: {self.done:,}/{self.total:,} {self.unit}", self.stream)

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()
