"""The Redshift stand-in's rules (support/redshift_standin/rules.py): each refuses a statement
Redshift refuses and lets through its Redshift counterpart; none is fooled by text inside a
literal, a comment or a quoted identifier; docs/redshift-rules.md lists every one."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.redshift_standin.rules import PROVISIONED, RULES, SERVERLESS, Context, check
from support.redshift_standin.sql_text import split_statements, string_value, tokens

CHECKED = [rule for rule in RULES if rule.check is not None]
DOCS = Path(__file__).resolve().parents[3] / "docs" / "redshift-rules.md"


@pytest.mark.parametrize("rule", CHECKED, ids=lambda rule: rule.id)
def test_each_rule_refuses_its_example_and_accepts_the_redshift_form(rule) -> None:
    refused = check(rule.refused_example, rule.example_context)
    assert refused is not None and refused.rule.id == rule.id, rule.refused_example
    assert rule.page in refused.message and rule.id in refused.message
    accepted = check(rule.accepted_example, rule.example_context)
    assert accepted is None, f"{rule.accepted_example}: {accepted and accepted.message}"


@pytest.mark.parametrize(
    ("sql", "rule_id"),
    [
        # the class of each finding, not only its example
        ("select pg_try_advisory_xact_lock(42)", "unsupported-function"),
        ("select string_agg(title, ', ') from analytics.songs", "unsupported-function"),
        ("select * from generate_series(1, 3)", "unsupported-function"),
        ('select SUBSTR("userAgent", 2) from staging.staging_events', "leader-node-only"),
        ("select current_schema() from analytics.songs", "leader-node-only"),
        ("select now()", "deprecated-function"),
        ("update staging.build_runs set finished_at = current_timestamp", "deprecated-function"),
        ("select count(*) filter (where true) from t", "no-aggregate-filter"),
        ("select cast(x as uuid) from t", "data-types"),
        ("select x::jsonb from t", "data-types"),
        ("create table t (a varchar(70000))", "varchar-width"),
        ("vacuum delete only analytics.songplays", "no-transaction-block"),
        ("set work_mem = '1GB'", "set-parameter"),
        ("lock t nowait", "lock-syntax"),
        ("select decode(a, 'base64') from t", "decode-is-case"),
        ("alter table t drop column a, drop column b", "alter-one-column"),
        ("copy t from '/tmp/x.json'", "copy-source"),
        ("select 'ends in a backslash\\'", "literal-escapes"),
        ("insert into t (a) values (1) returning a", "no-upsert-returning"),
        ("select * from t join (values (1)) as v (a) on true", "values-list"),
    ],
)
def test_a_statement_of_each_refused_class_is_refused_by_its_rule(sql: str, rule_id: str) -> None:
    context = Context(in_transaction=rule_id == "no-transaction-block")
    refusal = check(sql, context)
    assert refusal is not None and refusal.rule.id == rule_id, sql


@pytest.mark.parametrize(
    "sql",
    [
        "select 'substr(x) and pg_advisory_lock(1) are only text here' from t",
        "select 1 from t -- now() in a comment\n",
        'select "now" from t',
        "/* string_agg(a, b) */ select 1",
        "select substring(a from 2 for 3), extract(epoch from ts) from t",
        "select substr('amazon', 5)",  # no table: runs on the leader node, where it works
        "select current_schema()",
        "select has_table_privilege(current_user, 'staging.t', 'SELECT')",
        "select 'it''s', 'a\\'b', 'C:\\\\' from t",
        "insert into t (a, b) values (1, 'x'), (2, 'y')",
        "set statement_timeout to 0",
        "alter table t alter column c type varchar(512)",  # not in a transaction block
        "truncate t",  # autocommit: nothing to commit implicitly
        "select getdate(), sysdate, dateadd(day, 1, ts) from t",
        "create table t (a integer encode az64, b varchar(10)) diststyle all sortkey (a)",
        "create temporary table t as (select row_number() over (partition by a order by b) "
        "as n from s)",
    ],
)
def test_redshift_statements_pass(sql: str) -> None:
    refusal = check(sql, Context())
    assert refusal is None, refusal and refusal.message


def test_serverless_refuses_provisioned_system_tables_that_a_cluster_has() -> None:
    sql = "select trim(colname) from stl_load_errors where session = pg_backend_pid()"
    assert check(sql, Context(flavour=PROVISIONED)) is None
    refusal = check(sql, Context(flavour=SERVERLESS))
    assert refusal is not None and refusal.rule.id == "system-table-flavour"


def test_literals_are_read_with_redshifts_backslash_escapes() -> None:
    literal = next(t for t in tokens("select 'a\\'b\\\\c''d'") if t.kind == "string")
    assert string_value(literal) == "a'b\\c'd"
    assert split_statements("select ';'; select 2 -- ;\n") == ["select ';'", " select 2 -- ;\n"]


def test_the_docs_list_every_rule_with_its_aws_page() -> None:
    from support.redshift_standin.rules import markdown_table

    text = DOCS.read_text()
    assert markdown_table() in text, "regenerate the table: python -m support.redshift_standin.docs"
    for rule in RULES:
        assert rule.page.startswith("https://docs.aws.amazon.com/redshift/")
