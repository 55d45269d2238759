"""The loader in a process of its own, so that the daily job readies dbt while it stages.

A daily run spends about as long in the loader (listing, parsing and copying the new day) as in
getting dbt ready (importing it and parsing the project); neither needs the other, and each keeps
one core busy. Run one after the other they add up; here the loader runs in a child process while
the job imports dbt and parses the project, and the build starts once both are done. Nothing else
changes: the loader is the same ``copy_staging.main``, it commits or rolls back as it always does,
and the build still reads only what the loader committed.

The child dies with the job: on Linux it asks the kernel for SIGKILL when its parent ends, so a
killed job never leaves a loader running after its lock is free (the next job would find the
warehouse in use). Ctrl-C reaches both processes; the loader rolls back its open batch and says so.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from multiprocessing.connection import Connection
from types import TracebackType

from loader.contract import TableStats

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class StagingProcess:
    """``copy_staging.main(argv)`` started in a child process; ``result()`` waits for it."""

    def __init__(self, argv: Sequence[str], run_id: str) -> None:
        context = multiprocessing.get_context("spawn")  # a clean interpreter: no inherited state
        self._results, sender = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_stage,
            args=(sender, list(argv), run_id, os.getpid()),
            name="sparkify-loader",
            daemon=True,
        )
        self._process.start()
        sender.close()  # the child holds the only sending end: EOF means it ended
        self._outcome: tuple[int, list[TableStats]] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def result(self) -> tuple[int, list[TableStats]]:
        """The loader's exit code and each table's stats, once it has ended."""
        if self._outcome is None:
            try:
                sent = self._results.recv()
            except EOFError:  # it ended without a word: killed, or the interpreter failed
                sent = None
            finally:
                self._results.close()
            self._process.join()
            self._outcome = sent or (_died(self._process.exitcode), [])
        return self._outcome

    def __enter__(self) -> StagingProcess:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        # whatever happened here, the loader finishes (or rolls back) before the job goes on:
        # the job's lock covers it
        if self._outcome is None:
            self.result()


def _died(exitcode: int | None) -> int:
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        print(f"error: the loader process was stopped by {name}", file=sys.stderr)
        return 3 if -exitcode in (signal.SIGKILL, signal.SIGTERM) else 2
    print(f"error: the loader process ended with code {exitcode} and no result", file=sys.stderr)
    return 2


def _die_with_parent(parent_pid: int) -> None:
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent ended before the line above
        os._exit(1)


def _stage(results: Connection, argv: list[str], run_id: str, parent_pid: int) -> None:
    _die_with_parent(parent_pid)
    from loader import copy_staging, logs

    logs.settings.run_id = run_id
    stats: list[TableStats] = []
    try:
        code = copy_staging.main(argv, report=stats)
    except SystemExit as exc:  # a usage error, already printed
        code = exc.code if isinstance(exc.code, int) else 2
    except KeyboardInterrupt:  # before the loader could catch it itself
        code = 130
    except BaseException:  # a bug: its traceback, and exit 2
        traceback.print_exc()
        code = 2
    results.send((code, stats))
    results.close()
