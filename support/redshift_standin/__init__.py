"""A Redshift stand-in: Redshift's wire protocol on 127.0.0.1, refusing what AWS documents that
Redshift refuses, answered by a real PostgreSQL server, with COPY from a real S3 API (moto).

Not part of the product: it exists so that every statement the project sends on the
``redshift`` target (the loader, dbt-redshift's own connection code and macros, the daily job,
the report) is checked against Redshift's rules without a cluster. ``docs/redshift-rules.md``
lists the rules and the AWS page of each.

    python -m support.redshift_standin dbt build --target redshift
    python -m support.redshift_standin bash -c 'make demo TARGET=redshift && ...'

In tests, ``StandIn(postgres_server, s3_server).start()`` gives the same on a database of the
test's own; ``env()`` is what the ``redshift`` target needs to reach it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from support.redshift_standin.rules import PROVISIONED, SERVERLESS
from support.redshift_standin.wire import Settings, StandInServer

IAM_ROLE = "arn:aws:iam::123456789012:role/sparkify-redshift-s3-read"
STAGE_BUCKET = "sparkify-stage"
REGION = "us-west-2"

__all__ = ["IAM_ROLE", "PROVISIONED", "REGION", "SERVERLESS", "STAGE_BUCKET", "StandIn"]


class StandIn:
    """A stand-in cluster on a PostgreSQL test server (support.servers.PostgresServer) and a
    moto S3 server (support.servers.S3Server)."""

    def __init__(
        self,
        postgres: Any,
        s3: Any,
        database: str = "dev",
        flavour: str = PROVISIONED,
        isolation: str = "snapshot",
        log: Any = None,
    ) -> None:
        import sys

        from support.redshift_standin import tls

        if flavour not in (PROVISIONED, SERVERLESS):
            raise ValueError(f"flavour {flavour!r}: provisioned or serverless")
        self.postgres, self.s3, self.database = postgres, s3, database
        self.flavour, self.isolation = flavour, isolation
        self._create_database()
        self._tmp = tempfile.TemporaryDirectory(prefix="sparkify-standin-")
        self.ca_file, context = tls.make(Path(self._tmp.name))
        client = s3.client()
        buckets = {b["Name"] for b in client.list_buckets()["Buckets"]}
        if STAGE_BUCKET not in buckets:
            client.create_bucket(
                Bucket=STAGE_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
            )
        self.server = StandInServer(
            Settings(
                pg_host="127.0.0.1",
                pg_port=postgres.port,
                user=postgres.user,
                password=postgres.password,
                admin=self._admin,
                flavour=flavour,
                isolation=isolation,
                s3=client,
                iam_role=IAM_ROLE,
                tls=context,
            ),
            log=log or sys.stderr,
        )

    def _create_database(self) -> None:
        admin = self._admin("postgres")
        try:
            with admin.cursor() as cur:
                cur.execute("select 1 from pg_database where datname = %s", (self.database,))
                if cur.fetchone() is None:
                    cur.execute(f'create database "{self.database}"')
        finally:
            admin.close()

    def _admin(self, database: str) -> Any:
        connection = self.postgres.connect(database)
        connection.autocommit = True
        return connection

    def execute(self, sql: str) -> list[tuple]:
        """Run ``sql`` straight on the database behind the stand-in, unchecked (a test's own
        reads and breakages, not the project's statements); autocommit."""
        connection = self._admin(self.database)
        try:
            with connection.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall() if cur.description else []
        finally:
            connection.close()

    @property
    def record(self) -> Any:
        return self.server.record

    def start(self) -> StandIn:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()
        self._tmp.cleanup()

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def env(self) -> dict[str, str]:
        """The environment the ``redshift`` target (profiles.yml.example), the loader and the
        daily job need to use this stand-in."""
        return {
            "SPARKIFY_REDSHIFT_HOST": "127.0.0.1",
            "SPARKIFY_REDSHIFT_PORT": str(self.server.port),
            "SPARKIFY_REDSHIFT_USER": self.postgres.user,
            "SPARKIFY_REDSHIFT_DATABASE": self.database,
            "SPARKIFY_REDSHIFT_REGION": REGION,
            "SPARKIFY_REDSHIFT_SERVERLESS": "true" if self.flavour == SERVERLESS else "false",
            "DBT_ENV_SECRET_REDSHIFT_PASSWORD": self.postgres.password,
            "SPARKIFY_REDSHIFT_IAM_ROLE": IAM_ROLE,
            "SPARKIFY_MANIFEST_PREFIX": f"s3://{STAGE_BUCKET}/loads",
            "AWS_ENDPOINT_URL": self.s3.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "SSL_CERT_FILE": str(self.ca_file),
        }
