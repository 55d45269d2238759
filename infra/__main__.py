"""Provision and tear down Amazon Redshift for Sparkify.

sparkify-infra plan     # what `up` would create, and its cost per hour (reads only)
sparkify-infra up       # the same plan, a confirmation (or --yes), then IAM role, security
                         # group, cluster or Serverless; writes sparkify.env
sparkify-infra status   # what exists, its state and its cost per hour
sparkify-infra down     # deletes everything `up` created (and nothing else)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    WaiterError,
)

from infra.config import InfraConfig, load_config
from infra.stack import Clients, Plan, Stack
from loader.errors import LoaderError

EPILOG = """\
configuration: infra.toml ([infra] table) or SPARKIFY_INFRA_<SETTING> environment variables:
  mode (provisioned|serverless), region, name, node_type, node_count, base_capacity,
  usage_limit_rpu_hours, usage_limit_period, sources (s3://bucket[/prefix],...),
  manifest_prefix, database, admin_user, port, allowed_cidr, allow_anywhere,
  publicly_accessible, final_snapshot, env_file
secrets: DBT_ENV_SECRET_REDSHIFT_PASSWORD (admin password, never written anywhere)
credentials: the standard boto3 chain (AWS_PROFILE, environment, SSO, instance role)
"""

ERROR_ADVICE = {
    "AccessDenied": "your AWS identity lacks permission for this call; ask for the IAM, EC2 and "
    "Redshift permissions listed in the README",
    "AccessDeniedException": "your AWS identity lacks permission for this call",
    "UnauthorizedOperation": "your AWS identity lacks permission for this EC2 call",
    "ClusterQuotaExceeded": "the account's Redshift cluster quota is reached: delete a cluster or "
    "ask AWS for a higher quota",
    "NumberOfNodesQuotaExceeded": "the account's Redshift node quota is reached: use fewer nodes "
    "(SPARKIFY_INFRA_NODE_COUNT) or ask for a higher quota",
    "ServiceQuotaExceededException": "a Redshift Serverless quota is reached",
    "LimitExceeded": "an account limit is reached",
    "ClusterAlreadyExists": "that cluster name is taken: set SPARKIFY_INFRA_NAME",
    "EntityAlreadyExists": "that IAM role name is taken: set SPARKIFY_INFRA_NAME",
    "InvalidGroup.Duplicate": "that security group name is taken: set SPARKIFY_INFRA_NAME",
    "ConflictException": "a resource is busy or the name is taken; wait and rerun, or set "
    "SPARKIFY_INFRA_NAME",
    "InsufficientClusterCapacity": "AWS has no capacity for that node type here now: try another "
    "node type or region",
}


def explain(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    code = error.get("Code", "")
    operation = getattr(exc, "operation_name", "an AWS call")
    advice = ERROR_ADVICE.get(code, "see the message above")
    return f"{operation} failed: {code}: {error.get('Message', '')}\n  what to do: {advice}"


def write_env_file(config: InfraConfig, host: str, port: int, role_arn: str) -> Path:
    values = {
        "SPARKIFY_TARGET": "redshift",
        "SPARKIFY_REDSHIFT_HOST": host,
        "SPARKIFY_REDSHIFT_PORT": str(port),
        "SPARKIFY_REDSHIFT_DATABASE": config.database,
        "SPARKIFY_REDSHIFT_USER": config.admin_user,
        "SPARKIFY_REDSHIFT_REGION": config.region,
        "SPARKIFY_REDSHIFT_IAM_ROLE": role_arn,
    }
    if config.manifest_prefix:
        values["SPARKIFY_MANIFEST_PREFIX"] = (
            f"s3://{config.manifest_prefix.bucket}/{config.manifest_prefix.prefix}".rstrip("/")
        )
    text = "# written by `sparkify-infra up`; no secrets here: set the password in\n"
    text += "# DBT_ENV_SECRET_REDSHIFT_PASSWORD yourself\n"
    text += "".join(f"{k}={v}\n" for k, v in values.items())
    config.env_file.write_text(text)
    return config.env_file


def confirm(plan: Plan) -> bool:
    """Ask on a terminal; never assume a yes when nobody can answer."""
    if not sys.stdin.isatty():
        return False
    answer = input(
        f"create it, at about ${plan.cost:,.2f} per hour until `sparkify-infra down`? [y/N] "
    )
    return answer.strip().lower() in ("y", "yes")


def main(argv: Sequence[str] | None = None, clients: Clients | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sparkify-infra",
        description="Provision and tear down Amazon Redshift (a "
        "provisioned cluster or Serverless) for the Sparkify warehouse.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["plan", "up", "status", "down"])
    parser.add_argument("--config", type=Path, help="TOML file (default: infra.toml if present)")
    parser.add_argument(
        "-y",
        "--yes",
        action="store_true",
        help="up: create what the plan shows without asking (for scripts and CI)",
    )
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config, need_password=args.command == "up")
        stack = Stack(config, clients or Clients.create(config.region))
        if args.command == "status":
            print("\n".join(stack.status()))
            return 0
        if args.command in ("plan", "up"):
            plan = stack.plan()
            print(f"plan for a {config.mode} Redshift in {config.region} (stack {config.name}):")
            print("\n".join(f"  {line}" for line in plan.lines))
            if args.command == "plan":
                print(
                    "nothing to create"
                    if not plan.creates
                    else "run `sparkify-infra up` to create it"
                )
                return 0
            if plan.billable and not args.yes and not confirm(plan):
                print(
                    "error: nothing was created: creating a billable warehouse needs a yes "
                    "(answer y, or pass --yes)",
                    file=sys.stderr,
                )
                return 2
        if args.command == "up":
            print(f"provisioning a {config.mode} Redshift in {config.region} (stack {config.name})")
            outcome = stack.up()
            print("\n".join(outcome.lines))
            if not outcome.endpoint or not outcome.role_arn:
                raise LoaderError("the warehouse reported no endpoint; run `sparkify-infra status`")
            path = write_env_file(config, *outcome.endpoint, outcome.role_arn)
            print(
                "created or updated resources"
                if outcome.changed
                else "nothing to change: everything already exists"
            )
            print(f"endpoint: {outcome.endpoint[0]}:{outcome.endpoint[1]}")
            print(f"IAM role: {outcome.role_arn}")
            print(f"wrote {path}: load it with `set -a; . ./{path}; set +a`")
            print("this costs money while it exists: run `sparkify-infra down` when done")
            return 0
        outcome = stack.down()
        print("\n".join(outcome.lines))
        print(
            "deleted" if outcome.changed else "nothing to delete: no resource of this stack exists"
        )
        return 0
    except LoaderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except ClientError as exc:
        print(f"error: {explain(exc)}", file=sys.stderr)
        return 1
    except WaiterError as exc:
        print(f"error: timed out waiting ({exc}); run `sparkify-infra status`", file=sys.stderr)
        return 3
    except NoCredentialsError:
        print(
            "error: no AWS credentials found in the boto3 chain (AWS_PROFILE, environment "
            "variables, SSO or an instance role)",
            file=sys.stderr,
        )
        return 2
    except (NoRegionError, EndpointConnectionError) as exc:
        print(f"error: cannot reach AWS: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
