"""Amazon Redshift: the loader parses and checks every record as it does for the other engines,
then stages the typed rows in S3 and has Redshift COPY them.

What differs is only how a batch's rows reach the table. The run around it is the pipeline's
(loader/pipeline.py): the same parser, the same rejects with file and line, the same ledger
entries and row counts, the same retries and the same change log, so every engine stages the
same rows with the same origin (``_source_key``, ``_source_line``), and dbt builds the same marts.

Per batch, in one transaction:

1. ``lock staging.load_ledger``: one loader commits at a time. A second one waits here, then
   leaves out what the first staged meanwhile (read again under the lock), so nothing is staged
   twice.
2. The rows are staged in S3 and COPY reads exactly them (loader/destinations/redshift_copy.py).
3. The ledger, rejects and unmapped rows are inserted; then commit. The staged parts are
   deleted afterwards.

Every Redshift error is classed: connection losses, serialization conflicts and cancelled
queries are transient (retried, then exit 3); permissions, IAM, S3 access, region and SQL errors
are configuration errors no rerun fixes (exit 2).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import duckdb

from loader.contract import LEDGER, REJECTS, UNMAPPED, Batch, LedgerEntry, ParsedBatch
from loader.destinations.base import CURRENT_LEDGER_SQL, cut_utf8, quote_ident
from loader.destinations.driver_errors import TRANSIENT_SQLSTATES, message, sqlstate
from loader.destinations.redshift_copy import Stage, StagedCopy, mask, quote_literal, stage_region
from loader.destinations.transactional import TransactionalDestination
from loader.errors import ConfigError, LoaderError, TransientError, out_of_space
from loader.logs import log
from loader.profiles import RedshiftConfig
from loader.tables import Column, Table

RS_TYPES = {
    "text": "varchar(65535)",
    "key": "varchar(1024)",
    "id": "varchar(64)",
    "integer": "integer",
    "bigint": "bigint",
    "double": "double precision",
    "timestamp": "timestamp",
}
INSERT_CHUNK = 500  # rows per multi-row INSERT of ledger, rejects and unmapped rows
INSERT_CHUNK_BYTES = 4 * 1024 * 1024  # and text per INSERT (characters: up to 4 bytes each)
MAX_TEXT_BYTES = 65_535  # Redshift's widest VARCHAR, in bytes
# the origin a staged record starts with (a raw_line in the load errors is cut at 1,024 bytes)
_ROLE = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/[\w+=,.@/-]{1,512}$")
_CONFIG_HINTS = (
    ("not authorized to perform: sts:AssumeRole", "the cluster cannot assume the IAM role"),
    ("S3ServiceException:Access Denied", "the IAM role may not read the stage prefix"),
    ("Access Denied", "access denied"),
    ("must be addressed using the specified endpoint", "the stage bucket is in another region"),
    ("permission denied", "the database user lacks a privilege"),
)


def classify(exc: BaseException, doing: str) -> LoaderError:
    """A driver error as the loader's kind of error: transient only when a rerun can help."""
    if isinstance(exc, LoaderError):
        return exc
    if full := out_of_space(exc):
        return full
    text = mask(message(exc))
    state = sqlstate(exc)
    kind = type(exc).__name__
    if (
        (kind in {"InterfaceError", "OperationalError"} and not state)
        or isinstance(exc, OSError | TimeoutError)
        or state.startswith(TRANSIENT_SQLSTATES)
    ):
        return TransientError(f"Redshift {doing}: {text}")
    for needle, hint in _CONFIG_HINTS:
        if needle.lower() in text.lower():
            return ConfigError(f"Redshift {doing}: {hint}: {text}")
    where = f" (SQLSTATE {state})" if state else ""
    return ConfigError(f"Redshift {doing}: {text}{where}")


