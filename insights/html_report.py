"""One self-contained HTML report an analyst can open: every answer as a table and a chart.

Offline by construction: the charts are SVG drawn by matplotlib and written into the page, the
style is inline, and nothing is fetched. Each run writes a report of its own
(``reports/report-<UTC time>.html``), so yesterday's stays next to today's.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from insights.dashboards import stack_days_by_level
from insights.provenance import Provenance
from insights.queries import Answer
from insights.tables import cell, repair_text

LABEL_WIDTH = 32  # characters of a bar's label; longer ones end in an ellipsis at a word break

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1100px;
       padding: 0 1rem; color: #1d232a; }
h1 { margin-bottom: .2rem; } h2 { margin-top: 2.4rem; border-top: 1px solid #ddd;
padding-top: 1rem; }
.provenance { background: #f4f6f8; border-radius: 6px; padding: .6rem 1rem; }
.provenance li { margin: .15rem 0; }
.warning { background: #fdecea; border: 2px solid #c62828; color: #8e0000; padding: .8rem 1rem;
           border-radius: 6px; font-weight: 600; }
.demo { background: #fff8e1; border: 1px solid #f0c36d; padding: .4rem 1rem; border-radius: 6px; }
table { border-collapse: collapse; margin: .6rem 0; }
th, td { padding: .25rem .7rem; border-bottom: 1px solid #e3e3e3; text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: .6rem 0; } svg { max-width: 100%; height: auto; }
"""


def ellipsised(text: str, width: int = LABEL_WIDTH) -> str:
    """``text`` cut at a word break to fit ``width`` characters, ending in an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    shortened = textwrap.shorten(text, width=width, placeholder=" …")
    if shortened == " …".strip() or len(shortened) <= 2:  # one long word: cut it
        return text[: width - 1] + "…"
    return shortened


def _svg(fig) -> str:
    fig.tight_layout()
    buffer = io.StringIO()
    # no RDF metadata block (its creator and date): only the drawing
    fig.savefig(
        buffer, format="svg", metadata={"Creator": None, "Date": None, "Format": None, "Type": None}
    )
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def bars(
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    unit: str,
    horizontal: bool = True,
) -> str:
    """A bar chart: whole-number axis for counts, each bar's value written on it."""
    height = max(3.0, 0.42 * len(labels) + 1.2) if horizontal else 4.2
    fig, ax = plt.subplots(figsize=(9, height))
    shown = [ellipsised(label) for label in labels]
    if horizontal:
        drawn = ax.barh(shown[::-1], list(values)[::-1], color="#4c72b0")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel(unit)
        ax.margins(x=0.12)
    else:
        drawn = ax.bar(shown, list(values), color="#4c72b0")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(unit)
        ax.margins(y=0.12)
    ax.bar_label(
        drawn,
        labels=[f"{v:,.0f}" for v in (values[::-1] if horizontal else values)],
        padding=3,
        fontsize=8,
    )
    ax.set_title(title)
    ax.grid(axis="x" if horizontal else "y", alpha=0.3)
    return _svg(fig)


def stacked_days(title: str, answer: Answer) -> str:
    fig, ax = plt.subplots(figsize=(10, 4.2))
    stack_days_by_level(ax, answer, ("#dd8452", "#55a868"))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(title=title, ylabel="Plays")
    ax.legend(title="Level")
    fig.autofmt_xdate()
    ax.grid(axis="y", alpha=0.3)
    return _svg(fig)


def _text(value: object) -> str:
    return repair_text(value) if isinstance(value, str) else str(value)


@dataclass(frozen=True)
class Chart:
    """How an answer is charted: its title, each bar's label from the row (by column name),
    the column counted, the axis label, and whether the bars lie flat (long labels)."""

    title: str
    label: Callable[[dict[str, Any]], str]
    value: str
    unit: str = "Plays"
    horizontal: bool = True


