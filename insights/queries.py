"""Load the analysts' questions from ``analyses/*.sql`` and run them on a warehouse target."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loader import engines
from loader.errors import ConfigError
from loader.profiles import TargetConfig

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


class Warehouse:
    """A read-only session on the target: every query failure is classed by the target
    engine's own ``classify`` (a lost connection is transient, a missing mart is not)."""

    def __init__(self, config: TargetConfig, connection: Any) -> None:
        self.config = config
        self.connection = connection  # a DB-API connection of the engine's driver

    def rows(self, sql: str, doing: str = "query") -> tuple[list[str], list[tuple]]:
        """The column names and rows of ``sql``; a failure as a ``LoaderError`` naming
        ``doing``."""
        cursor = self.connection.cursor()
        try:
            cursor.execute(sql)
            rows = [tuple(r) for r in cursor.fetchall()]
            return [d[0] for d in cursor.description], rows
        except Exception as exc:
            self.rollback()
            raise engines.classify(self.config, exc, doing) from None
        finally:
            with contextlib.suppress(Exception):
                cursor.close()

    def rollback(self) -> None:
        """End the read transaction (engines with a server hold one open otherwise)."""
        with contextlib.suppress(Exception):
            self.connection.rollback()


@contextlib.contextmanager
def connect(config: TargetConfig) -> Iterator[Warehouse]:
    """The target opened read-only, as the loader connects to it (Redshift's IAM login too)."""
    connection = engines.connect(config)
    try:
        yield Warehouse(config, connection)
    finally:
        with contextlib.suppress(Exception):
            connection.close()


def answer(warehouse: Warehouse, name: str, question: str, sql: str) -> Answer:
    """Run one analysis on the published marts."""
    columns, rows = warehouse.rows(sql, f"running analyses/{name}.sql")
    return Answer(name, question, columns, rows)
