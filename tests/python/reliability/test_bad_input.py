"""Bad input, kind by kind: each has one documented outcome (docs/reliability.md) and the good
data around it stays staged and correct.

Outcomes: STAGED (loaded exactly, as Redshift's COPY would), REJECTED (exit 1, the error names
file:line:reason, nothing of the batch loaded; with --max-errors the record goes to
staging.load_rejects and the rest loads), REFUSED (exit 2, a configuration error; nothing touched).
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from loader.errors import ConfigError
from loader.sources import LocalSource
from tests.python.loader.helpers import copy_days, duck, stage

GOOD = {
    "artist": "Muse",
    "auth": "Logged In",
    "firstName": "Ann",
    "gender": "F",
    "itemInSession": 0,
    "lastName": "Lee",
    "length": 201.5,
    "level": "paid",
    "location": "Here",
    "method": "PUT",
    "page": "NextSong",
    "registration": 1.5e12,
    "sessionId": 7,
    "song": "Uprising",
    "status": 200,
    "ts": 1541105830796,
    "userAgent": '"Mozilla"',
    "userId": "7",
}
BAD_KEY = "log_data/2018/11/2018-11-30-events.json"


def event(**changes: object) -> dict:
    record = dict(GOOD)
    for key, value in changes.items():
        if value is ...:
            record.pop(key)
        else:
            record[key] = value
    return record


def line(record: dict) -> bytes:
    return json.dumps(record).encode()


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    outcome: str  # STAGED, REJECTED or REFUSED
    reason: str = ""  # for REJECTED: text the error must contain
    rows: int | None = None  # for STAGED: rows staged from the bad file
    key: str = BAD_KEY


CASES = [
    Case("truncated JSON", line(GOOD) + b"\n" + line(GOOD)[:40], "REJECTED", ":2: truncated JSON"),
    Case(
        "non-UTF-8 byte",
        line(GOOD) + b"\n" + line(event(song="caf\udce9")).replace(b"\\udce9", b"\xe9"),
        "REJECTED",
        ":2: invalid UTF-8 byte 0xe9",
    ),
    Case("UTF-8 BOM", b"\xef\xbb\xbf" + line(GOOD), "STAGED", rows=1),
    Case("CRLF line endings", line(GOOD) + b"\r\n" + line(GOOD) + b"\r\n", "STAGED", rows=2),
    Case("empty file", b"", "STAGED", rows=0),
    Case(
        "JSON array instead of NDJSON",
        b"[" + line(GOOD) + b", " + line(GOOD) + b"]",
        "REJECTED",
        ":1: expected a JSON object, got an array",
    ),
    Case(
        "several objects on one line",
        line(GOOD) + b" " + line(event(itemInSession=1)),
        "STAGED",
        rows=2,
    ),
    Case(
        "string ts",
        line(event(ts="1541105830796")),
        "REJECTED",
        ":1: ts: expected an integer, got the string",
    ),
    Case(
        "text sessionId",
        line(event(sessionId="abc")),
        "REJECTED",
        ":1: session_id: expected an integer",
    ),
    Case(
        "numbers where text is expected",
        line(event(artist=883, song=4.6, firstName=12)),
        "STAGED",
        rows=1,
    ),
    Case("huge number", line(event(ts=10**30)), "REJECTED", "out of range for bigint"),
    Case(
        "missing keys (some records)",
        line(GOOD) + b"\n" + line(event(song=..., artist=..., length=...)),
        "STAGED",
        rows=2,
    ),
    Case(
        "extra and nested keys",
        line(event(extra={"nested": [1, {"deep": True}]}, more=1)),
        "STAGED",
        rows=1,
    ),
    Case(
        "key differing only in case",
        line(event(userId=..., UserId="7")),
        "REJECTED",
        "differs only in letter case",
    ),
    Case("all-null record", line({k: None for k in GOOD}), "REJECTED", "record has no values"),
    # values the staging views convert further are checked when loading: a load that succeeds
    # never breaks the build (test_every_staged_case_builds)
    Case(
        "user id that is not an integer",
        line(event(userId="7a")),
        "REJECTED",
        ':1: user_id: expected an integer (as text) or empty, got the string "7a"',
    ),
    Case(
        "event time beyond the year 9999",
        line(event(ts=10**17)),
        "REJECTED",
        ":1: ts: 100000000000000000 milliseconds is outside the years 1 to 9999",
    ),
    Case(
        "registration of 1e300",
        line(event(registration=1e300)),
        "REJECTED",
        ":1: registration: 1e+300 milliseconds is outside the years 1 to 9999",
    ),
    Case(
        "registration with a fraction of a millisecond",
        line(event(registration=1500000000000.5)),
        "REJECTED",
        ":1: registration: 1500000000000.5 is not a whole number of milliseconds",
    ),
    Case(
        "empty user id (a logged-out event)",
        line(event(userId="", auth="Logged Out", page="Home", song=None, artist=None)),
        "STAGED",
        rows=1,
    ),
    # what the marts need of a record (loader/tables.py REQUIREMENTS): staged, it would fail a
    # not_null test for everyone at the next build
    Case(
        "a song play with no user",
        line(event(userId="")),
        "REJECTED",
        ":1: user_id: missing or empty, and a song play (page NextSong) needs its user",
    ),
    Case(
        "a song play with no session (CRLF: the exact parser)",
        line(GOOD) + b"\r\n" + line(event(sessionId=None, itemInSession=1)) + b"\r\n",
        "REJECTED",
        ":2: session_id: missing or empty, and a song play (page NextSong) needs its session",
    ),
    Case(
        "an event with no time",
        line(event(ts=..., page="Home")),
        "REJECTED",
        ":1: ts: missing or empty, and every event needs its time",
    ),
    Case(
        "a user's event with no level",
        line(event(level="", page="Home")),
        "REJECTED",
        ":1: level: missing or empty, and an event with a user needs the user's level",
    ),
    Case(
        "a logged-out event with no level or session",
        line(event(userId="", level=None, sessionId=None, page="Home")),
        "STAGED",
        rows=1,
    ),
    Case("10 MB line", line(event(notes="x" * 10_000_000)), "STAGED", rows=1),
    # text as wide as its column in the models, in UTF-8 bytes (loader/tables.py): staged on
    # every engine; a byte more is refused, never cut (Redshift counts bytes)
    Case("text as long as its column", line(event(song="é" * 512)), "STAGED", rows=1),
    Case(
        "text longer than its column",
        line(GOOD) + b"\n" + line(event(artist="x" * 70_000)),
        "REJECTED",
        ":2: artist: the text is 70,000 bytes, longer than the 1,024 the column holds",
    ),
    Case(
        "multi-byte text longer than its column in bytes",
        line(event(song="é" * 513)),
        "REJECTED",
        ":1: song: the text is 1,026 bytes",
    ),
    Case(
        "a code longer than its column (CRLF: the exact parser)",
        line(GOOD) + b"\r\n" + line(event(level="premium-annual-plan")) + b"\r\n",
        "REJECTED",
        ":2: level: the text is 19 bytes, longer than the 16 the column holds",
    ),
    Case("JSON scalar line", line(GOOD) + b"\n42", "REJECTED", ":2: expected a JSON object"),
    Case("NaN", line(GOOD).replace(b"201.5", b"NaN"), "REJECTED", "NaN is not valid JSON"),
    Case("NUL character in text", line(event(song="a\u0000b")), "REJECTED", "NUL character"),
    Case("blank lines between records", line(GOOD) + b"\n\n\n" + line(GOOD), "STAGED", rows=2),
    Case(
        "pretty-printed object over several lines",
        json.dumps(GOOD, indent=2).encode(),
        "STAGED",
        rows=1,
    ),
    Case(
        "object key with quotes, semicolon, spaces and unicode",
        line(GOOD),
        "STAGED",
        rows=1,
        key='log_data/2018/11/it\'s; drop table x -- día "1".json',
    ),
]


@pytest.fixture
def source(small_generated: Path, tmp_path: Path) -> Path:
    root = tmp_path / "source"
    copy_days(small_generated, root, days=[1, 2])
    return root


def good_rows() -> list[tuple]:
    with duck() as con:
        return con.execute(
            "select * exclude (_batch_id, _loaded_at) from staging.staging_events "
            "order by _source_key, _source_line"
        ).fetchall()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_has_its_documented_outcome(
    case: Case, source: Path, profiles_dir: Path, capsys
) -> None:
    assert stage("--source", str(source), "--tables", "events") == 0
    before = good_rows()
    bad = source / case.key
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_bytes(case.data)
    capsys.readouterr()
    code = stage("--source", str(source), "--tables", "events")
    err = capsys.readouterr().err
    assert "Traceback" not in err
    with duck() as con:
        staged = con.execute(
            "select count(*) from staging.staging_events where _source_key = ?", [case.key]
        ).fetchone()[0]
        ledger = con.execute(
            "select count(*) from staging.load_ledger where object_key = ?", [case.key]
        ).fetchone()[0]
    if case.outcome == "STAGED":
        assert code == 0, err
        assert staged == case.rows and ledger == 1
    else:
        assert case.outcome == "REJECTED"
        assert code == 1
        assert f"{case.key}{case.reason}" in err or (case.key in err and case.reason in err), err
        assert staged == 0 and ledger == 0
        # with --max-errors the bad records are kept aside and the good ones load
        assert stage("--source", str(source), "--tables", "events", "--max-errors", "5") == 0
        with duck() as con:
            rejects = con.execute(
                "select line_number, reason from staging.load_rejects where object_key = ?",
                [case.key],
            ).fetchall()
        assert rejects and all(case.reason.split(": ")[-1] in r[1] for r in rejects)
    assert [r for r in good_rows() if r[-2] != case.key] == before  # good data untouched


def test_numbers_where_text_is_expected_keep_their_exact_text(
    source: Path, profiles_dir: Path
) -> None:
    (source / BAD_KEY).write_bytes(line(event(artist=883, song=4.6, firstName=12)))
    assert stage("--source", str(source), "--tables", "events") == 0
    with duck() as con:
        row = con.execute(
            "select artist, song, first_name from staging.staging_events where _source_key = ?",
            [BAD_KEY],
        ).fetchone()
    assert row == ("883", "4.6", "12")


def test_same_file_under_two_keys_is_staged_twice_and_deduplicated_downstream(
    source: Path, profiles_dir: Path
) -> None:
    day = sorted((source / "log_data").rglob("*.json"))[0]
    (day.parent / "copy.json").write_bytes(day.read_bytes())
    assert stage("--source", str(source), "--tables", "events") == 0
    with duck() as con:
        counts = con.execute(
            "select _source_key, count(*) from staging.staging_events group by 1"
        ).fetchall()
    counts = dict(counts)
    assert (
        counts[day.relative_to(source).as_posix()]
        == counts[(day.parent / "copy.json").relative_to(source).as_posix()]
    )


def test_invalid_utf8_is_replaced_when_asked(source: Path, profiles_dir: Path) -> None:
    (source / BAD_KEY).write_bytes(line(event(song="cafX")).replace(b"cafX", b"caf\xe9"))
    assert stage("--source", str(source), "--tables", "events", "--accept-invalid-chars") == 0
    with duck() as con:
        assert con.execute(
            "select song from staging.staging_events where _source_key = ?", [BAD_KEY]
        ).fetchone() == ("caf?",)


@pytest.mark.parametrize("document, message", [
    (b"{not json", "not valid JSON"),
    (b'{"jsonpaths": ["$[\'artist\'", "$[\'ts\']"]}', "not a simple JSONPath"),
])  # fmt: skip
def test_malformed_jsonpaths_is_refused_before_anything_is_touched(
    source: Path, profiles_dir: Path, document: bytes, message: str, capsys
) -> None:
    (source / "log_json_path.json").write_bytes(document)
    assert stage("--source", str(source), "--tables", "events") == 2
    assert message in capsys.readouterr().err


def test_jsonpaths_naming_a_missing_field_refuses_the_batch(
    source: Path, profiles_dir: Path, capsys
) -> None:
    paths = json.loads((source / "log_json_path.json").read_text())
    paths["jsonpaths"].append("$['favouriteColour']")
    (source / "log_json_path.json").write_text(json.dumps(paths))
    assert stage("--source", str(source), "--tables", "events") == 1
    err = capsys.readouterr().err
    assert "$['favouriteColour'] (favourite_colour) found in no record" in err
    with duck() as con:
        assert con.execute("select count(*) from staging.staging_events").fetchone()[0] == 0


# --- values kept exactly, or refused ----------------------------------------------------------


def test_an_integer_written_with_a_fraction_is_kept_exactly(
    source: Path, profiles_dir: Path
) -> None:
    """9007199254740993.0 is an integer; through a double it would become ...992."""
    data = line(GOOD).replace(b'"sessionId": 7', b'"sessionId": 9007199254740993.0')
    assert b"9007199254740993.0" in data
    (source / BAD_KEY).write_bytes(data)
    assert stage("--source", str(source), "--tables", "events") == 0
    with duck() as con:
        assert con.execute(
            "select session_id from staging.staging_events where _source_key = ?", [BAD_KEY]
        ).fetchone() == (9007199254740993,)


@pytest.mark.parametrize("crlf", [False, True], ids=["fast path", "exact parser"])
def test_a_number_that_is_not_exactly_an_integer_is_rejected(
    source: Path, profiles_dir: Path, capsys, crlf: bool
) -> None:
    data = line(GOOD).replace(b'"itemInSession": 0', b'"itemInSession": 1.0000000000000001')
    assert b"1.0000000000000001" in data
    (source / BAD_KEY).write_bytes(data + (b"\r\n" if crlf else b"\n"))
    assert stage("--source", str(source), "--tables", "events") == 1
    err = capsys.readouterr().err
    assert (
        f"{BAD_KEY}:1: item_in_session: expected an integer, got the number 1.0000000000000001"
        in err
    )


# --- nothing skipped in silence ---------------------------------------------------------------


def test_objects_that_are_not_data_are_named_not_skipped_in_silence(
    source: Path, profiles_dir: Path, capsys
) -> None:
    day_dir = (source / BAD_KEY).parent
    (day_dir / "2018-11-30-events.jsonl").write_bytes(line(GOOD))
    (day_dir / "gone.json").symlink_to(day_dir / "nowhere.json")
    os.mkfifo(day_dir / "pipe.json")  # reading it would hang
    capsys.readouterr()
    assert stage("--source", str(source), "--tables", "events") == 0
    err = capsys.readouterr().err
    assert "3 object(s) under" in err and "not staged" in err
    assert "2018-11-30-events.jsonl: its name does not end in .json or .json.gz" in err
    assert "gone.json: a broken symbolic link" in err
    assert "pipe.json: not a regular file" in err


@contextlib.contextmanager
def unprivileged() -> Iterator[None]:
    """Run the block as a user file permissions apply to (root reads every file)."""
    if os.geteuid() != 0:
        yield
        return
    nobody = pwd.getpwnam("nobody")
    os.setegid(nobody.pw_gid)
    os.seteuid(nobody.pw_uid)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


def test_a_song_without_its_ids_is_rejected(source: Path, profiles_dir: Path, capsys) -> None:
    song = json.loads(next((source / "song_data").rglob("*.json")).read_text())
    bad = source / "song_data" / "bad" / "no-id.json"
    bad.parent.mkdir()
    bad.write_text(
        json.dumps({**song, "song_id": ""}) + "\n" + json.dumps({**song, "artist_id": None})
    )
    assert stage("--source", str(source), "--tables", "songs") == 1
    err = capsys.readouterr().err
    assert (
        "song_data/bad/no-id.json:1: song_id: missing or empty, and every song needs its id" in err
    )
    assert "song_data/bad/no-id.json:2: artist_id: missing or empty" in err


def test_unreadable_directories_and_files_refuse_the_run_naming_them(
    small_generated: Path,
) -> None:
    root = Path(tempfile.mkdtemp(prefix="sparkify-perm-"))  # outside pytest's private tmp
    try:
        copy_days(small_generated, root, days=[1], songs=False)
        for path in [root, *root.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        locked = root / "log_data" / "locked"
        locked.mkdir()
        (locked / "hidden.json").write_bytes(line(GOOD))
        locked.chmod(0)
        with unprivileged(), pytest.raises(ConfigError, match="cannot read directory"):
            LocalSource(root).list_objects("log_data")
        locked.chmod(0o755)
        (locked / "hidden.json").chmod(0)
        with unprivileged():
            source = LocalSource(root)
            objects = {obj.key: obj for obj in source.list_objects("log_data")}
            assert "log_data/locked/hidden.json" in objects  # listed, never skipped
            with pytest.raises(ConfigError, match=r"cannot read .*hidden.json: Permission denied"):
                source.fetch(objects["log_data/locked/hidden.json"])
    finally:
        for path in root.rglob("*"):
            path.chmod(0o755)
        shutil.rmtree(root)


def test_files_reached_through_a_symbolic_link_are_staged(
    source: Path, small_generated: Path, profiles_dir: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "2018-11-30-events.json").write_bytes(line(GOOD) + b"\n" + line(GOOD))
    (source / "log_data" / "linked").symlink_to(elsewhere, target_is_directory=True)
    (elsewhere / "loop").symlink_to(source / "log_data", target_is_directory=True)  # a cycle
    assert stage("--source", str(source), "--tables", "events") == 0
    with duck() as con:
        assert con.execute(
            "select count(*) from staging.staging_events where _source_key = ?",
            ["log_data/linked/2018-11-30-events.json"],
        ).fetchone() == (2,)


def test_a_source_with_nothing_to_stage_says_so(tmp_path: Path, profiles_dir: Path, capsys) -> None:
    empty = tmp_path / "empty"
    (empty / "song_data").mkdir(parents=True)
    assert stage("--source", str(empty), "--tables", "songs") == 0
    captured = capsys.readouterr()
    assert f"nothing to stage under {empty}/song_data/" in captured.err
    assert "nothing to load: the source holds no data objects" in captured.out
    assert "already in the ledger" not in captured.out


def test_negative_retries_are_refused(source: Path, profiles_dir: Path, capsys) -> None:
    assert stage("--source", str(source), "--retries", "-5") == 2
    assert "--retries must be 0 or more" in capsys.readouterr().err


def test_the_loader_says_which_warehouse_file_it_writes(
    source: Path, profiles_dir: Path, capsys
) -> None:
    capsys.readouterr()
    assert stage("--source", str(source), "--tables", "events") == 0
    assert str(Path(os.environ["SPARKIFY_DUCKDB_PATH"]).resolve()) in capsys.readouterr().err


# --- one line, not a traceback ----------------------------------------------------------------


@pytest.mark.parametrize("crlf", [False, True], ids=["fast path", "exact parser"])
@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (
            line(GOOD).replace(b'"Muse"', b'"M\\ud800"'),
            ":1: artist: text contains the lone surrogate \\ud800",
        ),
        (
            line(GOOD)[:-1] + b', "x": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
            ":1: JSON nested too deeply to be a record",
        ),
    ],
    ids=["lone surrogate", "nested 10,000 deep"],
)
def test_unrepresentable_records_are_rejected_in_one_line(
    source: Path, profiles_dir: Path, capsys, bad: bytes, reason: str, crlf: bool
) -> None:
    (source / BAD_KEY).write_bytes(bad + (b"\r\n" if crlf else b"\n"))
    capsys.readouterr()
    assert stage("--source", str(source), "--tables", "events") == 1
    err = capsys.readouterr().err
    assert f"{BAD_KEY}{reason}" in err and "Traceback" not in err
    assert stage("--source", str(source), "--tables", "events", "--max-errors", "1") == 0


def test_a_surrogate_pair_is_one_character_and_stages(source: Path, profiles_dir: Path) -> None:
    (source / BAD_KEY).write_bytes(line(GOOD).replace(b'"Muse"', b'"M\\ud83d\\ude00"'))
    assert stage("--source", str(source), "--tables", "events") == 0
    with duck() as con:
        assert con.execute(
            "select artist from staging.staging_events where _source_key = ?", [BAD_KEY]
        ).fetchone() == ("M\U0001f600",)


def test_a_corrupt_warehouse_file_is_one_line(source: Path, profiles_dir: Path, capsys) -> None:
    assert stage("--source", str(source), "--tables", "events") == 0
    warehouse = Path(os.environ["SPARKIFY_DUCKDB_PATH"])
    data = bytearray(warehouse.read_bytes())
    data[12_288::7] = b"\xab" * len(data[12_288::7])  # blocks after the headers: checksums fail
    warehouse.write_bytes(bytes(data))
    capsys.readouterr()
    assert stage("--source", str(source), "--tables", "events") == 2
    err = capsys.readouterr().err
    assert "cannot open DuckDB file" in err and "Traceback" not in err


def test_every_staged_case_builds(source: Path, profiles_dir: Path, tmp_path: Path) -> None:
    """A load that exits 0 never breaks the next build: every input the loader stages, all at
    once, goes through dbt build (every view, model and test) without an error."""
    from tests.python.dbt.helpers import dbt

    staged = [c for c in CASES if c.outcome == "STAGED" and c.rows]
    for number, case in enumerate(staged):
        path = source / "log_data" / "cases" / f"{number:02d}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(case.data)
    assert stage("--source", str(source)) == 0
    dbt("build", "--exclude-resource-type", "unit_test", target_dir=tmp_path)


# --- plausibility: staged as it came, and said ------------------------------------------------


def test_implausible_times_build_with_a_warning_that_counts_them(
    source: Path, profiles_dir: Path, tmp_path: Path
) -> None:
    from tests.python.dbt.helpers import dbt

    seconds = event(ts=1541105830, itemInSession=1)  # seconds read as milliseconds: 1970
    future = event(ts=4102444800000 + 1, itemInSession=2)  # the year 2100
    (source / BAD_KEY).write_bytes(b"\n".join(line(r) for r in (GOOD, seconds, future)))
    assert stage("--source", str(source), "--tables", "events") == 0
    result = dbt("build", "--exclude-resource-type", "unit_test", target_dir=tmp_path)
    warned = [row for row in result.stdout.splitlines() if "WARN 2 plausible_time" in row]
    assert any("int_events_event_at" in row for row in warned), result.stdout[-3000:]


# --- leftovers --------------------------------------------------------------------------------


def test_a_gzip_object_inflating_beyond_the_limit_is_refused(
    source: Path, profiles_dir: Path, capsys, monkeypatch
) -> None:
    import gzip

    from loader import sources

    monkeypatch.setattr(sources, "MAX_INFLATED_BYTES", 1 << 20)
    records = b"\n".join(line(event(itemInSession=n)) for n in range(4000))  # about 2 MiB
    assert len(records) > 1 << 20
    bomb = (source / BAD_KEY).with_suffix(".json.gz")
    bomb.write_bytes(gzip.compress(records))
    capsys.readouterr()
    assert stage("--source", str(source), "--tables", "events") == 1
    err = capsys.readouterr().err
    assert "inflates to more than 1,048,576 bytes" in err and bomb.name in err


def test_rejects_of_a_file_go_when_its_fixed_version_replaces_it(
    source: Path, profiles_dir: Path
) -> None:
    bad = source / BAD_KEY
    bad.write_bytes(line(GOOD) + b"\n" + line(event(ts="soon")))
    args = ("--source", str(source), "--tables", "events")
    assert stage(*args, "--max-errors", "1") == 0
    with duck() as con:
        count = "select count(*) from staging.load_rejects where object_key = ?"
        assert con.execute(count, [BAD_KEY]).fetchone() == (1,)
    bad.write_bytes(line(GOOD) + b"\n" + line(event(itemInSession=1)))
    assert stage(*args, "--replace-changed") == 0
    with duck() as con:
        assert con.execute(count, [BAD_KEY]).fetchone() == (0,)
        assert con.execute(
            "select count(*) from staging.staging_events where _source_key = ?", [BAD_KEY]
        ).fetchone() == (2,)


def test_temporary_files_of_a_killed_run_are_removed_by_the_next(
    source: Path, profiles_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    import subprocess
    import tempfile

    from loader.scratch import PREFIX

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    dead = subprocess.Popen(["true"])  # a process id that no longer runs
    dead.wait()
    left = scratch / f"{PREFIX}{dead.pid}-abc"
    left.mkdir()
    (left / "batch.ndjson").write_bytes(b"x" * 1000)
    mine = scratch / f"{PREFIX}{os.getpid()}-live"  # a running process's: kept
    mine.mkdir()
    assert stage("--source", str(source), "--tables", "events") == 0
    assert not left.exists() and mine.exists()
    assert sorted(p.name for p in scratch.iterdir()) == [mine.name]  # this run's is gone too
