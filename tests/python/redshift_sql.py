"""Redshift SQL checked without a cluster: it parses as Redshift's, and nothing in it is a
construct Redshift lacks or computes differently from DuckDB and PostgreSQL.

The rules (each a difference AWS documents):

- ``avg()`` of an integer is an integer on Redshift (PostgreSQL and DuckDB return a fraction):
  the argument of every ``avg`` is cast to a fractional type.
- ``a / b`` of two integers is integer division on Redshift and PostgreSQL but not on DuckDB:
  one operand of every division states its type with a cast (``cast(x as bigint) / 1000`` is
  integer division on purpose; ``cast(x as numeric(28, 6)) / n`` is a fraction).
- ``numeric`` without precision is ``numeric(18, 0)`` on Redshift: a cast to a fraction
  states its scale.
- Only functions on the list below, each checked against AWS's SQL reference, may appear: a new
  one is added after reading its Redshift page (DuckDB-only ones such as ``epoch_ms``, or
  ``array_agg``, ``generate_series`` (leader node only) and ``string_agg`` are not there).
- No aggregate ``FILTER (WHERE ...)`` and no ``isodow``: Redshift has neither.
- Every statement passes the Redshift stand-in's rules (support/redshift_standin/rules.py), read
  from the text as written, before sqlglot rewrites anything (it turns ``substr`` into
  ``substring``, for one).
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp

# Functions Redshift's SQL reference documents on compute nodes, as sqlglot names them.
REDSHIFT_FUNCTIONS = frozenset(
    {
        "abs", "ascii", "avg", "btrim", "cast", "ceil", "ceiling", "char_length", "charindex",
        "chr", "coalesce", "concat", "convert_timezone", "count", "current_date",
        "date_diff", "date_trunc", "dateadd", "datediff",
        "dense_rank", "exists", "extract", "first_value", "floor", "from_varbyte", "getdate",
        "greatest", "if", "json_extract_path_text", "lag", "last_value", "lead", "least", "left",
        "len", "length", "listagg", "lower", "lpad", "ltrim", "max", "md5", "min", "mod",
        "nullif", "nvl", "position", "power", "rank", "regexp_replace", "regexp_substr",
        "replace", "right", "round", "row_number", "rpad", "rtrim", "split_part", "strpos",
        "substring", "sum", "to_char", "to_hex", "to_varbyte", "translate", "trim", "trunc",
        "upper",
    }
)  # fmt: skip
_CALL = re.compile(r"^([A-Za-z_][A-Za-z_0-9]*)\(")
# Functions sqlglot would translate to a Redshift one, so the tree hides them: found in the text.
NOT_REDSHIFT = re.compile(
    r"\b(string_agg|array_agg|to_timestamp|strftime|strptime|epoch_ms|make_timestamp|"
    r"regexp_matches|unnest|generate_series|string_to_array)\s*\(",
    re.IGNORECASE,
)
INTEGER_TYPES = {
    exp.DataType.Type.TINYINT,
    exp.DataType.Type.SMALLINT,
    exp.DataType.Type.INT,
    exp.DataType.Type.BIGINT,
}


def _function_name(node: exp.Func) -> str | None:
    """The function a node calls, as Redshift's SQL writes it; None for an operator or a
    construct (AND, CASE, BETWEEN, IN, ...)."""
    if isinstance(node, exp.Anonymous):
        return node.name.lower()
    called = _CALL.match(node.sql(dialect="redshift"))
    return called.group(1).lower() if called else None


def _is_fractional_cast(node: exp.Expression) -> bool:
    if not isinstance(node, exp.Cast):
        return False
    to = node.to
    if to.this in INTEGER_TYPES:
        return False
    if to.this == exp.DataType.Type.DECIMAL:
        return len(to.expressions) == 2  # precision and scale stated
    return True


def _states_type(node: exp.Expression) -> bool:
    """Whether an operand's type is stated: a cast, a decimal literal, or arithmetic on one."""
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Cast):
        return True
    if isinstance(node, exp.Literal) and not node.is_string and "." in node.this:
        return True
    if isinstance(node, exp.Mul | exp.Add | exp.Sub | exp.Div):
        return _states_type(node.left) or _states_type(node.right)
    return False


def _without_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*|/\*.*?\*/", " ", sql, flags=re.DOTALL)


def redshift_problems(sql: str, name: str) -> list[str]:
    """What in ``sql`` (one or more statements) Redshift lacks or computes differently."""
    from support.redshift_standin.rules import check
    from support.redshift_standin.sql_text import split_statements

    problems = [
        f"{name}: {found.group(1)}() is written, which Redshift lacks (or leader node only)"
        for found in NOT_REDSHIFT.finditer(_without_comments(sql))
    ]
    for written in split_statements(sql):
        refusal = check(written)
        if refusal is not None:
            problems.append(f"{name}: {refusal.message}")
    statements = [s for s in sqlglot.parse(sql, read="redshift") if s is not None]
    for statement in statements:
        for node in statement.find_all(exp.Func):
            function = _function_name(node)
            if function is not None and function not in REDSHIFT_FUNCTIONS:
                problems.append(f"{name}: {function}() is not on the list of Redshift functions")
        for node in statement.find_all(exp.Avg):
            if not _is_fractional_cast(node.this):
                problems.append(
                    f"{name}: {node.sql('redshift')}: Redshift averages an integer to an "
                    "integer; cast the argument to a fraction with its scale"
                )
        for node in statement.find_all(exp.Div):
            if not (_states_type(node.left) or _states_type(node.right)):
                problems.append(
                    f"{name}: {node.sql('redshift')}: state the division's type with a cast "
                    "(two integers divide to an integer on Redshift, not on DuckDB)"
                )
        for node in statement.find_all(exp.Cast):
            to = node.to
            if to.this == exp.DataType.Type.DECIMAL and len(to.expressions) < 2:
                problems.append(
                    f"{name}: {node.sql('redshift')}: numeric without a scale is "
                    "numeric(18, 0) on Redshift"
                )
        for node in statement.find_all(exp.Filter):
            problems.append(f"{name}: {node.sql('redshift')}: Redshift has no aggregate FILTER")
        if "isodow" in statement.sql(dialect="redshift").lower():
            problems.append(f"{name}: Redshift has no isodow")
    return problems
