"""Read the warehouse connection from dbt's ``profiles.yml`` (profile ``sparkify``).

Search order, as dbt's: ``$DBT_PROFILES_DIR``, then the project directory (the current directory,
then the directory holding ``dbt_project.yml`` next to this package), then ``~/.dbt``. Values are
rendered with dbt's ``env_var()`` so the loader sees exactly the settings dbt sees. Every missing or
invalid setting of the chosen target is reported at once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from loader.errors import ConfigError

PROFILE = "sparkify"
PROJECT_DIR = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class DuckDBConfig:
    path: str
    type: str = "duckdb"


@dataclass(frozen=True)
class PostgresConfig:
    host: str
    port: int
    user: str
    password: str
    dbname: str
    type: str = "postgres"

    def __repr__(self) -> str:  # never show the password
        return (
            f"PostgresConfig(host={self.host!r}, port={self.port}, user={self.user!r}, "
            f"dbname={self.dbname!r})"
        )


@dataclass(frozen=True)
class RedshiftConfig:
    host: str
    port: int
    user: str
    password: str
    dbname: str
    method: str = "database"
    region: str | None = None
    cluster_id: str | None = None
    serverless: bool = False
    type: str = "redshift"

    @property
    def is_serverless(self) -> bool:
        """A Serverless workgroup: said by the profile, or by the host, as dbt-redshift
        decides it."""
        return self.serverless or "serverless" in self.host

    def __repr__(self) -> str:  # never show the password
        return (
            f"RedshiftConfig(host={self.host!r}, port={self.port}, user={self.user!r}, "
            f"dbname={self.dbname!r}, method={self.method!r})"
        )


TargetConfig = DuckDBConfig | PostgresConfig | RedshiftConfig


ENV_FILE = "sparkify.env"


def load_env_file(directories: list[Path] | None = None) -> Path | None:
    """Read ``sparkify.env`` (written by ``python -m infra up``: endpoint, role, no secrets) from
    the current or the project directory into the environment, never overriding a variable that
    is already set; ``SPARKIFY_NO_ENV_FILE=1`` turns this off. Returns the file read, if any."""
    if os.environ.get("SPARKIFY_NO_ENV_FILE") == "1":
        return None
    for directory in directories or [Path.cwd(), PROJECT_DIR]:
        path = directory / ENV_FILE
        if path.is_file():
            for line in path.read_text().splitlines():
                name, sep, value = line.partition("=")
                name = name.strip()
                if sep and name and not name.startswith("#"):
                    os.environ.setdefault(name, value.strip())
            return path
    return None


def profiles_candidates(project_dir: Path | None = None) -> list[Path]:
    dirs = []
    if os.environ.get("DBT_PROFILES_DIR"):
        dirs.append(Path(os.environ["DBT_PROFILES_DIR"]).expanduser())
    dirs += [Path.cwd(), project_dir or PROJECT_DIR, Path.home() / ".dbt"]
    return [d / "profiles.yml" for d in dirs]


def find_profiles(project_dir: Path | None = None) -> Path:
    candidates = profiles_candidates(project_dir)
    for path in candidates:
        if path.is_file():
            return path
    searched = ", ".join(str(p) for p in dict.fromkeys(candidates))
    raise ConfigError(
        f"no profiles.yml found (looked in {searched}); run `make setup` or copy "
        "profiles.yml.example to profiles.yml"
    )


def _env_var(name: str, default: str | None = None) -> str:
    if name in os.environ:
        return os.environ[name]
    if default is not None:
        return default
    raise ConfigError(f"profiles.yml needs the environment variable {name}, which is not set")


def _render(value: Any, env: SandboxedEnvironment) -> Any:
    if isinstance(value, dict):
        return {k: _render(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, env) for v in value]
    if isinstance(value, str) and ("{{" in value or "{%" in value):
        return env.from_string(value).render()
    return value


def _environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    env.globals["env_var"] = _env_var
    for name in ("as_number", "as_native", "as_text", "as_bool"):
        env.filters[name] = lambda value: value
    return env


def load_target(
    target: str | None = None, profiles_path: Path | None = None
) -> tuple[str, TargetConfig]:
    """Return (target name, validated connection config)."""
    path = profiles_path or find_profiles()
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    profile = document.get(PROFILE)
    if not isinstance(profile, dict) or not isinstance(profile.get("outputs"), dict):
        raise ConfigError(f"{path}: no profile {PROFILE!r} with outputs")
    env = _environment()
    name = target or str(_render(profile.get("target", "dev"), env))
    outputs = profile["outputs"]
    if name not in outputs:
        raise ConfigError(f"unknown target {name!r}; {path} defines: {', '.join(sorted(outputs))}")
    return name, parse_target(name, _render(outputs[name], env), path)


def parse_target(name: str, raw: dict[str, Any], path: Path) -> TargetConfig:
    problems: list[str] = []
    kind = raw.get("type")

    def text(key: str, default: str | None = None, required: bool = True) -> str:
        value = raw.get(key, default)
        if (value is None or value == "") and required:
            problems.append(f"{key} is missing")
            return ""
        return "" if value is None else str(value)

    def port(default: int) -> int:
        value = raw.get("port", default)
        try:
            number = int(value)
        except (TypeError, ValueError):
            problems.append(f"port {value!r} is not a number")
            return default
        if not 0 < number < 65536:
            problems.append(f"port {number} is out of range")
        return number

    config: TargetConfig
    if kind == "duckdb":
        config = DuckDBConfig(path=text("path", "sparkify.duckdb"))
    elif kind == "postgres":
        config = PostgresConfig(
            host=text("host"),
            port=port(5432),
            user=text("user"),
            password=text("password", "", required=False),
            dbname=text("dbname", raw.get("database")),
        )
    elif kind == "redshift":
        method = text("method", "database")
        if method not in {"database", "iam"}:
            problems.append(f"method {method!r} is not 'database' or 'iam'")
        config = RedshiftConfig(
            host=text("host"),
            port=port(5439),
            user=text("user"),
            password=text("password", "", required=False),
            dbname=text("dbname", raw.get("database")),
            method=method,
            region=text("region", required=False) or None,
            cluster_id=text("cluster_id", required=False) or None,
            serverless=str(raw.get("is_serverless", "false")).strip().lower() in ("true", "1"),
        )
        # an empty password is refused when the loader connects (a dry run needs none)
    else:
        raise ConfigError(
            f"{path}: target {name!r} has type {kind!r}; the loader supports "
            "duckdb, postgres and redshift"
        )
    if problems:
        raise ConfigError(f"{path}: target {name!r}: " + "; ".join(problems))
    return config
