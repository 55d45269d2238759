"""Run a command against a Redshift stand-in:

    python -m support.redshift_standin [--serverless] [--isolation snapshot|serializable] \\
        [--keep-going] -- COMMAND [ARGS...]

Starts a PostgreSQL server and a moto S3 server on 127.0.0.1, the stand-in in front of them, and
runs COMMAND with the environment the ``redshift`` target needs (host, port, password, IAM role,
the S3 endpoint and a stage bucket, the stand-in's CA). Every statement is checked against
Redshift's rules (docs/redshift-rules.md); the first refused one fails the command as Redshift
would fail it. Exits with the command's status; at the end, prints how many statements it
checked and lists those it refused.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from support.redshift_standin import PROVISIONED, SERVERLESS, StandIn


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m support.redshift_standin",
        description="Run COMMAND against a local stand-in for Amazon Redshift that refuses "
        "what AWS documents Redshift refuses (docs/redshift-rules.md).",
        epilog="examples:\n"
        "  python -m support.redshift_standin dbt build --target redshift\n"
        "  python -m support.redshift_standin --serverless bash -c \\\n"
        "      'python loader/copy_staging.py --target redshift --source data/demo && "
        "dbt build --target redshift'",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--serverless", action="store_true",
        help="act as a Redshift Serverless workgroup (no STL/STV/SVL system tables)",
    )  # fmt: skip
    parser.add_argument(
        "--isolation", choices=("snapshot", "serializable"), default="snapshot",
        help="the cluster's isolation level (default: snapshot, as for new clusters)",
    )  # fmt: skip
    parser.add_argument("--database", default="dev", help="database name (default: dev)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command to run")
    args = parser.parse_args(argv)
    if args.command[:1] == ["--"]:
        args.command = args.command[1:]
    if not args.command:
        parser.error("give a command to run, e.g. dbt build --target redshift")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from support.servers import PostgresServer, S3Server

    postgres = PostgresServer.start()
    s3 = S3Server.start()
    flavour = SERVERLESS if args.serverless else PROVISIONED
    try:
        with StandIn(postgres, s3, args.database, flavour, args.isolation) as standin:
            print(
                f"redshift stand-in ({flavour}, {args.isolation} isolation) on "
                f"127.0.0.1:{standin.server.port}, database {args.database}",
                file=sys.stderr, flush=True,
            )  # fmt: skip
            env = {**os.environ, **standin.env(), "SPARKIFY_TARGET": "redshift"}
            try:
                status = subprocess.call(args.command, env=env)
            except FileNotFoundError:
                print(f"redshift stand-in: no such command: {args.command[0]}", file=sys.stderr)
                status = 127
            record = standin.record
            print(
                f"redshift stand-in: {len(record.statements)} statements checked, "
                f"{len(record.refusals)} refused",
                file=sys.stderr,
            )
            for refusal in record.refusals:
                print(f"  refused [{refusal.rule.id}]: {' '.join(refusal.sql.split())[:200]}",
                      file=sys.stderr)  # fmt: skip
            return status
    finally:
        s3.stop()
        postgres.stop()


if __name__ == "__main__":
    sys.exit(main())
