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
    ('{"artist": NaN, "ts": 1, "userId": "1"}', "NaN literal in text"),
    ('{"artist": -Infinity, "ts": 1, "userId": "1"}', "Infinity literal in text"),
    ('{"artist": "a", "ts": Infinity, "userId": "1"}', "Infinity literal in an integer column"),
    ('{"artist": "a", "ts": nan, "userId": "1"}', "lower-case nan (starts like null)"),
    ('{"artist": -0, "ts": 1, "userId": "1"}', "negative zero in text"),
    ('{"artist": 1E2, "ts": 1, "userId": "1"}', "exponent in text"),
    ('{"artist": [1, 2], "ts": 1, "userId": "1"}', "array in text"),
    ('{"artist": null, "ts": null, "userId": null}', "every value null"),
])  # fmt: skip
def test_objects_the_fast_path_cannot_vouch_for_go_to_python(line: str, why: str) -> None:
    paths = json.dumps({"jsonpaths": ["$['artist']", "$['ts']", "$['userId']"]}).encode()
    table = events_table(paths, "p")
    good = (SourceObject("good.json", 0, ""), b'{"artist": "a\\"b", "ts": 1, "userId": "1"}')
    odd = (
        SourceObject("odd.json", 0, ""),
        f'{{"artist": "x", "ts": 2, "userId": "2"}}\n{line}'.encode(),
    )
    batch, got, want, rejects = _both(table, [good, odd])
    assert got == want, why
    assert batch.rejects == rejects, why
    assert batch.counts["good.json"] == (1, 0)
    assert batch.counts["odd.json"][0] + batch.counts["odd.json"][1] == 2


@pytest.mark.parametrize(
    "value", ["-Infinity", "NaN", "nan", "-nan", "1e999", "-0", "1.5e3", '"1.5"', "true"]
)
def test_doubles_match_the_python_parser(value: str) -> None:
    table = events_table(json.dumps({"jsonpaths": ["$['length']", "$['ts']"]}).encode(), "p")
    data = f'{{"length": 2.5, "ts": 1}}\n{{"length": {value}, "ts": 2}}'.encode()
    batch, got, want, rejects = _both(table, [(SourceObject("d.json", 0, ""), data)])
    assert repr(got) == repr(want) and batch.rejects == rejects  # repr: -0.0 is not 0.0


def test_one_odd_record_leaves_the_rest_of_its_object_on_the_fast_path() -> None:
    """An odd value or a stray extra key in one record of a big file costs that record a trip
    through Python (with its true line number), not the whole file."""
    paths = json.dumps({"jsonpaths": ["$['song']", "$['ts']"]}).encode()
    table = events_table(paths, "p")
    records = [f'{{"song": "s{i}", "ts": {i}}}' for i in range(1000)]
    records[10] = '{"song": "x", "ts": 10.5}'  # a fraction in an integer column: rejected
    records[500] = '{"song": "x", "ts": 500, "extra": 1}'
    records[700] = '{"song": 4.50, "ts": 700}'  # a number with a fraction: kept as written
    data = "\n".join(records).encode()
    batch, got, want, rejects = _both(table, [(SourceObject("day.json", 0, ""), data)])
    assert got == want and batch.rejects == rejects
    assert [(r.line, r.reason) for r in rejects] == [
        (11, "ts: expected an integer, got the number 10.5")
    ]
    assert batch.fast_rows == 997 and len(batch.python_rows) == 2
    assert next(r for r in got if r[-1] == 701)[0] == "4.50"
    assert batch.counts["day.json"] == (999, 1)


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


@pytest.mark.parametrize("gap", [b"\n\n", b"\n   \n", b"\n\t\n"])
def test_blank_lines_send_only_their_object_to_python(gap: bytes) -> None:
    """DuckDB skips blank lines; the batch is sorted again so other objects stay fast and the
    odd one keeps its true line numbers."""
    table = events_table(json.dumps({"jsonpaths": ["$['ts']"]}).encode(), "p")
    good = (SourceObject("good.json", 0, ""), b'{"ts": 7}\n{"ts": 8}')
    odd = (SourceObject("odd.json", 0, ""), b'{"ts": 1}' + gap + b'{"ts": 2}\n')
    batch, got, want, _ = _both(table, [good, odd])
    assert got == want
    assert batch.fast_rows == 2 and batch.counts == {"good.json": (2, 0), "odd.json": (2, 0)}
    assert [r[-1] for r in got if r[-2] == "odd.json"] == [1, 3]
