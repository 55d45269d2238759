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
2. The rows (with their origin) are written as gzip NDJSON parts under the stage prefix, with a
   manifest listing exactly those parts; ``COPY ... MANIFEST`` reads nothing else (a file landing
   under the source meanwhile, a README, a ``.bak``: none of them is read).
3. The rows move from the temporary table the COPY filled into the staging table with the
   batch's id and time, and the ledger and rejects rows are inserted; then commit. The staged
   parts are deleted afterwards.

Every Redshift error is classed: connection losses, serialization conflicts and cancelled
queries are transient (retried, then exit 3); permissions, IAM, S3 access, region and SQL errors
are configuration errors no rerun fixes (exit 2).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import json
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb

from loader.contract import LEDGER, REJECTS, UNMAPPED, Batch, LedgerEntry, ParsedBatch
from loader.destinations.base import CURRENT_LEDGER_SQL, quote_ident
from loader.destinations.base import quote_literal as standard_literal
from loader.destinations.driver_errors import TRANSIENT_SQLSTATES, message, sqlstate
from loader.destinations.transactional import TransactionalDestination
from loader.errors import ConfigError, DataError, LoaderError, TransientError, out_of_space
from loader.logs import log
from loader.profiles import RedshiftConfig
from loader.tables import Column, Table

