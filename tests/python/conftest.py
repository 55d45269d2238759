"""Shared fixtures: paths to the real data and a small generated data set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[2]
SHARED_DATA = PROJECT_DIR.parent / "shared" / "data"
REAL_FULL = SHARED_DATA / "s3-full"
WORKSPACE_SAMPLE = SHARED_DATA / "workspace-sample"


def require_real_data() -> Path:
    if not (REAL_FULL / "log_json_path.json").exists():
        pytest.skip(f"real data not found at {REAL_FULL}")
    return REAL_FULL


@pytest.fixture(scope="session")
def real_full() -> Path:
    return require_real_data()


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic data set, generated once per test session."""
    from generator.synthetic import Options, generate

    out = tmp_path_factory.mktemp("generated")
    generate(Options(output=out, songs=3000, users=60, days=5, events=4000, seed=7))
    return out


@pytest.fixture(scope="session")
def small_generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few hundred objects: small enough to copy per test and to serve from moto."""
    from generator.synthetic import Options, generate

    out = tmp_path_factory.mktemp("small")
    generate(Options(output=out, songs=200, users=30, days=5, events=2000, seed=11))
    return out


# --- no silent skips in CI ----------------------------------------------------------------------


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Under CI=true (set by .ci/run) a skipped test fails: a missing layer (PostgreSQL, the
    real data in ../shared/data, Chromium for the docs site) must turn CI red, not pass quietly.
    On a laptop a skip stays a skip, with its reason in the summary."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and _in_ci() and not hasattr(report, "wasxfail"):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        report.outcome = "failed"
        report.longrepr = (
            f"{reason}\n(skipped, and CI=true makes a skip a failure: every layer of the "
            "suite must run in CI; install what is missing, or unset CI on a laptop)"
        )


@pytest.fixture(autouse=True, scope="session")
def _no_env_file() -> None:
    """Tests never pick up a developer's sparkify.env (a provisioned Redshift's settings)."""
    os.environ["SPARKIFY_NO_ENV_FILE"] = "1"


# --- profiles -------------------------------------------------------------------------------


@pytest.fixture
def profiles_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A profiles.yml (the shipped example) in a temp dir, with a temp DuckDB file as dev."""
    directory = tmp_path / "profiles"
    directory.mkdir()
    (directory / "profiles.yml").write_text((PROJECT_DIR / "profiles.yml.example").read_text())
    monkeypatch.setenv("DBT_PROFILES_DIR", str(directory))
    monkeypatch.setenv("SPARKIFY_DUCKDB_PATH", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.delenv("SPARKIFY_TARGET", raising=False)
    return directory


# --- a real PostgreSQL server on 127.0.0.1 ----------------------------------------------------

from support.servers import PostgresServer, S3Server  # noqa: E402


@pytest.fixture(scope="session")
def postgres_server():
    server = PostgresServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_db(postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch, request):
    """A fresh database on the session's server, wired into the `postgres` target's env vars."""
    name = postgres_server.create_database(request.node.name)
    for key, value in postgres_server.env(name).items():
        monkeypatch.setenv(key, value)
    return name


# --- a moto S3 server on 127.0.0.1 ------------------------------------------------------------


@pytest.fixture(scope="session")
def s3_server():
    server = S3Server.start()
    try:
        yield server
    finally:
        server.stop()


# --- Redshift: the loader's real Redshift path against an emulated cluster ---------------------


@pytest.fixture
def redshift(postgres_server, s3_server, profiles_dir: Path, monkeypatch, request):
    """The `redshift` target, answered by the emulator on a fresh database."""
    import redshift_connector

    from tests.python.redshift_emulator import Emulator

    name = postgres_server.create_database("rs_" + request.node.name)
    dsn = {
        "host": "127.0.0.1",
        "port": postgres_server.port,
        "user": postgres_server.user,
        "password": postgres_server.password,
        "dbname": name,
    }
    s3 = s3_server.client()
    buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    if "sparkify-stage" not in buckets:
        s3.create_bucket(
            Bucket="sparkify-stage",
            CreateBucketConfiguration={"LocationConstraint": "us-west-2"},
        )
    emulator = Emulator(dsn, s3, "us-west-2")
    monkeypatch.setattr(redshift_connector, "connect", emulator.connect)
    monkeypatch.setenv("DBT_ENV_SECRET_REDSHIFT_PASSWORD", "unused-by-the-emulator")
    monkeypatch.setenv(
        "SPARKIFY_REDSHIFT_IAM_ROLE", "arn:aws:iam::123456789012:role/sparkify-redshift-s3-read"
    )
    monkeypatch.setenv("SPARKIFY_MANIFEST_PREFIX", "s3://sparkify-stage/loads")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint)
    yield emulator
    for connection in emulator.connections:
        connection.close()


# --- Redshift: the stand-in, which refuses what Redshift refuses (support/redshift_standin) ----


@pytest.fixture
def redshift_standin(postgres_server, s3_server, profiles_dir: Path, monkeypatch, request):
    """A Redshift stand-in on a fresh database, the `redshift` target pointed at it. A test
    parametrized indirectly with "serverless" gets a Serverless workgroup. A statement the
    stand-in refused fails the test, even where the project went on after it."""
    from support.redshift_standin import PROVISIONED, StandIn

    flavour = getattr(request, "param", PROVISIONED)
    database = postgres_server.create_database("rs_" + request.node.name)
    with StandIn(postgres_server, s3_server, database, flavour=flavour) as standin:
        for key, value in standin.env().items():
            monkeypatch.setenv(key, value)
        yield standin
        refused = [refusal.message for refusal in standin.record.refusals]
        assert refused == [], f"the Redshift stand-in refused {len(refused)}: {refused[:3]}"
