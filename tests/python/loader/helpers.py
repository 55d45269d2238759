"""Helpers for loader tests: run the CLI in-process, copy data sets, count what was staged."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import duckdb

from loader.copy_staging import main


def stage(*args: str) -> int:
    return main(["--no-progress", *args])


def copy_days(src: Path, dst: Path, days: list[int] | None = None, songs: bool = True) -> None:
    """Copy a data set, keeping only the given days' event files (1-based, by sorted name)."""
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copy(src / "log_json_path.json", dst / "log_json_path.json")
    if songs and not (dst / "song_data").exists():
        shutil.copytree(src / "song_data", dst / "song_data")
    files = sorted((src / "log_data").rglob("*.json"))
    for number, path in enumerate(files, start=1):
        if days is None or number in days:
            target = dst / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)


def source_counts(root: Path) -> dict[str, int]:
    events = sum(len(p.read_bytes().splitlines()) for p in (root / "log_data").rglob("*.json"))
    songs = sum(1 for _ in (root / "song_data").rglob("*.json"))
    return {"staging_events": events, "staging_songs": songs}


def duck() -> duckdb.DuckDBPyConnection:
    return duckdb.connect(os.environ["SPARKIFY_DUCKDB_PATH"], read_only=True)


def duck_counts() -> dict[str, int]:
    with duck() as con:
        present = {
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'staging'"
            ).fetchall()
        }
        return {
            t: con.execute(f"select count(*) from staging.{t}").fetchone()[0] if t in present else 0
            for t in ("staging_events", "staging_songs", "load_ledger", "load_rejects")
        }


def write_events(path: Path, records: list[object] | list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(lines))
