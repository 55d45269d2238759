"""One outcome whatever the parser: the same object gives the same result through the fast path
(DuckDB's reader, handing the records it cannot vouch for to Python) and through the exact
parser (Python alone, which takes CRLF files among others), over named mutations of a good
record and seeded random ones.

An outcome is the exact rows (values, object, line), the lines rejected and the keys no column
maps (kept in staging.load_unmapped). A construct one path
accepts and the other refuses is a defect (a trailing comma once was one).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from loader.fast_parse import FAST_TABLE, FastParser, eligible
from loader.records import parse_object
from loader.sources import SourceObject
from loader.tables import events_table
from tests.python.reliability.test_bad_input import GOOD

SEED = 20261202
KEY = "log_data/2018/11/day.json"
BASE = json.dumps(GOOD).encode()
NAMED = {
    "trailing comma": BASE[:-1] + b",}",
    "trailing comma with space": BASE[:-1] + b" , }",
    "trailing comma in an extra array": BASE[:-1] + b', "x": [1, 2,]}',
    "trailing comma in an extra object": BASE[:-1] + b', "x": {"a": 1,}}',
    "block comment": BASE[:-1] + b" /* c */}",
    "line comment": BASE + b" // c",
    "single-quoted value": BASE.replace(b'"Muse"', b"'Muse'"),
    "single-quoted key": BASE.replace(b'"artist"', b"'artist'"),
    "unquoted key": BASE.replace(b'"artist"', b"artist"),
    "leading zero": BASE.replace(b'"status": 200', b'"status": 0200'),
    "plus sign": BASE.replace(b'"status": 200', b'"status": +200'),
    "hex number": BASE.replace(b'"status": 200', b'"status": 0x10'),
    "leading decimal point": BASE.replace(b"201.5", b".5"),
    "trailing decimal point": BASE.replace(b"201.5", b"201."),
    "exponent without digits": BASE.replace(b"201.5", b"2e"),
    "integer with an exponent": BASE.replace(b'"status": 200', b'"status": 2e2'),
    "minus zero": BASE.replace(b'"status": 200', b'"status": -0'),
    "Infinity": BASE.replace(b"201.5", b"Infinity"),
    "True": BASE.replace(b'"Muse"', b"True"),
    "duplicate column key": BASE[:-1] + b', "artist": "Other"}',
    "duplicate extra key": BASE[:-1] + b', "x": 1, "x": 2}',
    "invalid escape": BASE.replace(b'"Muse"', b'"Mu\\qse"'),
    "hex escape": BASE.replace(b'"Muse"', b'"Mu\\x41se"'),
    "raw tab in a string": BASE.replace(b'"Muse"', b'"Mu\tse"'),
    "raw control character in a string": BASE.replace(b'"Muse"', b'"Mu\x01se"'),
    "escaped NUL": BASE.replace(b'"Muse"', b'"Mu\\u0000se"'),
    "U+2028 in a string": BASE.replace(b'"Muse"', '"Mu\u2028se"'.encode()),
    "no-break space as whitespace": BASE.replace(b', "auth"', b',\xc2\xa0"auth"'),
    "vertical tab as whitespace": BASE.replace(b', "auth"', b',\x0b"auth"'),
    "form feed as whitespace": BASE.replace(b', "auth"', b',\x0c"auth"'),
    "garbage after the record": BASE + b" x",
    "two records separated by a comma": BASE + b"," + BASE,
    "empty key": BASE[:-1] + b', "": 1}',
    "comma inside a string before a brace": BASE.replace(b'"Muse"', b'"Mu,}se"'),
    "song play with an empty user": BASE.replace(b'"userId": "7"', b'"userId": ""'),
    "song play with a null session": BASE.replace(b'"sessionId": 7', b'"sessionId": null'),
    "empty level": BASE.replace(b'"level": "paid"', b'"level": ""'),
    "extra key": BASE[:-1] + b', "experiment": "b"}',
    "extra object with exact numbers": BASE[:-1]
    + b', "experiment": {"arm": "b", "share": 0.50, "id": 9007199254740993}}',
    "extra keys only": b'{"experiment": 1, "x": [1, 2]}',
    "extra key, null": BASE[:-1] + b', "experiment": null}',
    "extra key and a missing column": BASE.replace(b'"auth": "Logged In", ', b"")[:-1]
    + b', "experiment": true}',
    "logged out, empty level": BASE.replace(b'"userId": "7"', b'"userId": ""')
    .replace(b'"level": "paid"', b'"level": ""')
    .replace(b'"NextSong"', b'"Home"'),
}


def random_mutations(count: int) -> dict[str, bytes]:
    """Single-character insertions, deletions and replacements at random places."""
    rng = random.Random(SEED)
    alphabet = [b",", b"}", b"]", b"[", b"{", b'"', b"'", b":", b"\\", b" ", b"0", b"-", b"e"]
    found = {}
    for number in range(count):
        at = rng.randrange(1, len(BASE) - 1)
        kind = rng.choice(["insert", "delete", "replace"])
        char = rng.choice(alphabet)
        if kind == "insert":
            data = BASE[:at] + char + BASE[at:]
        elif kind == "delete":
            data = BASE[:at] + BASE[at + 1 :]
        else:
            data = BASE[:at] + char + BASE[at + 1 :]
        found[f"random {number} (seed {SEED}): {kind} {char!r} at {at}"] = data
    return found


CASES = NAMED | random_mutations(150)


@pytest.fixture(scope="module")
def table(small_generated: Path):
    document = (small_generated / "log_json_path.json").read_bytes()
    return events_table(document, "log_json_path.json")


def outcome_fast(table, data: bytes) -> tuple[list[tuple], list[int], list[tuple]]:
    """What the fast path makes of an object: DuckDB's reader, the odd records in Python."""
    parser = FastParser(table)
    batch = parser.parse([(SourceObject(KEY, len(data), ""), data)])
    try:
        names = ", ".join(f"v{i}" for i in range(len(table.columns)))
        fast = (
            parser.con.execute(
                f"select {names}, source_key, source_line from {FAST_TABLE}"
            ).fetchall()
            if batch.fast_rows
            else []
        )
        rows = sorted([*fast, *batch.python_rows], key=lambda row: row[-1])
        unmapped = sorted((u.line, u.names, u.json) for u in batch.unmapped)
        return rows, sorted(r.line for r in batch.rejects), unmapped
    finally:
        batch.drop()
        parser.con.close()


def outcome_exact(table, data: bytes) -> tuple[list[tuple], list[int], list[tuple]]:
    parsed = parse_object(data, KEY, table)
    unmapped = sorted((u.line, u.names, u.json) for u in parsed.unmapped)
    return (
        sorted(parsed.rows, key=lambda row: row[-1]),
        sorted(r.line for r in parsed.rejects),
        unmapped,
    )


@pytest.mark.parametrize("name", list(CASES))
def test_fast_path_and_exact_parser_give_one_outcome(table, name: str) -> None:
    data = BASE + b"\n" + CASES[name] + b"\n"
    assert eligible(data)  # the fast path takes it
    fast, exact = outcome_fast(table, data), outcome_exact(table, data)
    assert fast == exact, f"{name}: fast path {fast}, exact parser {exact}"
