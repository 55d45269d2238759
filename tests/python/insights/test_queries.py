"""The report reads the warehouse through the loader's connection layer: it connects as the
loader does (Redshift's IAM login included) and its failures are classed by the engine."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from insights.queries import answer, connect
from loader.errors import ConfigError
from loader.profiles import DuckDBConfig, RedshiftConfig

SERVERLESS = "sparkify.123456789012.us-west-2.redshift-serverless.amazonaws.com"


def test_the_report_connects_as_the_loader_does_iam_included(monkeypatch) -> None:
    import redshift_connector

    from loader.destinations.redshift import RedshiftDestination

    attempts: list[dict] = []

    def unreachable(**settings: object) -> None:
        attempts.append(settings)
        raise OSError("no route to host")

    monkeypatch.setattr(redshift_connector, "connect", unreachable)
    config = RedshiftConfig(
        host=SERVERLESS,
        port=5439,
        user="analyst",
        password="",
        dbname="dev",
        method="iam",
        region="us-west-2",
    )
    with pytest.raises(ConfigError, match="cannot connect to Redshift"), connect(config):
        pass
    RedshiftDestination.open(config, iam_role=None, stage_prefix=None, dry_run=True).close()
    report, loader = attempts
    assert report == loader
    assert report["iam"] is True and report["is_serverless"] is True
    assert "password" not in report and report["db_user"] == "analyst"


def test_a_failing_analysis_names_itself_and_is_classed_by_the_engine(tmp_path: Path) -> None:
    path = tmp_path / "empty.duckdb"
    duckdb.connect(str(path)).close()
    with connect(DuckDBConfig(str(path))) as warehouse, pytest.raises(ConfigError) as raised:
        answer(warehouse, "top_songs", "Which songs?", "select * from analytics.songplays")
    assert "analyses/top_songs.sql" in str(raised.value) and "\n" not in str(raised.value)
