"""What the loader says while it runs, for a person or a scheduler.

Every line goes through ``log``, ``warn`` or ``error``, on standard error:

- text (the default): ``HH:MM:SS message``, ``warning: …``, ``error: …``;
- ``--log-format json``: one JSON object per event, with the run's id, the level, the event's
  name and its fields (table, batch, rows, seconds, …), for a log pipeline to parse;
- ``--quiet`` keeps warnings and errors only; ``--verbose`` adds each batch's details.

A progress line drawn on a terminal (loader/progress.py) registers itself here, so that a log
line first clears it and it is drawn again below: nothing is ever glued onto it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}
CLEAR = "\r\x1b[K"  # back to the start of the line and erase it


class TerminalLine(Protocol):
    stream: TextIO

    def redraw(self) -> None: ...


@dataclass
class Settings:
    level: str = "info"
    format: str = "text"  # or "json"
    run_id: str = field(
        default_factory=lambda: (
            os.environ.get("SPARKIFY_RUN_ID")
            or f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        )
    )


settings = Settings()
_line: TerminalLine | None = None  # the progress line drawn on a terminal now, if any
_lock = threading.RLock()


def configure(*, quiet: bool = False, verbose: bool = False, log_format: str = "text") -> None:
    settings.level = "warning" if quiet else "debug" if verbose else "info"
    settings.format = log_format


def enabled(level: str) -> bool:
    return LEVELS[level] >= LEVELS[settings.level]


def show_line(line: TerminalLine | None) -> None:
    """Make ``line`` the terminal's progress line (None: no line any more)."""
    global _line
    with _lock:
        _line = line


def draw(line: TerminalLine, text: str) -> None:
    with _lock:
        line.stream.write(CLEAR + text)
        line.stream.flush()


def emit(
    level: str, message: str, event: str = "log", stream: TextIO | None = None, **fields: Any
) -> None:
    """One event: a line of text, or a JSON object with ``fields``."""
    if not enabled(level):
        return
    stream = stream or sys.stderr
    if settings.format == "json":
        record = {
            "ts": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": level,
            "run_id": settings.run_id,
            "event": event,
            "message": message,
            **{key: value for key, value in fields.items() if value is not None},
        }
        text = json.dumps(record, ensure_ascii=False, default=str)
    elif level in ("warning", "error"):
        text = f"{level}: {message}"
    else:
        text = f"{time.strftime('%H:%M:%S')} {message}"
    with _lock:
        line = _line if _line is not None and _line.stream is stream else None
        if line is not None:
            stream.write(CLEAR)
        print(text, file=stream, flush=True)
        if line is not None:
            line.redraw()


def log(message: str, stream: TextIO | None = None, event: str = "log", **fields: Any) -> None:
    emit("info", message, event, stream, **fields)


def debug(message: str, event: str = "debug", **fields: Any) -> None:
    emit("debug", message, event, **fields)


def warn(message: str, event: str = "warning", **fields: Any) -> None:
    emit("warning", message, event, **fields)


def error(message: str, event: str = "error", **fields: Any) -> None:
    emit("error", message, event, **fields)
