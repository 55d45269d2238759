"""profiles.yml and sparkify.env are read as dbt and `infra up` intend."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from loader.errors import ConfigError
from loader.profiles import PostgresConfig, RedshiftConfig, load_env_file, load_target


def test_env_vars_render_into_the_target(profiles_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("SPARKIFY_PG_PORT", "6543")
    monkeypatch.setenv("DBT_ENV_SECRET_PG_PASSWORD", "pw-xyz")
    name, config = load_target("postgres")
    assert name == "postgres" and isinstance(config, PostgresConfig)
    assert (config.port, config.password) == (6543, "pw-xyz")
    assert "pw-xyz" not in repr(config)


def test_default_target_follows_sparkify_target(profiles_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("SPARKIFY_TARGET", "postgres")
    assert load_target()[0] == "postgres"


def test_redshift_without_password_lists_the_problem(profiles_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv(
        "SPARKIFY_REDSHIFT_HOST", "wg.123.us-west-2.redshift-serverless.amazonaws.com"
    )
    from loader.destinations.redshift import RedshiftDestination

    config = load_target("redshift")[1]  # a dry run needs no password
    assert isinstance(config, RedshiftConfig) and config.is_serverless
    with pytest.raises(ConfigError, match="DBT_ENV_SECRET_REDSHIFT_PASSWORD"):
        RedshiftDestination.open(
            config,
            iam_role="arn:aws:iam::123456789012:role/r",
            stage_prefix="s3://b/p",
            s3_client=object(),
        )


def test_missing_profiles_file_says_how_to_fix(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DBT_PROFILES_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("loader.profiles.PROJECT_DIR", tmp_path)
    monkeypatch.setattr(Path, "home", lambda: tmp_path)
    with pytest.raises(ConfigError, match="make setup"):
        load_target()


def test_sparkify_env_fills_unset_variables_only(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("SPARKIFY_NO_ENV_FILE")
    (tmp_path / "sparkify.env").write_text("# comment\nSPARKIFY_T1=from-file\nSPARKIFY_T2=file\n")
    monkeypatch.setenv("SPARKIFY_T2", "already-set")
    monkeypatch.delenv("SPARKIFY_T1", raising=False)
    assert load_env_file([tmp_path]) == tmp_path / "sparkify.env"
    assert os.environ["SPARKIFY_T1"] == "from-file" and os.environ["SPARKIFY_T2"] == "already-set"
    monkeypatch.delenv("SPARKIFY_T1")
