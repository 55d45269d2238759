"""Redshift without a cluster: dbt parses, every model compiles, the SQL parses as Redshift's."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.python.dbt.helpers import MARTS, dbt


@pytest.fixture
def offline_redshift(profiles_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.python.servers import free_port

    monkeypatch.setenv("SPARKIFY_REDSHIFT_HOST", "127.0.0.1")
    monkeypatch.setenv("SPARKIFY_REDSHIFT_PORT", str(free_port()))  # nothing listens there
    monkeypatch.setenv("DBT_ENV_SECRET_REDSHIFT_PASSWORD", "unused")


@pytest.mark.parametrize("incremental", ["false", "true"])
def test_every_model_compiles_to_redshift_sql(
    offline_redshift, tmp_path: Path, incremental: str
) -> None:
    sqlglot = pytest.importorskip("sqlglot")
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
    compiled = sorted((tmp_path / "target" / "compiled" / "sparkify" / "models").rglob("*.sql"))
    names = {p.stem for p in compiled}
    assert {"stg_events", "stg_songs", *MARTS} <= names
    for path in compiled:
        sql = path.read_text()
        sqlglot.parse_one(sql, read="redshift")
        assert "epoch_ms(" not in sql and "isodow" not in sql, f"{path.name}: DuckDB/PG-only SQL"
    songplays = next(p for p in compiled if p.stem == "songplays").read_text()
    assert ('from "dev"."analytics"."songplays"' in songplays) == (incremental == "true")
    assert "dateadd(" in next(p for p in compiled if p.stem == "stg_events").read_text()


def test_redshift_configs_set_dist_and_sort_keys(offline_redshift, tmp_path: Path) -> None:
    import json

    dbt("parse", "--target", "redshift", target_dir=tmp_path)
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    configs = {
        n["name"]: n["config"] for n in manifest["nodes"].values() if n["resource_type"] == "model"
    }
    assert configs["songplays"]["sort"] == ["start_time"]
    assert configs["songplays"]["dist"] == "songplay_id"
    assert configs["songplays"]["prune_by"] == "start_time"  # bounds the delete's scan
    for dim in ("users", "songs", "artists", "time"):
        assert configs[dim]["dist"] == "all"
    for name, config in configs.items():
        if config["materialized"] == "incremental":
            assert config["incremental_strategy"] == "changed_keys", name
