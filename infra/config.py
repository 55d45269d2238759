"""Infrastructure settings: one TOML file (``infra.toml``, table ``[infra]``) or environment
variables (``SPARKIFY_INFRA_<NAME>``, which win), validated up front with every problem reported
at once. Credentials never live here: AWS access comes from the boto3 chain and the admin password
from ``DBT_ENV_SECRET_REDSHIFT_PASSWORD``.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from loader.errors import ConfigError

PASSWORD_ENV = "DBT_ENV_SECRET_REDSHIFT_PASSWORD"  # noqa: S105 - the variable's name, not a secret
ENV_PREFIX = "SPARKIFY_INFRA_"
NODE_TYPES = {"dc2.large", "dc2.8xlarge", "ra3.large", "ra3.xlplus", "ra3.4xlarge", "ra3.16xlarge"}
_NAME = re.compile(r"^[a-z][a-z0-9-]{2,40}$")


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str = ""

    @classmethod
    def parse(cls, uri: str) -> S3Location:
        if not uri.startswith("s3://") or len(uri) <= 5:
            raise ValueError(f"{uri!r} is not an s3://bucket[/prefix] URI")
        bucket, _, prefix = uri[5:].partition("/")
        if not re.match(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", bucket):
            raise ValueError(f"{bucket!r} is not a valid bucket name")
        return cls(bucket, prefix.strip("/"))

    def object_arn(self) -> str:
        return f"arn:aws:s3:::{self.bucket}/{self.prefix + '/' if self.prefix else ''}*"

    def bucket_arn(self) -> str:
        return f"arn:aws:s3:::{self.bucket}"


@dataclass(frozen=True)
class InfraConfig:
    region: str = "us-west-2"
    mode: str = "provisioned"  # or "serverless"
    name: str = "sparkify"
    node_type: str = "ra3.xlplus"
    node_count: int = 2
    base_capacity: int = 8  # Serverless RPUs
    usage_limit_rpu_hours: int = 24  # Serverless cost cap per period
    usage_limit_period: str = "daily"
    sources: tuple[S3Location, ...] = (S3Location("udacity-dend"),)
    manifest_prefix: S3Location | None = None
    database: str = "dev"
    admin_user: str = "sparkify"
    port: int = 5439
    allowed_cidr: str | None = None  # default: the caller's public IP /32
    allow_anywhere: bool = False
    publicly_accessible: bool = False
    final_snapshot: bool = False
    env_file: Path = Path("sparkify.env")
    admin_password: str = field(default="", repr=False)

    @property
    def role_name(self) -> str:
        return f"{self.name}-redshift-s3-read"

    @property
    def security_group_name(self) -> str:
        return f"{self.name}-redshift"

    @property
    def cluster_id(self) -> str:
        return f"{self.name}-cluster"

    @property
    def namespace(self) -> str:
        return f"{self.name}-namespace"

    @property
    def workgroup(self) -> str:
        return f"{self.name}-workgroup"

    @property
    def tags(self) -> dict[str, str]:
        return {"sparkify:managed-by": "sparkify-infra", "sparkify:stack": self.name}


def _coerce(name: str, value: Any, kind: type, problems: list[str]) -> Any:
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError(value)
        if kind is int:
            return int(value)
        return str(value)
    except (TypeError, ValueError):
        problems.append(f"{name}: {value!r} is not a valid {kind.__name__}")
        return None


def load_config(
    path: Path | None = None, env: dict[str, str] | None = None, need_password: bool = False
) -> InfraConfig:
    """Read the file (if any) and the environment; raise ConfigError listing every problem."""
    env = dict(os.environ if env is None else env)
    raw: dict[str, Any] = {}
    file = path or Path("infra.toml")
    if file.exists():
        try:
            raw.update(tomllib.loads(file.read_text()).get("infra", {}))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    elif path is not None:
        raise ConfigError(f"config file {path} does not exist")
    known = {f.name for f in fields(InfraConfig)} - {"admin_password"}
    for key, value in env.items():
        if key.startswith(ENV_PREFIX):
            raw[key[len(ENV_PREFIX) :].lower()] = value
    problems = [f"unknown setting {k!r}" for k in sorted(set(raw) - known)]
    defaults = InfraConfig()
    values: dict[str, Any] = {}
    for f in fields(InfraConfig):
        if f.name not in raw or f.name == "admin_password":
            continue
        value = raw[f.name]
        if f.name == "sources":
            items = value if isinstance(value, list) else str(value).split(",")
            try:
                values["sources"] = tuple(
                    S3Location.parse(str(i).strip()) for i in items if str(i).strip()
                )
            except ValueError as exc:
                problems.append(f"sources: {exc}")
        elif f.name == "manifest_prefix":
            try:
                values[f.name] = S3Location.parse(str(value)) if value else None
            except ValueError as exc:
                problems.append(f"manifest_prefix: {exc}")
        elif f.name == "env_file":
            values[f.name] = Path(str(value))
        elif f.name == "allowed_cidr":
            values[f.name] = str(value) or None
        else:
            kind = type(getattr(defaults, f.name))
            coerced = _coerce(f.name, value, kind, problems)
            if coerced is not None:
                values[f.name] = coerced
    config = InfraConfig(**values, admin_password=env.get(PASSWORD_ENV, ""))
    problems += validate(config, need_password)
    if problems:
        raise ConfigError("invalid infra configuration:\n  " + "\n  ".join(problems))
    return config


def validate(c: InfraConfig, need_password: bool) -> list[str]:
    problems = []
    if c.mode not in {"provisioned", "serverless"}:
        problems.append(f"mode: {c.mode!r} is not 'provisioned' or 'serverless'")
    if not _NAME.match(c.name):
        problems.append(f"name: {c.name!r} must be 3-41 lower-case letters, digits or hyphens")
    if not re.match(r"^[a-z]{2}(-gov)?-[a-z]+-\d$", c.region):
        problems.append(f"region: {c.region!r} is not an AWS region name")
    if c.mode == "provisioned":
        if c.node_type not in NODE_TYPES:
            problems.append(f"node_type: {c.node_type!r} is not one of {sorted(NODE_TYPES)}")
        if not 2 <= c.node_count <= 128:
            problems.append(f"node_count: {c.node_count} must be 2-128 (a multi-node cluster)")
    else:
        if c.base_capacity not in range(8, 513, 8):
            problems.append(f"base_capacity: {c.base_capacity} must be a multiple of 8, 8-512 RPUs")
        if c.usage_limit_rpu_hours < 1:
            problems.append("usage_limit_rpu_hours must be at least 1 (it caps the cost)")
        if c.usage_limit_period not in {"daily", "weekly", "monthly"}:
            problems.append(
                f"usage_limit_period: {c.usage_limit_period!r} is not daily, weekly or monthly"
            )
    if not c.sources:
        problems.append("sources: at least one s3:// bucket or prefix to read")
    if not re.match(r"^[a-z][a-z0-9_]{0,62}$", c.database):
        problems.append(f"database: {c.database!r} is not a valid database name")
    if not re.match(r"^[a-z][a-z0-9_]{0,126}$", c.admin_user) or c.admin_user in {
        "admin",
        "rdsadmin",
    }:
        problems.append(f"admin_user: {c.admin_user!r} is not allowed")
    if not 1150 <= c.port <= 65535:
        problems.append(f"port: {c.port} must be 1150-65535")
    if c.allowed_cidr:
        try:
            network = ipaddress.ip_network(c.allowed_cidr, strict=False)
            if network.prefixlen == 0 and not c.allow_anywhere:
                problems.append(
                    "allowed_cidr: 0.0.0.0/0 opens the warehouse to the internet; "
                    "set allow_anywhere=true to really ask for it"
                )
        except ValueError:
            problems.append(f"allowed_cidr: {c.allowed_cidr!r} is not a CIDR block")
    if need_password:
        password = c.admin_password
        if not password:
            problems.append(f"{PASSWORD_ENV} is not set (the admin password; never stored)")
        elif not (
            8 <= len(password) <= 64
            and re.search(r"[A-Z]", password)
            and re.search(r"[a-z]", password)
            and re.search(r"\d", password)
            and not re.search(r"[\s'\"\\/@]", password)
        ):
            problems.append(
                f"{PASSWORD_ENV} must be 8-64 characters with upper and lower case "
                "letters and a digit, and no space, quote, \\, / or @"
            )
    return problems
