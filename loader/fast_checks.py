"""The SQL that decides whether DuckDB's reading of a value can be vouched for.

The fast parser (loader/fast_parse.py) reads every value as raw JSON text; these expressions type
it as ``records.parse_object`` would and flag every record whose value DuckDB may read otherwise,
or that breaks a requirement of ``loader/tables.py``: such a record goes to the Python parser,
which gives the exact value or the exact error.
"""

from __future__ import annotations

from loader.tables import BIGINT, DOUBLE, EPOCH_MS_RANGE, INTEGER, TEXT, Table

_INT_TYPES = {INTEGER: "INTEGER", BIGINT: "BIGINT"}
NUMBER_STARTS = ", ".join(f"'{c}'" for c in "-0123456789")  # first characters of a JSON number


def literal(text: str) -> str:
    """A DuckDB string literal."""
    return "'" + text.replace("'", "''") + "'"


def value_checks(table: Table) -> tuple[list[str], list[str], list[str]]:
    """For each column of ``table``: (inner expressions computed once, per-column 'bad'
    conditions, typed values).

    Every value is read as raw JSON text. Its JSON type is read from its first character,
    which is much cheaper than parsing it; strings are unescaped only when they hold a
    backslash. A JSON null reads as SQL NULL. DuckDB's reader also accepts NaN and Infinity
    literals, in any letter case: a value that is not a finite number goes to Python, which
    rejects it. DuckDB reads the integer -0 as 0, so a 0 in a text or double column goes to
    Python as well, which keeps -0 as written.
    """
    inner, bad, values = [], [], []
    for index, column in enumerate(table.columns):
        c, t, v, r = f"c{index}", f"t{index}", f"x{index}", f"r{index}"
        raw = f"cast({c} as varchar)"
        inner.append(f"left({raw}, 1) as {t}")
        inner.append(f"{raw} as {r}")
        fraction = f"(contains({r}, '.') or contains({r}, 'e') or contains({r}, 'E'))"
        if column.type == TEXT:
            inner.append(
                f"case left({raw}, 1) when '\"' then (case when contains({raw}, '\\') "
                f"then {c} ->> '$' else ({raw})[2:-2] end) "
                f"else {raw} end as {v}"
            )
            # strings (without NUL), booleans and integers keep their exact text; anything
            # else (a fraction or exponent, an object, an array, NaN, Infinity) goes to Python
            # longer than the column holds (strlen counts bytes): Python says so
            bad.append(
                f"(case when {r} is null then false "
                f"when strlen({v}) > {column.max_bytes} then true "
                # a \\uD800-\\uDFFF escape: a lone surrogate is refused by Python
                f"when {t} = '\"' and contains({r}, '\\u') "
                f"and regexp_matches({r}, '\\\\u[dD][89a-fA-F]') then true "
                f"when {t} = '\"' then contains({v}, chr(0)) "
                f"when {r} in ('true', 'false') then false "
                f"when {t} in ('{{', '[') then true "
                f"when {r} = '0' then true "  # 0 or -0: DuckDB reads both as 0
                f"else {fraction} "
                f"or not coalesce(isfinite(try_cast({r} as double)), false) end)"
            )
        elif column.type in _INT_TYPES:
            inner.append(f"try_cast({raw} as {_INT_TYPES[column.type]}) as {v}")
            # try_cast rounds '1.5' to 2: a fraction or exponent goes to Python instead
            bad.append(
                f"(case when {r} is null then false when {v} is null then true else {fraction} end)"
            )
        elif column.type == DOUBLE:
            inner.append(
                f"case when left({raw}, 1) in ({NUMBER_STARTS}) "
                f"then try_cast({raw} as double) end as {v}"
            )
            # -nan, -Infinity and 1e999 start like numbers but are not finite ones; 0 may
            # have been -0, which Python keeps as -0.0
            bad.append(f"({r} is not null and ({v} is null or not isfinite({v}) or {r} = '0'))")
        else:
            raise AssertionError(column.type)
        if column.is_epoch_ms:  # Python says which, and why
            low, high = EPOCH_MS_RANGE
            bad.append(
                f"({v} is not null and ({v} not between {low} and {high} or {v} <> floor({v})))"
            )
        if column.is_integer_text:
            digits = "'-?[0-9]{1,9}'"
            bad.append(f"({v} is not null and {v} <> '' and not regexp_full_match({v}, {digits}))")
        values.append(v)
    bad.extend(requirement_checks(table, values))
    return inner, bad, values


def requirement_checks(table: Table, values: list[str]) -> list[str]:
    """A record failing a requirement goes to Python, which says which and why."""
    by_name = dict(zip(table.column_names, values, strict=True))
    kinds = {c.name: c.type for c in table.columns}

    def has_value(name: str) -> str:
        v = by_name[name]
        return f"({v} is not null and {v} <> '')" if kinds[name] == TEXT else f"{v} is not null"

    checks = []
    for requirement in table.requirements:
        condition = "true"
        if requirement.when is not None:
            condition = (
                has_value(requirement.when)
                if requirement.equals is None
                else f"{by_name[requirement.when]} = {literal(requirement.equals)}"
            )
        checks.append(f"({condition} and not coalesce({has_value(requirement.column)}, false))")
    return checks
