"""dbt's compiled Jinja, kept from one run of the daily job to the next.

dbt renders every macro, model and test through Jinja, and Jinja first compiles each template's
source to Python: lexing, parsing and generating code, in pure Python, under the GIL. dbt keeps
nothing of that between processes, so every job compiles the same few hundred templates again:
about 1.5 s of a daily job's 4 dbt threads at 1000x, while they wait on one another for the GIL.

Here the job keeps the compiled code of each template, keyed by everything the code depends on
(the template's source and name; the environment's class, lexer settings, extensions, filters
and tests; the versions of Python, Jinja, dbt-core and dbt-common), in one file beside dbt's
partial parse (``<target>/sparkify_compiled_templates.bin``). A template whose source or
environment differs has another key and is compiled as before; an unreadable file, or one written
by another version, is ignored and replaced. The file holds Python code objects, as dbt's own
``partial_parse.msgpack`` holds the project: whoever can write the target directory can already
change what dbt runs.

Only the daily job (orchestration.dbt_steps) uses it; ``dbt`` typed by hand compiles as usual.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import marshal
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import CodeType
from typing import Any

import jinja2

FILE_NAME = "sparkify_compiled_templates.bin"
_FORMAT = 1


def _versions() -> bytes:
    packages = ("jinja2", "dbt-core", "dbt-common", "markupsafe")
    found = [importlib.metadata.version(p) for p in packages]
    return repr((_FORMAT, sys.version, importlib.util.MAGIC_NUMBER, found)).encode()


def _name(function: Any) -> str | None:
    """A function's name, not its repr (which holds an address that differs in every process)."""
    if function is None:
        return None
    return (
        f"{getattr(function, '__module__', '')}.{getattr(function, '__qualname__', type(function))}"
    )


def _passed(functions: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """Each filter's (or test's) name and which argument it is passed (context, environment):
    the generated call depends on it."""
    return tuple(
        sorted((k, repr(getattr(f, "jinja_pass_arg", None))) for k, f in functions.items())
    )


def _environment_key(env: jinja2.Environment) -> tuple[Any, ...]:
    """What of an environment Jinja's parser and code generator read."""
    cls = type(env)
    return (
        f"{cls.__module__}.{cls.__qualname__}",
        env.block_start_string,
        env.block_end_string,
        env.variable_start_string,
        env.variable_end_string,
        env.comment_start_string,
        env.comment_end_string,
        env.line_statement_prefix,
        env.line_comment_prefix,
        env.trim_blocks,
        env.lstrip_blocks,
        env.newline_sequence,
        env.keep_trailing_newline,
        env.optimized,
        env.is_async,
        getattr(env, "sandboxed", False),
        _name(env.finalize),
        tuple(sorted(getattr(env, "intercepted_binops", ()))),
        tuple(sorted(getattr(env, "intercepted_unops", ()))),
        tuple(sorted(env.extensions)),
        # which argument (context, environment) a filter or test is passed decides the call
        _passed(env.filters),
        _passed(env.tests),
        f"{env.code_generator_class.__module__}.{env.code_generator_class.__qualname__}",
    )


class CompiledTemplates:
    """The compiled code of each template seen, loaded from and saved to ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._versions = _versions()
        self._codes: dict[bytes, CodeType] = {}
        self._added = 0
        self._used: set[bytes] = set()  # what this process rendered: what the file keeps
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self._load()

    def _load(self) -> None:
        try:
            with self.path.open("rb") as f:
                versions, codes = marshal.load(f)  # noqa: S302 (see the module doc)
        except (OSError, EOFError, ValueError, TypeError):
            return  # none yet, or unreadable: compile afresh and replace it
        if versions == self._versions and isinstance(codes, dict):
            self._codes = codes

    def key(
        self, env: jinja2.Environment, source: str, name: Any, filename: Any, defer: bool
    ) -> bytes:
        text = repr((_environment_key(env), name, filename, defer, source))
        return hashlib.blake2b(text.encode(), digest_size=20).digest()

    def get(self, key: bytes) -> CodeType | None:
        code = self._codes.get(key)
        if code is None:
            self.misses += 1
        else:
            self.hits += 1
            self._used.add(key)
        return code

    def put(self, key: bytes, code: CodeType) -> None:
        with self._lock:
            self._used.add(key)
            if key not in self._codes:
                self._codes[key] = code
                self._added += 1

    def save(self) -> None:
        """Write the file if this run compiled anything new, with what this run rendered only
        (so it holds one run's templates, however many come and go), atomically (a job killed
        midway, or two at once, leave a whole file)."""
        with self._lock:
            if not self._added:
                return
            codes = {key: self._codes[key] for key in self._used}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{FILE_NAME}.")
        try:
            with os.fdopen(fd, "wb") as f:
                marshal.dump((self._versions, codes), f)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._added = 0

    @contextmanager
    def installed(self) -> Iterator[CompiledTemplates]:
        """Jinja's ``Environment.compile`` answering from this cache while the block runs; the
        file is saved when it ends (whatever dbt's outcome: what compiled, compiled)."""
        original: Any = jinja2.Environment.compile
        cache = self

        def compile(
            env: jinja2.Environment,
            source: Any,
            name: str | None = None,
            filename: str | None = None,
            raw: bool = False,
            defer_init: bool = False,
        ) -> Any:
            if raw or not isinstance(source, str) or os.environ.get("DBT_MACRO_DEBUGGING"):
                return original(env, source, name, filename, raw, defer_init)
            key = cache.key(env, source, name, filename, defer_init)
            code = cache.get(key)
            if code is None:
                code = original(env, source, name, filename, raw, defer_init)
                cache.put(key, code)
            return code

        setattr(jinja2.Environment, "compile", compile)  # noqa: B010 (overloaded: mypy refuses)
        try:
            yield self
        finally:
            setattr(jinja2.Environment, "compile", original)  # noqa: B010
            self.save()
