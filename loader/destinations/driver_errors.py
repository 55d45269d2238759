"""What every engine's ``classify`` reads from a driver error: its SQLSTATE and its message."""

from __future__ import annotations

# SQLSTATEs (or their classes) a rerun can succeed after: connection, serialization failure,
# deadlock, insufficient resources, cancelled or terminated query, lock not available
TRANSIENT_SQLSTATES = ("08", "40001", "40P01", "53", "57014", "57P01", "57P02", "57P03", "55P03")


def sqlstate(exc: BaseException) -> str:
    """The SQLSTATE of a driver error: redshift_connector puts the server's fields in a dict
    (``C`` the code), psycopg2 in ``pgcode``."""
    code = getattr(exc, "pgcode", None)
    if code:
        return str(code)
    for arg in getattr(exc, "args", ()):
        if isinstance(arg, dict) and arg.get("C"):
            return str(arg["C"])
    return ""


def message(exc: BaseException) -> str:
    """The first line of a driver error's message (redshift_connector: the server's ``M``)."""
    for arg in getattr(exc, "args", ()):
        if isinstance(arg, dict) and arg.get("M"):
            return str(arg["M"])
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
