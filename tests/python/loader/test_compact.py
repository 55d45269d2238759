"""Compaction packs many small objects into few gzip NDJSON parts that load to the same rows."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from loader.compact import main as compact_main
from tests.python.loader.helpers import duck, stage


def _rows(query: str) -> list[tuple]:
    with duck() as con:
        return con.execute(query).fetchall()


def test_compacted_layout_loads_the_same_rows(
    small_generated: Path, tmp_path: Path, profiles_dir: Path, monkeypatch
) -> None:
    packed = tmp_path / "packed"
    assert (
        compact_main(
            [
                "--source",
                str(small_generated),
                "--to",
                str(packed),
                "--target-mb",
                "0.01",
                "--no-progress",
            ]
        )
        == 0
    )
    parts = sorted((packed / "song_data").glob("part-*.json.gz"))
    assert 1 < len(parts) < 50
    manifest = json.loads((packed / "song_data" / "_compaction.manifest").read_text())
    assert sum(len(p["sources"]) for p in manifest["parts"]) == 200
    assert gzip.decompress(parts[0].read_bytes()).count(b"\n") == manifest["parts"][0]["records"]
    (packed / "log_json_path.json").write_bytes(
        (small_generated / "log_json_path.json").read_bytes()
    )

    query = (
        "select song_id, title, artist_name, artist_latitude, year, duration "
        "from staging.staging_songs order by song_id"
    )
    assert stage("--source", str(small_generated), "--tables", "songs") == 0
    original = _rows(query)
    monkeypatch.setenv("SPARKIFY_DUCKDB_PATH", str(tmp_path / "packed.duckdb"))
    assert stage("--source", str(packed), "--tables", "songs") == 0
    assert _rows(query) == original
    assert _rows("select count(*) from staging.load_ledger")[0][0] == len(parts)
    lines = _rows("select count(*) from staging.staging_songs where _source_line > 1")[0][0]
    assert lines > 0  # rows keep their line within the part


def test_corrupt_gzip_is_a_data_error(
    tmp_path: Path, small_generated: Path, profiles_dir: Path, capsys
) -> None:
    source = tmp_path / "src"
    (source / "log_data").mkdir(parents=True)
    (source / "log_json_path.json").write_bytes(
        (small_generated / "log_json_path.json").read_bytes()
    )
    (source / "log_data" / "part-00000.json.gz").write_bytes(b"not gzip at all")
    assert stage("--source", str(source), "--tables", "events") == 1
    assert "part-00000.json.gz: not a valid gzip object" in capsys.readouterr().err


def test_nothing_to_compact_is_a_configuration_error(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    assert (
        compact_main(
            ["--source", str(tmp_path / "empty"), "--to", str(tmp_path / "o"), "--no-progress"]
        )
        == 2
    )
    assert "nothing to compact" in capsys.readouterr().err
