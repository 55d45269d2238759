"""The loader's error kinds. Each maps to one exit code so that schedulers can react to it.

- ``ConfigError`` (exit 2): the run cannot start (unknown target, unreachable source, missing
  JSONPaths file, invalid option). Fix the configuration and run again.
- ``DataError`` (exit 1): the data is bad (malformed JSON, wrong types, invalid UTF-8, an object
  that changed after it was loaded). Retrying does not help; fix the data or allow rejects.
- ``TransientError`` (exit 3): the network, the object store or the warehouse failed after the
  retries. Nothing of the failed batch was committed; rerun to continue where it stopped.
"""

from __future__ import annotations


class LoaderError(Exception):
    exit_code = 1


class ConfigError(LoaderError):
    exit_code = 2


class DataError(LoaderError):
    exit_code = 1


class TransientError(LoaderError):
    exit_code = 3
