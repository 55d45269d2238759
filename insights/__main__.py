"""Print the analysts' answers and write the dashboards, for any target.

python -m insights [--target T] [--output reports] [--no-charts]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from insights.dashboards import draw_all
from insights.queries import connect, load_questions, run
from insights.tables import render_table
from loader.errors import LoaderError
from loader.profiles import DuckDBConfig, load_env_file, load_target

ORDER = [
    "top_songs",
    "top_artists",
    "busiest_hours",
    "busiest_weekdays",
    "free_vs_paid",
    "top_users",
    "top_locations",
    "sessions_per_user",
    "level_changes",
]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m insights",
        description="Answer the analysts' questions (analyses/*.sql) on a built warehouse, print "
        "them as tables and write the dashboards as PNG images.",
    )
    parser.add_argument("--target", help="target of the dbt profile 'sparkify' (default: its own)")
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("reports"),
        help="folder for the dashboard PNGs (default: reports)",
    )
    parser.add_argument("--no-charts", action="store_true", help="print the answers only")
    args = parser.parse_args(argv)
    load_env_file()
    try:
        name, config = load_target(args.target)
        questions = load_questions()
        with connect(config) as con:
            answers = {key: run(con, key, *questions[key]) for key in questions}
    except LoaderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"Sparkify: answers from target {name!r} ({config.type})\n")
    for key in ORDER + sorted(set(answers) - set(ORDER) - {"plays_per_day_by_level"}):
        print(render_table(answers[key]))
        print()
    if not args.no_charts:
        paths = draw_all(answers, args.output)
        print("Dashboards:")
        for path in paths:
            print(f"  {path}")
    if isinstance(config, DuckDBConfig):
        print(
            f"\nWarehouse: {Path(config.path).resolve()} (open it with duckdb, or query with "
            'python -c "import duckdb; ...")'
        )
    print("Docs and lineage: make docs (then open http://127.0.0.1:8080)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
