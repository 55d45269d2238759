"""Print the analysts' answers, write one HTML report and the dashboards, for any target.

python -m insights [--target T] [--output reports] [--no-charts] [-q | -v] [--log-format json]

Every answer comes from ``analytics``, the schema dbt publishes to only when a whole build
passed (macros/publish); the report says where its figures come from (target, warehouse,
sources, date range, rows, when they were published) and warns loudly when a later build
failed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from insights import html_report, provenance
from insights.dashboards import draw_all
from insights.queries import answer, connect, load_questions
from insights.tables import render_table
from loader import logs
from loader.errors import LoaderError
from loader.profiles import DuckDBConfig, load_env_file, load_target

ORDER = [
    "top_songs",
    "top_artists",
    "busiest_hours",
    "busiest_weekdays",
    "plays_per_day_by_level",
    "free_vs_paid",
    "top_users",
    "top_locations",
    "sessions_per_user",
    "level_changes",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sparkify-report",
        description="Answer the analysts' questions (analyses/*.sql) from the published marts "
        "(schema analytics), print them as tables with where they come from, and write one "
        "self-contained HTML report (every answer as a table and a chart) and the dashboards.",
    )
    parser.add_argument("--target", help="target of the dbt profile 'sparkify' (default: its own)")
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("reports"),
        help="folder for the HTML report (one per run, kept) and the dashboard PNGs "
        "(default: reports)",
    )
    parser.add_argument("--no-charts", action="store_true", help="no HTML report, no PNGs")
    parser.add_argument(
        "--require-passing",
        action="store_true",
        help="exit 1, writing nothing, when the latest dbt build failed (the answers would be "
        "those of an earlier build)",
    )
    output = parser.add_argument_group("output")
    output.add_argument(
        "-q", "--quiet", action="store_true", help="print only warnings and the files written"
    )
    output.add_argument("-v", "--verbose", action="store_true", help="also log each query")
    output.add_argument(
        "--log-format",
        default=os.environ.get("SPARKIFY_LOG_FORMAT", "text"),
        choices=["text", "json"],
        help="json: one JSON object per event on standard error (provenance, answers, files), "
        "no tables; default text, or $SPARKIFY_LOG_FORMAT",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure(quiet=args.quiet, verbose=args.verbose, log_format=args.log_format)
    tables = args.log_format == "text" and not args.quiet
    load_env_file()
    try:
        name, config = load_target(args.target)
        questions = load_questions()
        with connect(config) as warehouse:
            origin = provenance.read(warehouse, name, config)
            answers = {}
            for key, (question, sql) in questions.items():
                answers[key] = answer(warehouse, key, question, sql)
                logs.debug(
                    f"{key}: {len(answers[key].rows)} rows",
                    event="answer",
                    answer=key,
                    rows=len(answers[key].rows),
                )
    except LoaderError as exc:
        logs.error(str(exc), exit_code=exc.exit_code, kind=type(exc).__name__)
        return exc.exit_code
    if args.log_format == "json":
        logs.log(
            "provenance",
            event="provenance",
            target=origin.target,
            engine=origin.engine,
            warehouse=origin.warehouse,
            sources={t: [uri for uri, _ in found] for t, found in origin.sources.items()},
            first_play=str(origin.first_play),
            last_play=str(origin.last_play),
            plays=origin.plays,
            matched_plays=origin.matched_plays,
            rows=origin.rows,
            published_at=str(origin.published.finished_at) if origin.published else None,
            demo=origin.is_demo,
        )
    if origin.warning:
        logs.warn(origin.warning, event="provenance_warning")
        if args.require_passing and origin.latest and origin.latest.outcome == "failed":
            logs.error("--require-passing: no report written", exit_code=1)
            return 1
    if tables:
        print("Sparkify: answers from the published marts\n")
        print("\n".join(origin.lines()) + "\n")
        order = ORDER + sorted(set(answers) - set(ORDER))
        for key in order:
            if key != "plays_per_day_by_level":
                print(render_table(answers[key]))
                print()
    written = []
    if not args.no_charts:
        order = ORDER + sorted(set(answers) - set(ORDER))
        written.append(html_report.write(answers, origin, order, args.output))
        written += draw_all(answers, args.output)
        for path in written:  # the text output lists them below
            say = logs.log if args.log_format == "json" else logs.debug
            say(f"wrote {path}", event="written", path=str(path))
    if tables and written:
        print(f"Report: {written[0]} (open it in a browser; it needs no network)")
        print("Dashboards:")
        for path in written[1:]:
            print(f"  {path}")
    elif args.quiet and args.log_format == "text":
        for path in written:
            print(path)
    if tables:
        if isinstance(config, DuckDBConfig):
            print(
                f"\nWarehouse: {Path(config.path).resolve()} (query it from Python or a notebook: "
                f"duckdb.connect({str(config.path)!r}, read_only=True); see the README)"
            )
        print("Docs and lineage: make docs (then open http://127.0.0.1:8080)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
