"""The contract between the pipeline, the parser and the destinations is declared, not implied:
the pipeline calls only what ``Destination`` declares, every engine implements all of it, and the
parser's result names the staging column of every value it holds."""

from __future__ import annotations

import ast
import inspect
import json

import duckdb
import pytest

from loader import pipeline
from loader.contract import ORIGIN_COLUMNS
from loader.destinations.base import Destination, quote_ident
from loader.destinations.duckdb import DuckDBDestination
from loader.destinations.postgres import PostgresDestination
from loader.destinations.redshift import RedshiftDestination
from loader.fast_parse import FastParser
from loader.sources import SourceObject
from loader.tables import songs_table

ENGINES = [DuckDBDestination, PostgresDestination, RedshiftDestination]


def _called_on(tree: ast.AST, name: str) -> set[str]:
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == name
    }


def test_the_pipeline_calls_only_what_a_destination_declares() -> None:
    tree = ast.parse(inspect.getsource(pipeline))
    called = _called_on(tree, "dest")
    assert called, "the pipeline no longer names its destination `dest`"
    declared = set(dir(Destination)) | set(Destination.__annotations__)
    undeclared = sorted(called - declared)
    assert undeclared == [], f"the pipeline calls undeclared destination methods: {undeclared}"
    assert "getattr(dest" not in inspect.getsource(pipeline)
    assert "hasattr(dest" not in inspect.getsource(pipeline)


@pytest.mark.parametrize("engine", ENGINES, ids=lambda e: e.engine)
def test_every_engine_implements_the_whole_interface(engine: type[Destination]) -> None:
    assert not getattr(engine, "__abstractmethods__", frozenset()), engine.__abstractmethods__


def _song(number: int) -> bytes:
    record = {
        "num_songs": 1,
        "artist_id": f"AR{number}",
        "artist_latitude": None,
        "artist_longitude": None,
        "artist_location": "",
        "artist_name": f"Band {number}",
        "song_id": f"SO{number}",
        "title": f"Song {number}",
        "duration": 200.5,
        "year": 0,
    }
    return json.dumps(record).encode()


def test_the_parsed_batch_names_the_staging_column_of_every_value() -> None:
    table = songs_table()
    con = duckdb.connect()
    objects = [(SourceObject(f"song_data/{n}.json", 100, "e"), _song(n)) for n in range(3)]
    objects.append((SourceObject("song_data/odd.json", 100, "e"), b"\xef\xbb\xbf" + _song(9)))
    parsed = FastParser(table, con).parse(objects)
    try:
        assert parsed.fast_rows == 3 and len(parsed.python_rows) == 1  # a BOM goes to Python
        assert parsed.staging_columns == [c.name for c in table.columns] + list(ORIGIN_COLUMNS)
        # the relation, read by the names it publishes, holds the rows the Python parser
        # would give: both in the layout of `columns`
        relation = con.execute(
            f"select {parsed.select_list(quote_ident)} from {parsed.relation} order by _source_key"
        )
        assert [d[0] for d in relation.description] == parsed.staging_columns
        rows = relation.fetchall()
        assert [row[parsed.staging_columns.index("song_id")] for row in rows] == [
            "SO0",
            "SO1",
            "SO2",
        ]
        python_row = parsed.python_rows[0]
        assert python_row[parsed.staging_columns.index("_source_key")] == "song_data/odd.json"
        assert python_row[parsed.staging_columns.index("song_id")] == "SO9"
        origin_first = parsed.select_list(quote_ident, origin_first=True)
        assert origin_first.startswith('source_key as "_source_key", source_line as')
    finally:
        parsed.drop()
    tables = {r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()}
    views = {r[0] for r in con.execute("select view_name from duckdb_views()").fetchall()}
    assert parsed.relation not in views and not tables & set(parsed.temp_tables)
