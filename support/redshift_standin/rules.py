"""What Amazon Redshift refuses, as AWS documents it, checked on every statement the stand-in
receives before it runs on PostgreSQL.

Each rule names the AWS page it comes from. ``check`` returns the first rule a statement breaks,
or None; the stand-in then fails the statement with the rule, the page and the statement
(``Refusal.message``). Rules that can only be judged by the warehouse itself (VARCHAR widths in
bytes, view replacement, system tables and their columns, COPY) are enforced by the stand-in's
catalog (catalog.py) and listed here too, with ``enforced_by`` saying where, so that
``docs/redshift-rules.md`` is one table of everything the stand-in holds the project to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from support.redshift_standin.sql_text import Token, UnterminatedLiteral, code, identifier

AWS = "https://docs.aws.amazon.com/redshift/latest/dg/"
AWS_MGMT = "https://docs.aws.amazon.com/redshift/latest/mgmt/"

PROVISIONED, SERVERLESS = "provisioned", "serverless"


@dataclass(frozen=True)
class Context:
    """What the stand-in knows when a statement arrives."""

    in_transaction: bool = False
    flavour: str = PROVISIONED


class Statement:
    """One statement's code tokens and what the rules ask of them."""

    def __init__(self, sql: str) -> None:
        self.sql = sql
        self.tokens: list[Token] = code(sql)
        self.words = [t.lower if t.kind == "word" else "" for t in self.tokens]

    def word(self, index: int) -> str:
        return self.words[index] if 0 <= index < len(self.words) else ""

    def text(self, index: int) -> str:
        return self.tokens[index].text if 0 <= index < len(self.tokens) else ""

    def starts(self, *words: str) -> bool:
        return tuple(self.words[: len(words)]) == words

    def calls(self) -> Iterable[tuple[int, str]]:
        """(index, name) of every function call: a word followed by an opening parenthesis,
        not a column list of a table being created or a type's length."""
        for index, token in enumerate(self.tokens):
            if token.kind == "word" and self.text(index + 1) == "(":
                if self.word(index - 1) in ("table", "into", "view", "as") or self.text(
                    index - 1
                ) in ("::",):
                    continue
                yield index, token.lower

    def arguments(self, index: int) -> int:
        """How many arguments the call at ``index`` passes (commas at its own depth + 1)."""
        depth, count, seen = 0, 0, False
        for token in self.tokens[index + 1 :]:
            if token.text == "(":
                depth += 1
                if depth == 1:
                    continue
            elif token.text == ")":
                depth -= 1
                if depth == 0:
                    break
            elif token.text == "," and depth == 1:
                count += 1
            seen = seen or depth >= 1
        return count + 1 if seen else 0

    def relations(self) -> list[str]:
        """The relations the statement reads or writes (FROM, JOIN, INTO, UPDATE, TABLE),
        as written (schema-qualified names keep their dots). FROM inside EXTRACT, TRIM,
        SUBSTRING and POSITION is not a relation."""
        found: list[str] = []
        stack: list[str] = []
        for index, token in enumerate(self.tokens):
            if token.text == "(":
                stack.append(self.word(index - 1))
                continue
            if token.text == ")":
                if stack:
                    stack.pop()
                continue
            keyword = self.word(index)
            if keyword not in ("from", "join", "into", "update", "table", "copy", "lock"):
                continue
            if keyword == "from" and stack and stack[-1] in (
                "extract", "trim", "substring", "overlay", "position", "date_part",
            ):  # fmt: skip
                continue
            name = self._qualified_name(index + 1)
            if name:
                found.append(name)
        return found

    def _qualified_name(self, index: int) -> str:
        parts = []
        while True:
            token = self.tokens[index] if index < len(self.tokens) else None
            if token is None or token.kind not in ("word", "ident"):
                break
            if token.kind == "word" and token.lower in _NOT_NAMES:
                break
            parts.append(identifier(token))
            if self.text(index + 1) != ".":
                break
            index += 2
        return ".".join(parts)


