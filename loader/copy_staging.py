"""Stage the Sparkify S3 JSON into staging.staging_events and staging.staging_songs.

    python loader/copy_staging.py [--target T] [--source URI] [--full-refresh] [--dry-run]
                                  [--max-errors N]

Loads incrementally and exactly once per object (a ledger in the warehouse records what was
loaded), each batch atomically. Exit codes: 0 loaded or nothing new; 1 data errors (bad records
beyond --max-errors, or objects that changed after loading); 2 usage or configuration errors;
3 transient failures (network, warehouse) after retries: rerun to continue.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

if __package__ in (None, ""):  # run as `python loader/copy_staging.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loader import logs
from loader.contract import RunOptions, TableStats
from loader.engines import DestinationOptions, open_destination
from loader.errors import ConfigError, LoaderError, TransientError, out_of_space
from loader.logs import log
from loader.pipeline import stage_tables, summary_table
from loader.profiles import (
    DuckDBConfig,
    load_env_file,
    load_target,
)
from loader.scratch import run_directory
from loader.sources import Source, open_source
from loader.tables import Table, events_table, songs_table

DEFAULT_SOURCE = "s3://udacity-dend"

EPILOG = """\
examples:
  python loader/copy_staging.py --source data/demo              # a local copy, default target
  python loader/copy_staging.py --target postgres --source s3://udacity-dend
  python loader/copy_staging.py --target redshift --dry-run      # what would load, the SQL
  python loader/copy_staging.py --since 2018-11-05 --until 2018-11-07   # backfill three days

