"""Every warehouse engine in one place: how to open it for the loader, how to connect to it for
reading, and how its errors are classed. The loader (``copy_staging``), the daily job and the
report (``insights``) all come through here, so they connect the same way (Redshift's
``method: iam`` included) and name a failure the same way.

Adding an engine: its settings in ``loader/profiles.py``, a module in ``loader/destinations/``
with a destination class, ``connect`` and ``classify``, and a branch in each function below.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loader.destinations.base import Destination
from loader.destinations.driver_errors import message
from loader.errors import ConfigError, LoaderError
from loader.profiles import DuckDBConfig, PostgresConfig, RedshiftConfig, TargetConfig


@dataclass(frozen=True)
class DestinationOptions:
    """What the loader's command line adds to a target's profile to open its destination."""

    dry_run: bool = False
    iam_role: str | None = None  # Redshift: the role COPY assumes
    manifest_prefix: str | None = None  # Redshift: where the batches wait for COPY
    region: str | None = None  # of the S3 source (the stage's, unless the profile names one)
    endpoint_url: str | None = None  # an S3-compatible endpoint instead of AWS's


def open_destination(config: TargetConfig, options: DestinationOptions) -> Destination:
    """The destination the loader stages into (read-only for a dry run)."""
    if isinstance(config, DuckDBConfig):
        from loader.destinations.duckdb import DuckDBDestination

        return DuckDBDestination(config.path, read_only=options.dry_run)
    if isinstance(config, PostgresConfig):
        from loader.destinations.postgres import PostgresDestination

        return PostgresDestination(config, read_only=options.dry_run)
    if isinstance(config, RedshiftConfig):
        from loader.destinations.redshift import RedshiftDestination

        client = None
        if options.manifest_prefix and options.manifest_prefix.startswith("s3://"):
            from loader.sources import S3Source

            stage = S3Source(
                options.manifest_prefix,
                region=options.region or config.region,
                endpoint_url=options.endpoint_url,
                unsigned=False,
            )
            client = stage.client
        return RedshiftDestination.open(
            config,
            iam_role=options.iam_role,
            stage_prefix=options.manifest_prefix,
            s3_client=client,
            dry_run=options.dry_run,
            region=config.region,
        )
    raise ConfigError(f"unsupported target {config!r}")


def connect(config: TargetConfig) -> Any:
    """A read-only DB-API connection to the target (for the report); a ``ConfigError`` naming
    the target when it cannot be opened."""
    if isinstance(config, DuckDBConfig):
        from loader.destinations import duckdb

        if config.path != ":memory:" and not Path(config.path).exists():
            raise ConfigError(
                f"no warehouse at {config.path}: run `make demo` (or the loader "
                "and `dbt build`) first"
            )
        return duckdb.connect(config.path, read_only=True)
    if isinstance(config, PostgresConfig):
        from loader.destinations import postgres

        return postgres.connect(config, read_only=True, application_name="sparkify-report")
    if isinstance(config, RedshiftConfig):
        from loader.destinations import redshift

        try:
            return redshift.connect(config)
        except Exception as exc:
            raise ConfigError(
                f"cannot connect to Redshift at {config.host}:{config.port}: {message(exc)}"
            ) from None
    raise ConfigError(f"unsupported target {config!r}")


def classify(config: TargetConfig, exc: BaseException, doing: str) -> LoaderError:
    """The target engine's driver error as the loader's kind of error (its ``classify``)."""
    if isinstance(config, DuckDBConfig):
        from loader.destinations import duckdb

        return duckdb.classify(exc, doing)
    if isinstance(config, PostgresConfig):
        from loader.destinations import postgres

        return postgres.classify(exc, doing)
    if isinstance(config, RedshiftConfig):
        from loader.destinations import redshift

        return redshift.classify(exc, doing)
    raise ConfigError(f"unsupported target {config!r}")
