"""The pipeline reads the next batch while DuckDB works on the current one, and cleans up."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from loader.fast_parse import FastParser, ParserInput
from loader.pipeline import chunk_by_bytes, read_ahead
from loader.sources import SourceObject
from loader.tables import events_table

TABLE = events_table(json.dumps({"jsonpaths": ["$['ts']"]}).encode(), "p")


def _chunks(count: int) -> list[list[SourceObject]]:
    return [[SourceObject(f"day-{i}.json", 9, "")] for i in range(count)]


def _prepare(tmp_path: Path):
    parser = FastParser(TABLE, workdir=str(tmp_path))

    def fetch(objects: list[SourceObject]) -> tuple[list[SourceObject], ParserInput]:
        return objects, parser.prepare([(o, b'{"ts": 1}') for o in objects])

    return fetch


def test_read_ahead_fetches_the_next_batch_while_the_current_one_is_worked_on(
    tmp_path: Path,
) -> None:
    started = {i: threading.Event() for i in range(3)}
    prepare = _prepare(tmp_path)

    def fetch(objects: list[SourceObject]) -> tuple[list[SourceObject], ParserInput]:
        started[int(objects[0].key[4])].set()
        return prepare(objects)

    seen = []
    for objects, prepared in read_ahead(fetch, _chunks(3)):
        index = int(objects[0].key[4])
        seen.append(index)
        if index < 2:  # the next batch is being fetched before this one is done with
            assert started[index + 1].wait(timeout=30)
        else:
            assert len(list(tmp_path.glob("*.ndjson"))) == 1  # nothing read past the end
        prepared.discard()
    assert seen == [0, 1, 2]


def test_stopping_early_removes_the_batch_file_read_ahead(tmp_path: Path) -> None:
    batches = read_ahead(_prepare(tmp_path), _chunks(3))
    _objects, first = next(batches)
    first.discard()
    batches.close()  # e.g. a DataError in the first batch ends the run
    assert list(tmp_path.iterdir()) == []


def test_no_chunks_fetch_nothing(tmp_path: Path) -> None:
    assert list(read_ahead(_prepare(tmp_path), [])) == []


def test_the_first_batch_is_small_so_work_starts_early() -> None:
    objects = [SourceObject(f"day-{i}.json", 10, "") for i in range(10)]
    chunks = chunk_by_bytes(objects, limit=40, first_limit=20)
    assert [len(c) for c in chunks] == [2, 4, 4]
    assert [o for c in chunks for o in c] == objects
    assert [len(c) for c in chunk_by_bytes(objects, limit=40)] == [4, 4, 2]