_NOT_NAMES = frozenset(
    {"select", "with", "if", "only", "lateral", "values", "exists", "not", "temp", "temporary"}
)
CATALOG_SCHEMAS = ("pg_catalog", "information_schema")
SYSTEM_PREFIXES = ("stl_", "stv_", "svl_", "svv_", "svcs_", "sys_")
PROVISIONED_ONLY_PREFIXES = ("stl_", "stv_", "svl_", "svcs_")


def _is_catalog(name: str) -> bool:
    parts = name.split(".")
    return parts[0] in CATALOG_SCHEMAS or parts[-1].startswith("pg_")


def touches_tables(statement: Statement) -> bool:
    """Whether the statement runs on the compute nodes: it references a user table or a
    system table or view (STL, STV, SVL, SVV, SYS), not only the PG catalog."""
    return any(not _is_catalog(name) for name in statement.relations())


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    page: str
    check: Callable[[Statement, Context], str | None] | None = None
    enforced_by: str = "the statement check"
    refused_example: str = ""
    accepted_example: str = ""
    example_context: Context = field(default_factory=Context)  # where both examples are sent


@dataclass(frozen=True)
class Refusal:
    rule: Rule
    reason: str
    sql: str

    @property
    def message(self) -> str:
        shown = " ".join(self.sql.split())
        shown = shown if len(shown) <= 600 else shown[:600] + " ..."
        return (
            f"Redshift refuses this statement [{self.rule.id}]: {self.reason}. "
            f"AWS: {self.rule.page} -- statement: {shown}"
        )


# --- the checks --------------------------------------------------------------------------------

UNSUPPORTED_FUNCTIONS = frozenset(
    {
        # advisory locks
        "pg_advisory_lock", "pg_advisory_lock_shared", "pg_advisory_unlock",
        "pg_advisory_unlock_shared", "pg_advisory_unlock_all", "pg_advisory_xact_lock",
        "pg_advisory_xact_lock_shared", "pg_try_advisory_lock", "pg_try_advisory_lock_shared",
        "pg_try_advisory_xact_lock", "pg_try_advisory_xact_lock_shared",
        # aggregates
        "string_agg", "array_agg", "every", "xmlagg", "xml_agg", "corr", "covar_pop",
        "covar_samp", "regr_avgx", "regr_avgy", "regr_count", "regr_intercept", "regr_r2",
        "regr_slope", "regr_sxx", "regr_sxy", "regr_syy", "json_agg", "jsonb_agg",
        # arrays, set-returning, ranges
        "unnest", "array_length", "array_to_string", "string_to_array", "array_cat",
        "array_position", "generate_series", "generate_subscripts",
        # date/time
        "clock_timestamp", "justify_days", "justify_hours", "justify_interval", "pg_sleep",
        "transaction_timestamp", "statement_timestamp", "make_timestamp", "make_date",
        # mathematics
        "div", "setseed", "width_bucket",
        # strings
        "bit_length", "overlay", "convert", "convert_from", "convert_to", "encode", "format",
        "quote_nullable", "regexp_matches", "regexp_split_to_array", "regexp_split_to_table",
        "string_to_table", "starts_with",
        # JSON of PostgreSQL (Redshift has json_extract_path_text, json_parse, SUPER)
        "to_json", "to_jsonb", "row_to_json", "json_build_object", "jsonb_build_object",
        "json_object_agg", "jsonb_object_agg",
        # PostgreSQL internals a project may lean on
        "hashtext", "hashtextextended", "txid_current", "pg_current_xact_id",
        "pg_relation_size", "pg_total_relation_size", "pg_table_size", "pg_database_size",
        "nextval", "currval", "setval", "lastval",
    }
)  # fmt: skip


def _unsupported_function(s: Statement, _: Context) -> str | None:
    for _index, name in s.calls():
        if name in UNSUPPORTED_FUNCTIONS:
            return f"{name}() is a PostgreSQL function Redshift does not support"
    return None


LEADER_ONLY = frozenset(
    {
        "current_schema", "current_schemas", "has_database_privilege", "has_schema_privilege",
        "has_table_privilege", "substr", "factorial",
    }
)  # fmt: skip
DEPRECATED_LEADER_ONLY = frozenset(
    {
        "age", "current_time", "current_timestamp", "localtime", "isfinite", "now", "getbit",
        "get_bit", "get_byte", "set_bit", "set_byte", "to_ascii",
    }
)  # fmt: skip
_BARE_KEYWORD_FUNCTIONS = frozenset({"current_timestamp", "current_time", "localtime"})


