"""JSONPaths files define the event columns; bad ones are configuration errors."""

from __future__ import annotations

import pytest

from loader.errors import ConfigError
from loader.tables import events_table, parse_json_path, snake_case


@pytest.mark.parametrize(
    "key, column",
    [
        ("firstName", "first_name"),
        ("userId", "user_id"),
        ("itemInSession", "item_in_session"),
        ("ts", "ts"),
    ],
)
def test_snake_case(key: str, column: str) -> None:
    assert snake_case(key) == column


@pytest.mark.parametrize(
    "expression, keys",
    [
        ("$['a']", ("a",)),
        ('$["a b"]', ("a b",)),
        ("$.a.b", ("a", "b")),
        ("$['a']['b']", ("a", "b")),
    ],
)
def test_parse_json_path(expression: str, keys: tuple[str, ...]) -> None:
    assert parse_json_path(expression) == keys


def test_real_jsonpaths_file_gives_the_documented_columns(real_full) -> None:
    table = events_table((real_full / "log_json_path.json").read_bytes(), "log_json_path.json")
    assert table.column_names == [
        "artist",
        "auth",
        "first_name",
        "gender",
        "item_in_session",
        "last_name",
        "length",
        "level",
        "location",
        "method",
        "page",
        "registration",
        "session_id",
        "song",
        "status",
        "ts",
        "user_agent",
        "user_id",
    ]


@pytest.mark.parametrize(
    "document, message",
    [
        (b"{not json", "not valid JSON"),
        (b'{"paths": []}', 'non-empty "jsonpaths" list'),
        (b'{"jsonpaths": ["artist"]}', "does not start with '$'"),
        (b'{"jsonpaths": ["$[\'a\']", "$[\'a\']"]}', "duplicate"),
    ],
)
def test_malformed_jsonpaths_is_a_config_error(document: bytes, message: str) -> None:
    with pytest.raises(ConfigError, match=r"paths\.json") as info:
        events_table(document, "paths.json")
    assert message in str(info.value)
