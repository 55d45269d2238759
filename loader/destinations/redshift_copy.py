"""How a batch's rows reach a Redshift table: staged in S3, then COPY.

The rows (with their origin, first) are written as gzip NDJSON parts under the stage prefix,
with a manifest listing exactly those parts; ``COPY ... MANIFEST`` reads nothing else (a file
landing under the source meanwhile, a README, a ``.bak``: none of them is read). The rows move
from the temporary table the COPY filled into the staging table with the batch's id and time,
in the batch's transaction; the staged parts are deleted afterwards. A COPY that refuses a row
the loader had checked is reported by the row's object and line.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import json
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loader.contract import LEDGER, Batch, ParsedBatch
from loader.destinations.base import quote_ident
from loader.destinations.base import quote_literal as standard_literal
from loader.destinations.driver_errors import message
from loader.errors import ConfigError, DataError, LoaderError
from loader.logs import warn
from loader.tables import Table

if TYPE_CHECKING:
    from loader.destinations.redshift import RedshiftDestination

PART_BYTES = 64 * 1024 * 1024  # a staged part: AWS advises 1 MB to 1 GB, one or more per slice
_ORIGIN = re.compile(r'\{"_source_key":\s*("(?:[^"\\]|\\.)*"),\s*"_source_line":\s*(\d+)')
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


def _json_default(value: object) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    raise TypeError(type(value).__name__)


class Stage:
    """Where a batch's rows wait for COPY: gzip NDJSON parts and a manifest under an s3://
    prefix the cluster's IAM role may read (and the loader may write)."""

    def __init__(
        self,
        prefix: str,
        client: Any,
        region: str,
        classify: Callable[[BaseException, str], LoaderError],
    ) -> None:
        self.classify = classify  # the destination's: an S3 failure is classed as its own
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
            raise self.classify(exc, f"writing {self.url(key)}") from None
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


class StagedCopy:
    """COPY for one destination: the parts of the batch in progress, where they wait, and the
    role the cluster reads them with."""

    def __init__(
        self, destination: RedshiftDestination, stage: Stage | None, iam_role: str | None
    ) -> None:
        self.destination = destination
        self.stage = stage
        self.iam_role = iam_role
        self._tmp = tempfile.TemporaryDirectory(prefix="sparkify-redshift-")
        self._parts: list[tuple[str, int]] = []  # (url, size) of the batch's staged parts

    def finish(self) -> None:
        """After the batch's commit or rollback: delete what was staged for it."""
        if self.stage is not None:
            self.stage.clear()
        self._parts = []

    def close(self) -> None:
        self._tmp.cleanup()

    def copy_parsed(self, table: str, parsed: ParsedBatch, batch: Batch) -> None:
        """The rows DuckDB parsed: DuckDB writes them as gzip NDJSON parts; COPY reads them."""
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
        columns = self.destination.data_columns(batch.table)
        self._copy(table, columns, parts, batch.batch_id, batch.loaded_at)
        shutil.rmtree(directory, ignore_errors=True)

    def copy_rows(self, table: str, columns: list[tuple[str, str]], rows: list[tuple]) -> None:
        """Rows parsed in Python (with the batch's id and time last): written as one gzip
        NDJSON part, then COPY."""
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
        self.destination.run_sql(
            f"create temp table {temp} (like {self.destination.qualified(table)})"
        )
        try:
            self.destination.run_sql(self.copy_sql(temp, data, self.stage.url(manifest_key)))
        except Exception as exc:
            raise self._copy_error(table, exc) from None
        stamp = quote_literal(loaded_at.isoformat(sep=" "))
        self.destination.run_sql(
            f"insert into {self.destination.qualified(table)} ({data}, {quote_ident('_batch_id')}, "
            f"{quote_ident('_loaded_at')})\n"
            f"select {data}, {quote_literal(batch_id)}, cast({stamp} as timestamp) from {temp}"
        )
        self.destination.run_sql(f"drop table {temp}")

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
        error = self.destination.classify(exc, f"COPY into staging.{table}")
        self.destination.rollback()
        details = self.load_errors()
        if not details:
            return error
        shown = "\n".join(f"  {line}" for line in details)
        return DataError(
            f"{table}: COPY refused rows the loader had accepted; nothing of this batch was "
            f"loaded:\n{shown}"
        )

    def load_errors(self, limit: int = 20) -> list[str]:
        """The session's latest COPY errors, as 'object:line: column: reason'. A provisioned
        cluster's STL_LOAD_ERRORS has the refused record (raw_line), which starts with its
        origin; Serverless has only SYS_LOAD_ERROR_DETAIL, which names the staged part and its
        line instead, so the origin is read from that part (still staged until the batch
        ends)."""
        serverless = self.destination.config.is_serverless
        if serverless:
            sql = (
                "select trim(column_name), trim(error_message), trim(file_name), line_number "
                "from sys_load_error_detail where session_id = pg_backend_pid() "
                "order by start_time desc limit %s"
            )
        else:
            sql = (
                "select trim(colname), trim(err_reason), trim(raw_line), line_number "
                "from stl_load_errors where session = pg_backend_pid() "
                "order by starttime desc limit %s"
            )
        try:
            rows = self.destination.run_sql(sql, (int(limit),))
        except Exception as exc:
            warn(f"could not read the COPY's load errors: {message(exc)}")
            return []
        out = []
        parts: dict[str, list[str]] = {}
        for column, reason, where, line in rows:
            raw = self._staged_line(where, int(line), parts) if serverless else where
            found = _ORIGIN.match(raw or "")
            origin = f"{json.loads(found.group(1))}:{found.group(2)}" if found else "?"
            out.append(f"{origin}: column {column}: {reason}")
        return out

    def _staged_line(self, url: str, line: int, parts: dict[str, list[str]]) -> str:
        """Line ``line`` (from 1) of a staged part, read back from the stage."""
        if self.stage is None or not url.startswith(f"s3://{self.stage.bucket}/"):
            return ""
        if url not in parts:
            key = url[len(f"s3://{self.stage.bucket}/") :]
            try:
                body = self.stage.client.get_object(Bucket=self.stage.bucket, Key=key)["Body"]
                parts[url] = gzip.decompress(body.read()).decode("utf-8").split("\n")
            except Exception as exc:
                warn(f"could not read the staged part {url} back: {message(exc)}")
                parts[url] = []
        lines = parts[url]
        return lines[line - 1] if 0 < line <= len(lines) else ""

    def describe(self, table_spec: Table) -> list[str]:
        """The statements one batch runs, for --dry-run (credentials masked)."""
        table, columns = table_spec.name, self.destination.data_columns(table_spec)
        temp = quote_ident(f"new_{table}")
        data = ", ".join(quote_ident(name) for name, _ in columns[:-2])
        manifest = (
            self.stage.url(self.stage.key(table, "<batch>", "part-0000.manifest"))
            if self.stage
            else "s3://<set --manifest-prefix>/<batch>/part-0000.manifest"
        )
        statements = [
            "begin",
            f"lock {self.destination.qualified(LEDGER)}",
            f"create temp table {temp} (like {self.destination.qualified(table)})",
            self.copy_sql(temp, data, manifest),
            f'insert into {self.destination.qualified(table)} ({data}, "_batch_id", "_loaded_at") '  # noqa: S608 - shown, never run
            f"select {data}, '<batch>', cast('<time>' as timestamp) from {temp}",
            f"drop table {temp}",
            f"insert into {self.destination.qualified(LEDGER)} (...) values (...)",  # noqa: S608 - shown only
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