def _leader_node_only(s: Statement, _: Context) -> str | None:
    if not touches_tables(s):
        return None
    for _index, name in s.calls():
        if name in LEADER_ONLY:
            alternative = (
                " (use SUBSTRING, which runs on the compute nodes)" if name == "substr" else ""
            )
            return (
                f"{name}() runs on the leader node only and fails in a query that references "
                f"a table{alternative}"
            )
    return None


def _deprecated_leader_only(s: Statement, _: Context) -> str | None:
    for index, token in enumerate(s.tokens):
        name = s.word(index)
        if name in DEPRECATED_LEADER_ONLY and (
            s.text(index + 1) == "(" or name in _BARE_KEYWORD_FUNCTIONS
        ):
            if s.text(index - 1) == "." or token.kind != "word":
                continue
            if name in _BARE_KEYWORD_FUNCTIONS and s.word(index - 1) in ("as", "default"):
                continue  # a column alias or a named default, not the function
            return (
                f"{name} is a deprecated leader-node-only function Redshift no longer supports "
                "(use GETDATE() or SYSDATE)"
            )
    return None


def _is_distinct_from(s: Statement, _: Context) -> str | None:
    for index in range(len(s.tokens)):
        if s.word(index) == "is":
            following = s.words[index + 1 : index + 4]
            if following[:2] == ["distinct", "from"] or following == ["not", "distinct", "from"]:
                return "IS [NOT] DISTINCT FROM is not supported"
    return None


def _values_list(s: Statement, _: Context) -> str | None:
    for index in range(len(s.tokens)):
        if s.word(index) != "values":
            continue
        in_parens = s.text(index - 1) == "(" and (
            s.word(index - 2) in ("from", "join") or s.text(index - 2) == ","
        )
        if in_parens or s.word(index - 1) in ("from", "join"):
            return "a VALUES list used as a constant table is not supported"
    return None


def _constructors(s: Statement, _: Context) -> str | None:
    for index, token in enumerate(s.tokens):
        if s.word(index) == "array" and s.text(index + 1) in ("[", "("):
            return "array constructors are not supported"
        if s.word(index) == "row" and s.text(index + 1) == "(" and s.word(index - 1) != "each":
            return "row constructors are not supported"
        if token.text == "[" and s.tokens[index - 1].kind in ("word", "ident", "op"):
            return "subscript expressions (and arrays) are not supported"
    return None


def _index_trigger_sequence(s: Statement, _: Context) -> str | None:
    words = [w for w in s.words[:6] if w not in ("or", "replace", "unique", "temp", "temporary")]
    if words[:1] == ["create"] and len(words) > 1 and words[1] in (
        "index", "trigger", "sequence", "rule", "type", "extension", "domain", "event",
    ):  # fmt: skip
        return f"CREATE {words[1].upper()} is not supported"
    if s.starts("create", "event") or s.starts("listen") or s.starts("notify"):
        return "this PostgreSQL command is not supported"
    return None


def _ddl(s: Statement) -> bool:
    return (
        s.starts("create", "table")
        or s.starts("create", "temp")
        or s.starts("create", "temporary")
        or s.starts("alter", "table")
    )


def _check_constraint(s: Statement, _: Context) -> str | None:
    if not _ddl(s):
        return None
    depth = 0
    for index, token in enumerate(s.tokens):
        depth += {"(": 1, ")": -1}.get(token.text, 0)
        if depth == 0 and s.word(index) == "as":
            return None  # CREATE TABLE AS: a query follows, where PARTITION BY is a window's

        if s.word(index) == "check" and s.text(index + 1) == "(":
            return "CHECK constraints are not supported"
        if (s.word(index) == "exclude" and s.word(index + 1) in ("using",)) or (
            s.word(index) == "exclude" and s.text(index + 1) == "("
        ):
            return "exclusion constraints are not supported"
        if s.word(index) in ("inherits", "tablespace"):
            return f"{s.word(index).upper()} is not supported"
        if s.word(index) == "partition" and s.word(index + 1) == "by":
            return "table partitioning is not supported"
    return None