environment:
  SPARKIFY_SOURCE               default --source (else s3://udacity-dend)
  AWS_ENDPOINT_URL              an S3-compatible endpoint (also --endpoint-url)
  SPARKIFY_REDSHIFT_IAM_ROLE    role ARN Redshift's COPY assumes (also --iam-role)
  SPARKIFY_MANIFEST_PREFIX      s3:// prefix where rows are staged for COPY (also --manifest-prefix)
  DBT_PROFILES_DIR              where profiles.yml is (else ., the project, ~/.dbt)

exit codes: 0 ok or nothing new, 1 data errors, 2 usage/configuration, 3 transient (rerun)
"""


class UsageParser(argparse.ArgumentParser):
    """A usage error exits 2 with the usage and one line (the daily job's parser too)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    p = UsageParser(
        prog="python loader/copy_staging.py",
        description="Stage the Sparkify JSON (S3 or a local directory) into the warehouse's "
        "staging tables: incrementally, exactly once per object, atomically.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--target", help="target of the dbt profile 'sparkify' (default: the profile's)")
    p.add_argument(
        "--source",
        default=os.environ.get("SPARKIFY_SOURCE", DEFAULT_SOURCE),
        help="s3://bucket[/prefix] or a directory laid out like s3://udacity-dend "
        "(default: $SPARKIFY_SOURCE or s3://udacity-dend)",
    )
    p.add_argument(
        "--full-refresh",
        action="store_true",
        help="reload everything: replace the staging rows and ledger in one transaction",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would be loaded and the SQL, credentials masked; change nothing",
    )
    p.add_argument(
        "--max-errors",
        type=int,
        default=0,
        metavar="N",
        help="load the good records when at most N are bad, keeping the bad ones in "
        "staging.load_rejects (default 0: any bad record refuses its batch)",
    )
    p.add_argument(
        "--accept-invalid-chars",
        nargs="?",
        const="?",
        default=None,
        metavar="CHAR",
        help="replace invalid UTF-8 with CHAR (default '?') instead of rejecting the "
        "record, like Redshift's ACCEPTINVCHARS",
    )
    p.add_argument(
        "--replace-changed",
        action="store_true",
        help="reload objects whose content changed since they were loaded, replacing "
        "their rows (DuckDB and PostgreSQL); the old rows are kept in "
        "staging.<table>_removed and the ledger records the replacement",
    )
    p.add_argument(
        "--add-source",
        action="store_true",
        help="stage this source beside the data another source staged (by default the loader "
        "refuses to mix two sources in one warehouse, such as the demo data and the real data)",
    )
    p.add_argument(
        "--withdraw-missing",
        action="store_true",
        help="remove the staged rows of objects loaded before that the source no longer "
        "lists (they are kept in staging.<table>_removed, and the ledger records the "
        "withdrawal, so dbt removes what was built from them)",
    )
    dates = p.add_argument_group(
        "backfill by date",
        "the event files of a date range, from the YYYY-MM-DD in their names "
        "(log_data/2018/11/2018-11-05-events.json); the catalogue loads as usual, and "
        "exactly once as always: a backfill run twice stages nothing the second time",
    )
    dates.add_argument(
        "--since", type=_day, metavar="YYYY-MM-DD", help="first day to stage (inclusive)"
    )
    dates.add_argument(
        "--until", type=_day, metavar="YYYY-MM-DD", help="last day to stage (inclusive)"
    )
    dates.add_argument(
        "--restage",
        action="store_true",
        help="stage the event files in --since/--until again, even unchanged, as new "
        "versions of themselves: the next dbt build rebuilds exactly the marts' rows built "
        "from them (a date-range rebuild, at the cost of those days)",
    )
    p.add_argument(
        "--tables",
        nargs="+",
        choices=["songs", "events"],
        default=["songs", "events"],
        help="which staging tables to load (default both)",
    )
    paths = p.add_argument_group("source layout")
    paths.add_argument("--song-prefix", default="song_data/", help="default song_data/")
    paths.add_argument("--log-prefix", default="log_data/", help="default log_data/")
    paths.add_argument(
        "--jsonpaths",
        default="log_json_path.json",
        help="JSONPaths file for the events: a key under the source, or an s3:// "
        "URI or path (default log_json_path.json)",
    )
    s3 = p.add_argument_group("S3")
    s3.add_argument(
        "--region",
        help="bucket region (default: $AWS_REGION, else the region S3 reports for the bucket)",
    )
    s3.add_argument(
        "--endpoint-url",
        default=os.environ.get("AWS_ENDPOINT_URL"),
        help="S3-compatible endpoint (default: $AWS_ENDPOINT_URL)",
    )
    sign = s3.add_mutually_exclusive_group()
    sign.add_argument(
        "--no-sign-request",
        dest="unsigned",
        action="store_const",
        const=True,
        help="read a public bucket anonymously (default when no AWS credentials)",
    )
    sign.add_argument(
        "--sign-request",
        dest="unsigned",
        action="store_const",
        const=False,
        help="always sign requests with the boto3 credential chain",
    )
    rs = p.add_argument_group("Redshift")
    rs.add_argument(
        "--iam-role",
        default=os.environ.get("SPARKIFY_REDSHIFT_IAM_ROLE"),
        help="IAM role ARN for COPY (default: $SPARKIFY_REDSHIFT_IAM_ROLE)",
    )
    rs.add_argument(
        "--manifest-prefix",
        default=os.environ.get("SPARKIFY_MANIFEST_PREFIX"),
        help="s3:// prefix (in the cluster's region) where the loader stages each batch's "
        "checked rows and the manifest COPY reads them through; the IAM role reads it, the "
        "loader's credentials write and delete there (default: $SPARKIFY_MANIFEST_PREFIX, "
        "which python -m infra up writes)",
    )
    tuning = p.add_argument_group("tuning and output")
    tuning.add_argument(
        "--retries",
        type=int,
        default=3,
        help="retry a batch this often after a transient failure, with backoff (default 3)",
    )
    tuning.add_argument(
        "--s3-workers",
        type=int,
        default=32,
        help="parallel S3 GETs over one pooled set of connections (default 32)",
    )
    tuning.add_argument(
        "--batch-mb", type=int, default=256, help="commit every N MB of source data (default 256)"
    )
    tuning.add_argument("--no-progress", action="store_true", help="no progress bars")
    output = tuning.add_mutually_exclusive_group()
    output.add_argument("-q", "--quiet", action="store_true", help="print only warnings and errors")
    output.add_argument(
        "-v", "--verbose", action="store_true", help="also print each batch's details"
    )
    tuning.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=os.environ.get("SPARKIFY_LOG_FORMAT", "text"),
        help="text (default, or $SPARKIFY_LOG_FORMAT) or json: one object per event on "
        "stderr with the run id, table, batch, rows and seconds, for a log pipeline",
    )
    tuning.add_argument("--profiles-dir", type=Path, help="directory holding profiles.yml")
    tuning.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def destination_options(args: argparse.Namespace) -> DestinationOptions:
    """What the command line adds to the target's profile to open its destination."""
    return DestinationOptions(
        dry_run=args.dry_run,
        iam_role=args.iam_role,
        manifest_prefix=args.manifest_prefix,
        region=args.region,
        endpoint_url=args.endpoint_url,
    )


