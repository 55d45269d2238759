"""Redshift without a cluster: dbt parses, every model compiles, the SQL parses as Redshift's."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.python.dbt.helpers import MARTS, dbt


@pytest.fixture
def offline_redshift(profiles_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from support.servers import free_port

    monkeypatch.setenv("SPARKIFY_REDSHIFT_HOST", "127.0.0.1")
    monkeypatch.setenv("SPARKIFY_REDSHIFT_PORT", str(free_port()))  # nothing listens there
    monkeypatch.setenv("DBT_ENV_SECRET_REDSHIFT_PASSWORD", "unused")


@pytest.mark.parametrize("incremental", ["false", "true"])
def test_every_model_analysis_and_test_compiles_to_redshift_sql(
    offline_redshift, tmp_path: Path, incremental: str
) -> None:
    pytest.importorskip("sqlglot")
    from tests.python.redshift_sql import redshift_problems

    dbt("parse", "--target", "redshift", target_dir=tmp_path)
    dbt(
        "compile",
        "--target",
        "redshift",
        "--no-introspect",
        "--no-populate-cache",
        "--vars",
        f"{{assume_incremental: {incremental}}}",
        target_dir=tmp_path,
    )
    root = tmp_path / "target" / "compiled" / "sparkify"
    compiled = sorted(root.rglob("*.sql"))
    kinds = {path.relative_to(root).parts[0] for path in compiled}
    assert {"models", "analyses", "tests"} <= kinds
    names = {p.stem for p in compiled}
    assert {"stg_events", "stg_songs", "int_events", *MARTS, "sessions_per_user"} <= names
    problems = [
        problem
        for path in compiled
        for problem in redshift_problems(path.read_text(), str(path.relative_to(root)))
    ]
    assert not problems, "\n".join(problems)
    songplays = next(p for p in compiled if p.stem == "songplays").read_text()
    assert ('from "dev"."analytics_audit"."songplays"' in songplays) == (incremental == "true")
    assert "dateadd(" in next(p for p in compiled if p.stem == "stg_events").read_text()


@pytest.mark.parametrize(
    ("sql", "problem"),
    [
        ("select avg(sessions) from t", "averages an integer"),
        ("select round(avg(cast(x as numeric)), 1) from t", "numeric(18, 0)"),
        ("select plays / sessions from t", "state the division's type"),
        ("select epoch_ms(ts) from t", "epoch_ms() is not on the list"),
        ("select string_agg(a, ',') from t", "string_agg() is written"),
        ("select count(*) filter (where a > 1) from t", "no aggregate FILTER"),
        ("select extract(isodow from ts) from t", "no isodow"),
    ],
)
def test_redshift_check_flags_what_redshift_treats_differently(sql: str, problem: str) -> None:
    pytest.importorskip("sqlglot")
    from tests.python.redshift_sql import redshift_problems

    assert any(problem in found for found in redshift_problems(sql, "q.sql")), sql


def test_redshift_check_passes_stated_types() -> None:
    pytest.importorskip("sqlglot")
    from tests.python.redshift_sql import redshift_problems

    sql = (
        "select round(avg(cast(s as numeric(28, 6))), 1), cast(ts as bigint) / 1000, "
        "100 * cast(n as numeric(28, 6)) / sum(n) over () from t"
    )
    assert redshift_problems(sql, "q.sql") == []


def test_redshift_configs_set_dist_and_sort_keys(offline_redshift, tmp_path: Path) -> None:
    import json

    dbt("parse", "--target", "redshift", target_dir=tmp_path)
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    configs = {
        n["name"]: n["config"] for n in manifest["nodes"].values() if n["resource_type"] == "model"
    }
    assert configs["songplays"]["sort"] == ["start_time"]
    assert configs["songplays"]["prune_by"] == "start_time"  # bounds the delete's scan
    # the fact and its largest dimension, distributed on the column they join on; the small,
    # slow-changing dimensions on every node
    assert configs["songplays"]["dist"] == configs["time"]["dist"] == "start_time"
    assert configs["time"]["sort"] == ["start_time"]
    for dim in ("users", "user_levels", "songs", "artists"):
        assert configs[dim]["dist"] == "all", dim
    assert configs["int_events"]["dist"] == "even"
    for name, config in configs.items():
        if config["materialized"] == "incremental":
            assert config["incremental_strategy"] == "changed_keys", name


def _compile_inline_for_redshift(inline: str, tmp_path: Path) -> str:
    """The Redshift SQL dbt compiles ``inline`` to, without a cluster (dbt's log lines follow)."""
    result = dbt(
        "compile",
        "--target",
        "redshift",
        "--no-introspect",
        "--no-populate-cache",
        "--inline",
        inline,
        target_dir=tmp_path,
    )
    return result.stdout.split("Compiled inline node is:", 1)[1]


def test_the_publish_transaction_compiles_to_redshift_sql(offline_redshift, tmp_path: Path) -> None:
    """macros/publish on Redshift: one transaction, locked, each way of publishing a mart."""
    pytest.importorskip("sqlglot")
    from tests.python.redshift_sql import redshift_problems

    plan = (
        "[{'name': 'songplays', 'how': 'delta'}, {'name': 'songs', 'how': 'copy'},"
        " {'name': 'time', 'how': 'replace'}, {'name': 'users', 'how': 'none'}]"
    )
    inline = f"{{{{ sparkify_publish_sql({plan}, ['songplays', 'songs', 'time', 'users']) }}}}"
    sql = _compile_inline_for_redshift(inline, tmp_path)
    sql = sql[: sql.index("commit") + len("commit")]
    assert redshift_problems(sql, "publish") == []
    statements = [s.strip().split("\n")[0] for s in sql.split(";") if s.strip()]
    assert statements[0] == "begin" and statements[-1] == "commit"
    assert statements[1] == 'lock "dev"."staging"."build_ledger"'  # the writers' one lock order
    # LIKE keeps the audited table's distribution, sort key, encodings and not-null columns
    assert 'create table "dev"."analytics"."time" (like "dev"."analytics_audit"."time")' in sql
    assert 'delete from "dev"."analytics"."songs"' in statements
    assert '"dev"."analytics"."users"' not in sql  # nothing changed: not touched
    assert 'update "dev"."staging"."build_changes" set audited_by' in sql


def test_the_view_record_compiles_to_redshift_sql(offline_redshift, tmp_path: Path) -> None:
    """macros/relations/replace_view: what records a view's definition is Redshift SQL."""
    pytest.importorskip("sqlglot")
    from tests.python.redshift_sql import redshift_problems

    view = "api.Relation.create(database='dev', schema='staging', identifier='stg_songs')"
    inline = (
        f"{{{{ sparkify_record_view_definition({view}, 'd41d8cd98f00b204e9800998ecf8427e') }}}}"
    )
    sql = _compile_inline_for_redshift(inline, tmp_path)
    sql = sql[: sql.index("getdate()") + len("getdate()")]  # dbt's log lines follow
    assert redshift_problems(sql, "record view") == []
    assert (
        'delete from "dev"."staging"."build_views" where view_name = \'staging.stg_songs\'' in sql
    )
    assert "getdate()" in sql  # Redshift's current timestamp
