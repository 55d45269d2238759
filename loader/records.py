"""Turn the bytes of one JSON object file into typed rows, or into rejects with file:line:reason.

A file is read as a stream of JSON values separated by whitespace, as Redshift's JSON COPY reads
it: one object per line (NDJSON), a pretty-printed object over several lines, or several objects
on one line all load. Numbers keep their exact text for text columns (``"title": 4.6`` stays
``4.6``); numeric columns accept only JSON numbers that fit their type. A key absent from a record
gives NULL, unless the record has the same key in another letter case: that is rejected rather than
silently nulled.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from loader.errors import DataError
from loader.tables import BIGINT, DOUBLE, EPOCH_MS_RANGE, INTEGER, TEXT, Column, Table

INT_RANGE = {INTEGER: 2**31, BIGINT: 2**63}
MAX_RAW = 65_535  # characters of a rejected record kept in the rejects table
# the longest JSON of a record's unmapped keys kept in staging.load_unmapped, in UTF-8 bytes:
# Redshift's widest VARCHAR, on every engine; longer is never cut (see Unmapped)
MAX_UNMAPPED_BYTES = 65_535
_WS = re.compile(r"[ \t\n\r]*")
BOM = "\ufeff"


class RawInt(str):
    """The text of a JSON integer."""


class RawFloat(str):
    """The text of a JSON number with a fraction or exponent."""


def _constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def _object(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object; a key written twice in one object is ambiguous (which value is meant?),
    so the record is rejected on every path rather than one of them kept in silence."""
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {key!r} in one object")
            seen.add(key)
    return value


_DECODER = json.JSONDecoder(
    parse_int=RawInt, parse_float=RawFloat, parse_constant=_constant, object_pairs_hook=_object
)


@dataclass(frozen=True)
class Reject:
    key: str
    line: int
    raw: str
    reason: str

    def __str__(self) -> str:
        return f"{self.key}:{self.line}: {self.reason}"


@dataclass(frozen=True)
class Unmapped:
    """The keys of a staged record that no column maps (schema drift), kept with the record's
    origin: ``names`` their paths (``experiment``, ``page.referrer``), ``json`` an object of
    exactly those keys and values as the record had them (numbers as written). Values no
    engine could hold (more than MAX_UNMAPPED_BYTES of JSON, a lone surrogate) are not kept:
    the record still stages, its keys are listed, and the loader warns naming it."""

    key: str
    line: int
    names: tuple[str, ...]
    json: str | None  # None when they cannot be kept: ``not_kept`` says why
    not_kept: str | None = None


@dataclass
class Parsed:
    rows: list[tuple]
    rejects: list[Reject]
    present: set[str] = field(default_factory=set)  # columns whose key some record had
    unmapped: list[Unmapped] = field(default_factory=list)


class BadValue(Exception):
    pass


def _describe(value: object) -> str:
    if isinstance(value, RawInt | RawFloat):
        return f"the number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {json.dumps(shown)}"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return repr(value)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _exact_integer(text: str) -> int | None:
    """The integer a JSON number with a fraction or exponent is *exactly* (from its decimal
    text, never through a double, which rounds 9007199254740993.0), or None when it is not one
    (or is too large for any integer column)."""
    number = Decimal(text)
    if not number.is_finite() or number.adjusted() > 30:
        return None if not number.is_finite() else 10**31  # out of every range
    if number != number.to_integral_value():
        return None
    return int(number)


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def convert(column: Column, value: object) -> object:
    """Convert a decoded JSON value to the column's type, or raise BadValue saying why; a
    value the staging views could not convert further is refused here (see tables.py)."""
    converted = _convert(column, value)
    if converted is None:
        return None
    if column.is_epoch_ms:
        low, high = EPOCH_MS_RANGE
        if isinstance(converted, float) and not converted.is_integer():
            raise BadValue(f"{column.name}: {value} is not a whole number of milliseconds")
        if not isinstance(converted, int | float) or not low <= converted <= high:
            raise BadValue(
                f"{column.name}: {value} milliseconds is outside the years 1 to 9999 that "
                "every engine's timestamps hold"
            )
    elif (
        column.is_integer_text
        and converted != ""
        and (
            not isinstance(converted, str)
            or not _INTEGER_TEXT.fullmatch(converted)
            or not -(2**31) <= int(converted) < 2**31
        )
    ):
        raise BadValue(
            f"{column.name}: expected an integer (as text) or empty, got {_describe(converted)}"
        )
    return converted


_INTEGER_TEXT = re.compile(r"-?[0-9]{1,12}")


