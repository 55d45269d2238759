"""Load: 10 days at 10x the real daily volume, staged and built one day at a time, then reconciled:
every distinct NextSong event is in songplays exactly once and every user's level is the level
of their latest event."""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pytest

from tests.python.loader.helpers import copy_days, stage

pytestmark = pytest.mark.slow


def test_ten_days_one_at_a_time_reconcile(tmp_path: Path, profiles_dir: Path) -> None:
    from dbt.cli.main import dbtRunner

    from generator.synthetic import Options, generate

    full = tmp_path / "full"
    # a day at 10x the real volume (the real month has 8,056 events in 30 days); the day-by-day
    # daily job over a month is bench/incremental.py's
    generate(Options(output=full, songs=1000, users=300, days=10, events=26_853, seed=8))
    daily = tmp_path / "daily"
    runner = dbtRunner()
    os.environ["DBT_TARGET_PATH"] = str(tmp_path / "target")
    os.environ["DBT_LOG_PATH"] = str(tmp_path / "logs")
    try:
        assert runner.invoke(["seed", "--quiet"]).success
        for day in range(1, 11):
            copy_days(full, daily, days=[day])
            assert stage("--source", str(daily)) == 0
            result = runner.invoke(["run", "--quiet"])
            assert result.success, f"dbt run failed on day {day}: {result.exception}"
        # dbt runs in this process (a start-up per day saved) and keeps the DuckDB file open, so the
        # tests and the checks below run here too
        result = runner.invoke(["test", "--quiet"])
        failed = [
            (r.node.name, r.status, r.message)
            for r in result.result.results
            if str(r.status) not in {"pass", "success"}
        ]
        assert result.success, f"dbt test failed: {failed}"
    finally:
        os.environ.pop("DBT_TARGET_PATH")
        os.environ.pop("DBT_LOG_PATH")

    plays: set[tuple] = set()
    latest: dict[int, tuple] = {}
    for path in (full / "log_data").rglob("*.json"):
        for line in path.read_text().splitlines():
            e = json.loads(line)
            if e["page"] == "NextSong":
                plays.add((e["ts"], e["userId"], e["sessionId"], e["itemInSession"]))
            if e["userId"]:
                key = (e["ts"], e["sessionId"], e["itemInSession"], e["level"])
                if int(e["userId"]) not in latest or key > latest[int(e["userId"])][0]:
                    latest[int(e["userId"])] = (key, e["level"])
    with duckdb.connect(os.environ["SPARKIFY_DUCKDB_PATH"]) as con:
        built = con.execute(
            "select count(*), count(distinct songplay_id) from analytics.songplays"
        ).fetchone()
        levels = dict(con.execute("select user_id, level from analytics.users").fetchall())
    assert built == (len(plays), len(plays))
    assert levels == {user: level for user, (_, level) in latest.items()}
