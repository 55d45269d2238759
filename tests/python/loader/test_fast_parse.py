"""The DuckDB fast path gives exactly what the Python parser gives, and hands it what it can't."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from loader.fast_parse import FAST_TABLE, FastParser
from loader.records import parse_object
from loader.sources import SourceObject
from loader.tables import Table, events_table, songs_table


def _objects(root: Path, prefix: str) -> list[tuple[SourceObject, bytes]]:
    return [
        (SourceObject(p.relative_to(root).as_posix(), 0, ""), p.read_bytes())
        for p in sorted((root / prefix).rglob("*.json"))
    ]


def _both(table: Table, objects: list[tuple[SourceObject, bytes]]):
    con = duckdb.connect()
    batch = FastParser(table, con).parse(objects)
    width = len(table.columns)
    names = ", ".join(f"v{i}" for i in range(width))
    fast = []
    if batch.fast_rows:
        fast = con.execute(f"select {names}, source_key, source_line from {FAST_TABLE}").fetchall()
    got = sorted(fast + batch.python_rows, key=lambda r: (r[-2], r[-1]))
    want, rejects = [], []
    for obj, data in objects:
        parsed = parse_object(data, obj.key, table)
        want += parsed.rows
        rejects += parsed.rejects
    return batch, got, sorted(want, key=lambda r: (r[-2], r[-1])), rejects


def test_generated_events_take_the_fast_path_with_identical_rows(small_generated: Path) -> None:
    table = events_table((small_generated / "log_json_path.json").read_bytes(), "p")
    batch, got, want, _ = _both(table, _objects(small_generated, "log_data"))
    assert batch.fast_rows == len(want) and batch.python_rows == []
    assert got == want


def test_real_songs_match_exactly_and_only_the_float_title_falls_back(real_full: Path) -> None:
    objects = _objects(real_full, "song_data")[:3000]
    objects.append(
        next(o for o in _objects(real_full, "song_data/A/A") if b'"title":4.6' in o[1])
        if any(b'"title":4.6' in o[1] for o in _objects(real_full, "song_data/A/A"))
        else objects[0]
    )
    batch, got, want, _ = _both(songs_table(), objects)
    assert got == want
    assert batch.fast_rows > 0


@pytest.mark.parametrize("line, why", [
    ('{"artist": "a", "ts": 1, "userId": "1", "title": 4.60}', "extra key"),
    ('{"artist": 4.60, "ts": 1, "userId": "1"}', "number with a fraction in text"),
    ('{"Artist": "a", "ts": 1, "userId": "1"}', "key in another case"),
    ('{"artist": "a", "ts": "1", "userId": "1"}', "string in a numeric column"),
    ('{"artist": "a", "ts": 1.5, "userId": "1"}', "fraction in an integer column"),
    ('{"artist": {"x": 1}, "ts": 1, "userId": "1"}', "object in text"),
    ('{"artist": "a\\u0000", "ts": 1, "userId": "1"}', "NUL"),
    ('{"artist": "a", "ts": 99999999999999999999, "userId": "1"}', "out of range"),
])  # fmt: skip
def test_objects_the_fast_path_cannot_vouch_for_go_to_python(line: str, why: str) -> None:
    paths = json.dumps({"jsonpaths": ["$['artist']", "$['ts']", "$['userId']"]}).encode()
    table = events_table(paths, "p")
    good = (SourceObject("good.json", 0, ""), b'{"artist": "a\\"b", "ts": 1, "userId": "1"}')
    odd = (
        SourceObject("odd.json", 0, ""),
        f'{{"artist": "x", "ts": 2, "userId": "2"}}\n{line}'.encode(),
    )
    batch, got, want, _ = _both(table, [good, odd])
    assert got == want, why
    assert batch.fast_rows == 1 and batch.counts["good.json"] == (1, 0)
    assert batch.counts["odd.json"][0] + batch.counts["odd.json"][1] == 2


@pytest.mark.parametrize(
    "data",
    [
        b'\xef\xbb\xbf{"ts": 1}',
        b'{"ts": 1}\r\n{"ts": 2}',
        b'{"ts": 1}\n\n{"ts": 2}',
        b'{"ts": 1} {"ts": 2}',
        b'{"ts": 1}\n{"ts": 2',
        b'{"ts": "caf\xe9"}',
    ],
)
def test_layout_quirks_and_bad_bytes_fall_back_without_losing_good_objects(data: bytes) -> None:
    table = events_table(json.dumps({"jsonpaths": ["$['ts']"]}).encode(), "p")
    good = (SourceObject("good.json", 0, ""), b'{"ts": 7}')
    odd = (SourceObject("odd.json", 0, ""), data)
    _batch, got, want, _ = _both(table, [good, odd])
    assert got == want
    assert [r[0] for r in got if r[-2] == "good.json"] == [7]