def _convert(column: Column, value: object) -> object:
    if value is None:
        return None
    kind = column.type
    if kind == TEXT:
        if isinstance(value, str):  # includes RawInt/RawFloat: the number's exact text
            if "\x00" in value:
                raise BadValue(f"{column.name}: text contains a NUL character")
            if (surrogate := _SURROGATE.search(value)) is not None:
                raise BadValue(
                    f"{column.name}: text contains the lone surrogate "
                    f"\\u{ord(surrogate.group()):04x}, which is no character (not UTF-8)"
                )
            limit = column.max_bytes or 0
            size = len(value) if len(value) * 4 <= limit else _utf8_size(value)
            if size > limit:
                raise BadValue(
                    f"{column.name}: the text is {size:,} bytes, longer than the {limit:,} "
                    "the column holds"
                )
            return str(value)
        if isinstance(value, bool):
            return "true" if value else "false"
        raise BadValue(f"{column.name}: expected text, got {_describe(value)}")
    if kind in INT_RANGE:
        if isinstance(value, RawInt):
            number = int(value)
        elif isinstance(value, RawFloat) and (exact := _exact_integer(value)) is not None:
            number = exact  # 1.0 and 1e3 are integers; 1.0000000000000001 is not
        else:
            raise BadValue(f"{column.name}: expected an integer, got {_describe(value)}")
        limit = INT_RANGE[kind]
        if not -limit <= number < limit:
            raise BadValue(f"{column.name}: {value} is out of range for {kind}")
        return number
    if kind == DOUBLE:
        if not isinstance(value, RawInt | RawFloat):
            raise BadValue(f"{column.name}: expected a number, got {_describe(value)}")
        real = float(value)
        if not math.isfinite(real):
            raise BadValue(f"{column.name}: {value} is out of range for double precision")
        return real
    raise AssertionError(kind)


def _lookup(record: dict, column: Column) -> object:
    value: object = record
    for depth, key in enumerate(column.path):
        if not isinstance(value, dict):
            return None
        if key in value:
            value = value[key]
            continue
        lowered = key.lower()
        for other in value:
            if isinstance(other, str) and other.lower() == lowered:
                where = ".".join(column.path[: depth + 1])
                raise BadValue(f"key {other!r} differs only in letter case from {where!r}")
        return None
    return value


MappedTree = dict[str, "MappedTree | None"]


def mapped_tree(table: Table) -> MappedTree:
    """The keys the table's columns read, as a tree: ``None`` where a column takes the whole
    value, a subtree where columns read keys inside it."""
    tree: MappedTree = {}
    for column in table.columns:
        node: MappedTree | None = tree
        for key in column.path[:-1]:
            if node is None:
                break
            node = node.setdefault(key, {})
        if node is not None:
            node[column.path[-1]] = None
    return tree


def unmapped_keys(record: dict, tree: MappedTree) -> tuple[tuple[str, ...], dict] | None:
    """The record's keys no column reads: their dotted paths and an object holding exactly
    them (nested as in the record), or None when every key is read."""
    names: list[str] = []

    def leftover(value: dict, node: MappedTree, prefix: str) -> dict:
        kept: dict = {}
        for key, item in value.items():
            if key not in node:
                kept[key] = item
                names.append(prefix + key)
            elif (
                (child := node[key]) is not None
                and isinstance(item, dict)
                and (inner := leftover(item, child, f"{prefix}{key}."))
            ):
                kept[key] = inner
        return kept

    kept = leftover(record, tree, "")
    return (tuple(names), kept) if kept else None


def exact_json(value: object) -> str:
    """JSON text of a decoded value with every number exactly as written in the file."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, RawInt | RawFloat):
        return str.__str__(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        items = (f"{json.dumps(k, ensure_ascii=False)}:{exact_json(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(exact_json(v) for v in value) + "]"
    raise AssertionError(type(value))


def _unmapped_record(key: str, line: int, record: dict, tree: MappedTree) -> Unmapped | None:
    found = unmapped_keys(record, tree)
    if found is None:
        return None
    names, kept = found
    text = exact_json(kept)
    if _SURROGATE.search(text):
        return Unmapped(key, line, names, None, "they hold a lone surrogate, which is no text")
    if (size := _utf8_size(text)) > MAX_UNMAPPED_BYTES:
        return Unmapped(
            key, line, names, None, f"{size:,} bytes of JSON, more than {MAX_UNMAPPED_BYTES:,}"
        )
    return Unmapped(key, line, names, text)


def decode_text(
    data: bytes, key: str, invalid_char: str | None, first_line: int = 1
) -> tuple[str, list[Reject]]:
    """Decode UTF-8; invalid bytes reject their line unless a replacement character is set."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        if invalid_char is not None:
            text = data.decode("utf-8", errors="replace").replace("\ufffd", invalid_char)
        else:
            rejects, lines = [], []
            for number, line in enumerate(data.split(b"\n"), start=first_line):
                try:
                    lines.append(line.decode("utf-8"))
                except UnicodeDecodeError as exc:
                    raw = line.decode("utf-8", errors="backslashreplace")
                    reason = (
                        f"invalid UTF-8 byte 0x{line[exc.start]:02x} at column {exc.start + 1} "
                        "(use --accept-invalid-chars to replace it)"
                    )
                    rejects.append(Reject(key, number, raw[:MAX_RAW], reason))
                    lines.append("")
            text = "\n".join(lines)
            return (_strip_bom(text) if first_line == 1 else text), rejects
    return (_strip_bom(text) if first_line == 1 else text), []


