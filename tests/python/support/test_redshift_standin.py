"""The Redshift stand-in on a live PostgreSQL server and moto S3, reached with the real
redshift_connector as dbt-redshift and the loader reach a cluster (TLS verify-ca, a password
login): it refuses what Redshift refuses, with the rule, the AWS page and the statement, and
holds what only the warehouse can hold (VARCHAR bytes, view replacement, system tables, COPY)."""

from __future__ import annotations

import gzip
import json

import pytest

from support.redshift_standin import IAM_ROLE, SERVERLESS, STAGE_BUCKET, StandIn

pytestmark = [pytest.mark.postgres, pytest.mark.s3]


@pytest.fixture
def standin(postgres_server, s3_server, request):
    database = postgres_server.create_database("standin_" + request.node.name)
    flavour = getattr(request, "param", "provisioned")
    with StandIn(postgres_server, s3_server, database, flavour=flavour) as server:
        yield server


def connect(standin: StandIn, **overrides):
    import os

    import redshift_connector

    env = standin.env()
    os.environ["SSL_CERT_FILE"] = env["SSL_CERT_FILE"]
    kwargs = dict(
        host="127.0.0.1",
        port=int(env["SPARKIFY_REDSHIFT_PORT"]),
        database=env["SPARKIFY_REDSHIFT_DATABASE"],
        user=env["SPARKIFY_REDSHIFT_USER"],
        password=env["DBT_ENV_SECRET_REDSHIFT_PASSWORD"],
        ssl=True,
        sslmode="verify-ca",
    )
    kwargs.update(overrides)
    con = redshift_connector.connect(**kwargs)
    con.autocommit = True
    return con


def failure(cursor, sql: str) -> dict:
    import redshift_connector

    with pytest.raises(redshift_connector.Error) as caught:
        cursor.execute(sql)
    return caught.value.args[0]


def test_a_refused_statement_names_its_rule_page_and_statement_and_nothing_runs(standin) -> None:
    con = connect(standin)
    cur = con.cursor()
    cur.execute("create table t (a varchar(8))")
    error = failure(cur, "insert into t select substr('abc', 1) from t")
    assert error["C"] == "0A000"
    assert "[leader-node-only]" in error["M"]
    assert "c_SQL_functions_leader_node_only.html" in error["M"]
    assert "insert into t select substr" in error["M"]
    cur.execute("select count(*) from t")
    assert cur.fetchall()[0][0] == 0
    assert [r.rule.id for r in standin.record.refusals] == ["leader-node-only"]
    con.close()


def test_a_wrong_password_is_refused_as_a_cluster_refuses_it(standin) -> None:
    import redshift_connector

    with pytest.raises(redshift_connector.Error, match="password authentication failed"):
        connect(standin, password="not-the-password")


def test_varchar_widths_count_bytes_and_an_undeclared_width_is_256(standin) -> None:
    con = connect(standin)
    cur = con.cursor()
    cur.execute("create table t (short varchar(4), plain varchar)")
    cur.execute("insert into t (short) values ('éé')")  # 4 bytes
    error = failure(cur, "insert into t (short) values ('ééé')")  # 3 characters, 6 bytes
    assert error["C"] == "22001" and "character varying(4)" in error["M"]
    error = failure(cur, "insert into t (plain) values (repeat('x', 257))")
    assert error["C"] == "22001" and "character varying(256)" in error["M"]
    cur.execute("create table t2 as select cast('ab' as varchar(3)) as c")
    assert failure(cur, "insert into t2 values ('éé')")["C"] == "22001"  # 4 bytes
    con.close()


def test_create_or_replace_view_needs_the_same_columns_names_and_types(standin) -> None:
    con = connect(standin)
    cur = con.cursor()
    cur.execute("create view v as select 1 as a")
    error = failure(cur, "create or replace view v as select 1 as a, 2 as b")  # appended
    assert "[view-replacement]" in error["M"] and "r_CREATE_VIEW.html" in error["M"]
    cur.execute("create or replace view v as select 7 as a")  # same columns: replaced
    cur.execute("select a from v")
    assert cur.fetchall()[0][0] == 7
    cur.execute("create or replace view w as select 1 as a with no schema binding")  # new view
    con.close()


