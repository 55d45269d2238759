"""The code base stays ruff- and sqlfluff-clean (the same checks as `make lint`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.python.conftest import PROJECT_DIR

BIN = Path(sys.executable).parent


def test_ruff_check_and_format() -> None:
    for args in (["check", "."], ["format", "--check", "."]):
        result = subprocess.run(
            [str(BIN / "ruff"), *args], cwd=PROJECT_DIR, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("branch", ["full", "incremental"])
def test_sqlfluff_lint(branch: str, profiles_dir: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    extra = ["--config", ".sqlfluff-incremental"] if branch == "incremental" else []
    result = subprocess.run(
        [
            str(BIN / "sqlfluff"),
            "lint",
            "--processes",
            "2",
            "models",
            "analyses",
            "tests/dbt",
            *extra,
        ],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    rendered = subprocess.run(
        [str(BIN / "sqlfluff"), "render", "models/marts/users.sql", *extra],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
    )
    assert f"-- sparkify build: {branch}" in rendered.stdout  # the branch that was linted


def test_mypy_finds_no_error_in_the_code_outside_tests() -> None:
    """[tool.mypy] in pyproject.toml: everything outside tests (loader, generator, infra, the
    report, orchestration, bench, support)."""
    result = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=PROJECT_DIR, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
