"""The daily job: one command a scheduler runs.

    python -m orchestration.daily [--target T] [--source URI] [--since D] [--until D] [--restage]

Takes the job lock, stages what is new (or the event files of a date range), checks that the
events are fresh, runs ``dbt build``, records the run in ``staging.job_runs``, and exits with a
code the scheduler can act on (the loader's):

  0  success (freshness may have warned)
  1  bad data: the loader refused records or found changed objects, a data test failed, or no
     event file was staged for 7 days. Retrying does not help: look at the message.
  2  configuration or code: a missing setting, a model that does not build. Retrying does not help.
  3  transient: the network, the warehouse, or another daily job holding the lock. Retry later;
     committed work is kept and nothing is done twice.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import secrets
import sys
import time
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as `python orchestration/daily.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loader import copy_staging, logs
from loader.contract import TableStats
from loader.engines import open_destination
from loader.errors import LoaderError
from loader.profiles import find_profiles, load_env_file, load_target
from orchestration import dbt_steps, run_history
from orchestration.job_lock import LockHeld, job_lock, lock_path
from orchestration.staging_process import StagingProcess

EPILOG = """\
examples:
  python -m orchestration.daily --source s3://udacity-dend        # what a cron entry runs
  python -m orchestration.daily --since 2018-11-05 --until 2018-11-07   # backfill three days
  python -m orchestration.daily --since 2018-11-05 --until 2018-11-05 --restage
                                    # rebuild the marts' rows of one day from its files
  python -m orchestration.daily -- --max-errors 10     # anything after -- goes to the loader

exit codes (also in staging.job_runs.exit_code):
  0 success   1 bad data (do not retry)   2 configuration or code (do not retry)
  3 transient, or another daily job is running (retry later)

the run history:
  select started_at, outcome, objects_staged, rows_staged, tests_failed, message
  from staging.job_runs order by started_at desc limit 10;
