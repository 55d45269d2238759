"""Load the analysts' questions from ``analyses/*.sql`` and run them on a warehouse target."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loader.errors import ConfigError
from loader.profiles import DuckDBConfig, PostgresConfig, RedshiftConfig, TargetConfig

ANALYSES_DIR = Path(__file__).resolve().parent.parent / "analyses"
_REF = re.compile(r"\{\{\s*ref\(\s*['\"]([a-z_]+)['\"]\s*\)\s*\}\}")
MART_SCHEMA = "analytics"


@dataclass(frozen=True)
class Answer:
    name: str
    question: str
    columns: list[str]
    rows: list[tuple]


def render(sql: str, name: str) -> str:
    """Replace ``{{ ref('model') }}`` with the mart's relation; any other Jinja is an error."""
    text = _REF.sub(lambda m: f'{MART_SCHEMA}."{m.group(1)}"', sql)
    if "{{" in text or "{%" in text:
        raise ConfigError(f"analyses/{name}.sql uses Jinja other than ref(); keep analyses plain")
    return text


def load_questions(directory: Path = ANALYSES_DIR) -> dict[str, tuple[str, str]]:
    """name -> (question from the leading comment, SQL)."""
    questions = {}
    for path in sorted(directory.glob("*.sql")):
        sql = path.read_text()
        first = sql.splitlines()[0] if sql else ""
        question = first.removeprefix("--").strip() if first.startswith("--") else path.stem
        questions[path.stem] = (question, render(sql, path.stem))
    return questions


@contextlib.contextmanager
def connect(config: TargetConfig) -> Iterator[Any]:
    con: Any  # a DB-API connection of the engine's driver
    if isinstance(config, DuckDBConfig):
        import duckdb

        if not Path(config.path).exists():
            raise ConfigError(
                f"no warehouse at {config.path}: run `make demo` (or the loader "
                "and `dbt build`) first"
            )
        con = duckdb.connect(config.path, read_only=True)
    elif isinstance(config, PostgresConfig):
        import psycopg2

        con = psycopg2.connect(
            host=config.host,
            port=config.port,
            user=config.user,
            password=config.password or None,
            dbname=config.dbname,
        )
    elif isinstance(config, RedshiftConfig):
        import redshift_connector

        con = redshift_connector.connect(
            host=config.host,
            port=config.port,
            user=config.user,
            password=config.password,
            database=config.dbname,
        )
    else:
        raise ConfigError(f"unsupported target {config!r}")
    try:
        yield con
    finally:
        con.close()


def run(con: Any, name: str, question: str, sql: str) -> Answer:
    cursor = con.cursor()
    try:
        cursor.execute(sql)
        rows = [tuple(r) for r in cursor.fetchall()]
        columns = [d[0] for d in cursor.description]
    except Exception as exc:
        raise ConfigError(f"analyses/{name}.sql failed: {exc}".splitlines()[0]) from None
    finally:
        with contextlib.suppress(Exception):
            cursor.close()
    return Answer(name, question, columns, rows)
