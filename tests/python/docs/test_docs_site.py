"""The dbt docs site, served on 127.0.0.1 and opened in a real headless Chromium.

The lineage graph must render the whole flow (sources -> staging -> marts -> dashboards), the page
must load nothing from anywhere but 127.0.0.1, and a screenshot is kept as a test artifact in
``test-artifacts/``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.servers import free_port
from tests.python.conftest import PROJECT_DIR
from tests.python.dbt.helpers import MARTS, dbt
from tests.python.loader.helpers import stage

ARTIFACTS = Path(os.environ.get("SPARKIFY_TEST_ARTIFACTS", PROJECT_DIR / "test-artifacts"))
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-sync",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-quic",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
GRAPH_READY = """() => {
    const el = document.querySelector('#cy');
    return !!(el && el._cyreg && el._cyreg.cy && el._cyreg.cy.nodes().length > 0);
}"""
GRAPH = """() => {
    const cy = document.querySelector('#cy')._cyreg.cy;
    return {
        nodes: cy.nodes().map(n => n.data('label')),
        edges: cy.edges().map(e => [e.source().data('label'), e.target().data('label')]),
    };
}"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no Chromium installed (apt-get install chromium); .ci/run installs it in CI")
    raise AssertionError


@pytest.fixture
def docs_site(small_generated: Path, tmp_path: Path, profiles_dir: Path):
    assert stage("--source", str(small_generated)) == 0
    dbt("build", target_dir=tmp_path)
    dbt("docs", "generate", target_dir=tmp_path)
    port = free_port()
    env = dict(
        os.environ,
        DBT_TARGET_PATH=str(tmp_path / "target"),
        DBT_LOG_PATH=str(tmp_path / "logs"),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
    )
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("dbt")),
            "docs",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-browser",
        ],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:  # ready when the port accepts connections
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            assert time.monotonic() < deadline, "dbt docs serve did not start"
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_lineage_graph_renders_sources_to_dashboards(docs_site: str) -> None:
    from playwright.sync_api import sync_playwright

    executable = chromium()
    requested: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.on("request", lambda request: requested.append(request.url))
            page.goto(f"{docs_site}/#!/overview?g_v=1")
            page.wait_for_function(GRAPH_READY, timeout=60_000)
            graph = page.evaluate(GRAPH)
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "lineage.png"))
            page.goto(f"{docs_site}/#!/model/model.sparkify.songplays")
            page.wait_for_selector("text=deterministic", timeout=60_000)
            model_text = page.inner_text("body")
        finally:
            browser.close()

    nodes = set(graph["nodes"])
    assert {
        "staging.staging_events",
        "staging.staging_songs",
        "stg_events",
        "stg_songs",
        *MARTS,
    } <= nodes
    assert {
        "Plays per hour of day",
        "Plays per day, free vs paid",
        "Top songs and artists",
        "User level transitions",
    } <= nodes
    edges = {tuple(e) for e in graph["edges"]}
    for edge in [
        ("staging.staging_events", "stg_events"),
        ("stg_events", "songplays"),
        ("int_events", "time"),  # time builds beside songplays, from the same events
        ("songplays", "Plays per hour of day"),
        ("user_levels", "User level transitions"),
    ]:
        assert edge in edges, edge
    assert "songplay_id" in model_text
    assert all(
        url.startswith(docs_site) or url.startswith(("data:", "blob:", "about:"))
        for url in requested
    ), [u for u in requested if not u.startswith(docs_site)]
    assert (ARTIFACTS / "lineage.png").stat().st_size > 20_000
