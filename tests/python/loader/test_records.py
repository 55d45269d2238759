"""Parsing of one object: exact values, and bad input rejected with file:line:reason."""

from __future__ import annotations

import json

import pytest

from loader.errors import DataError
from loader.records import check_rejects, parse_object
from loader.tables import events_table, songs_table

SONGS = songs_table()
PATHS = json.dumps({"jsonpaths": ["$['artist']", "$['ts']", "$['userId']", "$['sessionId']"]})
EVENTS = events_table(PATHS.encode(), "paths.json")


def song(**overrides: object) -> dict:
    record = {
        "artist_id": "AR1",
        "artist_latitude": None,
        "artist_location": "",
        "artist_longitude": None,
        "artist_name": "A",
        "duration": 1.5,
        "num_songs": 1,
        "song_id": "SO1",
        "title": "T",
        "year": 0,
    }
    record.update(overrides)
    return record


def rows_of(text: str | bytes, table=SONGS, **kwargs):
    data = text.encode() if isinstance(text, str) else text
    return parse_object(data, "k.json", table, **kwargs)


def column(table, name: str) -> int:
    return table.column_names.index(name)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("66", "66"),
        ("4.6", "4.6"),
        ("4.60", "4.60"),
        ("1e3", "1e3"),
        ('"66"', "66"),
        ("true", "true"),
    ],
)
def test_numbers_in_text_columns_keep_their_exact_text(raw: str, expected: str) -> None:
    text = json.dumps(song()).replace('"title": "T"', f'"title": {raw}')
    parsed = rows_of(text)
    assert parsed.rejects == []
    assert parsed.rows[0][column(SONGS, "title")] == expected


def test_values_are_typed_and_carry_their_key_and_line() -> None:
    text = json.dumps(song(artist_latitude=51.16418, year=1995)) + "\n" + json.dumps(song())
    parsed = rows_of(text)
    first, second = parsed.rows
    assert first[column(SONGS, "artist_latitude")] == 51.16418
    assert first[column(SONGS, "year")] == 1995
    assert first[-2:] == ("k.json", 1) and second[-2:] == ("k.json", 2)


def test_jsonpaths_order_and_names_define_the_event_columns() -> None:
    assert EVENTS.column_names == ["artist", "ts", "user_id", "session_id"]
    parsed = rows_of('{"userId":"","ts":1541105830796,"sessionId":3,"artist":null}', EVENTS)
    assert parsed.rows[0][:4] == (None, 1541105830796, "", 3)


@pytest.mark.parametrize(
    "text, reason",
    [
        ('{"ts": "1541105830796"}', "ts: expected an integer, got the string"),
        ('{"ts": 1.5}', "ts: expected an integer, got the number 1.5"),
        ('{"ts": 99999999999999999999}', "out of range for bigint"),
        ('{"sessionId": "abc"}', "session_id: expected an integer"),
        ('{"artist": {"name": "x"}}', "artist: expected text, got an object"),
        ('{"artist": ["x"]}', "artist: expected text, got an array"),
        ('{"Ts": 1}', "differs only in letter case"),
        ('["a", "b"]', "expected a JSON object, got an array"),
        ('{"ts": 1', "malformed JSON: Expecting ',' delimiter"),
        ('{"ts": NaN}', "NaN is not valid JSON"),
        ('{"artist": "a\\u0000b"}', "NUL character"),
    ],
)
def test_bad_records_are_rejected_with_line_and_reason(text: str, reason: str) -> None:
    good = '{"ts": 1}'
    parsed = rows_of(f"{good}\n{text}\n{good}", EVENTS)
    assert len(parsed.rows) == 2
    assert len(parsed.rejects) == 1
    reject = parsed.rejects[0]
    assert (reject.key, reject.line) == ("k.json", 2)
    assert reason in reject.reason
    assert str(reject).startswith("k.json:2: ")


def test_file_ending_inside_a_record_is_truncated_json() -> None:
    parsed = rows_of('{"ts": 1}\n{"ts": 2, "artist": "ab', EVENTS)
    assert [r[1] for r in parsed.rows] == [1]
    assert parsed.rejects[0].line == 2 and "truncated JSON" in parsed.rejects[0].reason


