"""COPY from S3 as Redshift documents it, for the stand-in (and the in-process emulator the
loader's fault tests use).

Supported is what a Redshift COPY of JSON from S3 is: ``copy <table> (<columns>) from
's3://...' iam_role '<arn>' format as json 'auto' [gzip] [manifest] region '<region>'
[maxerror n] ...``. The manifest is read from S3 and every entry must exist (``mandatory``);
records are matched to the listed columns by key, case-sensitively (``'auto'``); a VARCHAR(n)
value longer than n *bytes* is an error; the REGION must be the bucket's and the IAM role the
one the cluster was given. More errors than MAXERROR fail the COPY like Redshift, with one row per
error in the load-error system tables (written by the caller outside the loading transaction).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from support.redshift_standin.sql_text import code, identifier, string_value

LOAD_FAILED = "Load into table '{table}' failed.  Check '{errors}' system table for details."


class CopyRefused(Exception):
    """COPY fails as Redshift's would: SQLSTATE and message."""

    def __init__(self, sqlstate: str, message: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.message = message


@dataclass
class LoadError:
    filename: str
    line_number: int
    colname: str
    col_length: int | None
    reason: str
    raw_line: str


@dataclass
class CopyStatement:
    into: str  # as written (quoted, qualified)
    table: str  # the bare table name, as Redshift names it in its messages
    columns: list[str]
    source: str
    options: dict[str, str | None] = field(default_factory=dict)

    @property
    def maxerror(self) -> int:
        value = self.options.get("maxerror")
        return int(value) if value else 0


def parse(sql: str) -> CopyStatement:
    tokens = code(sql)
    words = [t.lower if t.kind == "word" else "" for t in tokens]
    if words[:1] != ["copy"]:
        raise CopyRefused("42601", "not a COPY statement")
    index = 1
    name_start = tokens[1].start
    last = tokens[1]
    table = identifier(tokens[1])
    while index + 2 < len(tokens) and tokens[index + 1].text == ".":
        index += 2
        last = tokens[index]
        table = identifier(last)
    into = sql[name_start : last.start + len(last.text)]
    index += 1
    columns: list[str] = []
    if tokens[index].text == "(":
        index += 1
        while tokens[index].text != ")":
            if tokens[index].kind in ("word", "ident"):
                columns.append(identifier(tokens[index]))
            index += 1
        index += 1
    if words[index] != "from" or tokens[index + 1].kind != "string":
        raise CopyRefused("42601", "COPY needs FROM 's3://...'")
    source = string_value(tokens[index + 1])
    options: dict[str, str | None] = {}
    index += 2
    while index < len(tokens):
        word = words[index]
        if word in ("format", "as"):
            index += 1
            continue
        if not word:
            index += 1
            continue
        value = None
        if index + 1 < len(tokens) and (
            tokens[index + 1].kind in ("string", "number")
            or words[index + 1] in ("on", "off", "true", "false")
        ):
            nxt = tokens[index + 1]
            value = string_value(nxt) if nxt.kind == "string" else nxt.lower
            index += 1
        options[word] = value
        index += 1
    return CopyStatement(into, table, columns, source, options)


def _split_url(url: str) -> tuple[str, str]:
    if not url.startswith("s3://"):
        raise CopyRefused("XX000", f"invalid S3 path {url}")
    bucket, _, key = url[len("s3://") :].partition("/")
    return bucket, key


def read_rows(
    statement: CopyStatement,
    s3: Any,
    widths: Callable[[], dict[str, int]],
    role: str | None,
) -> tuple[list[dict[str, Any]], list[LoadError]]:
    """The rows a COPY loads, and its errors (checked against the target's byte widths)."""
    options = statement.options
    if "json" not in options:
        raise CopyRefused("0A000", "the stand-in's COPY reads JSON ('format as json') only")
    if options["json"] != "auto":
        raise CopyRefused("0A000", "the stand-in's COPY matches JSON by key ('auto') only")
    given_role = options.get("iam_role")
    if role is not None and given_role != role:
        raise CopyRefused(
            "XX000",
            "User arn:aws:redshift:us-west-2:123456789012:dbuser:sparkify is not authorized to "
            f"assume IAM Role {given_role}",
        )
    bucket, key = _split_url(statement.source)
    try:
        location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
    except Exception as exc:
        raise CopyRefused("XX000", f"S3ServiceException:{exc}") from None
    region = options.get("region")
    if region is None or region != (location or "us-east-1"):
        raise CopyRefused(
            "XX000",
            "S3ServiceException:The bucket you are attempting to access must be addressed "
            "using the specified endpoint.",
        )
    if "manifest" in options:
        try:
            manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        except Exception as exc:
            raise CopyRefused("XX000", f"Problem reading manifest file - {exc}") from None
        urls = [entry["url"] for entry in manifest["entries"]]
    else:
        listing = s3.list_objects_v2(Bucket=bucket, Prefix=key).get("Contents", [])
        urls = [f"s3://{bucket}/{o['Key']}" for o in listing]
    known = widths()
    rows: list[dict[str, Any]] = []
    errors: list[LoadError] = []
    for url in urls:
        part_bucket, part_key = _split_url(url)
        try:
            body = s3.get_object(Bucket=part_bucket, Key=part_key)["Body"].read()
        except Exception:
            raise CopyRefused(
                "XX000",
                f"Manifest file is not in correct json format or the file {url} "
                "listed as mandatory does not exist",
            ) from None
        if "gzip" in options:
            body = gzip.decompress(body)
        # NDJSON lines end at "\n" only: a string may hold U+2028 and other separators
        for number, line in enumerate(body.decode("utf-8").split("\n"), start=1):
            if not line.strip():
                continue
            record = json.loads(line)
            row = {}
            for column in statement.columns:
                value = record.get(column)
                width = known.get(column)
                if isinstance(value, str) and width is not None:
                    size = len(value.encode("utf-8"))
                    if size > width:
                        errors.append(
                            LoadError(
                                url, number, column, width, "String length exceeds DDL length", line
                            )
                        )
                row[column] = value
            rows.append(row)
    return rows, errors


def failure(statement: CopyStatement, serverless: bool) -> CopyRefused:
    errors = "sys_load_error_detail" if serverless else "stl_load_errors"
    return CopyRefused("XX000", LOAD_FAILED.format(table=statement.table, errors=errors))


def record_errors(admin: Any, errors: list[LoadError], session: int, table: str) -> None:
    """One load-error row per error, committed at once (they outlive the COPY's rollback)."""
    with admin.cursor() as cur:
        for error in errors:
            cur.execute(
                "insert into redshift_standin_internal.load_errors (userid, slice, tbl, "
                "starttime, session, query, filename, line_number, colname, type, col_length, "
                "position, raw_line, err_code, err_reason, database_name) values (100, 0, "
                "coalesce((select oid::integer from pg_class where relname = %s limit 1), 0), "
                "(now() at time zone 'UTC')::timestamp, %s, 0, %s, %s, %s, 'varchar', %s, 0, "
                "%s, 1204, %s, current_database())",
                (
                    table,
                    session,
                    error.filename[:256],
                    error.line_number,
                    error.colname[:127],
                    str(error.col_length or ""),
                    # multibyte characters are shown as periods, as Redshift shows them
                    "".join(c if ord(c) < 128 else "." for c in error.raw_line)[:1024],
                    error.reason[:100],
                ),
            )
