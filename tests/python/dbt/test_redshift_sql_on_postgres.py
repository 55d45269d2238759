"""Redshift's SQL, run for real without a cluster: every model and analysis compiled for the
redshift target (the `redshift__` macros included) is executed on the PostgreSQL test server
(Redshift is PostgreSQL-derived) against the same staged data as a postgres build, and must give
exactly the postgres target's rows.

The few Redshift functions PostgreSQL lacks get shims in a schema of their own (`dateadd` with a
unit keyword, `getdate`, `to_varbyte`, `from_varbyte`) and `listagg(...) within group (order by
...)` is read as PostgreSQL's `string_agg(... order by ...)`. Nothing else is changed, so an
engine difference in the project's own SQL (a date part, an ISO weekday, a text repair) shows
up as a differing row.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.python.dbt.helpers import MARTS, dbt
from tests.python.loader.helpers import stage

pytestmark = pytest.mark.postgres

SHIMS = """
create schema if not exists redshift_shims;
create or replace function redshift_shims.dateadd(unit text, amount bigint, ts timestamp)
    returns timestamp language sql immutable
    as $$ select ts + amount * ('1 ' || unit)::interval $$;
create or replace function redshift_shims.getdate()
    returns timestamp language sql stable as $$ select now()::timestamp(0) $$;
create or replace function redshift_shims.to_varbyte(value text, format text)
    returns bytea language sql immutable as $$ select decode(value, format) $$;
create or replace function redshift_shims.from_varbyte(value bytea, format text)
    returns text language sql immutable as $$ select convert_from(value, upper(format)) $$;
"""
_DATEADD = re.compile(r"\bdateadd\(\s*([a-z]+)\s*,", re.IGNORECASE)
_LISTAGG = re.compile(
    r"\blistagg\(\s*(?P<value>.+?),\s*(?P<sep>'[^']*')\s*\)\s*within group\s*\(\s*"
    r"(?P<order>order by [^)]+?)\s*\)",
    re.IGNORECASE | re.DOTALL,
)


def as_postgres(sql: str) -> str:
    """Redshift SQL as PostgreSQL reads it, with the shims on the search path."""
    sql = _DATEADD.sub(lambda m: f"dateadd('{m.group(1).lower()}',", sql)
    return _LISTAGG.sub(lambda m: f"string_agg({m['value']}, {m['sep']} {m['order']})", sql)


def in_order(nodes: dict) -> list[dict]:
    """Models in dependency order."""
    done: list[str] = []
    pending = dict(nodes)
    while pending:
        ready = [
            uid
            for uid, node in pending.items()
            if all(dep not in pending for dep in node["depends_on"]["nodes"])
        ]
        assert ready, "a cycle"
        for uid in sorted(ready):
            done.append(uid)
            del pending[uid]
    return [nodes[uid] for uid in done]


def first_difference(ours: list[tuple], theirs: list[tuple]) -> str:
    for index, (a, b) in enumerate(zip(ours, theirs, strict=False)):
        if a != b:
            return f"row {index}: postgres {a} / redshift SQL {b}"
    return f"{len(ours)} rows on postgres, {len(theirs)} from the redshift SQL"


def fetch(con, sql: str) -> list[tuple]:
    with con.cursor() as cur:
        cur.execute(sql)
        rows = cur.fetchall()
    return sorted(rows, key=lambda row: tuple((v is None, str(v)) for v in row))


def test_redshift_compiled_models_and_analyses_give_the_postgres_rows(
    postgres_server,
    postgres_db: str,
    profiles_dir: Path,
    small_generated: Path,
    tmp_path,
    monkeypatch,
) -> None:
    from support.servers import free_port

    monkeypatch.setenv("SPARKIFY_REDSHIFT_DATABASE", postgres_db)  # the same database names
    monkeypatch.setenv("SPARKIFY_REDSHIFT_HOST", "127.0.0.1")
    monkeypatch.setenv("SPARKIFY_REDSHIFT_PORT", str(free_port()))  # nothing listens there
    monkeypatch.setenv("DBT_ENV_SECRET_REDSHIFT_PASSWORD", "unused")
    assert stage("--target", "postgres", "--source", str(small_generated)) == 0
    dbt(
        "build",
        "--target",
        "postgres",
        "--exclude-resource-type",
        "unit_test",
        target_dir=tmp_path / "pg",
    )
    dbt("compile", "--target", "postgres", "--select", "resource_type:analysis",
        target_dir=tmp_path / "pg")  # fmt: skip
    dbt("parse", "--target", "redshift", target_dir=tmp_path / "rs")
    dbt("compile", "--target", "redshift", "--no-introspect", "--no-populate-cache",
        "--vars", "{assume_incremental: false}", target_dir=tmp_path / "rs")  # fmt: skip

    manifest = json.loads((tmp_path / "rs" / "target" / "manifest.json").read_text())
    models = {
        uid: node for uid, node in manifest["nodes"].items() if node["resource_type"] == "model"
    }
    renamed = {}  # every model's relation, moved to a schema of its own
    for node in models.values():
        renamed[node["relation_name"]] = (
            f'"{node["database"]}"."{node["schema"]}_rs"."{node["alias"]}"'
        )

    def compiled(node: dict, target: str) -> str:
        path = tmp_path / target / "target" / "compiled" / "sparkify" / node["original_file_path"]
        sql = path.read_text()
        if target == "rs":
            for old, new in renamed.items():
                sql = sql.replace(old, new)
            sql = as_postgres(sql)
        return sql

    con = postgres_server.connect(postgres_db)
    con.autocommit = True
    with con.cursor() as cur:
        cur.execute(SHIMS)
        cur.execute("create schema staging_rs; create schema analytics_audit_rs")
        cur.execute("set search_path = public, redshift_shims")
        for node in in_order(models):
            kind = "view" if node["config"]["materialized"] == "view" else "table"
            name = renamed[node["relation_name"]]
            cur.execute(f"create {kind} {name} as\n{compiled(node, 'rs')}")

    checked = []
    for node in models.values():
        if node["name"] not in (*MARTS, "int_events"):
            continue
        ours = fetch(con, f"select * from {node['relation_name']}")
        theirs = fetch(con, f"select * from {renamed[node['relation_name']]}")
        assert ours, node["name"]
        assert ours == theirs, (
            f"{node['name']}: first differing row: {first_difference(ours, theirs)}"
        )
        checked.append(node["name"])
    assert sorted(checked) == sorted((*MARTS, "int_events"))

    pg_manifest = json.loads((tmp_path / "pg" / "target" / "manifest.json").read_text())
    analyses = [n for n in pg_manifest["nodes"].values() if n["resource_type"] == "analysis"]
    assert len(analyses) >= 10
    with con.cursor() as cur:
        cur.execute("set search_path = public, redshift_shims")
    for node in analyses:
        on_postgres = fetch(con, compiled(node, "pg"))
        on_redshift_sql = fetch(con, compiled(node, "rs"))
        assert on_postgres, node["name"]
        assert on_redshift_sql == on_postgres, node["name"]
    con.close()
