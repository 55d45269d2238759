"""Security: object keys cannot inject SQL, credentials never reach output or logs, and the
repository holds no secret."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.python.conftest import PROJECT_DIR
from tests.python.loader.helpers import stage
from tests.python.redshift_emulator import emulated

EVIL = "log_data/2018/11/x'; drop table staging.staging_events; --.json"
SECRET = "Sup3r-Secret-Value-42"


@pytest.mark.postgres
@pytest.mark.s3
def test_object_keys_cannot_inject_sql_into_redshift_statements(
    redshift, small_generated: Path, tmp_path: Path
) -> None:
    """The key reaches Redshift as a bound value and as the staged rows' origin, never as
    SQL: the rows stage under it, and a rerun (which names it in its checks) stages nothing."""
    from tests.python.loader.helpers import copy_days

    source = tmp_path / "src"
    copy_days(small_generated, source, days=[1], songs=False)
    first = sorted((source / "log_data").rglob("*.json"))[0]
    (source / EVIL).parent.mkdir(parents=True, exist_ok=True)
    first.rename(source / EVIL)
    args = ("--target", "redshift", "--source", str(source), "--tables", "events")
    assert stage(*args) == 0
    assert stage(*args) == 0
    with emulated(redshift)() as con, con.cursor() as cur:
        cur.execute("select distinct _source_key from staging.staging_events")
        assert cur.fetchall() == [(EVIL,)]
        cur.execute("select count(*) from staging.load_ledger where object_key = %s", (EVIL,))
        assert cur.fetchone()[0] == 1


@pytest.mark.postgres
def test_odd_object_keys_are_data_in_duckdb_and_postgres(
    small_generated: Path, tmp_path: Path, profiles_dir: Path, postgres_server, postgres_db: str
) -> None:
    from tests.python.loader.helpers import copy_days, duck

    source = tmp_path / "src"
    copy_days(small_generated, source, days=[1])
    first = sorted((source / "log_data").rglob("*.json"))[0]
    first.rename(source / EVIL)
    for target in ("dev", "postgres"):
        assert stage("--target", target, "--source", str(source), "--tables", "events") == 0
        assert (
            stage(
                "--target", target, "--source", str(source), "--tables", "events", "--full-refresh"
            )
            == 0
        )
    with duck() as con:
        assert (
            con.execute(
                "select count(*) from staging.load_ledger where object_key = ?", [EVIL]
            ).fetchone()[0]
            == 1
        )
    con = postgres_server.connect(postgres_db)
    with con.cursor() as cur:
        cur.execute("select count(*) from staging.load_ledger where object_key = %s", (EVIL,))
        assert cur.fetchone()[0] == 1
    con.close()


@pytest.mark.postgres
def test_passwords_never_reach_output_or_logs(
    small_generated: Path,
    tmp_path: Path,
    profiles_dir: Path,
    postgres_server,
    postgres_db: str,
    monkeypatch,
    capsys,
) -> None:
    monkeypatch.setenv("DBT_ENV_SECRET_PG_PASSWORD", SECRET)  # wrong: authentication fails
    assert stage("--target", "postgres", "--source", str(small_generated)) == 2
    captured = capsys.readouterr()
    assert "password authentication failed" in captured.err
    assert SECRET not in captured.out + captured.err
    from tests.python.dbt.helpers import dbt

    result = dbt("debug", "--target", "postgres", target_dir=tmp_path, check=False)
    assert result.returncode != 0
    logs = "".join(
        p.read_text(errors="replace")
        for p in tmp_path.rglob("*")
        if p.is_file() and p.suffix in {".log", ".json"}
    )
    assert SECRET not in result.stdout + result.stderr + logs


def test_repository_holds_no_secrets() -> None:
    files = subprocess.run(
        ["git", "ls-files"], cwd=PROJECT_DIR, capture_output=True, text=True, check=True
    ).stdout.split()
    patterns = [
        re.compile(p)
        for p in (
            r"AKIA[0-9A-Z]{16}",
            r"aws_secret_access_key\s*=\s*[A-Za-z0-9/+]{40}",
            r"-----BEGIN (RSA |EC )?PRIVATE KEY-----",
        )
    ]
    for name in files:
        path = PROJECT_DIR / name
        if path.suffix in {".png", ".gz", ".duckdb"} or not path.is_file():
            continue
        text = path.read_text(errors="ignore")
        for pattern in patterns:
            assert not pattern.search(text), f"{name} matches {pattern.pattern}"
    example = (PROJECT_DIR / "profiles.yml.example").read_text()
    for line in example.splitlines():
        if re.match(r"\s*password:", line):
            assert "env_var('DBT_ENV_SECRET_" in line, line