def connect(config: RedshiftConfig) -> Any:
    """A redshift_connector connection: by password, or with ``method: iam`` by temporary
    database credentials obtained with the standard boto3 credential chain, as dbt-redshift
    connects (provisioned cluster or Serverless workgroup).

    No socket timeout: redshift_connector's ``timeout`` bounds every read, not only the
    connect, so a COPY, a Serverless workgroup resuming or a wait for the ledger's lock longer
    than it would fail, and the retry would then wait on the lock the abandoned session still
    holds. A dead peer is noticed by TCP keepalive (redshift_connector's default), a stuck
    statement by the cluster's statement_timeout."""
    import redshift_connector

    kwargs: dict[str, Any] = {
        "host": config.host,
        "port": config.port,
        "database": config.dbname,
        "user": config.user,
        "timeout": None,
        "tcp_keepalive": True,
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
    return redshift_connector.connect(**kwargs)


def _chunks(rows: list[tuple]) -> Iterator[list[tuple]]:
    """Rows for one multi-row INSERT each: at most INSERT_CHUNK rows and about
    INSERT_CHUNK_BYTES of text (a statement holds at most 16 MB on Redshift; a reject's raw
    record or a record's unmapped keys can take 64 KB)."""
    chunk: list[tuple] = []
    size = 0
    for row in rows:
        row_size = sum(len(v) for v in row if isinstance(v, str))
        if chunk and (len(chunk) >= INSERT_CHUNK or size + row_size > INSERT_CHUNK_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(row)
        size += row_size
    if chunk:
        yield chunk


class RedshiftDestination(TransactionalDestination):
    engine = "redshift"
    type_names = RS_TYPES

    def __init__(
        self,
        connection: Any,
        config: RedshiftConfig,
        *,
        iam_role: str | None,
        stage: Stage | None,
        connect: Callable[[], Any] | None = None,
    ) -> None:
        self.con = connection
        self.config = config
        self.iam_role = iam_role
        self.stage = stage
        self._connect = connect
        self._parser: duckdb.DuckDBPyConnection | None = None
        self.copier = StagedCopy(self, stage, iam_role)

    def literal(self, value: str) -> str:
        """Redshift reads a backslash inside a literal as an escape: it is doubled."""
        return quote_literal(value)

    @classmethod
    def open(
        cls,
        config: RedshiftConfig,
        *,
        iam_role: str | None,
        stage_prefix: str | None,
        s3_client: Any = None,
        dry_run: bool = False,
        region: str | None = None,
    ) -> RedshiftDestination:
        problems = []
        if iam_role and not _ROLE.match(iam_role):
            problems.append(f"--iam-role {mask(iam_role)!r} is not an IAM role ARN")
        if not iam_role and not dry_run:
            problems.append(
                "COPY needs an IAM role the cluster assumes: set --iam-role or "
                "SPARKIFY_REDSHIFT_IAM_ROLE (python -m infra up writes it)"
            )
        if stage_prefix and not stage_prefix.startswith("s3://"):
            problems.append(f"--manifest-prefix {stage_prefix!r} is not an s3:// prefix")
        elif not stage_prefix and not dry_run:
            problems.append(
                "COPY reads the rows the loader stages under an S3 prefix the IAM role may "
                "read: set --manifest-prefix or SPARKIFY_MANIFEST_PREFIX (for example "
                "s3://<your bucket>/sparkify-stage in the cluster's region; with manifest_prefix "
                "set, python -m infra up grants the role access and writes it to sparkify.env)"
            )
        if config.method == "database" and not config.password and not dry_run:
            problems.append(
                "password is empty: set DBT_ENV_SECRET_REDSHIFT_PASSWORD or use method: iam"
            )
        if problems:
            raise ConfigError("; ".join(problems))
        stage = None
        if stage_prefix:
            if s3_client is None:
                import boto3

                s3_client = boto3.client("s3", region_name=region or config.region)
            try:
                region_found = stage_region(s3_client, stage_prefix)
            except ConfigError as exc:
                if not dry_run:
                    raise
                log(f"dry run: {exc}")
                region_found = "<region of --manifest-prefix>"
            stage = Stage(stage_prefix, s3_client, region_found, classify)
            wanted = region or config.region
            if wanted and stage.region != wanted and not stage.region.startswith("<"):
                raise ConfigError(
                    f"the stage prefix {stage_prefix} is in {stage.region}, the cluster in "
                    f"{wanted}: COPY reads its manifest in its own region; use a bucket there"
                )

        def reconnect() -> Any:
            return connect(config)

        connection = None
        if dry_run and config.method == "database" and not config.password:
            log("dry run: no Redshift password set; assuming an empty ledger")
        else:
            try:
                connection = connect(config)
            except Exception as exc:
                if not dry_run:
                    raise ConfigError(
                        f"cannot connect to Redshift at {config.host}:{config.port}: {message(exc)}"
                    ) from None
                log(f"dry run: cannot reach Redshift ({message(exc)}); assuming an empty ledger")
        return cls(connection, config, iam_role=iam_role, stage=stage, connect=reconnect)

    # --- connection ----------------------------------------------------------------------

    def classify(self, exc: BaseException, doing: str) -> LoaderError:
        return classify(exc, doing)

    def close(self) -> None:
        if self.con is not None:
            with contextlib.suppress(Exception):
                self.con.close()
        if self._parser is not None:
            self._parser.close()
        self.copier.close()

    def reconnect(self) -> None:
        if self._connect is None:
            raise TransientError("Redshift connection lost")
        with contextlib.suppress(Exception):
            self.con.close()
        try:
            self.con = self._connect()
        except Exception as exc:
            raise TransientError(f"Redshift reconnect failed: {message(exc)}") from None

    def run_sql(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        cursor = self.con.cursor()
        try:
            if params:
                cursor.execute(sql.replace("?", "%s"), tuple(params))
            else:
                cursor.execute(sql, None)
            if cursor.description is None:
                return []
            return [tuple(row) for row in cursor.fetchall() or []]
        finally:
            with contextlib.suppress(Exception):
                cursor.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        try:
            yield
            self.con.commit()
        except BaseException as exc:
            with contextlib.suppress(Exception):
                self.con.rollback()
            if isinstance(exc, Exception) and not isinstance(exc, LoaderError):
                raise classify(exc, "load") from None
            raise
        finally:
            self.copier.finish()

    def execute(self, sql: str, params: Sequence[object] = ()) -> None:
        self.run_sql(sql, params)

    def execute_ddl(self, statements: list[str]) -> None:
        if self.con is None:
            return
        with self.transaction():
            for statement in statements:
                self.run_sql(statement)

    def rollback(self) -> None:
        with contextlib.suppress(Exception):
            self.con.rollback()

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        if self.con is None:  # a dry run without the cluster: nothing exists
            return []
        try:
            rows = self.run_sql(sql, params)
            self.con.rollback()
        except Exception as exc:
            with contextlib.suppress(Exception):
                self.con.rollback()
            raise classify(exc, "query") from None
        return rows

    # --- what differs from the other engines: types, layout, the staged rows --------------

    def column_type(self, column: Column) -> str:
        """Text as wide as the loader lets it be (in bytes, as Redshift counts): no wider, so
        Redshift never cuts or refuses what the loader accepted."""
        return f"varchar({column.max_bytes})" if column.max_bytes else column.type

    def table_options(self, name: str) -> str:
        return "\ndiststyle all" if name == LEDGER else "\ndiststyle even"

    def parser_connection(self) -> duckdb.DuckDBPyConnection:
        if self._parser is None:
            self._parser = duckdb.connect()
        return self._parser

    def begin_batch(self, batch: Batch) -> None:
        """Take the loaders' lock, then leave out what another loader staged meanwhile."""
        self.run_sql(f"lock {self.qualified(LEDGER)}")
        if not batch.check_current:
            return
        current = {row[0]: row[5] for row in self.run_sql(CURRENT_LEDGER_SQL, (batch.table.name,))}
        expected = {e.key: e.replaces for e in batch.entries}
        stale = {key for key, before in expected.items() if current.get(key) != before}
        if not stale:
            return
        log(
            f"{batch.table.name}: another loader staged {len(stale):,} of this batch's "
            f"object(s) meanwhile ({sorted(stale)[0]}, ...): leaving them to it"
        )
        index = batch.parsed.staging_columns.index("_source_key") if batch.parsed else 0
        batch.rows = [row for row in batch.rows if row[index] not in stale]
        batch.rejects = [r for r in batch.rejects if r.key not in stale]
        batch.unmapped = [u for u in batch.unmapped if u.key not in stale]
        batch.entries = [e for e in batch.entries if e.key not in stale]
        batch.remove_keys = [k for k in batch.remove_keys if k not in stale]
        batch.skip_keys = sorted(stale)

    def bulk_insert(self, table: str, columns: list[tuple[str, str]], rows: list[tuple]) -> None:
        if not rows:
            return
        if table in (LEDGER, REJECTS, UNMAPPED):
            self._insert_values(table, columns, rows)
        else:
            self.copier.copy_rows(table, columns, rows)

    def insert_parsed(self, table: str, parsed: ParsedBatch, batch: Batch) -> None:
        self.copier.copy_parsed(table, parsed, batch)

    def _insert_values(self, table: str, columns: list[tuple[str, str]], rows: list[tuple]) -> None:
        names = ", ".join(quote_ident(name) for name, _ in columns)
        row_marks = "(" + ", ".join(["%s"] * len(columns)) + ")"
        for chunk in _chunks(rows):
            values = [
                cut_utf8(v, MAX_TEXT_BYTES) if isinstance(v, str) else v
                for row in chunk
                for v in row
            ]
            self.run_sql(
                f"insert into {self.qualified(table)} ({names}) values "  # noqa: S608 - quoted identifiers, bound values
                + ", ".join([row_marks] * len(chunk)),
                values,
            )

    # --- the rest of the interface -------------------------------------------------------

    def describe_batch(self, table: Table) -> list[str]:
        return self.copier.describe(table)

    def record_modified(self, table: str, touched: list[tuple[LedgerEntry, dt.datetime]]) -> None:
        with self.transaction():
            for entry, modified in touched:
                self.run_sql(
                    f"update {self.qualified(LEDGER)} set last_modified = %s "  # noqa: S608 - quoted identifiers, bound values
                    "where table_name = %s and object_key = %s and batch_id = %s",
                    (modified, table, entry.key, entry.batch_id),
                )
