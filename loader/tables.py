"""The staging tables: their columns, types and how each column is found in a JSON record.

``staging_events`` takes its columns from the JSONPaths file, in its order (as Redshift's COPY
does); ``staging_songs`` maps keys to columns by name (Redshift's ``'auto'``). Every text column
keeps the value exactly as written in the file, numbers included (a title written ``4.6`` is the
text ``4.6``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from loader.errors import ConfigError

TEXT, INTEGER, BIGINT, DOUBLE = "text", "integer", "bigint", "double"
# The bookkeeping's own text: object keys (S3 allows 1,024 bytes; Redshift reads only S3) and
# ids (batch ids, table names). Their own kinds, so that an engine that sizes its columns sizes
# them for what they hold (Redshift: VARCHAR(1024) and VARCHAR(64), not 65,535 bytes, which AWS
# advises against); text everywhere else.
KEY, ID = "key", "id"
# The longest text each column holds, in UTF-8 bytes: the width of the column it becomes in the
# models (VARCHAR(n) on Redshift counts bytes; PostgreSQL counts characters, never fewer), so a
# value that stages fits everywhere downstream. The widest real values are ~180 characters
# (user agents, names with a location); codes and ids are a few. A longer value is refused by the
# loader with its file and line on every engine, never cut.
TEXT_BYTES = 1024
TEXT_BYTES_BY_COLUMN = {
    "auth": 32,
    "level": 16,
    "gender": 16,
    "method": 16,
    "page": 64,
    "user_id": 64,
    "song_id": 64,
    "artist_id": 64,
}


# What the staging views make of some columns, checked when loading so that a load that
# succeeds never breaks a build (a conversion error deep in a view names no file or line):
# - epoch milliseconds become timestamps: a whole number within the years 1 to 9999, which
#   every engine holds (DuckDB, PostgreSQL and Redshift all fail beyond their ranges);
# - integer text (``"userId": "39"``) becomes an integer: empty, or digits within int32.
EPOCH_MS_COLUMNS = frozenset({"ts", "registration"})
INTEGER_TEXT_COLUMNS = frozenset({"user_id"})
EPOCH_MS_RANGE = (-62_135_596_800_000, 253_402_300_799_999)  # 0001-01-01 .. 9999-12-31 UTC


@dataclass(frozen=True)
class Requirement:
    """A value the marts cannot do without: ``column`` holds a value (neither missing, null nor
    empty) in every record where the condition holds. The condition is always true when
    ``when`` is None; else column ``when`` holds a value (``equals`` None) or equals ``equals``."""

    column: str
    reason: str
    when: str | None = None
    equals: str | None = None

    @property
    def columns(self) -> set[str]:
        return {self.column} | ({self.when} if self.when else set())


# What the marts need of a record, checked when loading for the reason above: without it the
# record stages, and then a mart's not_null test (or NOT NULL constraint) fails the build for
# everyone, naming no file or line. The real data meets every one of them.
REQUIREMENTS: dict[str, tuple[Requirement, ...]] = {
    "staging_events": (
        Requirement("ts", "every event needs its time"),
        Requirement("level", "an event with a user needs the user's level", when="user_id"),
        Requirement(
            "user_id", "a song play (page NextSong) needs its user", "page", equals="NextSong"
        ),
        Requirement(
            "session_id", "a song play (page NextSong) needs its session", "page", "NextSong"
        ),
    ),
    "staging_songs": (
        Requirement("song_id", "every song needs its id"),
        Requirement("artist_id", "every song needs its artist's id"),
    ),
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    path: tuple[str, ...]  # keys leading to the value in a record

    @property
    def is_epoch_ms(self) -> bool:
        return self.name in EPOCH_MS_COLUMNS and self.type != TEXT

    @property
    def is_integer_text(self) -> bool:
        return self.name in INTEGER_TEXT_COLUMNS and self.type == TEXT

    @property
    def max_bytes(self) -> int | None:
        """The longest value a text column takes, in UTF-8 bytes (None: not text)."""
        return TEXT_BYTES_BY_COLUMN.get(self.name, TEXT_BYTES) if self.type == TEXT else None

    @property
    def json_path(self) -> str:
        return "$" + "".join(f"['{key}']" for key in self.path)


@dataclass(frozen=True)
class Table:
    name: str  # unqualified, e.g. "staging_events"
    prefix: str  # where its objects live under the source, e.g. "log_data/"
    columns: tuple[Column, ...]
    jsonpaths_key: str | None = None  # the JSONPaths object Redshift's COPY reads, if any

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def requirements(self) -> tuple[Requirement, ...]:
        """The requirements whose columns this table has (a JSONPaths file may leave some out)."""
        names = set(self.column_names)
        return tuple(r for r in REQUIREMENTS.get(self.name, ()) if r.columns <= names)


# Metadata every staged row carries, after the data columns.
META_COLUMNS: tuple[tuple[str, str], ...] = (
    ("_source_key", KEY),  # object key relative to the source root
    ("_source_line", INTEGER),  # line of the record in its object
    ("_batch_id", ID),  # the load batch that committed the row
    ("_loaded_at", "timestamp"),  # UTC time of the commit; dbt source freshness reads it
)

EVENT_TYPES = {
    "item_in_session": INTEGER,
    "length": DOUBLE,
    "registration": DOUBLE,
    "session_id": BIGINT,
    "status": INTEGER,
    "ts": BIGINT,
}

SONG_COLUMNS = (
    ("num_songs", INTEGER),
    ("artist_id", TEXT),
    ("artist_latitude", DOUBLE),
    ("artist_longitude", DOUBLE),
    ("artist_location", TEXT),
    ("artist_name", TEXT),
    ("song_id", TEXT),
    ("title", TEXT),
    ("duration", DOUBLE),
    ("year", INTEGER),
)

_PATH_PART = re.compile(r"""\[\s*'([^']*)'\s*\]|\[\s*"([^"]*)"\s*\]|\.([A-Za-z_][A-Za-z0-9_]*)""")


