"""The fast path: DuckDB's vectorised JSON reader parses a whole batch, the Python parser only
what it cannot vouch for.

Every value is read as raw JSON (``columns = {key: 'JSON'}``) and checked in SQL against the same
rules as ``records.parse_object``, which gives the same values and file:line errors:

- a *record* goes to the Python parser when it lacks an expected key or has an unexpected one
  (null versus a key in another letter case), or a value DuckDB may not read as Python does:
  a non-integer number, 0 (maybe -0), an object or array in a text column (DuckDB re-writes
  ``4.60`` as ``4.6``), a NUL character, NaN or Infinity, a numeric value out of its type;
- an *object* goes whole when its bytes hold a BOM, a carriage return, leading whitespace or
  blank lines (line numbers would drift);
- the *batch* goes whole when DuckDB cannot read it (invalid UTF-8, malformed JSON).

So the result is always what the Python parser alone would give, at DuckDB's speed for clean data.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from loader.contract import ParsedBatch
from loader.fast_checks import literal, value_checks
from loader.records import parse_object
from loader.sources import SourceObject
from loader.tables import Table

# DuckDB sizes its read buffers from the largest object it must accept: a larger limit means
# fewer, bigger buffers and half the parallelism. A record beyond it fails the batch's fast read
# and goes to the Python parser instead, so nothing is lost but speed.
MAX_OBJECT_BYTES = 16 * 1024 * 1024
FAST_TABLE = "sparkify_fast_rows"  # a temp view of the rows the fast path kept
TEMP_TABLES = ("sparkify_keys", "sparkify_rows", "sparkify_spans", "sparkify_odd")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def eligible(data: bytes, strict: bool = False) -> bool:
    """Whether line numbers can be derived from record order for this object.

    DuckDB skips blank and whitespace-only lines, which would shift the line numbers after
    them. Looking for them costs a scan of every byte, so it is left out unless ``strict``:
    DuckDB's record count then differs from the batch's line count, and the batch is sorted
    again strictly (``FastParser.parse_prepared``)."""
    return bool(data) and not (
        data[:1].isspace()
        or data.startswith(b"\xef\xbb\xbf")
        or b"\r" in data
        or (strict and BLANK_LINE.search(data) is not None)
    )


BLANK_LINE = re.compile(rb"\n[ \t]*\n|\n[ \t]+$")


def line_count(data: bytes) -> int:
    return data.count(b"\n") + (0 if data.endswith(b"\n") else 1)


@dataclass
class ParserInput:
    """A batch sorted for parsing: the eligible objects already written to one NDJSON file."""

    fast: list[tuple[str, bytes]] = field(default_factory=list)  # in the batch file, in order
    python: list[tuple[str, bytes]] = field(default_factory=list)  # for the Python parser
    empty: list[str] = field(default_factory=list)  # objects with no records
    path: Path | None = None  # the batch file (deleted by discard)
    spans: list[tuple[str, int, int]] = field(default_factory=list)  # key, first, stop record
    total: int = 0  # records in the batch file

    def discard(self) -> None:
        if self.path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            self.path = None


class FastParser:
    def __init__(
        self,
        table: Table,
        connection: duckdb.DuckDBPyConnection | None = None,
        invalid_char: str | None = None,
        workdir: str | None = None,
    ) -> None:
        self.table = table
        self.con = connection if connection is not None else duckdb.connect()
        self.invalid_char = invalid_char
        self.workdir = workdir
        self.enabled = invalid_char is None and all(len(c.path) == 1 for c in table.columns)
        # the layout of the rows it gives: FAST_TABLE's columns (a Python row has the same
        # values in the same order) and the staging column each fills
        self.columns: tuple[tuple[str, str], ...] = (
            *((f"v{index}", column.name) for index, column in enumerate(table.columns)),
            ("source_key", "_source_key"),
            ("source_line", "_source_line"),
        )

    def _python(self, batch: ParsedBatch, key: str, data: bytes) -> None:
        batch.counts[key] = self._python_add(batch, key, data)

    def _python_add(
        self, batch: ParsedBatch, key: str, data: bytes, first_line: int = 1
    ) -> tuple[int, int]:
        """Parse ``data`` (an object, or its records from ``first_line``) in Python into the
        batch; return its (rows, rejects)."""
        parsed = parse_object(data, key, self.table, self.invalid_char, first_line=first_line)
        batch.python_rows.extend(parsed.rows)
        batch.rejects.extend(parsed.rejects)
        batch.present |= parsed.present
        batch.unmapped.extend(parsed.unmapped)
        return len(parsed.rows), len(parsed.rejects)

    def prepare(self, objects: list[tuple[SourceObject, bytes]]) -> ParserInput:
        """The Python half, safe to run in another thread while DuckDB parses the previous
        batch: sort the objects and write the eligible ones into one NDJSON batch file."""
        prepared = ParserInput()
        for obj, data in objects:
            if self.enabled and eligible(data):
                prepared.fast.append((obj.key, data))
            elif data.strip():
                prepared.python.append((obj.key, data))
            else:
                prepared.empty.append(obj.key)
        self._write(prepared)
        return prepared

    def _write(self, prepared: ParserInput) -> None:
        """Write ``prepared.fast`` into one NDJSON batch file and record each object's span."""
        if not prepared.fast:
            return
        fd, path = tempfile.mkstemp(suffix=".ndjson", dir=self.workdir)
        prepared.path = Path(path)
        start = 0
        try:
            with os.fdopen(fd, "wb") as out:
                for key, data in prepared.fast:
                    out.write(data)
                    if not data.endswith(b"\n"):
                        out.write(b"\n")
                    lines = line_count(data)
                    prepared.spans.append((key, start, start + lines))
                    start += lines
        except OSError as exc:
            prepared.discard()
            if exc.filename is None:  # a write names no file: say which one filled up
                exc.filename = path
            raise
        except BaseException:
            prepared.discard()
            raise
        prepared.total = start

    def parse_prepared(self, prepared: ParserInput) -> ParsedBatch:
        """The DuckDB half. Records it cannot vouch for go, one by one, to the Python parser;
        every object of the batch file goes there whole if DuckDB cannot read the file."""
        batch = ParsedBatch(self.con, FAST_TABLE, self.columns, TEMP_TABLES)
        try:
            for key in prepared.empty:
                batch.counts[key] = (0, 0)
            for key, data in prepared.python:
                self._python(batch, key, data)
            if prepared.path is not None:
                odd = self._query(prepared.path, prepared.spans, prepared.total)
                if odd is None:
                    odd, prepared = self._retry_strictly(batch, prepared)
                if odd is None:
                    for key, data in prepared.fast:
                        self._python(batch, key, data)
                else:
                    self._python_records(batch, prepared, odd)
        finally:
            prepared.discard()
        return batch

    def _retry_strictly(
        self, batch: ParsedBatch, prepared: ParserInput
    ) -> tuple[dict[str, list[int]] | None, ParserInput]:
        """DuckDB could not read the batch file, or found fewer records than lines: hand the
        objects with blank or whitespace-only lines to Python and try the others once more."""
        odd_layout = {key for key, data in prepared.fast if not eligible(data, strict=True)}
        if not odd_layout:
            return None, prepared
        retry = ParserInput(fast=[(k, d) for k, d in prepared.fast if k not in odd_layout])
        for key, data in prepared.fast:
            if key in odd_layout:
                self._python(batch, key, data)
        prepared.discard()
        self._write(retry)
        if retry.path is None:
            return {}, retry
        return self._query(retry.path, retry.spans, retry.total), retry

    def _python_records(
        self, batch: ParsedBatch, prepared: ParserInput, odd: dict[str, list[int]]
    ) -> None:
        """Count the fast rows per object and parse the odd records (by line) in Python."""
        data_of = dict(prepared.fast) if odd else {}
        for key, first, stop in prepared.spans:
            lines = odd.get(key, [])
            fast = stop - first - len(lines)
            rows = rejects = 0
            if lines:
                records = data_of[key].split(b"\n")
                for line in lines:
                    added, rejected = self._python_add(batch, key, records[line - 1], line)
                    rows += added
                    rejects += rejected
            batch.counts[key] = (fast + rows, rejects)
            batch.fast_rows += fast
        if batch.fast_rows:  # every fast row had every key
            batch.present |= {c.name for c in self.table.columns}

    def parse(self, objects: list[tuple[SourceObject, bytes]]) -> ParsedBatch:
        return self.parse_prepared(self.prepare(objects))

    # --- the DuckDB side -------------------------------------------------------------------

    def _query(
        self, path: Path, spans: list[tuple[str, int, int]], total: int
    ) -> dict[str, list[int]] | None:
        """Parse the batch file in DuckDB; return the lines of each object's odd records, or
        None when DuckDB cannot read the file (malformed JSON or invalid UTF-8 somewhere).

        Three scans: the records' key sets, the values parsed and checked in one pass, and the
        insert (``FAST_TABLE`` is a view over the rows kept, read by the commit)."""
        con = self.con
        keys = [c.path[0] for c in self.table.columns]
        spec = ", ".join(f"{literal(k)}: 'JSON'" for k in keys)
        select = ", ".join(f"{_ident(k)} as c{i}" for i, k in enumerate(keys))
        expected = "[" + ", ".join(literal(k) for k in keys) + "]"
        expected_sorted = "[" + ", ".join(literal(k) for k in sorted(keys)) + "]"
        source = (
            f"read_json({literal(str(path))}, format = 'newline_delimited', columns = {{{spec}}}, "
            f"maximum_object_size = {MAX_OBJECT_BYTES})"
        )
        objects = (
            f"read_json_objects({literal(str(path))}, format = 'newline_delimited', "
            f"maximum_object_size = {MAX_OBJECT_BYTES})"
        )
        inner, bad, values = value_checks(self.table)
        all_null = " and ".join(f"{v} is null" for v in values)  # Python rejects those
        typed = ", ".join(f"{v} as v{i}" for i, v in enumerate(values))
        # The SQL below is built from quoted identifiers and literals (_ident, literal) only.
        # Both tables keep the file's record order (DuckDB preserves insertion order), so a
        # row's rowid is its record's position in the batch file.
        try:
            con.execute(
                # DuckDB's reader accepts a trailing comma ({"a": 1,}), which JSON does not:
                # such a record goes to Python, which rejects it (a comma before } or ] inside
                # a string sends a good record there too, which then stages as it is)
                "create or replace temp table sparkify_keys as select case "
                "when regexp_matches(json, ',\\s*[\\]}]') then false "
                f"when keys = {expected} then true else list_sort(keys) = {expected_sorted} "
                f"end as has_keys from (select json, json_keys(json) as keys from {objects})"
            )
            con.execute(
                f"create or replace temp table sparkify_rows as select {typed}, "
                f"({' or '.join(bad)} or ({all_null})) as is_bad "
                f"from (select {', '.join(inner)} from (select {select} from {source}))"
            )
        except duckdb.Error:
            self._cleanup()
            return None  # Python finds and names the problem
        try:
            counts = con.execute(
                "select (select count(*) from sparkify_rows), (select count(*) from sparkify_keys)"
            ).fetchone()
            if counts != (total, total):
                self._cleanup()
                return None
            con.execute(
                "create or replace temp table sparkify_spans as "
                "select unnest(?::varchar[]) as key, "
                "unnest(?::bigint[]) as first, unnest(?::bigint[]) as stop",
                [[k for k, _, _ in spans], [f for _, f, _ in spans], [e for _, _, e in spans]],
            )
            con.execute(
                "create or replace temp table sparkify_odd as "
                "select rowid as n from sparkify_rows where is_bad union "
                "select rowid as n from sparkify_keys where has_keys is not true"
            )
            odd: dict[str, list[int]] = {}
            for key, line in con.execute(
                "select s.key, o.n - s.first + 1 from sparkify_odd as o "
                "join sparkify_spans as s on o.n >= s.first and o.n < s.stop order by o.n"
            ).fetchall():
                odd.setdefault(key, []).append(line)
            names = ", ".join(f"v{i}" for i in range(len(values)))
            con.execute(
                f"create or replace temp view {FAST_TABLE} as select {names}, "
                "s.key as source_key, cast(r.n - s.first + 1 as integer) as source_line "
                f"from (select rowid as n, {names} from sparkify_rows) as r "
                "join sparkify_spans as s on r.n >= s.first and r.n < s.stop "
                "where r.n not in (select n from sparkify_odd)"
            )
            return odd
        except BaseException:
            self._cleanup()
            raise

    def _cleanup(self) -> None:
        cleanup(self.con)


def cleanup(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the fast path's view and temp tables."""
    with contextlib.suppress(duckdb.Error):
        con.execute(f"drop view if exists {FAST_TABLE}")
    for name in TEMP_TABLES:
        with contextlib.suppress(duckdb.Error):
            con.execute(f"drop table if exists {name}")
