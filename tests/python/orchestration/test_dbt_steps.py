"""The job's dbt steps: the project is parsed once and the steps after it run on that parse."""

from __future__ import annotations

from pathlib import Path

from tests.python.loader.helpers import copy_days
from tests.python.orchestration.helpers import run_python

# dbt in a process of its own (as the job runs it), with parsing made to fail after `parse`
STEPS = """
import sys
from pathlib import Path
from dbt.parser.manifest import ManifestLoader
from orchestration import dbt_steps

profiles = Path(sys.argv[1])
project = dbt_steps.parse(None, profiles)
assert isinstance(project, dbt_steps.Project), project

def parsing_again(*args, **kwargs):
    raise RuntimeError("parsed the project again")

ManifestLoader.get_full_manifest = parsing_again
fresh = dbt_steps.freshness(None, profiles, project)
print("freshness", fresh.freshness, fresh.code, fresh.message)
try:
    dbt_steps.build(None, profiles, ["--vars", "{full_checks: true}"], project)
except ValueError as exc:
    print("refused:", exc)
"""


def test_steps_run_on_the_parse_they_are_given(
    small_generated: Path, profiles_dir: Path, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    copy_days(small_generated, source, days=[1], songs=False)
    staged = run_python(
        "-m", "loader.copy_staging", "--source", str(source), "--no-progress", tmp_path=tmp_path
    )
    assert staged.returncode == 0, staged.stderr[-2000:]
    steps = run_python("-c", STEPS, str(profiles_dir), tmp_path=tmp_path)
    assert steps.returncode == 0, steps.stdout[-3000:] + steps.stderr[-3000:]
    # freshness ran on the given parse (parsing again would have raised) and found the day
    assert "freshness pass 0" in steps.stdout, steps.stdout[-3000:]
    # a step asked to run with other vars than the parse had is refused, not run on a wrong parse
    assert "refused: the project was parsed with [], not ['--vars'" in steps.stdout
