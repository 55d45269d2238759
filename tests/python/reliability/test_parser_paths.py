"""One outcome whatever the parser: the same record gives the same result through the fast path
(DuckDB's reader, for LF files) and the exact parser (Python, which takes CRLF files, among
others), over named mutations of a good record and seeded random ones.

An outcome is the exit code and the exact rows staged. A construct one path accepts and the
other refuses is a defect (a trailing comma once was one).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import duckdb
import pytest

from loader.copy_staging import main
from loader.fast_parse import eligible
from tests.python.reliability.test_bad_input import GOOD

SEED = 20261202
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


CASES = NAMED | random_mutations(40)


def outcome(tmp: Path, jsonpaths: bytes, data: bytes) -> tuple[int, list[tuple]]:
    source = tmp / "source"
    (source / "log_data").mkdir(parents=True)
    (source / "log_json_path.json").write_bytes(jsonpaths)
    (source / "log_data" / "day.json").write_bytes(data)
    warehouse = tmp / "warehouse.duckdb"
    code = main(["--no-progress", "--source", str(source), "--tables", "events"])
    if code != 0:
        return code, []
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "select * exclude (_batch_id, _loaded_at) from staging.staging_events "
            "order by _source_line"
        ).fetchall()
    return code, rows


@pytest.mark.parametrize("name", list(CASES))
def test_fast_path_and_exact_parser_give_one_outcome(
    name: str, small_generated: Path, tmp_path: Path, profiles_dir: Path, monkeypatch
) -> None:
    jsonpaths = (small_generated / "log_json_path.json").read_bytes()
    lf = BASE + b"\n" + CASES[name] + b"\n"
    crlf = lf.replace(b"\n", b"\r\n")
    assert eligible(lf) and not eligible(crlf)  # the two paths, for sure
    results = []
    for ending, data in (("lf", lf), ("crlf", crlf)):
        monkeypatch.setenv("SPARKIFY_DUCKDB_PATH", str(tmp_path / ending / "warehouse.duckdb"))
        results.append(outcome(tmp_path / ending, jsonpaths, data))
    fast, exact = results
    assert fast == exact, f"{name}: fast path {fast[0]}, exact parser {exact[0]}"