def snake_case(key: str) -> str:
    """``firstName`` -> ``first_name``; ``userId`` -> ``user_id``."""
    text = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key)
    return re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_")


def parse_json_path(expression: str) -> tuple[str, ...]:
    """Parse ``$['a']['b']`` or ``$.a.b`` into ``("a", "b")``."""
    text = expression.strip()
    if not text.startswith("$"):
        raise ValueError(f"{expression!r} does not start with '$'")
    keys, pos = [], 1
    while pos < len(text):
        match = _PATH_PART.match(text, pos)
        if not match:
            raise ValueError(f"{expression!r} is not a simple JSONPath at character {pos + 1}")
        keys.append(next(g for g in match.groups() if g is not None))
        pos = match.end()
    if not keys:
        raise ValueError(f"{expression!r} names no field")
    return tuple(keys)


def events_table(jsonpaths_document: bytes, where: str) -> Table:
    """Build ``staging_events`` from a JSONPaths document, reporting every problem it has."""
    try:
        document = json.loads(jsonpaths_document)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: the JSONPaths file is not valid JSON: {exc}") from None
    paths = document.get("jsonpaths") if isinstance(document, dict) else None
    if not isinstance(paths, list) or not paths:
        raise ConfigError(f'{where}: expected an object with a non-empty "jsonpaths" list')
    columns, problems, seen = [], [], set()
    for index, expression in enumerate(paths, start=1):
        if not isinstance(expression, str):
            problems.append(f"entry {index} is not a string")
            continue
        try:
            path = parse_json_path(expression)
        except ValueError as exc:
            problems.append(f"entry {index}: {exc}")
            continue
        name = snake_case(path[-1])
        if not name or name in seen:
            problems.append(f"entry {index}: {expression!r} gives a duplicate or empty column")
            continue
        seen.add(name)
        columns.append(Column(name, EVENT_TYPES.get(name, TEXT), path))
    if problems:
        raise ConfigError(f"{where}: invalid JSONPaths file: " + "; ".join(problems))
    return Table("staging_events", "log_data/", tuple(columns), jsonpaths_key=where)


def songs_table() -> Table:
    columns = tuple(Column(name, kind, (name,)) for name, kind in SONG_COLUMNS)
    return Table("staging_songs", "song_data/", columns)


def relative_key(key: str, root: str) -> str:
    return str(PurePosixPath(key).relative_to(root)) if root else key