def _strip_bom(text: str) -> str:
    return text[1:] if text.startswith(BOM) else text


def parse_object(
    data: bytes, key: str, table: Table, invalid_char: str | None = None, first_line: int = 1
) -> Parsed:
    """Parse every record of one object into rows of ``table`` (plus key and line). ``data`` may
    be a slice of an object that starts at line ``first_line``."""
    text, rejects = decode_text(data, key, invalid_char, first_line)
    rows: list[tuple] = []
    columns = table.columns
    requirements = _requirement_checks(table)
    tree = mapped_tree(table)
    present: set[str] = set()
    unmapped: list[Unmapped] = []
    for line, start, end, value, error in _values(text, first_line):
        if error is not None:
            rejects.append(Reject(key, line, text[start:end][:MAX_RAW], error))
            continue
        if not isinstance(value, dict):
            rejects.append(
                Reject(
                    key,
                    line,
                    text[start:end][:MAX_RAW],
                    f"expected a JSON object, got {_describe(value)}",
                )
            )
            continue
        try:
            row = tuple(convert(c, _lookup(value, c)) for c in columns)
            extra = _unmapped_record(key, line, value, tree)
        except BadValue as exc:
            rejects.append(Reject(key, line, text[start:end][:MAX_RAW], str(exc)))
            continue
        if all(v is None for v in row):
            reason = "record has no values: every field is null or missing"
            if extra is not None:
                reason += f" (it has only keys no column maps: {', '.join(extra.names[:5])})"
            rejects.append(Reject(key, line, text[start:end][:MAX_RAW], reason))
            continue
        if requirements and (unmet := _unmet(row, requirements)):
            rejects.append(Reject(key, line, text[start:end][:MAX_RAW], unmet))
            continue
        if len(present) < len(columns):
            present.update(c.name for c in columns if c.path[0] in value)
        rows.append((*row, key, line))
        if extra is not None:
            unmapped.append(extra)
    return Parsed(rows, rejects, present, unmapped)


def _requirement_checks(table: Table) -> list[tuple[int, int | None, str | None, str]]:
    """The table's requirements by column position: (column, condition column, value, reason)."""
    position = {name: index for index, name in enumerate(table.column_names)}
    return [
        (
            position[r.column],
            position[r.when] if r.when else None,
            r.equals,
            f"{r.column}: missing or empty, and {r.reason}",
        )
        for r in table.requirements
    ]


def _unmet(row: tuple, checks: list[tuple[int, int | None, str | None, str]]) -> str | None:
    """Why the row fails a requirement, or None."""
    for column, when, equals, reason in checks:
        if when is not None:
            condition = row[when]
            if condition is None or condition == "" or (equals is not None and condition != equals):
                continue
        if row[column] is None or row[column] == "":
            return reason
    return None


def _values(text: str, first_line: int = 1) -> Iterator[tuple[int, int, int, object, str | None]]:
    """Yield (line, start, end, value, error) for each JSON value in the text."""
    pos, line, counted = 0, first_line, 0
    size = len(text)
    while True:
        blank = _WS.match(text, pos)  # whitespace, possibly none: it always matches
        pos = blank.end() if blank else pos
        if pos >= size:
            return
        line += text.count("\n", counted, pos)
        counted = pos
        try:
            value, end = _DECODER.raw_decode(text, pos)
        except RecursionError:
            newline = text.find("\n", pos)
            stop = size if newline < 0 else newline
            yield line, pos, stop, None, "JSON nested too deeply to be a record"
            pos = stop
            continue
        except (json.JSONDecodeError, ValueError) as exc:
            newline = text.find("\n", pos)
            stop = size if newline < 0 else newline
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            if isinstance(exc, json.JSONDecodeError):
                column = exc.pos - text.rfind("\n", 0, exc.pos)
                if newline < 0 and (exc.pos >= size or exc.msg.startswith("Unterminated")):
                    reason = f"truncated JSON: the file ends inside a record ({exc.msg})"
                else:
                    err_line = line + text.count("\n", pos, exc.pos)
                    reason = f"malformed JSON: {exc.msg} (line {err_line}, column {column})"
            yield line, pos, stop, None, reason
            pos = stop
            continue
        yield line, pos, end, value, None
        pos = end


def check_rejects(rejects: list[Reject], allowed: int, table: str) -> None:
    """Raise DataError when there are more rejects than allowed, listing the first ones."""
    if len(rejects) <= allowed:
        return
    shown = "\n".join(f"  {r}" for r in rejects[:20])
    more = f"\n  ... and {len(rejects) - 20} more" if len(rejects) > 20 else ""
    raise DataError(
        f"{table}: {len(rejects)} bad record(s), more than --max-errors {allowed}; "
        f"nothing of this batch was loaded:\n{shown}{more}"
    )