def test_malformed_line_does_not_swallow_the_next_record() -> None:
    parsed = rows_of('{"ts": 1}\n{"ts": 2, \n{"ts": 3}\n', EVENTS)
    assert [r[1] for r in parsed.rows] == [1, 3]
    assert [r.line for r in parsed.rejects] == [2]


def test_invalid_utf8_is_rejected_unless_replacement_is_asked_for() -> None:
    data = b'{"artist": "ok", "ts": 1}\n{"artist": "caf\xe9", "ts": 2}\n'
    parsed = rows_of(data, EVENTS)
    assert len(parsed.rows) == 1
    assert parsed.rejects[0].line == 2 and "invalid UTF-8 byte 0xe9" in parsed.rejects[0].reason
    replaced = rows_of(data, EVENTS, invalid_char="?")
    assert [r[0] for r in replaced.rows] == ["ok", "caf?"]


def test_bom_crlf_blank_lines_and_pretty_printing_load() -> None:
    data = '\ufeff{"ts": 1}\r\n\r\n{\n  "ts": 2\n}\r\n{"ts": 3} {"ts": 4}'.encode()
    parsed = rows_of(data, EVENTS)
    assert parsed.rejects == []
    assert [(r[1], r[-1]) for r in parsed.rows] == [(1, 1), (2, 3), (3, 6), (4, 6)]


def test_empty_object_file_gives_no_rows_and_no_errors() -> None:
    assert rows_of(b"", EVENTS).rows == [] and rows_of(b"  \n", EVENTS).rejects == []


def test_missing_and_extra_keys() -> None:
    parsed = rows_of('{"ts": 5, "extra": {"nested": [1, 2]}}', EVENTS)
    assert parsed.rows[0][:4] == (None, 5, None, None)
    [kept] = parsed.unmapped
    assert (kept.key, kept.line, kept.names) == ("k.json", 1, ("extra",))
    assert kept.json == '{"extra":{"nested":[1,2]}}'


def test_unmapped_keys_keep_their_values_exactly_as_sent() -> None:
    text = r'{"ts": 5, "b": 0.50, "a": 9007199254740993, "c": "caf\u00e9 \"q\"", "d": [true, null]}'
    [kept] = rows_of(text, EVENTS).unmapped
    assert kept.names == ("b", "a", "c", "d")  # in the record's order
    assert kept.json == r'{"b":0.50,"a":9007199254740993,"c":"café \"q\"","d":[true,null]}'
    assert json.loads(kept.json)["c"] == 'café "q"'
    assert rows_of(json.dumps(song()), SONGS).unmapped == []  # every key mapped: nothing kept


def test_unmapped_keys_inside_an_object_a_column_reads() -> None:
    paths = json.dumps({"jsonpaths": ["$['ts']", "$['page']['name']"]})
    table = events_table(paths.encode(), "paths.json")
    parsed = rows_of('{"ts": 5, "page": {"name": "Home", "referrer": "x"}, "z": {}}', table)
    assert parsed.rows[0][:2] == (5, "Home")
    [kept] = parsed.unmapped
    assert kept.names == ("page.referrer", "z")
    assert kept.json == '{"page":{"referrer":"x"},"z":{}}'


def test_unmapped_values_too_large_to_keep_are_listed_not_kept_and_the_record_stages() -> None:
    parsed = rows_of(json.dumps({"ts": 5, "blob": "x" * 70_000, "b": 1}), EVENTS)
    assert parsed.rows[0][:2] == (None, 5) and parsed.rejects == []
    [listed] = parsed.unmapped
    assert (listed.names, listed.json) == (("blob", "b"), None)
    assert listed.not_kept == "70,017 bytes of JSON, more than 65,535"
    [surrogate] = rows_of('{"ts": 5, "x": "\\ud800"}', EVENTS).unmapped
    assert surrogate.json is None and "lone surrogate" in (surrogate.not_kept or "")


def test_a_record_of_unmapped_keys_only_is_rejected_naming_them() -> None:
    [reject] = rows_of('{"experiment": 1}', EVENTS).rejects
    assert "only keys no column maps: experiment" in reject.reason


def test_check_rejects_allows_up_to_max_errors() -> None:
    rejects = rows_of('{"ts": "x"}\n{"ts": "y"}', EVENTS).rejects
    check_rejects(rejects, 2, "staging_events")
    with pytest.raises(DataError, match=r"k.json:1: ts: expected an integer"):
        check_rejects(rejects, 1, "staging_events")
