"""The daily job's compiled Jinja: kept between runs, used only where nothing it depends on
changed, and never the reason a template renders differently."""

from __future__ import annotations

import json
from pathlib import Path

import jinja2
import pytest
from dbt_common.clients.jinja import get_template, render_template

from orchestration.compiled_templates import FILE_NAME, CompiledTemplates
from tests.python.orchestration.helpers import run_python

MACRO = """
{%- for name in people if name %}hello {{ name | upper }}{{ ', ' if not loop.last }}{% endfor -%}
{{ ' (' ~ (people | length) ~ ')' }}
"""


def render(source: str, **context) -> str:
    """Through dbt's own Jinja environment, as dbt renders a model or a macro."""
    return render_template(get_template(source, {}), context)


def test_a_second_run_renders_from_the_file_what_the_first_compiled(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    expected = render(MACRO, people=["ada", "", "bo"])
    with CompiledTemplates(path).installed() as first:
        assert render(MACRO, people=["ada", "", "bo"]) == expected
    assert first.misses == 1 and path.exists()

    with CompiledTemplates(path).installed() as second:
        assert render(MACRO, people=["ada", "", "bo"]) == expected
        assert render(MACRO, people=["cy"]).strip() == "hello CY (1)"
    assert (second.hits, second.misses) == (2, 0)
    assert not list(tmp_path.glob(f".{FILE_NAME}.*")), "a temporary file was left behind"


def test_a_changed_template_is_compiled_again(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    with CompiledTemplates(path).installed():
        render("select {{ 1 + 1 }}")
    with CompiledTemplates(path).installed() as again:
        assert render("select {{ 1 + 2 }}") == "select 3"
    assert (again.hits, again.misses) == (0, 1)


def test_an_environment_that_calls_a_filter_differently_gets_its_own_code(tmp_path: Path) -> None:
    # the code Jinja generates for `x | tag` passes the context first when the filter asks for
    # it: code compiled for one such environment would call the other's filter wrongly
    @jinja2.pass_context
    def with_context(context, value):
        return f"{context['prefix']}{value}"

    def plain(value):
        return f"<{value}>"

    def environment(tag) -> jinja2.Environment:
        env = jinja2.Environment(autoescape=False)  # noqa: S701 (SQL, as dbt renders)
        env.filters["tag"] = tag
        return env

    path = tmp_path / FILE_NAME
    with CompiledTemplates(path).installed() as cache:
        first = environment(with_context).from_string("{{ 'x' | tag }}").render(prefix="#")
        second = environment(plain).from_string("{{ 'x' | tag }}").render()
    assert (first, second) == ("#x", "<x>")
    assert cache.misses == 2


def test_a_damaged_or_foreign_file_is_ignored_and_replaced(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    for content in (b"not a marshal stream", b"", b"\x00" * 64):
        path.write_bytes(content)
        with CompiledTemplates(path).installed() as cache:
            assert render("{{ 'ok' }}") == "ok"
        assert cache.misses == 1
    with CompiledTemplates(path).installed() as cache:
        render("{{ 'ok' }}")
    assert cache.hits == 1

    # one written by another Python, Jinja or dbt: same source, but not trusted
    import marshal

    versions, codes = marshal.loads(path.read_bytes())  # noqa: S302 (the test's own file)
    path.write_bytes(marshal.dumps((versions + b" other", codes)))
    with CompiledTemplates(path).installed() as cache:
        render("{{ 'ok' }}")
    assert (cache.hits, cache.misses) == (0, 1)


def test_jinja_compiles_as_before_once_the_block_ends(tmp_path: Path) -> None:
    original = jinja2.Environment.compile
    with pytest.raises(RuntimeError), CompiledTemplates(tmp_path / FILE_NAME).installed():
        render("{{ 1 }}")
        raise RuntimeError("dbt failed")
    assert jinja2.Environment.compile is original
    assert (tmp_path / FILE_NAME).exists(), "what compiled before the failure is kept"


# dbt parses the whole project (every model, test and macro rendered) inside the cache
PARSE = """
import json, sys
from pathlib import Path
from dbt.cli.main import dbtRunner
from orchestration.compiled_templates import CompiledTemplates

with CompiledTemplates(Path(sys.argv[1])).installed() as cache:
    result = dbtRunner().invoke(["parse", "--no-partial-parse", "--quiet"])
assert result.success, result.exception
print(json.dumps({"hits": cache.hits, "misses": cache.misses}))
"""


def test_dbt_parses_the_project_alike_from_the_kept_code(
    profiles_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / FILE_NAME
    runs, manifests = [], []
    for _ in range(2):
        done = run_python("-c", PARSE, str(path), tmp_path=tmp_path)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
        manifests.append(
            {
                unique_id: (node["config"], node["depends_on"], node["description"])
                for unique_id, node in manifest["nodes"].items()
            }
        )
    first, second = runs
    assert first["misses"] > 50
    assert second == {"hits": first["hits"] + first["misses"], "misses": 0}
    assert manifests[0] == manifests[1]


def test_the_file_keeps_only_what_the_last_run_that_compiled_rendered(tmp_path: Path) -> None:
    # templates that come and go (a changed model, a removed test) do not pile up
    path = tmp_path / FILE_NAME
    with CompiledTemplates(path).installed():
        for n in range(5):
            render(f"select {n}")
    size = path.stat().st_size
    with CompiledTemplates(path).installed() as cache:
        render("select 0")
        render("select 'new'")
    assert (cache.hits, cache.misses) == (1, 1)
    assert path.stat().st_size < size
    with CompiledTemplates(path).installed() as cache:
        for source in ("select 0", "select 'new'", "select 4"):
            render(source)
    assert (cache.hits, cache.misses) == (2, 1)
