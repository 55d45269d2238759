"""The warehouse's whole life on Redshift's rules, on the real data: the Redshift stand-in
(support/redshift_standin) refuses every statement Redshift would refuse, from the loader,
dbt-redshift's own connection code, materializations, hooks, tests and the publish, the daily
job, `dbt docs generate` and the report. The answers must be the DuckDB target's.

The data arrive as they would: the catalogue without 1% of its songs and 28 days, a new day,
the late songs, a corrected file, then the last day through the daily job.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.python.dbt.helpers import dbt, mart_rows
from tests.python.loader.helpers import stage
from tests.python.orchestration.helpers import run_python

pytestmark = [pytest.mark.postgres, pytest.mark.s3, pytest.mark.slow]

BUILD = ("build", "--exclude-resource-type", "unit_test")
NOT_FIGURES = ("Target ", "Published ", "Warehouse: ", "staging_events: staged", "staging_songs:")


def answers(report: str) -> list[str]:
    """The report's figures, without the lines that name the warehouse or the time."""
    return [line for line in report.splitlines() if line and not line.startswith(NOT_FIGURES)]


def test_the_real_data_lives_on_redshifts_rules_with_duckdbs_answers(
    real_full: Path, tmp_path: Path, redshift_standin, monkeypatch
) -> None:
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(real_full / "log_json_path.json", source)
    days = sorted((real_full / "log_data").rglob("*.json"))
    songs = sorted((real_full / "song_data").rglob("*.json"))
    late = songs[::100]  # 1% of the catalogue arrives after its plays

    def put(path: Path) -> Path:
        target = source / path.relative_to(real_full)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
        return target

    sql = redshift_standin.execute  # the test's own reads, straight on the database behind
    redshift = ("--target", "redshift")
    late_set = set(late)
    for path in songs:
        if path not in late_set:
            put(path)
    for day in days[:28]:
        put(day)
    assert stage(*redshift, "--source", str(source)) == 0
    dbt(*BUILD, *redshift, target_dir=tmp_path)  # a full build
    plays = sql("select count(*) from analytics.songplays")[0][0]

    put(days[28])  # a new day
    assert stage(*redshift, "--source", str(source)) == 0
    dbt(*BUILD, *redshift, target_dir=tmp_path)
    assert sql("select count(*) from analytics.songplays")[0][0] > plays

    for path in late:  # the late catalogue: plays of these songs are matched now
        put(path)
    assert stage(*redshift, "--source", str(source)) == 0
    dbt(*BUILD, *redshift, target_dir=tmp_path)

    # a corrected file: day 29 re-exported without its first ten plays
    day = source / days[28].relative_to(real_full)
    records = [json.loads(line) for line in day.read_text().splitlines()]
    gone = {i for i, r in enumerate(records) if r["page"] == "NextSong"}
    gone = set(sorted(gone)[:10])
    day.write_text("\n".join(json.dumps(r) for i, r in enumerate(records) if i not in gone))
    assert stage(*redshift, "--source", str(source), "--replace-changed") == 0
    dbt(*BUILD, *redshift, target_dir=tmp_path)
    published = mart_rows(sql, exclude=())
    assert published == mart_rows(sql, exclude=(), schema="analytics_audit")

    # a failing test publishes nothing: a weekday that does not exist, as an unaudited change
    sql(
        "update analytics_audit.time set weekday = 9 where start_time = "
        "(select min(start_time) from analytics_audit.time); insert into "
        "staging.build_changes select 'time', cast(min(start_time) as varchar(64)), "
        "cast(min(start_time) as varchar(64)), false, 'broken', null "
        "from analytics_audit.time"
    )
    failed = dbt(*BUILD, *redshift, target_dir=tmp_path, check=False)
    assert failed.returncode == 1 and "analytics not published, left as it was" in failed.stdout
    assert mart_rows(sql, exclude=()) == published
    sql(
        "update analytics_audit.time set weekday = extract(isodow from start_time) "
        "where weekday = 9"
    )

    # the last day through the scheduled job (stage, build, publish, record the run)
    put(days[29])
    job = run_python("-m", "orchestration.daily", *redshift, "--source", str(source),
                     tmp_path=tmp_path)  # fmt: skip
    assert job.returncode == 0, job.stdout[-4000:] + job.stderr[-4000:]
    [(outcome,)] = sql("select outcome from staging.job_runs order by started_at desc limit 1")
    assert outcome == "success"

    docs = dbt("docs", "generate", *redshift, target_dir=tmp_path)
    catalog = json.loads((tmp_path / "target" / "catalog.json").read_text())
    assert "model.sparkify.songplays" in catalog["nodes"], docs.stdout[-2000:]

    report = run_python("-m", "insights", *redshift, "--no-charts", tmp_path=tmp_path)
    assert report.returncode == 0, report.stderr[-3000:]

    # the same final files, staged at once into DuckDB and built there
    duck = tmp_path / "duck"
    duck.mkdir()
    monkeypatch.setenv("SPARKIFY_DUCKDB_PATH", str(duck / "w.duckdb"))
    assert stage("--target", "dev", "--source", str(source)) == 0
    dbt(*BUILD, "--target", "dev", target_dir=duck)
    on_duckdb = run_python("-m", "insights", "--target", "dev", "--no-charts", tmp_path=duck)
    assert on_duckdb.returncode == 0, on_duckdb.stderr[-3000:]
    import difflib

    differ = list(difflib.unified_diff(answers(on_duckdb.stdout), answers(report.stdout),
                                       "duckdb", "redshift", lineterm="", n=1))  # fmt: skip
    assert differ == [], "\n".join(differ[:40])
    assert "6,810 plays" in report.stdout  # the month's 6,820 plays, ten corrected away