def read_jsonpaths(source: Source, location: str, args: argparse.Namespace) -> tuple[bytes, str]:
    """Return the JSONPaths document and the URL Redshift's COPY would read it from."""
    try:
        if location.startswith("s3://"):
            bucket_uri, _, key = location.rpartition("/")
            other = open_source(
                bucket_uri,
                region=args.region,
                endpoint_url=args.endpoint_url,
                unsigned=args.unsigned,
            )
            return other.read(key), location
        path = Path(location)
        if path.is_absolute():
            if not path.is_file():
                raise ConfigError(f"JSONPaths file {path} does not exist")
            return path.read_bytes(), str(path)
        return source.read(location), source.url(location)
    except TransientError as exc:
        raise ConfigError(f"cannot reach the source: {exc}") from None
    except ConfigError as exc:
        raise ConfigError(f"missing or unreadable JSONPaths file: {exc}") from None


def main(argv: Sequence[str] | None = None, report: list[TableStats] | None = None) -> int:
    """The command line; ``report``, when given, receives each table's stats (the daily job
    records them in its run history)."""
    load_env_file()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.log_format not in ("text", "json"):
        parser.error(f"--log-format {args.log_format!r} (or $SPARKIFY_LOG_FORMAT): text or json")
    logs.configure(quiet=args.quiet, verbose=args.verbose, log_format=args.log_format)
    try:
        return _main(args, report)
    except LoaderError as exc:
        if args.debug:
            raise
        logs.error(str(exc), exit_code=exc.exit_code, kind=type(exc).__name__)
        if isinstance(exc, TransientError):
            logs.error(
                "the unfinished batch was rolled back; committed batches are kept: rerun to "
                "continue where it stopped",
                event="hint",
            )
        return exc.exit_code
    except Exception as exc:  # a full disk surfaces wherever a write happens
        full = out_of_space(exc)
        if full is None or args.debug:
            raise
        logs.error(str(full), exit_code=full.exit_code, kind=type(full).__name__)
        return full.exit_code
    except KeyboardInterrupt:
        logs.error("interrupted: nothing of the unfinished batch was committed", exit_code=130)
        return 130