"""


def build_parser() -> argparse.ArgumentParser:
    p = copy_staging.UsageParser(
        prog="sparkify-daily",
        description="The scheduled job: stage what is new, check freshness, dbt build, record "
        "the run. One at a time per warehouse.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--target", help="target of the dbt profile 'sparkify' (default: the profile's)")
    p.add_argument(
        "--source",
        default=os.environ.get("SPARKIFY_SOURCE", copy_staging.DEFAULT_SOURCE),
        help="s3://bucket[/prefix] or a local directory (default: $SPARKIFY_SOURCE or "
        "s3://udacity-dend)",
    )
    p.add_argument("--since", metavar="YYYY-MM-DD", help="stage only event files from this day")
    p.add_argument("--until", metavar="YYYY-MM-DD", help="stage only event files to this day")
    p.add_argument(
        "--restage",
        action="store_true",
        help="stage the days of --since/--until again, so the build rebuilds their rows",
    )
    p.add_argument(
        "--steps",
        type=_steps_option,
        default=("stage", "build"),
        metavar="STEP[,STEP]",
        help="stage (the loader), build (freshness, dbt build and its tests), or both "
        "(default stage,build); a scheduler with one task per step passes one",
    )
    p.add_argument(
        "--full-checks",
        action="store_true",
        help="run every data test over every row (a weekly audit), not only over what the "
        "build changed",
    )
    p.add_argument("--skip-freshness", action="store_true", help="do not run dbt source freshness")
    p.add_argument("--profiles-dir", type=Path, help="directory holding profiles.yml")
    p.add_argument(
        "loader_args",
        nargs="*",
        metavar="-- LOADER-OPTION",
        help="options passed to loader/copy_staging.py as they are (after --)",
    )
    return p


def _steps_option(value: str) -> tuple[str, ...]:
    steps = tuple(part.strip() for part in value.split(",") if part.strip())
    unknown = [step for step in steps if step not in ("stage", "build")]
    if not steps or unknown:
        raise argparse.ArgumentTypeError(f"{value!r}: the steps are stage and build")
    return steps


def main(argv: Sequence[str] | None = None) -> int:
    load_env_file()
    args = build_parser().parse_args(argv)
    loader_argv = ["--source", args.source, *args.loader_args]
    for flag in ("target", "since", "until"):
        if getattr(args, flag):
            loader_argv += [f"--{flag}", getattr(args, flag)]
    if args.restage:
        loader_argv.append("--restage")
    if args.profiles_dir:
        loader_argv += ["--profiles-dir", str(args.profiles_dir)]
    if not sys.stderr.isatty():
        loader_argv.append("--no-progress")
    try:
        loader_options = copy_staging.build_parser().parse_args(loader_argv)
        profiles = (args.profiles_dir / "profiles.yml") if args.profiles_dir else find_profiles()
        target, config = load_target(args.target, profiles)
    except SystemExit as exc:  # the loader's own usage error, already printed
        return int(exc.code or 2)
    except LoaderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    record = run_history.RunRecord(
        run_id=f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}",
        job=("backfill" if (args.since or args.until) else "daily")
        + ("" if len(args.steps) == 2 else f" {args.steps[0]}"),
        target=target,
        started_at=run_history.utcnow(),
        since_day=loader_options.since,
        until_day=loader_options.until,
    )
    logs.settings.run_id = record.run_id  # the loader's log events carry the job's run id
    started = time.monotonic()
    try:
        with job_lock(lock_path(target, config)):
            with open_destination(config, copy_staging.destination_options(loader_options)) as dest:
                run_history.start(dest, record)
            try:
                code, message = _steps(record, args, loader_argv, profiles.parent)
            except KeyboardInterrupt:
                code, message = 130, "interrupted"
            record.finish(code, message)
            with open_destination(config, copy_staging.destination_options(loader_options)) as dest:
                run_history.finish(dest, record)
    except LockHeld as exc:
        print(f"error: {exc}: this run does nothing; retry when it ends (exit 3)", file=sys.stderr)
        return 3
    except LoaderError as exc:  # the warehouse, for the run history
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(_summary(record, time.monotonic() - started), file=sys.stderr)
    return record.exit_code if record.exit_code is not None else 2


def _steps(
    record: run_history.RunRecord,
    args: argparse.Namespace,
    loader_argv: list[str],
    profiles_dir: Path,
) -> tuple[int, str]:
    stats: list[TableStats] = []
    extra = ["--vars", "{full_checks: true}"] if args.full_checks else []
    project: dbt_steps.Project | dbt_steps.StepResult | None = None
    if "stage" in args.steps and "build" in args.steps:
        # the loader stages in a process of its own while this one parses the project
        with StagingProcess(loader_argv, record.run_id) as staging:
            project = dbt_steps.parse(args.target, profiles_dir, extra)
            code, stats = staging.result()
    elif "stage" in args.steps:
        code = copy_staging.main(loader_argv, report=stats)
    if "stage" in args.steps:
        record.objects_staged = sum(s.new_files + s.replaced_files for s in stats)
        record.rows_staged = sum(s.rows for s in stats)
        record.rows_rejected = sum(s.rejects for s in stats)
        if code != 0:
            return code, f"the loader exited {code} (its message is above); nothing was built"
    if "build" not in args.steps:
        return 0, ""
    if project is None:
        project = dbt_steps.parse(args.target, profiles_dir, extra)
    if isinstance(project, dbt_steps.StepResult):  # dbt refused: the project or the profile
        return project.code, f"dbt parse: {project.message}"
    fresh = dbt_steps.StepResult()
    if not args.skip_freshness:
        if staged_events_now(stats):
            fresh.freshness = "pass"
        else:
            fresh = dbt_steps.freshness(args.target, profiles_dir, project)
        record.freshness = fresh.freshness
        if fresh.code in (2, 3):
            return fresh.code, f"dbt source freshness: {fresh.message}"
    built = dbt_steps.build(args.target, profiles_dir, extra, project)
    record.models_built = built.built
    record.models_failed = len(built.failed_models)
    record.tests_passed = built.passed_tests
    record.tests_failed = len(built.failed_tests)
    record.tests_warned = len(built.warned_tests)
    if built.code:
        return built.code, f"dbt build: {built.message}"
    if fresh.code:
        return fresh.code, fresh.message
    return 0, "" if not built.warned_tests else (
        f"{len(built.warned_tests)} test(s) warned: " + "; ".join(built.warned_tests[:3])
    )


def staged_events_now(stats: list[TableStats]) -> bool:
    """Whether this run staged event rows. The freshness rule (models/staging/_sources.yml) asks
    how long ago the newest event row was staged: after such a run, none, so it passes without
    asking dbt (`dbt source freshness` is a second dbt invocation, parse and all). A run that
    staged no event row asks dbt."""
    return any(s.table == "staging_events" and s.rows > 0 for s in stats)


def _summary(record: run_history.RunRecord, seconds: float) -> str:
    line = (
        f"{record.job} job {record.run_id}: {record.outcome} (exit {record.exit_code}) in "
        f"{seconds:.1f} s; staged {record.objects_staged:,} object(s), "
        f"{record.rows_staged:,} row(s); built {record.models_built} model(s); tests "
        f"{record.tests_passed} passed, {record.tests_failed} failed, "
        f"{record.tests_warned} warned; freshness {record.freshness or 'not checked'}"
    )
    return line + (f"\n{record.message}" if record.message else "")


if __name__ == "__main__":
    sys.exit(main())
