"""dbt docs: every model, column, source and macro is described; lineage runs source -> marts."""

from __future__ import annotations

import json
from pathlib import Path

from tests.python.dbt.helpers import dbt
from tests.python.loader.helpers import stage


def test_docs_generate_and_everything_is_described(
    small_generated: Path, tmp_path: Path, profiles_dir: Path
) -> None:
    assert stage("--source", str(small_generated)) == 0
    dbt("build", target_dir=tmp_path)
    dbt("docs", "generate", target_dir=tmp_path)
    target = tmp_path / "target"
    manifest = json.loads((target / "manifest.json").read_text())
    catalog = json.loads((target / "catalog.json").read_text())
    assert (target / "index.html").exists()
    undescribed = []
    for node in list(manifest["nodes"].values()) + list(manifest["sources"].values()):
        if node["resource_type"] not in {"model", "source", "seed"}:
            continue
        if not node["description"].strip():
            undescribed.append(node["unique_id"])
        entry = catalog["nodes"].get(node["unique_id"]) or catalog["sources"].get(node["unique_id"])
        documented = {c.lower() for c, v in node["columns"].items() if v["description"].strip()}
        actual = {c.lower() for c in entry["columns"]} if entry else set()
        undescribed += [f"{node['unique_id']}.{c}" for c in sorted(actual - documented)]
    for macro in manifest["macros"].values():
        if macro["package_name"] == "sparkify" and not macro["description"].strip():
            undescribed.append(macro["unique_id"])
    assert undescribed == []
    parents = manifest["parent_map"]
    assert "source.sparkify.staging.staging_events" in parents["model.sparkify.stg_events"]
    assert "model.sparkify.stg_events" in parents["model.sparkify.songplays"]
    assert "model.sparkify.int_events" in parents["model.sparkify.time"]  # beside songplays
    assert "__overview__" in json.dumps(manifest["docs"])