def _main(args: argparse.Namespace, report: list[TableStats] | None = None) -> int:
    if args.max_errors < 0:
        raise ConfigError("--max-errors must be 0 or more")
    if args.retries < 0:
        raise ConfigError("--retries must be 0 or more")
    if args.batch_mb < 1:
        raise ConfigError("--batch-mb must be at least 1")
    if not 1 <= args.s3_workers <= 256:
        raise ConfigError("--s3-workers must be between 1 and 256")
    if args.since and args.until and args.since > args.until:
        raise ConfigError(f"--since {args.since} is after --until {args.until}")
    if args.restage and not (args.since or args.until):
        raise ConfigError("--restage needs --since and/or --until: the days to stage again")
    if args.restage and args.full_refresh:
        raise ConfigError("--restage and --full-refresh do not go together")
    if args.accept_invalid_chars is not None and len(args.accept_invalid_chars) != 1:
        raise ConfigError("--accept-invalid-chars takes a single character")
    profiles = args.profiles_dir / "profiles.yml" if args.profiles_dir else None
    target_name, config = load_target(args.target, profiles)
    source = (
        open_source(
            args.source,
            region=args.region,
            endpoint_url=args.endpoint_url,
            unsigned=args.unsigned,
            max_workers=args.s3_workers,
        )
        if args.source.startswith("s3://")
        else open_source(args.source)
    )
    # Both staging tables always exist (dbt's sources need them); --tables picks what loads.
    song = songs_table()
    schema = [Table(song.name, _prefix(args.song_prefix), song.columns)]
    try:
        document, url = read_jsonpaths(source, args.jsonpaths, args)
        events = events_table(document, url)
        schema.append(Table(events.name, _prefix(args.log_prefix), events.columns, url))
    except ConfigError:
        if "events" in args.tables:
            raise
    wanted = {"songs": "staging_songs", "events": "staging_events"}
    tables = [t for t in schema if t.name in {wanted[name] for name in args.tables}]
    opts = RunOptions(
        full_refresh=args.full_refresh,
        dry_run=args.dry_run,
        max_errors=args.max_errors,
        invalid_char=args.accept_invalid_chars,
        replace_changed=args.replace_changed,
        withdraw_missing=args.withdraw_missing,
        batch_bytes=args.batch_mb * 1024 * 1024,
        retries=args.retries,
        progress=not args.no_progress,
        since=args.since,
        until=args.until,
        restage=args.restage,
        add_source=args.add_source,
    )
    where = (
        f" {Path(config.path).resolve()}"
        if isinstance(config, DuckDBConfig) and config.path != ":memory:"
        else ""
    )
    log(
        f"staging {source.uri} into target {target_name!r} ({config.type}{where})"
        + (" [dry run]" if args.dry_run else "")
    )
    with run_directory(), open_destination(config, destination_options(args)) as dest:
        stats, warnings = stage_tables(dest, source, tables, opts, sys.stdout, schema)
    if report is not None:
        report.extend(stats)
    shown = warnings if logs.settings.format == "json" else warnings[:10]
    for warning in shown:
        logs.warn(warning)
    if len(warnings) > len(shown):
        logs.warn(f"... and {len(warnings) - len(shown)} more like these")
    if not args.dry_run:
        if not any(s.listed_files for s in stats):
            verdict = "nothing to load: the source holds no data objects (see warnings above)"
        elif not any(s.new_files or s.withdrawn_files for s in stats):
            verdict = "nothing new to load: every object is already in the ledger"
        else:
            verdict = ""
        if logs.settings.format == "json":
            for s in stats:
                logs.log(f"{s.table}: done", event="table_done", **table_fields(s))
            if verdict:
                logs.log(verdict, event="nothing_new")
        elif logs.enabled("info"):
            print(summary_table(stats))
            if verdict:
                print(verdict)
    changed = sum(s.changed_files for s in stats)
    if changed and not args.replace_changed and not args.full_refresh:
        logs.error(f"{changed} object(s) changed after loading (see warnings above)", exit_code=1)
        return 1
    return 0


def table_fields(stats: TableStats) -> dict[str, Any]:
    """A table's figures for a JSON log event."""
    return {
        "table": stats.table,
        "listed": stats.listed_files,
        "new": stats.new_files,
        "skipped": stats.skipped_files,
        "changed": stats.changed_files,
        "replaced": stats.replaced_files,
        "withdrawn": stats.withdrawn_files,
        "missing": stats.missing_files,
        "rows": stats.rows,
        "rejects": stats.rejects,
        "unmapped_records": stats.unmapped_records,
        "bytes": stats.bytes,
        "batches": stats.batches,
        "seconds": round(stats.seconds, 3),
    }


def _day(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _prefix(value: str) -> str:
    value = value.strip("/")
    return f"{value}/" if value else ""


if __name__ == "__main__":
    sys.exit(main())
