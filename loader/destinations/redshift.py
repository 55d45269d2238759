"""Amazon Redshift: the cluster reads S3 itself through real COPY statements.

Per table and run: one COPY into a temporary table (from a manifest listing exactly the new objects
when ``--manifest-prefix`` is set; from the table's prefix when everything is new; else one COPY
per new object), then one INSERT into the staging table and the ledger rows, all in one
transaction. A refresh uses DELETE, never TRUNCATE, because TRUNCATE commits. When a COPY fails,
the errors are read from SYS_LOAD_ERROR_DETAIL (Serverless) or STL_LOAD_ERRORS (provisioned) and
reported with file, line, column and reason.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from loader.destinations.base import (
    ADDED,
    LEDGER,
    LEDGER_COLUMNS,
    Batch,
    Destination,
    quote_ident,
)
from loader.errors import ConfigError, DataError, TransientError
from loader.pipeline import Plan, RunOptions, TableStats, new_batch_id, utcnow
from loader.profiles import RedshiftConfig
from loader.progress import log
from loader.sources import S3Source, Source

RS_TYPES = {
    "text": "varchar(65535)",
    "integer": "integer",
    "bigint": "bigint",
    "double": "double precision",
    "timestamp": "timestamp",
}
LEDGER_INSERT_CHUNK = 500
_ROLE = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/[\w+=,.@/-]{1,512}$")
_ACCOUNT = re.compile(r"(arn:aws[a-z-]*:iam::)\d{12}(:)")
_SECRET = re.compile(r"(aws_secret_access_key=|token=|password\s*=?\s*')[^;']*", re.IGNORECASE)


def quote_literal(value: str) -> str:
    """A Redshift string literal: Redshift also reads backslash escapes inside literals."""
    if "\x00" in value:
        raise ValueError("NUL character in a SQL literal")
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def mask(sql: str) -> str:
    """Hide account ids and any secret in SQL that is printed or logged."""
    return _SECRET.sub(r"\1****", _ACCOUNT.sub(r"\1************\2", sql))


def manifest_document(urls_and_sizes: Sequence[tuple[str, int]]) -> str:
    entries = [
        {"url": url, "mandatory": True, "meta": {"content_length": size}}
        for url, size in urls_and_sizes
    ]
    return json.dumps({"entries": entries}, indent=1)


class RedshiftDestination(Destination):
    engine = "redshift"
    type_names = RS_TYPES

    def __init__(
        self,
        connection: Any,
        config: RedshiftConfig,
        *,
        iam_role: str | None,
        manifest_prefix: str | None,
        dry_run: bool = False,
        put_object: Callable[[str, bytes], None] | None = None,
    ) -> None:
        self.con = connection
        self.config = config
        self.iam_role = iam_role
        self.manifest_prefix = manifest_prefix.rstrip("/") if manifest_prefix else None
        self.dry_run = dry_run
        self.put_object = put_object
        self.executed: list[str] = []
        problems = []
        if iam_role and not _ROLE.match(iam_role):
            problems.append(f"--iam-role {mask(iam_role)!r} is not an IAM role ARN")
        if manifest_prefix and not manifest_prefix.startswith("s3://"):
            problems.append("--manifest-prefix must be an s3:// prefix")
        if problems:
            raise ConfigError("; ".join(problems))

    @classmethod
    def open(
        cls,
        config: RedshiftConfig,
        *,
        iam_role: str | None,
        manifest_prefix: str | None,
        dry_run: bool = False,
    ) -> RedshiftDestination:
        try:
            import redshift_connector

            kwargs: dict[str, Any] = {
                "host": config.host,
                "port": config.port,
                "database": config.dbname,
                "user": config.user,
                "timeout": 30,
            }
            if config.method == "iam":
                kwargs.update(
                    iam=True,
                    db_user=config.user,
                    region=config.region,
                    cluster_identifier=config.cluster_id,
                    is_serverless=config.is_serverless,
                )
            else:
                kwargs["password"] = config.password
            connection = redshift_connector.connect(**kwargs)
        except Exception as exc:
            if not dry_run:
                raise ConfigError(
                    f"cannot connect to Redshift at {config.host}:{config.port}: "
                    f"{type(exc).__name__}: {exc}"
                ) from None
            log(f"dry run: cannot reach Redshift ({type(exc).__name__}); assuming an empty ledger")
            connection = None
        return cls(
            connection, config, iam_role=iam_role, manifest_prefix=manifest_prefix, dry_run=dry_run
        )

    # --- connection helpers --------------------------------------------------------------

    def close(self) -> None:
        if self.con is not None:
            with contextlib.suppress(Exception):
                self.con.close()

    def _run(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        self.executed.append(sql)
        cursor = self.con.cursor()
        try:
            cursor.execute(sql, tuple(params) if params else None)
            try:
                return list(cursor.fetchall() or [])
            except Exception:  # statements without a result set
                return []
        finally:
            with contextlib.suppress(Exception):
                cursor.close()

    def table_options(self, name: str) -> str:
        return "\ndiststyle all" if name == LEDGER else "\ndiststyle even"

    def execute_ddl(self, statements: list[str]) -> None:
        if self.con is None:
            return
        try:
            for statement in statements:
                self._run(statement)
            self.con.commit()
        except Exception:
            self.con.rollback()
            raise

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        if self.con is None:  # a dry run that could not reach the cluster: nothing exists
            return []
        rows = self._run(sql.replace("?", "%s"), params)
        self.con.rollback()
        return rows

    # --- the COPY plan -------------------------------------------------------------------

    def copy_sql(
        self,
        into: str,
        plan: Plan,
        source: S3Source,
        from_url: str,
        opts: RunOptions,
        manifest: bool,
    ) -> str:
        table = plan.table
        columns = ", ".join(quote_ident(c.name) for c in table.columns)
        json_format = quote_literal(table.jsonpaths_key) if table.jsonpaths_key else "'auto'"
        lines = [
            f"copy {into} ({columns})",
            f"from {quote_literal(from_url)}",
            f"iam_role {quote_literal(self.iam_role or '<set --iam-role>')}",
            f"format as json {json_format}",
            f"region {quote_literal(source.region)}",
        ]
        if table.jsonpaths_key:
            lines.append("timeformat 'epochmillisecs'")
        compressed = {o.key.endswith(".gz") for o in plan.new}
        if compressed == {True}:
            lines.append("gzip")
        elif len(compressed) > 1:
            raise ConfigError(
                f"{table.name}: the new objects mix gzip and plain JSON; one COPY reads one "
                "kind: load the compacted layout or the original, not both"
            )
        if manifest:
            lines.append("manifest")
        if opts.invalid_char is not None:
            lines.append(f"acceptinvchars as {quote_literal(opts.invalid_char)}")
        lines.append(f"maxerror {opts.max_errors}")
        lines.append("compupdate off statupdate off")
        return "\n".join(lines)

    def copy_sources(
        self, source: S3Source, plan: Plan, batch_id: str
    ) -> tuple[list[str], bool, str | None]:
        """The FROM locations: (urls, uses_manifest, manifest_document)."""
        new = plan.new
        if self.manifest_prefix:
            url = f"{self.manifest_prefix}/{plan.table.name}/{batch_id}.manifest"
            document = manifest_document([(source.url(o.key), o.size) for o in new])
            return [url], True, document
        if len(new) == len(plan.listed) and new:
            return [source.url(plan.table.prefix)], False, None
        return [source.url(o.key) for o in new], False, None

    def statements(self, source: S3Source, plan: Plan, opts: RunOptions, batch: Batch) -> list[str]:
        table = plan.table
        temp = quote_ident(f"new_{table.name}")
        urls, manifest, _ = self.copy_sources(source, plan, batch.batch_id)
        data = ", ".join(quote_ident(c.name) for c in table.columns)
        stamp = quote_literal(batch.loaded_at.isoformat(sep=" "))
        statements = ["begin"]
        statements += self.refresh_sql(batch)
        statements.append(f"create temp table {temp} (like {self.qualified(table.name)})")
        statements += [self.copy_sql(temp, plan, source, url, opts, manifest) for url in urls]
        statements.append(
            f'insert into {self.qualified(table.name)} ({data}, "_batch_id", "_loaded_at")\n'
            f"select {data}, {quote_literal(batch.batch_id)}, {stamp} from {temp}"
        )
        names = ", ".join(quote_ident(n) for n, _ in LEDGER_COLUMNS)
        for start in range(0, len(plan.new), LEDGER_INSERT_CHUNK):
            values = ",\n  ".join(
                "("
                + ", ".join(
                    [
                        quote_literal(table.name),
                        quote_literal(o.key),
                        quote_literal(o.etag),
                        str(int(o.size)),
                        "null",
                        "0",
                        quote_literal(batch.batch_id),
                        quote_literal(source.uri),
                        stamp,
                        quote_literal(ADDED),
                        "0",
                        quote_literal(o.modified.isoformat(sep=" ")) if o.modified else "null",
                    ]
                )
                + ")"
                for o in plan.new[start : start + LEDGER_INSERT_CHUNK]
            )
            statements.append(f"insert into {self.qualified(LEDGER)} ({names}) values\n  {values}")
        statements.append(f"drop table {temp}")
        statements.append("commit")
        return statements

    def _require(self, source: Source) -> S3Source:
        if not isinstance(source, S3Source):
            raise ConfigError(
                "Redshift's COPY reads from S3: use an s3:// --source "
                "(a local directory works with the duckdb and postgres targets)"
            )
        if not self.iam_role and not self.dry_run:
            raise ConfigError(
                "Redshift's COPY needs an IAM role: set --iam-role or "
                "SPARKIFY_REDSHIFT_IAM_ROLE (python -m infra up writes it)"
            )
        return source

    def describe_load(self, source: Source, plan: Plan, opts: RunOptions) -> list[str]:
        """The exact SQL a run would execute, credentials masked (for --dry-run)."""
        s3 = self._require(source)
        if not plan.new and not opts.full_refresh:
            return [f"-- {plan.table.name}: nothing new"]
        now = utcnow()
        batch = Batch(plan.table, new_batch_id(now), now, source.uri, delete_all=opts.full_refresh)
        out = [f"-- {plan.table.name}: {len(plan.new)} new object(s)"]
        urls, manifest, document = self.copy_sources(s3, plan, batch.batch_id)
        if manifest and document is not None:
            out.append(f"-- manifest written to {urls[0]}:")
            out += [f"--   {line}" for line in document.splitlines()[:12]]
        out += [mask(statement) + ";" for statement in self.statements(s3, plan, opts, batch)]
        return out

    def load_plan(self, source: Source, plan: Plan, opts: RunOptions, stats: TableStats) -> None:
        s3 = self._require(source)
        if plan.changed and opts.replace_changed:
            raise ConfigError(
                "--replace-changed is not supported on Redshift (rows do not record "
                "their object); use --full-refresh"
            )
        if not plan.new and not opts.full_refresh:
            return
        now = utcnow()
        batch = Batch(plan.table, new_batch_id(now), now, source.uri, delete_all=opts.full_refresh)
        urls, manifest, document = self.copy_sources(s3, plan, batch.batch_id)
        if manifest and document is not None:
            self._write_manifest(s3, urls[0], document.encode())
        statements = self.statements(s3, plan, opts, batch)
        log(f"{plan.table.name}: {len(urls)} COPY statement(s) for {len(plan.new):,} object(s)")
        copied = 0
        try:
            for statement in statements[1:-1]:  # begin/commit via the driver's transaction
                self._run(statement)
                if statement.startswith("copy "):
                    copied += self._last_copy_count()
            self.con.commit()
        except Exception as exc:
            with contextlib.suppress(Exception):
                self.con.rollback()
            errors = self.load_errors()
            if errors:
                shown = "\n".join(f"  {e}" for e in errors)
                raise DataError(
                    f"{plan.table.name}: COPY rejected the data; nothing of this "
                    f"batch was loaded:\n{shown}"
                ) from None
            raise TransientError(f"{plan.table.name}: Redshift failed: {mask(str(exc))}") from None
        stats.rows += copied
        stats.new_files += len(plan.new)
        stats.bytes += sum(o.size for o in plan.new)
        stats.batches += 1

    def _last_copy_count(self) -> int:
        rows = self._run("select pg_last_copy_count()")
        return int(rows[0][0]) if rows else 0

    def _write_manifest(self, source: S3Source, url: str, body: bytes) -> None:
        if self.put_object is not None:
            self.put_object(url, body)
            return
        bucket, _, key = url[len("s3://") :].partition("/")
        source.client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")

    def load_errors(self, limit: int = 20) -> list[str]:
        """The latest COPY errors of this session, as 'file:line: column: reason'."""
        if self.config.is_serverless:
            sql = (
                "select trim(file_name), line_number, trim(column_name), trim(error_message) "
                "from sys_load_error_detail where session_id = pg_backend_pid() "
                "order by start_time desc"
            )
        else:
            sql = (
                "select trim(filename), line_number, trim(colname), trim(err_reason) "
                "from stl_load_errors where session = pg_backend_pid() "
                "order by starttime desc"
            )
        sql += " limit %s"
        try:
            rows = self._run(sql, (int(limit),))
        except Exception:
            return []
        return [f"{f}:{line}: column {col}: {reason}" for f, line, col, reason in rows]