def test_system_views_have_only_their_documented_columns(standin) -> None:
    con = connect(standin)
    cur = con.cursor()
    cur.execute("select file_name, line_number, column_name, error_message "
                "from sys_load_error_detail")  # fmt: skip
    error = failure(cur, "select raw_line from sys_load_error_detail")
    assert "raw_line" in error["M"]
    cur.execute("select raw_line, err_reason from stl_load_errors")  # a cluster has it
    con.close()


@pytest.mark.parametrize("standin", [SERVERLESS], indirect=True)
def test_serverless_has_no_stl_tables(standin) -> None:
    con = connect(standin)
    cur = con.cursor()
    error = failure(cur, "select err_reason from stl_load_errors")
    assert "[system-table-flavour]" in error["M"]
    cur.execute("select error_message from sys_load_error_detail")
    con.close()


def test_a_transaction_block_refuses_what_cannot_run_or_commits_implicitly(standin) -> None:
    con = connect(standin)
    cur = con.cursor()
    cur.execute("create table t (a varchar(8))")
    cur.execute("begin")
    cur.execute("insert into t values ('kept?')")
    assert "[implicit-commit]" in failure(cur, "truncate t")["M"]
    cur.execute("rollback")
    cur.execute("select count(*) from t")
    assert cur.fetchall()[0][0] == 0
    cur.execute("truncate t")  # outside a transaction block
    con.close()


def put_copy(standin: StandIn, lines: list[str]) -> str:
    client = standin.s3.client()
    client.put_object(Bucket=STAGE_BUCKET, Key="t/part-0.json.gz",
                      Body=gzip.compress(("\n".join(lines) + "\n").encode()))  # fmt: skip
    manifest = {"entries": [{"url": f"s3://{STAGE_BUCKET}/t/part-0.json.gz", "mandatory": True}]}
    client.put_object(Bucket=STAGE_BUCKET, Key="t/copy.manifest", Body=json.dumps(manifest))
    return (
        f"copy t (name, n) from 's3://{STAGE_BUCKET}/t/copy.manifest' iam_role '{IAM_ROLE}' "
        "format as json 'auto' gzip manifest region 'us-west-2' maxerror 0"
    )


def test_copy_loads_in_the_callers_transaction_and_its_errors_outlive_the_rollback(
    standin,
) -> None:
    con = connect(standin)
    cur = con.cursor()
    cur.execute("create table t (name varchar(4), n integer)")
    copy = put_copy(standin, ['{"name": "ab", "n": 1}', '{"name": "Björk", "n": 2}'])
    cur.execute("begin")
    error = failure(cur, copy)  # Björk is 6 bytes
    assert "Load into table 't' failed" in error["M"] and "stl_load_errors" in error["M"]
    cur.execute("rollback")
    cur.execute("select trim(colname), trim(err_reason), line_number, trim(raw_line) "
                "from stl_load_errors where session = pg_backend_pid()")  # fmt: skip
    assert [list(row) for row in cur.fetchall()] == [
        ["name", "String length exceeds DDL length", 2, '{"name": "Bj.rk", "n": 2}']
    ]  # multibyte characters shown as periods, as Redshift shows them
    copy = put_copy(standin, ['{"name": "ab", "n": 1}', '{"name": "cd", "n": 2}'])
    cur.execute("begin")
    cur.execute(copy)
    cur.execute("select pg_last_copy_count()")
    assert cur.fetchall()[0][0] == 2
    cur.execute("rollback")
    cur.execute("select count(*) from t")
    assert cur.fetchall()[0][0] == 0  # rolled back with the transaction
    wrong_role = copy.replace(IAM_ROLE, "arn:aws:iam::123456789012:role/other")
    assert "not authorized to assume IAM Role" in failure(cur, wrong_role)["M"]
    wrong_region = copy.replace("us-west-2", "eu-west-1")
    assert "specified endpoint" in failure(cur, wrong_region)["M"]
    con.close()
