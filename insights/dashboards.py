"""Dashboards as PNG images, drawn with matplotlib (no display needed)."""

from __future__ import annotations

import collections
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from insights.queries import Answer
from insights.tables import repair_text

DASHBOARDS = {
    "plays_per_hour.png": "Plays per hour of day (UTC)",
    "plays_per_day_by_level.png": "Plays per day, free vs paid",
    "top_songs_and_artists.png": "Top songs and artists",
    "user_level_transitions.png": "Upgrades and downgrades",
}


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plays_per_hour(answer: Answer, out: Path) -> Path:
    fig, ax = plt.subplots(figsize=(9, 4.5))
    hours = [r[0] for r in answer.rows]
    ax.bar(hours, [r[1] for r in answer.rows], color="#1f77b4")
    ax.set(
        title=DASHBOARDS["plays_per_hour.png"],
        xlabel="Hour of day (UTC)",
        ylabel="Plays",
        xticks=range(0, 24),
    )
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, out / "plays_per_hour.png")


def stack_days_by_level(ax, answer: Answer, colors: tuple[str, str]) -> None:
    """Plays per day as bars, free stacked under paid (the PNG and the HTML report)."""
    series: dict[str, dict] = collections.defaultdict(dict)
    for day, level, plays in answer.rows:
        series[level][day] = plays
    days = sorted({r[0] for r in answer.rows})
    bottom = [0] * len(days)
    for level, color in zip(("free", "paid"), colors, strict=True):
        values = [series[level].get(d, 0) for d in days]
        ax.bar(days, values, bottom=bottom, label=level, color=color)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]


def plays_per_day_by_level(answer: Answer, out: Path) -> Path:
    fig, ax = plt.subplots(figsize=(10, 4.5))
    stack_days_by_level(ax, answer, ("#ff7f0e", "#2ca02c"))
    ax.set(title=DASHBOARDS["plays_per_day_by_level.png"], xlabel="Day", ylabel="Plays")
    ax.legend(title="Level")
    fig.autofmt_xdate()
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, out / "plays_per_day_by_level.png")


def top_songs_and_artists(songs: Answer, artists: Answer, out: Path) -> Path:
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    labels = [f"{repair_text(str(r[0]))} — {repair_text(str(r[1]))}"[:45] for r in songs.rows][::-1]
    left.barh(labels, [r[2] for r in songs.rows][::-1], color="#9467bd")
    left.set(title="Top songs", xlabel="Plays")
    names = [repair_text(str(r[0]))[:40] for r in artists.rows][::-1]
    right.barh(names, [r[1] for r in artists.rows][::-1], color="#8c564b")
    right.set(title="Top artists", xlabel="Plays")
    fig.suptitle(DASHBOARDS["top_songs_and_artists.png"])
    return _save(fig, out / "top_songs_and_artists.png")


def user_level_transitions(changes: Answer, levels: Answer, out: Path) -> Path:
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.5))
    left.bar(
        [r[0] for r in changes.rows],
        [r[1] for r in changes.rows],
        color=["#d62728" if r[0] == "downgrade" else "#2ca02c" for r in changes.rows],
    )
    left.set(title="Level changes", ylabel="Changes")
    right.bar(
        [r[0] for r in levels.rows],
        [r[3] for r in levels.rows],
        color=["#ff7f0e", "#2ca02c"][: len(levels.rows)],
    )
    right.set(title="Users by current level", ylabel="Users")
    fig.suptitle(DASHBOARDS["user_level_transitions.png"])
    return _save(fig, out / "user_level_transitions.png")


def draw_all(answers: dict[str, Answer], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    return [
        plays_per_hour(answers["busiest_hours"], out),
        plays_per_day_by_level(answers["plays_per_day_by_level"], out),
        top_songs_and_artists(answers["top_songs"], answers["top_artists"], out),
        user_level_transitions(answers["level_changes"], answers["free_vs_paid"], out),
    ]
