"""The job's dbt steps, run in this process through dbt's Python API, with their results read
node by node and mapped onto the loader's exit codes:

- a test that fails (or errors) is bad data: 1;
- a model that errors is the code or the warehouse: 2, or 3 when the error says the connection
  or a lock was lost (retrying can help);
- dbt refusing to start (project, profile, parse) is configuration: 2.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from orchestration.compiled_templates import FILE_NAME, CompiledTemplates

if TYPE_CHECKING:
    from dbt.contracts.graph.manifest import Manifest

PROJECT_DIR = Path(__file__).resolve().parent.parent

# How the engines word a failure that a later run can get past.
_TRANSIENT_TEXT = (
    "could not connect",
    "connection refused",
    "connection reset",
    "server closed the connection",
    "terminating connection",
    "connection timed out",
    "could not set lock on file",  # DuckDB: another process has the warehouse file
    "deadlock detected",
    "could not serialize",
    "serializable isolation violation",
    "canceling statement due to",
)


@dataclass
class StepResult:
    code: int = 0
    message: str = ""
    built: int = 0
    failed_models: list[str] = field(default_factory=list)
    passed_tests: int = 0
    failed_tests: list[str] = field(default_factory=list)
    warned_tests: list[str] = field(default_factory=list)
    freshness: str | None = None


def is_transient(message: str) -> bool:
    text = message.lower()
    return any(part in text for part in _TRANSIENT_TEXT)


def _invoke(args: list[str], project: Project | None = None):  # -> dbtRunnerResult
    from dbt.cli.main import dbtRunner

    colours = ["--use-colors"] if sys.stdout.isatty() else ["--no-use-colors"]
    runner = dbtRunner(manifest=project.manifest if project else None)
    if os.environ.get("SPARKIFY_COMPILED_TEMPLATES", "1") == "0":
        return runner.invoke([*colours, *args])
    with _compiled_templates().installed():
        return runner.invoke([*colours, *args])


_TEMPLATES: CompiledTemplates | None = None


def _compiled_templates() -> CompiledTemplates:
    """The job's compiled Jinja (orchestration.compiled_templates), read once per process, kept
    beside dbt's partial parse in the target directory."""
    global _TEMPLATES
    if _TEMPLATES is None:
        target = Path(os.environ.get("DBT_TARGET_PATH", "target"))
        _TEMPLATES = CompiledTemplates((PROJECT_DIR / target) / FILE_NAME)
    return _TEMPLATES


@dataclass
class Project:
    """The project as dbt parsed it, for the steps that follow: a build given it starts at once
    instead of importing and parsing again (the daily job parses while the loader stages)."""

    manifest: Manifest
    vars: list[str]  # the --vars it was parsed with: a step must run with the same ones


def parse(
    target: str | None, profiles_dir: Path, extra: list[str] | None = None
) -> Project | StepResult:
    """``dbt parse``: the project, ready for ``build`` and ``freshness`` (or why dbt refused)."""
    result = _invoke(["parse", *_common(target, profiles_dir), *(extra or [])])
    if result.result is None or not result.success:
        return _refused(result)
    return Project(manifest=result.result, vars=list(extra or []))


def _common(target: str | None, profiles_dir: Path) -> list[str]:
    """The project, the profiles and, when the job was given one, the target. dbt keeps its
    parse of the project only while the command-line target stays the same (it is part of what
    partial parsing compares), so the profile's own default is left to dbt: a job and a
    `dbt build` typed by hand then share one parse instead of each parsing afresh (~5 s)."""
    return [
        "--project-dir",
        str(PROJECT_DIR),
        "--profiles-dir",
        str(profiles_dir),
        *(["--target", target] if target else []),
    ]


def _refused(result) -> StepResult:
    first = str(result.exception or "dbt did not start").strip().splitlines()
    message = first[0] if first else "dbt did not start"
    return StepResult(code=3 if is_transient(message) else 2, message=message)


# macros/publish: a build that does not pass publishes nothing
NOT_PUBLISHED = "analytics was not published and still holds the last build that passed"


def build(
    target: str | None,
    profiles_dir: Path,
    extra: list[str] | None = None,
    project: Project | None = None,
) -> StepResult:
    """``dbt build`` as a scheduled job runs it: the seed, the models and every data test. Given
    the ``project`` that ``parse`` returned, it does not parse again."""
    _same_vars(project, extra)
    # unit tests check the code, not the data: they belong to CI and deploys
    scheduled = ["--exclude-resource-type", "unit_test"]
    result = _invoke(["build", *_common(target, profiles_dir), *scheduled, *(extra or [])], project)
    if result.result is None:
        return _refused(result)
    step = StepResult()
    for node_result in result.result.results:
        node = node_result.node
        status = str(getattr(node_result.status, "value", node_result.status))
        kind = str(getattr(node.resource_type, "value", node.resource_type))
        where = f"{node.name} ({node.original_file_path})"
        if kind in ("test", "unit_test"):
            if status == "pass":
                step.passed_tests += 1
            elif status == "warn":
                step.warned_tests.append(where)
            elif status in ("fail", "error", "runtime error"):
                step.failed_tests.append(f"{where}: {_first_line(node_result.message)}")
        elif kind in ("model", "seed", "snapshot"):
            if status == "success":
                step.built += 1
            elif status == "error":
                step.failed_models.append(f"{where}: {_first_line(node_result.message)}")
    if step.failed_models:
        step.message = (
            f"{len(step.failed_models)} model(s) failed: "
            + "; ".join(step.failed_models[:3])
            + f". {NOT_PUBLISHED}"
        )
        transient = all(is_transient(m) for m in step.failed_models)
        step.code = 3 if transient else 2
    elif step.failed_tests:
        step.message = (
            f"{len(step.failed_tests)} test(s) failed: "
            + "; ".join(step.failed_tests[:3])
            + f". {NOT_PUBLISHED}: the failing rows are in analytics_audit (dbt test --select "
            "<test> --store-failures keeps them)"
        )
        step.code = 1
    elif not result.success:
        step.message = _first_line(str(result.exception or "dbt build did not succeed"))
        step.code = 2
    return step


def freshness(target: str | None, profiles_dir: Path, project: Project | None = None) -> StepResult:
    """``dbt source freshness``: how long since the loader last staged an event file."""
    result = _invoke(["source", "freshness", *_common(target, profiles_dir)], project)
    if result.result is None:
        return _refused(result)
    statuses = [str(getattr(r.status, "value", r.status)) for r in result.result.results]
    step = StepResult()
    if any(s in ("error", "runtime error") for s in statuses):
        step.freshness = "error"
        step.code = 1
        step.message = (
            "the events are stale: no event file staged for 7 days or more "
            "(dbt source freshness; see target/sources.json)"
        )
    elif "warn" in statuses:
        step.freshness = "warn"
    elif statuses:
        step.freshness = "pass"
    return step


def _same_vars(project: Project | None, extra: list[str] | None) -> None:
    if project is not None and project.vars != list(extra or []):
        raise ValueError(f"the project was parsed with {project.vars}, not {extra}")


def _first_line(message: str | None) -> str:
    lines = [line.strip() for line in (message or "").strip().splitlines() if line.strip()]
    return lines[0] if lines else "no message"