RS_TYPES = {
    "text": "varchar(65535)",
    "integer": "integer",
    "bigint": "bigint",
    "double": "double precision",
    "timestamp": "timestamp",
}
PART_BYTES = 64 * 1024 * 1024  # a staged part: AWS advises 1 MB to 1 GB, one or more per slice
INSERT_CHUNK = 500  # rows per multi-row INSERT of ledger, rejects and unmapped rows
INSERT_CHUNK_BYTES = 4 * 1024 * 1024  # and text per INSERT (characters: up to 4 bytes each)
MAX_TEXT_BYTES = 65_535  # Redshift's widest VARCHAR, in bytes
# the origin a staged record starts with (a raw_line in the load errors is cut at 1,024 bytes)
_ORIGIN = re.compile(r'\{"_source_key":\s*("(?:[^"\\]|\\.)*"),\s*"_source_line":\s*(\d+)')
_ROLE = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/[\w+=,.@/-]{1,512}$")
_ACCOUNT = re.compile(r"(arn:aws[a-z-]*:iam::)\d{12}(:)")
_SECRET = re.compile(r"(aws_secret_access_key=|token=|password\s*=?\s*')[^;']*", re.IGNORECASE)
_CONFIG_HINTS = (
    ("not authorized to perform: sts:AssumeRole", "the cluster cannot assume the IAM role"),
    ("S3ServiceException:Access Denied", "the IAM role may not read the stage prefix"),
    ("Access Denied", "access denied"),
    ("must be addressed using the specified endpoint", "the stage bucket is in another region"),
    ("permission denied", "the database user lacks a privilege"),
)


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
    connects (provisioned cluster or Serverless workgroup)."""
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
    return redshift_connector.connect(**kwargs)


def _cut_utf8(text: str, limit: int) -> str:
    data = text.encode("utf-8", "surrogatepass")
    return text if len(data) <= limit else data[:limit].decode("utf-8", "ignore")


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


def _json_default(value: object) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    raise TypeError(type(value).__name__)


class Stage:
    """Where a batch's rows wait for COPY: gzip NDJSON parts and a manifest under an s3://
    prefix the cluster's IAM role may read (and the loader may write)."""

    def __init__(self, prefix: str, client: Any, region: str) -> None:
        self.prefix = prefix.rstrip("/")
        self.bucket, _, self.root = self.prefix[len("s3://") :].partition("/")
        self.client = client
        self.region = region
        self.written: list[str] = []

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def key(self, table: str, batch_id: str, name: str) -> str:
        return "/".join(part for part in (self.root, table, batch_id, name) if part)

    def put(self, key: str, body: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body)
        except Exception as exc:
            raise classify(exc, f"writing {self.url(key)}") from None
        self.written.append(key)

    def clear(self) -> None:
        """Delete what this stage wrote (after the commit, or after a failure)."""
        keys, self.written = self.written, []
        for start in range(0, len(keys), 1000):
            with contextlib.suppress(Exception):
                self.client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": k} for k in keys[start : start + 1000]]},
                )


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
        self._tmp = tempfile.TemporaryDirectory(prefix="sparkify-redshift-")
        self._parts: list[tuple[str, int]] = []  # (url, size) of the batch's staged parts

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
            stage = Stage(stage_prefix, s3_client, region_found)
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
        self._tmp.cleanup()

    def reconnect(self) -> None:
        if self._connect is None:
            raise TransientError("Redshift connection lost")
        with contextlib.suppress(Exception):
            self.con.close()
        try:
            self.con = self._connect()
        except Exception as exc:
            raise TransientError(f"Redshift reconnect failed: {message(exc)}") from None

    def _run(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
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
            if self.stage is not None:
                self.stage.clear()
            self._parts = []

    def execute(self, sql: str, params: Sequence[object] = ()) -> None:
        self._run(sql, params)

    def execute_ddl(self, statements: list[str]) -> None:
        if self.con is None:
            return
        self._parts = []
        with self.transaction():
            for statement in statements:
                self._run(statement)

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        if self.con is None:  # a dry run without the cluster: nothing exists
            return []
        try:
            rows = self._run(sql, params)
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
        self._run(f"lock {self.qualified(LEDGER)}")
        if not batch.check_current:
            return
        current = {row[0]: row[5] for row in self._run(CURRENT_LEDGER_SQL, (batch.table.name,))}
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

    def insert_parsed(self, table: str, parsed: ParsedBatch, batch: Batch) -> None:
        """DuckDB writes the parsed rows as gzip NDJSON; COPY reads them."""
        skip = ", ".join(standard_literal(k) for k in batch.skip_keys)  # DuckDB's literals
        where = f" where {parsed.origin_column('_source_key')} not in ({skip})" if skip else ""
        # parts of about PART_BYTES each, so that every slice of the cluster reads one
        directory = Path(self._tmp.name) / f"{batch.batch_id}-fast"
        parsed.connection.execute(
            # the origin first: it survives a raw_line that the load errors cut
            f"copy (select {parsed.select_list(quote_ident, origin_first=True)} "  # noqa: S608 - quoted identifiers and literals
            f"from {parsed.relation}{where}) to '{directory}' "
            f"(format json, compression gzip, file_size_bytes {PART_BYTES})"
        )
        parts = sorted(directory.glob("*.json.gz"), key=lambda p: int(re.sub(r"\D", "", p.name)))
        self._copy(table, self.data_columns(batch.table), parts, batch.batch_id, batch.loaded_at)
        shutil.rmtree(directory, ignore_errors=True)

    def bulk_insert(self, table: str, columns: list[tuple[str, str]], rows: list[tuple]) -> None:
        if not rows:
            return
        if table in (LEDGER, REJECTS, UNMAPPED):
            self._insert_values(table, columns, rows)
            return
        names = [name for name, _ in columns][:-2]  # the batch's id and time come from SQL
        path = Path(self._tmp.name) / f"part-{len(self._parts)}.json.gz"
        encode = json.JSONEncoder(ensure_ascii=False, default=_json_default).encode
        order = [*names[-2:], *names[:-2]]  # origin first: it survives a cut raw_line
        with gzip.open(path, "wt", encoding="utf-8", compresslevel=5) as out:
            for row in rows:
                record = dict(zip(names, row, strict=False))
                out.write(encode({name: record[name] for name in order}) + "\n")
        batch_id, loaded_at = rows[0][-2], rows[0][-1]
        self._copy(table, columns, [path], batch_id, loaded_at)

    def _insert_values(self, table: str, columns: list[tuple[str, str]], rows: list[tuple]) -> None:
        names = ", ".join(quote_ident(name) for name, _ in columns)
        row_marks = "(" + ", ".join(["%s"] * len(columns)) + ")"
        for chunk in _chunks(rows):
            values = [
                _cut_utf8(v, MAX_TEXT_BYTES) if isinstance(v, str) else v
                for row in chunk
                for v in row
            ]
            self._run(
                f"insert into {self.qualified(table)} ({names}) values "  # noqa: S608 - quoted identifiers, bound values
                + ", ".join([row_marks] * len(chunk)),
                values,
            )

    def _copy(
        self,
        table: str,
        columns: list[tuple[str, str]],
        paths: list[Path],
        batch_id: str,
        loaded_at: dt.datetime,
    ) -> None:
        """Stage the parts, COPY them through one manifest into a temporary table, and move the
        rows into the staging table with the batch's id and time."""
        if self.stage is None:
            raise ConfigError("Redshift needs --manifest-prefix to stage rows for COPY")
        listed = []
        for path in paths:
            key = self.stage.key(table, batch_id, f"part-{len(self._parts):04d}.json.gz")
            body = path.read_bytes()
            path.unlink()
            self.stage.put(key, body)
            self._parts.append((self.stage.url(key), len(body)))
            listed.append((self.stage.url(key), len(body)))
        if not listed:
            return
        manifest_key = self.stage.key(table, batch_id, f"copy-{len(self._parts):04d}.manifest")
        self.stage.put(manifest_key, manifest_document(listed).encode())
        temp = quote_ident(f"new_{table}")
        data = ", ".join(quote_ident(name) for name, _ in columns[:-2])
        self._run(f"create temp table {temp} (like {self.qualified(table)})")
        try:
            self._run(self.copy_sql(temp, data, self.stage.url(manifest_key)))
        except Exception as exc:
            raise self._copy_error(table, exc) from None
        stamp = quote_literal(loaded_at.isoformat(sep=" "))
        self._run(
            f"insert into {self.qualified(table)} ({data}, {quote_ident('_batch_id')}, "
            f"{quote_ident('_loaded_at')})\n"
            f"select {data}, {quote_literal(batch_id)}, cast({stamp} as timestamp) from {temp}"
        )
        self._run(f"drop table {temp}")

    def copy_sql(self, into: str, columns: str, manifest_url: str) -> str:
        """COPY of exactly the parts a manifest lists: typed NDJSON the loader checked, so
        nothing may be skipped (MAXERROR 0) and nothing converted."""
        region = self.stage.region if self.stage else "<region of --manifest-prefix>"
        return "\n".join(
            [
                f"copy {into} ({columns})",
                f"from {quote_literal(manifest_url)}",
                f"iam_role {quote_literal(self.iam_role or '<set --iam-role>')}",
                "format as json 'auto'",
                "gzip",
                "manifest",
                f"region {quote_literal(region)}",
                "maxerror 0",
                "compupdate off statupdate off",
            ]
        )

    def _copy_error(self, table: str, exc: Exception) -> LoaderError:
        """COPY refusing rows the loader checked is a defect: say which, by their origin."""
        error = classify(exc, f"COPY into staging.{table}")
        with contextlib.suppress(Exception):
            self.con.rollback()
        details = self.load_errors()
        if not details:
            return error
        shown = "\n".join(f"  {line}" for line in details)
        return DataError(
            f"{table}: COPY refused rows the loader had accepted; nothing of this batch was "
            f"loaded:\n{shown}"
        )

    def load_errors(self, limit: int = 20) -> list[str]:
        """The session's latest COPY errors, as 'object:line: column: reason' (the origin read
        from the staged record, which starts with it)."""
        if self.config.is_serverless:
            sql = (
                "select trim(column_name), trim(error_message), trim(raw_line) "
                "from sys_load_error_detail where session_id = pg_backend_pid() "
                "order by start_time desc limit %s"
            )
        else:
            sql = (
                "select trim(colname), trim(err_reason), trim(raw_line) "
                "from stl_load_errors where session = pg_backend_pid() "
                "order by starttime desc limit %s"
            )
        try:
            rows = self._run(sql, (int(limit),))
        except Exception:
            return []
        out = []
        for column, reason, raw in rows:
            found = _ORIGIN.match(raw or "")
            where = f"{json.loads(found.group(1))}:{found.group(2)}" if found else "?"
            out.append(f"{where}: column {column}: {reason}")
        return out

    # --- the rest of the interface -------------------------------------------------------

    def record_modified(self, table: str, touched: list[tuple[LedgerEntry, dt.datetime]]) -> None:
        with self.transaction():
            for entry, modified in touched:
                self._run(
                    f"update {self.qualified(LEDGER)} set last_modified = %s "  # noqa: S608 - quoted identifiers, bound values
                    "where table_name = %s and object_key = %s and batch_id = %s",
                    (modified, table, entry.key, entry.batch_id),
                )

    def describe_batch(self, table_spec: Table) -> list[str]:
        """The statements one batch runs, for --dry-run (credentials masked)."""
        table, columns = table_spec.name, self.data_columns(table_spec)
        temp = quote_ident(f"new_{table}")
        data = ", ".join(quote_ident(name) for name, _ in columns[:-2])
        manifest = (
            self.stage.url(self.stage.key(table, "<batch>", "part-0000.manifest"))
            if self.stage
            else "s3://<set --manifest-prefix>/<batch>/part-0000.manifest"
        )
        statements = [
            "begin",
            f"lock {self.qualified(LEDGER)}",
            f"create temp table {temp} (like {self.qualified(table)})",
            self.copy_sql(temp, data, manifest),
            f'insert into {self.qualified(table)} ({data}, "_batch_id", "_loaded_at") '  # noqa: S608 - shown, never run
            f"select {data}, '<batch>', cast('<time>' as timestamp) from {temp}",
            f"drop table {temp}",
            f"insert into {self.qualified(LEDGER)} (...) values (...)",  # noqa: S608 - shown only
            "commit",
        ]
        return [mask(s) + ";" for s in statements]


def stage_region(client: Any, prefix: str) -> str:
    """The region of the stage prefix's bucket (COPY's REGION), read up front."""
    bucket = prefix[len("s3://") :].partition("/")[0]
    if client is None or bucket.startswith("<"):
        return "<region>"
    try:
        location = client.get_bucket_location(Bucket=bucket).get("LocationConstraint")
    except Exception as exc:
        raise ConfigError(
            f"cannot read the region of the stage bucket {bucket}: {message(exc)}"
        ) from None
    return location or "us-east-1"
