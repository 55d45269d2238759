"""Plain-text tables for the terminal."""

from __future__ import annotations

import datetime as dt
import decimal

from insights.queries import Answer


def repair_text(text: str) -> str:
    """Undo the event files' double-encoded UTF-8 for display (BjÃ\x83Â¶rk -> Björk).

    Only a string that decodes cleanly is changed; anything else is shown as stored.
    """
    for _ in range(2):
        try:
            text = text.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            break
    return text


def cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float | decimal.Decimal):
        return f"{value:,.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    text = repair_text(str(value))
    return text if len(text) <= 40 else text[:39] + "…"


def render_table(answer: Answer) -> str:
    rows = [[cell(v) for v in row] for row in answer.rows]
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(answer.columns)]
    numeric = [
        all(isinstance(r[i], int | float | decimal.Decimal) or r[i] is None for r in answer.rows)
        for i in range(len(answer.columns))
    ]

    def line(values: list[str]) -> str:
        return "  ".join(
            v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric, strict=True)
        ).rstrip()

    out = [answer.question, "", line(answer.columns), line(["-" * w for w in widths])]
    out += [line(r) for r in rows] or ["(no rows)"]
    return "\n".join(out)
