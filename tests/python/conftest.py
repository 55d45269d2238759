"""Shared fixtures: paths to the real data and a small generated data set."""

from __future__ import annotations

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
    from loader.generate import Options, generate

    out = tmp_path_factory.mktemp("generated")
    generate(Options(output=out, songs=3000, users=60, days=5, events=4000, seed=7))
    return out
