"""The fast path: DuckDB's vectorised JSON reader parses a whole batch, the Python parser only
the objects it cannot vouch for.

Every value is read as raw JSON (``columns = {key: 'JSON'}``) and checked in SQL against the same
rules as ``records.parse_object``. An object goes to the exact Python parser, which gives the same
values and file:line errors, when DuckDB cannot prove it gets the identical result:

- its bytes hold a BOM, a carriage return, blank lines or leading whitespace (line numbers would
  drift), or the reader fails on the batch (invalid UTF-8, malformed JSON);
- a record lacks one of the expected keys (null versus a key in another letter case);
- a text column holds a non-integer number (DuckDB re-serialises ``4.60`` as ``4.6``), an object,
  an array or a NUL character; a numeric column holds anything but an in-range number.

So the result is always what the Python parser alone would give, at DuckDB's speed for clean data.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from loader.records import Reject, parse_object
from loader.sources import SourceObject
from loader.tables import BIGINT, DOUBLE, INTEGER, TEXT, Table

MAX_OBJECT_BYTES = 512 * 1024 * 1024
_INT_TYPES = {INTEGER: "INTEGER", BIGINT: "BIGINT"}
FAST_TABLE = "sparkify_fast_rows"
NUMBER_STARTS = ", ".join(f"'{c}'" for c in "-0123456789")  # first characters of a JSON number


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def eligible(data: bytes) -> bool:
    """Whether line numbers can be derived from record order for this object."""
    return bool(data) and not (
        data[:1].isspace()
        or data.startswith(b"\xef\xbb\xbf")
        or b"\r" in data
        or b"\n\n" in data
        or data.endswith(b"\n\n")
    )


def line_count(data: bytes) -> int:
    return data.count(b"\n") + (0 if data.endswith(b"\n") else 1)


@dataclass
class FastBatch:
    """Rows parsed for one batch: some in a DuckDB temp table, the rest as Python tuples."""

    connection: Any  # the DuckDB connection holding FAST_TABLE
    fast_rows: int = 0
    python_rows: list[tuple] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)  # key -> (rows, rejects)
    present: set[str] = field(default_factory=set)  # columns whose key some record had

    @property
    def rows(self) -> int:
        return self.fast_rows + len(self.python_rows)

    def drop(self) -> None:
        with contextlib.suppress(duckdb.Error):
            self.connection.execute(f"drop table if exists {FAST_TABLE}")


class FastParser:
    def __init__(
        self,
        table: Table,
        connection: Any | None = None,
        invalid_char: str | None = None,
        workdir: str | None = None,
    ) -> None:
        self.table = table
        self.con = connection if connection is not None else duckdb.connect()
        self.invalid_char = invalid_char
        self.workdir = workdir
        self.enabled = invalid_char is None and all(len(c.path) == 1 for c in table.columns)

    def _python(self, batch: FastBatch, key: str, data: bytes) -> None:
        parsed = parse_object(data, key, self.table, self.invalid_char)
        batch.python_rows.extend(parsed.rows)
        batch.rejects.extend(parsed.rejects)
        batch.present |= parsed.present
        batch.counts[key] = (len(parsed.rows), len(parsed.rejects))

    def parse(self, objects: list[tuple[SourceObject, bytes]]) -> FastBatch:
        batch = FastBatch(self.con)
        fast: list[tuple[str, bytes, int]] = []
        for obj, data in objects:
            if self.enabled and eligible(data):
                fast.append((obj.key, data, line_count(data)))
            elif data.strip():
                self._python(batch, obj.key, data)
            else:
                batch.counts[obj.key] = (0, 0)
        if fast:
            accepted = self._duckdb(fast, batch)
            for key, data, _ in fast:
                if key not in accepted:
                    self._python(batch, key, data)
        return batch

    # --- the DuckDB side -------------------------------------------------------------------

    def _checks(self) -> tuple[list[str], list[str], list[str]]:
        """(inner expressions computed once, per-column 'bad' conditions, typed values).

        The JSON type is read from a value's first character (its raw JSON text), which is
        much cheaper than parsing it; strings are unescaped only when they hold a backslash.
        """
        inner, bad, values = [], [], []
        for index, column in enumerate(self.table.columns):
            c, t, v, r = f"c{index}", f"t{index}", f"x{index}", f"r{index}"
            raw = f"cast({c} as varchar)"
            inner.append(f"left({raw}, 1) as {t}")
            inner.append(f"{raw} as {r}")
            if column.type == TEXT:
                inner.append(
                    f"case left({raw}, 1) when '\"' then (case when contains({raw}, '\\') "
                    f"then {c} ->> '$' else ({raw})[2:-2] end) "
                    f"when 'n' then null else {raw} end as {v}"
                )
                # strings, integers and booleans only: no fraction/exponent (exact text), no
                # object or array, no NUL character
                bad.append(
                    f"(case when {t} in ('\"', 'n', 't', 'f') then contains({v}, chr(0)) "
                    f"when {t} in ('{{', '[') then true "
                    f"else contains({r}, '.') or contains({r}, 'e') or contains({r}, 'E') end)"
                )
            elif column.type in _INT_TYPES:
                inner.append(f"try_cast({raw} as {_INT_TYPES[column.type]}) as {v}")
                # try_cast rounds '1.5' to 2: a fraction or exponent goes to Python instead
                bad.append(
                    f"(case when {t} = 'n' then false when {v} is null then true "
                    f"else contains({r}, '.') or contains({r}, 'e') or contains({r}, 'E') end)"
                )
            elif column.type == DOUBLE:
                inner.append(
                    f"case when left({raw}, 1) in ({NUMBER_STARTS}) "
                    f"then try_cast({raw} as double) end as {v}"
                )
                bad.append(f"({t} <> 'n' and {v} is null)")
            else:
                raise AssertionError(column.type)
            values.append(v)
        return inner, bad, values

    def _duckdb(self, fast: list[tuple[str, bytes, int]], batch: FastBatch) -> set[str]:
        """Parse the eligible objects in DuckDB; return the keys whose rows it kept."""
        fd, path = tempfile.mkstemp(suffix=".ndjson", dir=self.workdir)
        spans, start = [], 0
        try:
            with os.fdopen(fd, "wb") as out:
                for key, data, lines in fast:
                    out.write(data)
                    if not data.endswith(b"\n"):
                        out.write(b"\n")
                    spans.append((key, start, start + lines))
                    start += lines
            return self._query(Path(path), spans, start, batch)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)

    def _query(
        self, path: Path, spans: list[tuple[str, int, int]], total: int, batch: FastBatch
    ) -> set[str]:
        con = self.con
        keys = [c.path[0] for c in self.table.columns]
        spec = ", ".join(f"{_lit(k)}: 'JSON'" for k in keys)
        select = ", ".join(f"{_ident(k)} as c{i}" for i, k in enumerate(keys))
        expected = "[" + ", ".join(_lit(k) for k in keys) + "]"
        expected_sorted = "[" + ", ".join(_lit(k) for k in sorted(keys)) + "]"
        source = (
            f"read_json({_lit(str(path))}, format = 'newline_delimited', columns = {{{spec}}}, "
            f"maximum_object_size = {MAX_OBJECT_BYTES})"
        )
        objects = (
            f"read_json_objects({_lit(str(path))}, format = 'newline_delimited', "
            f"maximum_object_size = {MAX_OBJECT_BYTES})"
        )
        # The SQL below is built from quoted identifiers and literals (_ident, _lit) only.
        try:
            con.execute(
                f"create or replace temp table sparkify_raw as select {select} from {source}"
            )
            con.execute(
                "create or replace temp table sparkify_keys as select case when keys = "
                f"{expected} then true else list_sort(keys) = {expected_sorted} end as has_keys "
                f"from (select json_keys(json) as keys from {objects})"
            )
        except duckdb.Error:
            self._cleanup()
            return set()  # malformed JSON or invalid UTF-8 somewhere: Python finds and names it
        try:
            counts = con.execute(
                "select (select count(*) from sparkify_raw), (select count(*) from sparkify_keys)"
            ).fetchone()
            if counts != (total, total):
                return set()
            con.execute(
                "create or replace temp table sparkify_spans as "
                "select unnest(?::varchar[]) as key, "
                "unnest(?::bigint[]) as first, unnest(?::bigint[]) as stop",
                [[k for k, _, _ in spans], [f for _, f, _ in spans], [e for _, _, e in spans]],
            )
            inner, bad, values = self._checks()
            all_null = " and ".join(f"{v} is null" for v in values)  # Python rejects those
            typed = ", ".join(f"{v} as v{i}" for i, v in enumerate(values))
            # Two steps: DuckDB re-evaluates the checks inside a range join if they are fused.
            con.execute(
                f"create or replace temp table sparkify_rows as select n, {typed}, "
                f"({' or '.join(bad)} or (has_keys is not true) or ({all_null})) as is_bad from "
                f"(select r.rowid as n, k.has_keys, {', '.join(inner)} "
                "from sparkify_raw as r positional join sparkify_keys as k)"
            )
            names = ", ".join(f"v{i}" for i in range(len(values)))
            con.execute(
                f"create or replace temp table {FAST_TABLE} as select {names}, "
                "s.key as source_key, cast(n - s.first + 1 as integer) as source_line, is_bad "
                "from sparkify_rows join sparkify_spans as s on n >= s.first and n < s.stop"
            )
            rejected = {
                row[0]
                for row in con.execute(
                    f"select distinct source_key from {FAST_TABLE} where is_bad"
                ).fetchall()
            }
            if rejected:
                con.execute(
                    f"delete from {FAST_TABLE} where source_key in (select unnest(?::varchar[]))",
                    [sorted(rejected)],
                )
            kept = {key for key, _, _ in spans} - rejected
            for key, first, stop in spans:
                if key in kept:
                    batch.counts[key] = (stop - first, 0)
            batch.fast_rows = sum(stop - first for key, first, stop in spans if key in kept)
            if batch.fast_rows:  # every fast row had every key
                batch.present |= {c.name for c in self.table.columns}
            return kept
        finally:
            self._cleanup()

    def _cleanup(self) -> None:
        for name in ("sparkify_raw", "sparkify_keys", "sparkify_rows", "sparkify_spans"):
            with contextlib.suppress(duckdb.Error):
                self.con.execute(f"drop table if exists {name}")