def _do_block(s: Statement, _: Context) -> str | None:
    if s.starts("do"):
        return "anonymous code blocks (DO) are not supported: Redshift runs stored procedures"
    if s.starts("create") and "function" in s.words[:4]:
        for index in range(len(s.tokens)):
            if s.word(index) == "language" and s.word(index + 1) not in ("sql", "plpythonu"):
                return (
                    f"a function in LANGUAGE {s.word(index + 1)}: Redshift user-defined "
                    "functions are SQL or Python (stored procedures take plpgsql)"
                )
    return None


def _upsert_returning(s: Statement, _: Context) -> str | None:
    if not (s.starts("insert") or s.starts("update") or s.starts("delete") or s.starts("with")):
        return None
    for index in range(len(s.tokens)):
        if s.word(index) == "on" and s.word(index + 1) == "conflict":
            return "INSERT ... ON CONFLICT is not supported (use MERGE)"
        if s.word(index) == "returning":
            return "RETURNING is not supported"
    return None


def _savepoint(s: Statement, _: Context) -> str | None:
    if (
        s.starts("savepoint")
        or s.starts("release")
        or (s.starts("rollback") and "to" in s.words[:3])
    ):
        return "savepoints are not supported"
    return None


def _aggregate_filter(s: Statement, _: Context) -> str | None:
    for index in range(len(s.tokens)):
        if s.word(index) == "filter" and s.text(index + 1) == "(" and s.word(index + 2) == "where":
            return "aggregate FILTER (WHERE ...) is not supported (use CASE inside the aggregate)"
    return None


UNSUPPORTED_TYPES = frozenset(
    {
        "json", "jsonb", "uuid", "bytea", "serial", "bigserial", "smallserial", "money", "inet",
        "cidr", "macaddr", "xml", "tsvector", "tsquery", "point", "line", "lseg", "box",
        "polygon", "circle", "regclass", "regtype", "regproc", "int4range", "tsrange",
    }
)  # fmt: skip


def _data_type(s: Statement, _: Context) -> str | None:
    stack: list[str] = []
    ddl = _ddl(s)
    for index, token in enumerate(s.tokens):
        if token.text == "(":
            stack.append(s.word(index - 1))
        elif token.text == ")" and stack:
            stack.pop()
        name = s.word(index)
        if name not in UNSUPPORTED_TYPES:
            continue
        after_cast = s.text(index - 1) == "::" or (
            s.word(index - 1) == "as" and stack and stack[-1] in ("cast", "convert")
        )
        in_column_list = ddl and stack and s.tokens[index - 1].kind in ("word", "ident")
        if after_cast or in_column_list:
            return f"{name} is not a Redshift data type"
        if ddl and s.text(index + 1) == "[":
            return "array types are not supported"
    return None


def _varchar_width(s: Statement, _: Context) -> str | None:
    for index in range(len(s.tokens)):
        name = s.word(index)
        varying = name == "varchar" or (name == "varying" and s.word(index - 1) == "character")
        fixed = name in ("char", "character", "bpchar") and s.word(index + 1) != "varying"
        if (varying or fixed) and s.text(index + 1) == "(" and s.tokens[index + 2].kind == "number":
            width = int(s.text(index + 2))
            limit = 65535 if varying else 4096
            if width > limit:
                kind = "VARCHAR" if varying else "CHAR"
                return f"{kind}({width}) is wider than Redshift's {limit} bytes"
    return None


NO_TRANSACTION_BLOCK = (
    (("vacuum",), "VACUUM"),
    (("create", "database"), "CREATE DATABASE"),
    (("drop", "database"), "DROP DATABASE"),
    (("create", "external"), "CREATE EXTERNAL TABLE or SCHEMA"),
    (("alter", "table"), "ALTER TABLE APPEND"),  # narrowed below
)