CHARTS: dict[str, Chart] = {
    "top_songs": Chart(
        "Most played songs",
        lambda r: f"{_text(r['song_title'])} – {_text(r['artist_name'])}",
        "plays",
    ),
    "top_artists": Chart("Most played artists", lambda r: _text(r["artist_name"]), "plays"),
    "busiest_hours": Chart(
        "Plays per hour of day (UTC)", lambda r: str(r["hour"]), "plays", horizontal=False
    ),
    "busiest_weekdays": Chart(
        "Plays per weekday", lambda r: str(r["weekday_name"]), "plays", horizontal=False
    ),
    "free_vs_paid": Chart("Plays by level", lambda r: str(r["level"]), "plays", horizontal=False),
    "top_users": Chart(
        "Most active users",
        lambda r: f"{_text(r['first_name'])} {_text(r['last_name'])} ({r['user_id']})",
        "plays",
    ),
    "top_locations": Chart("Plays by location", lambda r: _text(r["location"]), "plays"),
    "level_changes": Chart(
        "Upgrades and downgrades", lambda r: str(r["change"]), "changes", "Changes", False
    ),
}


def chart(key: str, answer: Answer, span: str) -> str | None:
    """The answer's chart as SVG, its title ending in the date range; None for a table only."""
    if key == "plays_per_day_by_level":
        return stacked_days(f"Plays per day, free and paid, {span}", answer)
    spec = CHARTS.get(key)
    if spec is None or not answer.rows:
        return None
    rows: list[dict[str, Any]] = [dict(zip(answer.columns, r, strict=True)) for r in answer.rows]
    return bars(
        f"{spec.title}, {span}",
        [spec.label(row) for row in rows],
        [float(row[spec.value]) for row in rows],
        spec.unit,
        horizontal=spec.horizontal,
    )


def _table(answer: Answer) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in answer.columns)
    body = []
    for row in answer.rows:
        cells = []
        for value in row:
            number = isinstance(value, int | float) and not isinstance(value, bool)
            shown = cell(repair_text(value) if isinstance(value, str) else value)
            css = ' class="number"' if number else ""
            cells.append(f"<td{css}>{html.escape(shown)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render(answers: dict[str, Answer], provenance: Provenance, order: Sequence[str]) -> str:
    span = provenance.date_range + (" (demo data)" if provenance.is_demo else "")
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>Sparkify report, {html.escape(span)}</title><style>{STYLE}</style></head><body>",
        "<h1>Sparkify: what users play</h1>",
    ]
    if provenance.warning:
        parts.append(f"<p class='warning'>Warning: {html.escape(provenance.warning)}</p>")
    if provenance.is_demo:
        parts.append(
            "<p class='demo'>Demo data: these figures are synthetic, generated for the demo; "
            "stage the real data (make real-data) for real answers.</p>"
        )
    items = "".join(f"<li>{html.escape(line)}</li>" for line in provenance.lines())
    parts.append(f"<ul class='provenance'>{items}</ul>")
    for key in order:
        answer = answers.get(key)
        if answer is None:
            continue
        parts.append(f"<h2 id='{key}'>{html.escape(answer.question)}</h2>")
        drawn = chart(key, answer, span)
        if drawn:
            parts.append(f"<figure>{drawn}</figure>")
        parts.append(_table(answer))
    generated = dt.datetime.now(dt.UTC)
    parts.append(
        f"<p><small>Written {generated:%Y-%m-%d %H:%M} UTC by python -m insights.</small></p>"
    )
    parts.append("</body></html>")
    return "\n".join(parts)


def write(
    answers: dict[str, Answer], provenance: Provenance, order: Sequence[str], out: Path
) -> Path:
    """Write this run's report beside the earlier ones; return its path."""
    out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC)
    path = out / f"report-{stamp:%Y%m%dT%H%M%SZ}.html"
    number = 1
    while path.exists():  # two reports in one second: both kept
        number += 1
        path = out / f"report-{stamp:%Y%m%dT%H%M%SZ}-{number}.html"
    path.write_text(render(answers, provenance, order), encoding="utf-8")
    return path
