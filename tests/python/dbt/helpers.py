"""Run dbt (the real CLI, in a subprocess) and read the warehouse it built."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.python.conftest import PROJECT_DIR

MARTS = ("songplays", "users", "user_levels", "songs", "artists", "time")


def dbt(*args: str, target_dir: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.update(
        {
            "DBT_TARGET_PATH": str(target_dir / "target"),
            "DBT_LOG_PATH": str(target_dir / "logs"),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DBT_USE_COLORS": "false",
        }
    )
    executable = Path(sys.executable).with_name("dbt")
    result = subprocess.run(
        [str(executable), *args], cwd=PROJECT_DIR, env=env, capture_output=True, text=True
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"dbt {' '.join(args)} failed:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"
        )
    return result


def mart_rows(
    fetch, exclude: tuple[str, ...] = ("staged_at",), schema: str = "analytics"
) -> dict[str, list[tuple]]:
    """Every mart's rows, sorted, without the columns that record load times: as analysts read
    them (`analytics`, what was published), or as dbt built them (`analytics_audit`)."""
    tables = {}
    for table in MARTS:
        columns = [
            c
            for c in fetch(
                "select column_name from information_schema.columns "
                f"where table_schema = '{schema}' and table_name = '{table}' "
                "order by ordinal_position"
            )
            if c[0] not in exclude
        ]
        names = ", ".join(f'"{c[0]}"' for c in columns)
        rows = fetch(f'select {names} from {schema}."{table}"')
        tables[table] = sorted(rows, key=lambda r: tuple((v is None, str(v)) for v in r))
    return tables