def _transaction_block(s: Statement, context: Context) -> str | None:
    if not context.in_transaction:
        return None
    for words, what in NO_TRANSACTION_BLOCK:
        if s.starts(*words):
            if words == ("alter", "table"):
                if "append" in s.words:
                    return f"{what} cannot run inside a transaction block"
                for index in range(len(s.tokens)):
                    if (
                        s.word(index) == "alter"
                        and s.word(index + 1) == "column"
                        and ("type" in s.words[index + 2 : index + 5])
                    ):
                        return (
                            "ALTER TABLE ALTER COLUMN ... TYPE cannot run inside a "
                            "transaction block"
                        )
                continue
            return f"{what} cannot run inside a transaction block"
    return None


def _implicit_commit(s: Statement, context: Context) -> str | None:
    if context.in_transaction and s.starts("truncate"):
        return (
            "TRUNCATE commits the transaction it runs in, so the work before it is committed "
            "and cannot be rolled back (use DELETE inside a transaction)"
        )
    return None


def _system_table_flavour(s: Statement, context: Context) -> str | None:
    if context.flavour != SERVERLESS:
        return None
    for name in s.relations():
        table = name.split(".")[-1]
        if table.startswith(PROVISIONED_ONLY_PREFIXES):
            return (
                f"{table} is a provisioned cluster's system table; Redshift Serverless has the "
                "SYS monitoring views instead"
            )
    return None


def _copy_source(s: Statement, _: Context) -> str | None:
    if not s.starts("copy"):
        return None
    for index in range(len(s.tokens)):
        if s.word(index) == "from":
            source = s.tokens[index + 1] if index + 1 < len(s.tokens) else None
            if (
                source is None
                or source.kind != "string"
                or not source.text.startswith(("'s3://", "'dynamodb://", "'emr://"))
            ):
                return "COPY reads from Amazon S3 (or DynamoDB, EMR, SSH), never STDIN or a file"
            return None
        if s.text(index) == "(" and s.word(index - 1) == "copy":
            return "COPY of a query (COPY (SELECT ...)) is not supported: use UNLOAD"
    return None


def _lock_mode(s: Statement, _: Context) -> str | None:
    if s.starts("lock") and any(w in ("in", "mode", "nowait") for w in s.words):
        return "LOCK takes table names only: no lock mode and no NOWAIT"
    return None


REDSHIFT_PARAMETERS = frozenset(
    {
        "analyze_threshold_percent", "auto_mv", "datestyle", "default_geometry_encoding",
        "describe_field_name_in_uppercase", "downcase_delimited_identifier",
        "enable_case_sensitive_identifier", "enable_case_sensitive_super_attribute",
        "enable_numeric_rounding", "enable_result_cache_for_session",
        "enable_vacuum_boost", "error_on_nondeterministic_update", "extra_float_digits",
        "interval_forbid_composite_literals", "json_parse_dedup_attributes",
        "json_parse_truncate_strings", "max_concurrency_scaling_clusters",
        "max_cursor_result_set_size", "mv_enable_aqmv_for_session",
        "navigate_super_null_on_error", "parse_super_null_on_error", "query_group",
        "search_path", "spectrum_query_maxerror", "statement_timeout",
        "stored_proc_log_min_messages", "timezone", "time zone", "wlm_query_slot_count",
        "session authorization", "role", "application_name",
    }
)  # fmt: skip


def _set_parameter(s: Statement, _: Context) -> str | None:
    if not s.starts("set") and not s.starts("reset"):
        return None
    words = [w for w in s.words[1:4] if w not in ("session", "local")]
    if not words:
        return None
    name = words[0]
    if name in ("time", "session") and len(words) > 1:
        name = f"{name} {words[1]}"
    if name == "transaction" or name == "characteristics":
        return None
    if name not in REDSHIFT_PARAMETERS:
        return f"{name} is not a Redshift configuration parameter"
    return None


