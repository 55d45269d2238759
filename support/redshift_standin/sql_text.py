"""Redshift SQL as tokens, read as Redshift reads it: a backslash escapes the next character
inside a string literal (so ``'a\\'b'`` is one literal), ``''`` is a quote, ``"..."`` is an
identifier, ``$$...$$`` a dollar-quoted body, and comments are ``--`` or ``/* */``.

The rules (rules.py) look only at code tokens: a function name inside a literal, a comment or
a quoted identifier is never mistaken for a call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WORD = re.compile(r"[A-Za-z_][A-Za-z_0-9$]*")
_NUMBER = re.compile(r"\d+(\.\d*)?([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?")
_DOLLAR = re.compile(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$")
_PARAM = re.compile(r"\$\d+")


@dataclass(frozen=True)
class Token:
    kind: str  # word, number, string, ident, dollar, param, op, comment, space
    text: str
    start: int

    @property
    def lower(self) -> str:
        return self.text.lower()


class UnterminatedLiteral(ValueError):
    """A literal, quoted identifier or comment that never ends (as Redshift would read it)."""


def tokens(sql: str) -> list[Token]:
    """Every token of ``sql``, comments and whitespace included."""
    out: list[Token] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch.isspace():
            j = i + 1
            while j < n and sql[j].isspace():
                j += 1
            out.append(Token("space", sql[i:j], i))
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j < 0 else j
            out.append(Token("comment", sql[i:j], i))
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            if j < 0:
                raise UnterminatedLiteral(f"a comment opened at character {i} never closes")
            j += 2
            out.append(Token("comment", sql[i:j], i))
        elif ch == "'" or (ch in "eE" and sql.startswith("'", i + 1)):
            j = _end_of_string(sql, i + (1 if ch == "'" else 2))
            out.append(Token("string", sql[i:j], i))
        elif ch == '"':
            j = i + 1
            while True:
                j = sql.find('"', j)
                if j < 0:
                    raise UnterminatedLiteral(f"a quoted identifier at character {i} never closes")
                if sql.startswith('""', j):
                    j += 2
                    continue
                j += 1
                break
            out.append(Token("ident", sql[i:j], i))
        elif ch == "$" and (found := _DOLLAR.match(sql, i)):
            tag = found.group(0)
            j = sql.find(tag, found.end())
            if j < 0:
                raise UnterminatedLiteral(f"a {tag} body at character {i} never closes")
            j += len(tag)
            out.append(Token("dollar", sql[i:j], i))
        elif ch == "$" and (found := _PARAM.match(sql, i)):
            out.append(Token("param", found.group(0), i))
            j = found.end()
        elif found := _WORD.match(sql, i):
            j = found.end()
            out.append(Token("word", found.group(0), i))
        elif (ch.isdigit() or ch == ".") and (found := _NUMBER.match(sql, i)):
            j = found.end()
            out.append(Token("number", found.group(0), i))
        else:
            j = i + (2 if sql[i : i + 2] in ("::", "<>", "!=", ">=", "<=", "||") else 1)
            out.append(Token("op", sql[i:j], i))
        i = j
    return out


def _end_of_string(sql: str, i: int) -> int:
    """The index just past a string literal whose body starts at ``i``."""
    n = len(sql)
    start = i - 1
    while i < n:
        ch = sql[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "'":
            if sql.startswith("''", i):
                i += 2
                continue
            return i + 1
        i += 1
    raise UnterminatedLiteral(
        f"a string literal at character {start} never closes (Redshift reads a backslash "
        "inside a literal as an escape: write a backslash as \\\\)"
    )


def code(sql: str) -> list[Token]:
    """The tokens that are code: no whitespace, no comments."""
    return [t for t in tokens(sql) if t.kind not in ("space", "comment")]


def split_statements(sql: str) -> list[str]:
    """The statements of ``sql``, split at the semicolons that are code."""
    parts, start = [], 0
    for token in tokens(sql):
        if token.kind == "op" and token.text == ";":
            parts.append(sql[start : token.start])
            start = token.start + 1
    parts.append(sql[start:])
    return [p for p in parts if code(p)]


def string_value(token: Token) -> str:
    """The text a string literal token stands for (Redshift's escapes applied)."""
    body = token.text[2:-1] if token.text[0] in "eE" else token.text[1:-1]
    out, i = [], 0
    escapes = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            out.append(escapes.get(body[i + 1], body[i + 1]))
            i += 2
        elif ch == "'" and body.startswith("''", i):
            out.append("'")
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def identifier(token: Token) -> str:
    """A word or quoted identifier as the name it denotes (words fold to lower case)."""
    if token.kind == "ident":
        return token.text[1:-1].replace('""', '"')
    return token.lower
