"""The exit statuses of ``enlighten-async``, and the one map from the exceptions a command
raises to them.

A command returns a status when it ran (0, 1 for failed spans, an owner left out or
nothing to show, 4 for a backfill stopped by its month's quota or its ``--budget``, 130
and 143 for a stop by a signal) and raises when it cannot run; :func:`fail` then says why
in one line on stderr and returns the status :data:`EXIT_STATUSES` gives the exception.
"""

from __future__ import annotations

import signal
import sys
from typing import Final

from enlighten_async.core import deprecated as _deprecated
from enlighten_async.core.exceptions import (
    BudgetSpentError,
    EnlightenError,
    MonthQuotaSpentError,
)
from enlighten_async.store import StoreSourceError

__all__ = [
    "EXIT_CANNOT_RUN",
    "EXIT_FAILED_SPANS",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_QUOTA_SPENT",
    "EXIT_STATUSES",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "HANDLED",
    "CannotRun",
    "NothingFound",
    "UsageError",
    "error",
    "exit_status",
    "fail",
    "warn",
]

#: Done: every planned span is in the store; shown; written.
EXIT_OK: Final = 0
#: Some spans failed or, on v4, an owner whose authorization is gone was left out
#: (``backfill``); nothing in the range (``export``, ``plot``).
EXIT_FAILED_SPANS: Final = 1
#: A command line that cannot run: a bad option, a missing key, no store at ``--db``.
EXIT_USAGE: Final = 2
#: Could not run: authentication, connection, Redis, a store that cannot be used.
EXIT_CANNOT_RUN: Final = 3
#: Stopped cleanly before the work was done, to go on later: the month's quota (less the
#: reserve kept for interactive calls) is spent, until the next UTC month, or the run's
#: ``--budget`` of requests is. What was fetched is stored; the command says in one line
#: when it can go on (the month: at the next month's start, UTC; the budget: at once).
EXIT_QUOTA_SPENT: Final = 4
#: A stop by a signal is 128 plus its number, as a shell reports a process the signal
#: killed: 130 for Ctrl-C, 143 for SIGTERM.
EXIT_INTERRUPTED: Final = 128 + signal.SIGINT
EXIT_TERMINATED: Final = 128 + signal.SIGTERM


class UsageError(Exception):
    """A command line that cannot run (exit status 2)."""


class CannotRun(Exception):
    """The command cannot do its job, for a reason outside the command line, such as an
    ``--out`` that cannot be written (exit status 3)."""


class NothingFound(LookupError):
    """The store holds nothing in the range asked for (exit status 1)."""


#: Each exception a command may raise, and its exit status; the first that matches wins
#: (a :class:`StoreSourceError` is an :class:`EnlightenError`, yet a usage error: the wrong
#: ``--db``). Any other exception is a bug, and Python's traceback says where.
EXIT_STATUSES: Final[tuple[tuple[type[Exception], int], ...]] = (
    (UsageError, EXIT_USAGE),
    (StoreSourceError, EXIT_USAGE),  # the store holds another source's data
    (NothingFound, EXIT_FAILED_SPANS),
    (CannotRun, EXIT_CANNOT_RUN),
    # the month's quota or the run's request budget spent (before EnlightenError: both are)
    (MonthQuotaSpentError, EXIT_QUOTA_SPENT),
    (BudgetSpentError, EXIT_QUOTA_SPENT),
    # the store cannot be used, authentication, connection, Redis, an API error
    (EnlightenError, EXIT_CANNOT_RUN),
    # an argument the library refuses: since after until, unknown system ids
    (ValueError, EXIT_USAGE),
)
#: The exceptions :data:`EXIT_STATUSES` maps: what ``main`` catches.
HANDLED: Final = tuple(error for error, _ in EXIT_STATUSES)


def exit_status(exc: BaseException) -> int | None:
    """The exit status of ``exc``; ``None`` if the map does not hold it (a bug)."""
    for error, status in EXIT_STATUSES:
        if isinstance(exc, error):
            return status
    return None


def error(message: object) -> None:
    """Say ``error: message`` in one line on stderr."""
    print(f"error: {message}", file=sys.stderr)


def warn(message: object) -> None:
    """Say ``warning: message`` in one line on stderr."""
    print(f"warning: {message}", file=sys.stderr)


def fail(exc: Exception) -> int:
    """Say why the command cannot run (one line on stderr); its exit status."""
    status = exit_status(exc)
    if status is None:
        raise exc
    error(exc)
    return status


# Renamed after 0.1.0 (a request's time range is a span): the old name still works, with a
# DeprecationWarning.
__getattr__ = _deprecated.module_getattr(
    __name__, {"EXIT_FAILED_WINDOWS": (f"{__name__}.EXIT_FAILED_SPANS", EXIT_FAILED_SPANS)}
)