def _alter_add_columns(s: Statement, _: Context) -> str | None:
    if not s.starts("alter", "table"):
        return None
    adds = sum(1 for i in range(len(s.tokens)) if s.word(i) == "add" and s.word(i + 1) == "column")
    drops = sum(
        1 for i in range(len(s.tokens)) if s.word(i) == "drop" and s.word(i + 1) == "column"
    )
    if adds + drops > 1:
        return "ALTER TABLE adds or drops one column per statement"
    for index in range(len(s.tokens)):
        if (
            s.word(index) == "add"
            and s.word(index + 1) == "column"
            and (s.words[index + 2 : index + 5] == ["if", "not", "exists"])
        ):
            return "ALTER TABLE ADD COLUMN has no IF NOT EXISTS"
    return None


def _decode(s: Statement, _: Context) -> str | None:
    for index, name in s.calls():
        if name == "decode" and s.arguments(index) < 3:
            return (
                "DECODE on Redshift is a CASE shorthand, DECODE(expression, search, result "
                "[, ...]), not PostgreSQL's decode(text, format)"
            )
    return None


def _isodow(s: Statement, _: Context) -> str | None:
    for token in s.tokens:
        if token.lower in ("isodow", "'isodow'"):
            return "there is no isodow date part (use dow: Sunday is 0)"
    return None


