"""The generator reproduces the real data's layout, keys, types and quirks."""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import json
import re
from pathlib import Path

from generator.synthetic import Options, double_encode, generate

SONG_PATH = re.compile(r"^song_data/([A-Z])/([A-Z])/([A-Z])/TR([A-Z0-9]{16})\.json$")
EVENT_PATH = re.compile(r"^log_data/(\d{4})/(\d{2})/(\d{4}-\d{2}-\d{2})-events\.json$")


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def _songs(root: Path) -> list[tuple[bytes, dict]]:
    paths = sorted((root / "song_data").rglob("*.json"))
    return [(p.read_bytes(), json.loads(p.read_bytes())) for p in paths]


def _events(root: Path) -> dict[str, list[dict]]:
    return {
        p.name: [json.loads(line) for line in p.read_text().splitlines()]
        for p in sorted((root / "log_data").rglob("*.json"))
    }


def _compact(record: dict) -> bytes:
    return json.dumps(record, separators=(",", ":")).replace("/", "\\/").encode()


def _types(records: list[dict]) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = collections.defaultdict(set)
    for record in records:
        for key, value in record.items():
            seen[key].add(type(value).__name__)
    return seen


def test_layout_matches_the_bucket(generated: Path, real_full: Path) -> None:
    for rel in _files(generated):
        if rel.startswith("song_data/"):
            match = SONG_PATH.match(rel)
            assert match, rel
            assert "".join(match.groups()[:3]) == match.group(4)[:3], rel
        elif rel.startswith("log_data/"):
            match = EVENT_PATH.match(rel)
            assert match, rel
            assert match.group(3).startswith(f"{match.group(1)}-{match.group(2)}")
        else:
            assert rel == "log_json_path.json"
    ours = json.loads((generated / "log_json_path.json").read_text())
    theirs = json.loads((real_full / "log_json_path.json").read_text())
    assert ours == theirs


def test_song_files_have_the_real_keys_types_and_serialisation(
    generated: Path, real_full: Path
) -> None:
    ours, theirs = _songs(generated), _songs(real_full)
    real_keys = list(theirs[0][1])
    for raw, record in ours:
        assert list(record) == real_keys
        assert not raw.endswith(b"\n")
        assert raw == _compact(record)
        assert raw.isascii()
    for raw, record in theirs[:200]:
        assert raw == _compact(record), "the real files are compact ASCII with escaped slashes"
    assert _types([r for _, r in ours]) == _types([r for _, r in theirs])
    # mostly-null coordinates, year 0 for unknown, numeric titles and artist names
    records = [r for _, r in ours]
    assert 0.5 < sum(r["artist_latitude"] is None for r in records) / len(records) < 0.8
    assert any(r["year"] == 0 for r in records)
    assert any(isinstance(r["title"], int) for r in records)
    assert any(isinstance(r["artist_name"], int) for r in records)
    names = collections.defaultdict(set)
    for r in records:
        names[r["artist_id"]].add(str(r["artist_name"]))
    assert any(len(v) > 1 for v in names.values()), "no artist appears under several names"


def test_events_have_the_real_keys_types_and_quirks(generated: Path, real_full: Path) -> None:
    ours, theirs = _events(generated), _events(real_full)
    our_events = [e for day in ours.values() for e in day]
    real_events = [e for day in theirs.values() for e in day]
    assert {tuple(e) for e in our_events} == {tuple(real_events[0])}
    assert _types(our_events) == _types(real_events)
    assert {e["page"] for e in our_events} <= {e["page"] for e in real_events}
    assert {e["auth"] for e in our_events} == {"Logged In", "Logged Out"}
    logged_out = [e for e in our_events if e["auth"] == "Logged Out"]
    assert logged_out and all(e["userId"] == "" for e in logged_out)
    assert all(e["userAgent"].startswith('"') for e in our_events if e["userAgent"])
    plays = [e for e in our_events if e["page"] == "NextSong"]
    assert 0.75 < len(plays) / len(our_events) < 0.95
    assert all(e["length"] is None for e in our_events if e["page"] != "NextSong")
    levels = collections.defaultdict(set)
    for e in our_events:
        if e["userId"]:
            levels[e["userId"]].add(e["level"])
    assert any(len(v) == 2 for v in levels.values()), "no user changes level"


def test_each_event_is_in_its_days_file(generated: Path) -> None:
    for name, events in _events(generated).items():
        for e in events:
            day = dt.datetime.fromtimestamp(e["ts"] / 1000, dt.UTC).date().isoformat()
            assert name.startswith(day)


def test_sessions_count_items_upwards(generated: Path) -> None:
    sessions = collections.defaultdict(list)
    for events in _events(generated).values():
        for e in events:
            sessions[(e["sessionId"], e["userId"])].append((e["ts"], e["itemInSession"]))
    for items in sessions.values():
        numbers = [i for _, i in sorted(items)]
        assert numbers == sorted(numbers)


def test_event_text_is_double_encoded_and_files_are_ascii(generated: Path) -> None:
    raw = b"".join(p.read_bytes() for p in (generated / "log_data").rglob("*.json"))
    assert raw.isascii() and not raw.endswith(b"\n")
    assert b"\\u00c3\\u0083" in raw, "no double-encoded UTF-8 in the events"
    assert b"\\/" in raw
    assert double_encode("Björk") == "Bj\u00c3\u0083\u00c2\u00b6rk"


def test_some_plays_match_the_catalogue_exactly(generated: Path) -> None:
    catalogue = {
        (str(r["title"]), str(r["artist_name"]), r["duration"]) for _, r in _songs(generated)
    }
    plays = [e for day in _events(generated).values() for e in day if e["page"] == "NextSong"]
    matched = sum((e["song"], e["artist"], e["length"]) in catalogue for e in plays)
    assert 0.1 < matched / len(plays) < 0.5


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for rel in _files(root):
        h.update(rel.encode())
        h.update((root / rel).read_bytes())
    return h.hexdigest()


def test_same_seed_gives_the_same_bytes(tmp_path: Path) -> None:
    first, second, other = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(Options(output=first, songs=50, days=3, events=500, seed=3))
    generate(Options(output=second, songs=50, days=3, events=500, seed=3))
    generate(Options(output=other, songs=50, days=3, events=500, seed=4))
    assert _digest(first) == _digest(second)
    assert _digest(first) != _digest(other)
