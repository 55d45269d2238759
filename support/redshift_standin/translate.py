"""A statement Redshift accepts, as PostgreSQL runs it with the same meaning.

Only syntax PostgreSQL lacks is rewritten; everything else runs as written, so a difference
in meaning shows up as a differing result, not a silent fix:

- table attributes that only place data (DISTSTYLE, DISTKEY, SORTKEY, ENCODE, BACKUP) are
  dropped, and so is a late-binding view's WITH NO SCHEMA BINDING;
- a date part written as a bare word (``dateadd(day, 1, ts)``) becomes a literal;
- ``listagg(x, ',') within group (order by y)`` becomes ``string_agg(x, ',' order by y)``;
- ``sysdate`` becomes a call, ``varchar(max)`` becomes ``varchar(65535)``;
- CREATE OR REPLACE VIEW goes through the catalog's check of Redshift's replacement rule.

Redshift's functions PostgreSQL lacks are in the catalog (catalog.py), not rewritten here.
"""

from __future__ import annotations

import secrets

from support.redshift_standin.sql_text import Token, code

_DATE_PART_CALLS = frozenset(
    {"dateadd", "datediff", "date_add", "date_diff", "datepart", "date_part", "date_trunc"}
)
_PLACEMENT = frozenset({"diststyle", "distkey", "sortkey", "compound", "interleaved", "backup"})


def _matching(tokens: list[Token], open_index: int) -> int:
    depth = 0
    for index in range(open_index, len(tokens)):
        if tokens[index].text == "(":
            depth += 1
        elif tokens[index].text == ")":
            depth -= 1
            if depth == 0:
                return index
    return len(tokens) - 1


def _end(token: Token) -> int:
    return token.start + len(token.text)


def for_postgres(sql: str) -> str:
    tokens = code(sql)
    words = [t.lower if t.kind == "word" else "" for t in tokens]
    if words[:4] == ["create", "or", "replace", "view"]:
        return _replace_view(sql, tokens, words)
    edits: list[tuple[int, int, str]] = []
    creating_table = "table" in words[:4] and words[:1] == ["create"]
    index = 0
    while index < len(tokens):
        token, word = tokens[index], words[index]
        following = tokens[index + 1].text if index + 1 < len(tokens) else ""
        if creating_table and word in _PLACEMENT:
            stop = index
            if word in ("compound", "interleaved"):
                stop += 1  # the sortkey after it
            if stop + 1 < len(tokens) and tokens[stop + 1].text == "(":
                stop = _matching(tokens, stop + 1)
            elif word in ("diststyle", "backup") or (
                stop + 1 < len(tokens) and words[stop + 1] == "auto"
            ):
                stop += 1
            edits.append((token.start, _end(tokens[stop]), " "))
            index = stop + 1
            continue
        if creating_table and word == "encode" and following != "(":
            edits.append((token.start, _end(tokens[index + 1]), " "))
            index += 2
            continue
        if word == "with" and words[index + 1 : index + 4] == ["no", "schema", "binding"]:
            edits.append((token.start, _end(tokens[index + 3]), " "))
            index += 4
            continue
        if word in _DATE_PART_CALLS and following == "(" and index + 3 < len(tokens):
            part = tokens[index + 2]
            if part.kind == "word" and tokens[index + 3].text == ",":
                edits.append((part.start, _end(part), f"'{part.lower}'"))
        if word == "sysdate" and following != "(":
            edits.append((token.start, _end(token), "pg_catalog.sysdate()"))
        if (
            word == "max"
            and index > 1
            and tokens[index - 1].text == "("
            and words[index - 2] in ("varchar", "varying", "varbyte")
        ):
            edits.append((token.start, _end(token), "65535"))
        if word == "listagg" and following == "(":
            close = _matching(tokens, index + 1)
            if words[close + 1 : close + 3] == ["within", "group"]:
                order_open = close + 3
                order_close = _matching(tokens, order_open)
                order_by = sql[_end(tokens[order_open]) : tokens[order_close].start]
                arguments = sql[_end(tokens[index + 1]) : tokens[close].start]
                if "," not in arguments:
                    arguments += ", ''"
                edits.append(
                    (token.start, _end(tokens[order_close]), f"string_agg({arguments} {order_by})")
                )
                index = order_close + 1
                continue
        index += 1
    for start, end, replacement in sorted(edits, reverse=True):
        sql = sql[:start] + replacement + sql[end:]
    return sql


def _dollar(text: str) -> str:
    tag = f"$rs{secrets.token_hex(4)}$"
    return f"{tag}{text}{tag}"


def _replace_view(sql: str, tokens: list[Token], words: list[str]) -> str:
    """CREATE OR REPLACE VIEW through the catalog's check of Redshift's rule."""
    name_start = tokens[4].start
    index = 4
    while index < len(tokens) and words[index] != "as":
        if tokens[index].text == "(":
            index = _matching(tokens, index)
        index += 1
    name_tokens = [t for t in tokens[4:index] if t.text != "("]
    target = sql[name_start : _end(name_tokens[0])]
    # the qualified name: words, identifiers and dots, up to a column list
    for token in name_tokens[1:]:
        if token.text == "." or token.kind in ("word", "ident"):
            target = sql[name_start : _end(token)]
        else:
            break
    body = for_postgres(sql[_end(tokens[index]) :])  # WITH NO SCHEMA BINDING dropped
    ddl = sql[: _end(tokens[index])] + " " + body
    return (
        "select pg_catalog.redshift_standin_replace_view("
        f"{_dollar(target)}, {_dollar(body)}, {_dollar(ddl)})"
    )