RULES: tuple[Rule, ...] = (
    Rule(
        "unsupported-function",
        "PostgreSQL functions Redshift does not support (advisory locks, string_agg, "
        "array_agg, generate_series, hashtext, sequences, ...)",
        AWS + "c_unsupported-postgresql-functions.html",
        _unsupported_function,
        refused_example="select pg_advisory_lock(hashtext('sparkify-build-songs'))",
        accepted_example="select listagg(name, ',') within group (order by name) from t",
    ),
    Rule(
        "leader-node-only",
        "Leader-node-only functions (SUBSTR, CURRENT_SCHEMA, HAS_TABLE_PRIVILEGE, ...) in a "
        "query that references a table",
        AWS + "c_SQL_functions_leader_node_only.html",
        _leader_node_only,
        refused_example="select substr(user_agent, 2, 10) from staging.staging_events",
        accepted_example="select substring(user_agent, 2, 10) from staging.staging_events",
    ),
    Rule(
        "deprecated-function",
        "Deprecated leader-node-only functions no longer supported (CURRENT_TIMESTAMP, NOW, "
        "AGE, ...)",
        AWS + "c_SQL_functions_leader_node_only.html",
        _deprecated_leader_only,
        refused_example="insert into staging.job_runs (started_at) values (current_timestamp)",
        accepted_example="insert into staging.job_runs (started_at) values (getdate())",
    ),
    Rule(
        "is-distinct-from",
        "IS [NOT] DISTINCT FROM",
        AWS + "c_unsupported-postgresql-functions.html",
        _is_distinct_from,
        refused_example="select 1 from t where a is distinct from b",
        accepted_example="select 1 from t where not (a = b or (a is null and b is null))",
    ),
    Rule(
        "values-list",
        "A VALUES list used as a constant table",
        AWS + "c_unsupported-postgresql-features.html",
        _values_list,
        refused_example="select * from (values (1, 'a'), (2, 'b')) as v (n, s)",
        accepted_example="insert into t (n, s) values (1, 'a'), (2, 'b')",
    ),
    Rule(
        "constructors",
        "Array and row constructors, subscripts",
        AWS + "c_unsupported-postgresql-features.html",
        _constructors,
        refused_example="select array[1, 2]",
        accepted_example="select split_part('a,b', ',', 2)",
    ),
    Rule(
        "no-indexes-triggers-sequences",
        "CREATE INDEX, TRIGGER, SEQUENCE, RULE, TYPE, EXTENSION, DOMAIN; LISTEN and NOTIFY",
        AWS + "c_unsupported-postgresql-features.html",
        _index_trigger_sequence,
        refused_example="create index songs_by_artist on analytics.songs (artist_id)",
        accepted_example="create table t (a integer) sortkey (a)",
    ),
    Rule(
        "no-check-constraints",
        "CHECK and exclusion constraints, inheritance, tablespaces, partitioned tables",
        AWS + "c_unsupported-postgresql-features.html",
        _check_constraint,
        refused_example="create table t (level varchar(4) check (level in ('free', 'paid')))",
        accepted_example="create table t (level varchar(4) not null)",
    ),
    Rule(
        "no-do-blocks",
        "Anonymous DO blocks; user-defined functions in languages other than SQL and Python",
        AWS + "r_CREATE_FUNCTION.html",
        _do_block,
        refused_example="do $$ begin perform 1; end $$",
        accepted_example="create function f (integer) returns integer stable as $$ select $1 $$ "
        "language sql",
    ),
    Rule(
        "no-upsert-returning",
        "INSERT ... ON CONFLICT and RETURNING",
        AWS + "r_INSERT_30.html",
        _upsert_returning,
        refused_example="insert into t (a) values (1) on conflict do nothing",
        accepted_example="insert into t (a) select 1 where not exists (select 1 from t)",
    ),
    Rule(
        "no-savepoints",
        "SAVEPOINT, ROLLBACK TO SAVEPOINT, RELEASE",
        AWS + "c_unsupported-postgresql-functions.html",
        _savepoint,
        refused_example="savepoint before_publish",
        accepted_example="rollback",
    ),
    Rule(
        "no-aggregate-filter",
        "Aggregate FILTER (WHERE ...)",
        AWS + "c_Aggregate_Functions.html",
        _aggregate_filter,
        refused_example="select count(*) filter (where level = 'paid') from analytics.songplays",
        accepted_example="select sum(case when level = 'paid' then 1 else 0 end) "
        "from analytics.songplays",
    ),
    Rule(
        "data-types",
        "Data types Redshift lacks (json, jsonb, uuid, bytea, serial, arrays, OID types, ...)",
        AWS + "c_Supported_data_types.html",
        _data_type,
        refused_example="create table t (payload jsonb)",
        accepted_example="create table t (payload super)",
    ),
    Rule(
        "varchar-width",
        "VARCHAR is at most 65535 bytes, CHAR at most 4096",
        AWS + "r_Character_types.html",
        _varchar_width,
        refused_example="create table t (message varchar(100000))",
        accepted_example="create table t (message varchar(65535))",
    ),
    Rule(
        "varchar-bytes",
        "VARCHAR(n) and CHAR(n) count bytes, not characters; an undeclared width is 256 bytes",
        AWS + "r_Character_types.html",
        enforced_by="the stand-in's catalog: every character column of a table checks its "
        "values' octet length (catalog.py)",
        refused_example="insert into t (c) values ('ééé')  -- into c varchar(4)",
        accepted_example="insert into t (c) values ('éé')  -- into c varchar(4)",
    ),
    Rule(
        "no-transaction-block",
        "VACUUM, CREATE/DROP DATABASE, CREATE EXTERNAL, ALTER TABLE APPEND and ALTER COLUMN "
        "TYPE cannot run inside a transaction block",
        AWS + "r_ALTER_TABLE.html",
        _transaction_block,
        refused_example="alter table t alter column c type varchar(512)",
        accepted_example="alter table t add column d varchar(512)",
        example_context=Context(in_transaction=True),
    ),
    Rule(
        "implicit-commit",
        "TRUNCATE commits the transaction it runs in",
        AWS + "r_TRUNCATE.html",
        _implicit_commit,
        refused_example="truncate analytics.songs",
        accepted_example="delete from analytics.songs",
        example_context=Context(in_transaction=True),
    ),
    Rule(
        "view-replacement",
        "CREATE OR REPLACE VIEW needs the identical set of columns, names and types (no "
        "column appended, none retyped)",
        AWS + "r_CREATE_VIEW.html",
        enforced_by="the stand-in's catalog: the replacement is compared with the view it "
        "replaces, in the same transaction (catalog.py)",
        refused_example="create or replace view v as select 1 as a, 2 as b  -- v had only a",
        accepted_example="create or replace view v as select 2 as a  -- v had a integer",
    ),
    Rule(
        "system-table-flavour",
        "Redshift Serverless has no STL, STV, SVL or SVCS system tables (SYS views instead)",
        AWS_MGMT + "serverless-monitoring.html",
        _system_table_flavour,
        refused_example="select err_reason from stl_load_errors",
        accepted_example="select error_message from sys_load_error_detail",
        example_context=Context(flavour=SERVERLESS),
    ),
    Rule(
        "system-table-columns",
        "System tables and views have exactly their documented columns (STL_LOAD_ERRORS, "
        "SYS_LOAD_ERROR_DETAIL, SVV_TABLE_INFO, ...)",
        AWS + "SYS_LOAD_ERROR_DETAIL.html",
        enforced_by="the stand-in's catalog: each system view is created with its documented "
        "columns only (catalog.py)",
        refused_example="select raw_line from sys_load_error_detail",
        accepted_example="select file_name, line_number from sys_load_error_detail",
    ),
    Rule(
        "copy-source",
        "COPY reads from S3 (or DynamoDB, EMR, SSH): no STDIN, no file, no query",
        AWS + "r_COPY.html",
        _copy_source,
        refused_example="copy staging.staging_events from stdin",
        accepted_example="copy t from 's3://bucket/x.manifest' iam_role 'arn:aws:iam::"
        "123456789012:role/r' format as json 'auto' manifest",
    ),
    Rule(
        "lock-syntax",
        "LOCK takes table names only (ACCESS EXCLUSIVE), no mode and no NOWAIT",
        AWS + "r_LOCK.html",
        _lock_mode,
        refused_example="lock staging.load_ledger in share mode",
        accepted_example="lock staging.load_ledger",
    ),
    Rule(
        "set-parameter",
        "SET only Redshift's configuration parameters (no lock_timeout, work_mem, ...)",
        AWS + "cm_chap_ConfigurationRef.html",
        _set_parameter,
        refused_example="set lock_timeout = '5s'",
        accepted_example="set statement_timeout to 600000",
    ),
    Rule(
        "alter-one-column",
        "ALTER TABLE adds or drops one column per statement, without IF NOT EXISTS",
        AWS + "r_ALTER_TABLE.html",
        _alter_add_columns,
        refused_example="alter table t add column a integer, add column b integer",
        accepted_example="alter table t add column a integer",
    ),
    Rule(
        "decode-is-case",
        "DECODE is Redshift's CASE shorthand, not PostgreSQL's decode(text, format)",
        AWS + "r_DECODE_expression.html",
        _decode,
        refused_example="select decode(x, 'hex') from t",
        accepted_example="select decode(level, 'paid', 1, 0) from t",
    ),
    Rule(
        "no-isodow",
        "No isodow date part",
        AWS + "r_Dateparts_for_datetime_functions.html",
        _isodow,
        refused_example="select extract(isodow from start_time) from analytics.time",
        accepted_example="select extract(dow from start_time) from analytics.time",
    ),
    Rule(
        "literal-escapes",
        "A backslash inside a string literal escapes the next character: a literal ending "
        "in a lone backslash never closes, and a backslash is written \\\\",
        AWS + "r_patternmatching_condition_like.html",
        enforced_by="the statement check (the scanner reads literals as Redshift does) and "
        "the session (standard_conforming_strings off, as Redshift reads literals)",
        refused_example="select 'C:\\' from t",
        accepted_example="select 'C:\\\\' from t",
    ),
)
RULES_BY_ID = {rule.id: rule for rule in RULES}


def check(sql: str, context: Context | None = None) -> Refusal | None:
    """The first rule ``sql`` (one statement) breaks, or None."""
    context = context or Context()
    try:
        statement = Statement(sql)
    except UnterminatedLiteral as exc:
        return Refusal(RULES_BY_ID["literal-escapes"], str(exc), sql)
    for rule in RULES:
        if rule.check is None:
            continue
        reason = rule.check(statement, context)
        if reason:
            return Refusal(rule, reason, sql)
    return None


def markdown_table() -> str:
    """docs/redshift-rules.md's table: one row per rule."""
    lines = [
        "| rule | what Redshift refuses | checked by | AWS page |",
        "|---|---|---|---|",
    ]
    for rule in RULES:
        page = rule.page.rsplit("/", 1)[-1]
        title = rule.title.replace("|", "\\|")
        lines.append(f"| `{rule.id}` | {title} | {rule.enforced_by} | [{page}]({rule.page}) |")
    return "\n".join(lines)
