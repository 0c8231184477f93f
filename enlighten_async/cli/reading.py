"""What the commands that read a store (``export``, ``plot``) share: opening it read-only,
the checks of ``--since``/``--until`` and ``--out``, and what a failure says."""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING

from enlighten_async.cli.exits import CannotRun, UsageError
from enlighten_async.cli.stores import open_store, store_absent
from enlighten_async.store import SQLiteStore

if TYPE_CHECKING:  # pragma: no cover
    from enlighten_async.pg_store import PostgresStore

__all__ = [
    "absent",
    "check_out",
    "check_range",
    "day_text",
    "open_for_reading",
    "reading_errors",
    "reversed_range",
    "span",
]

UTC = timezone.utc


def absent(path: str) -> bool:
    """Nothing at ``path`` (not even a dangling link): a store would be created there."""
    # a stat before the loop does any work: no need for a thread
    return not os.path.lexists(path)


def check_out(args: argparse.Namespace) -> None:
    """:class:`UsageError` when ``--out`` names the store or one of SQLite's files beside it."""
    if args.out is None:
        return
    out = os.path.realpath(args.out)
    db = os.path.realpath(args.db)
    if out in {db, f"{db}-wal", f"{db}-shm", f"{db}-journal"}:
        raise UsageError(f"--out {args.out} would overwrite the store {args.db}")


async def open_for_reading(args: argparse.Namespace) -> SQLiteStore | PostgresStore:
    """The store at ``--db``, open read-only (reading commands never write the store).

    :class:`UsageError` when there is none (none is created) or ``--out`` would overwrite
    it; a :class:`~enlighten_async.store.StoreError` when it cannot be used.
    """
    check_out(args)
    if store_absent(args.db):
        raise UsageError(f"no store at {args.db}")
    store = open_store(args.db, read_only=True)
    await store.open()
    return store


@contextlib.contextmanager
def reading_errors(args: argparse.Namespace, done: str) -> Iterator[None]:
    """Say what reading the store or writing ``--out`` failed on, as the exit map reads it:
    a range reversed in a system's local time is a usage error, an ``--out`` that cannot be
    written is :class:`CannotRun`. ``done`` completes "nothing ...": ``exported``."""
    from enlighten_async import export

    try:
        yield
    except export.UnknownSystemError:
        raise
    except ValueError as exc:  # the range is reversed in a system's local time
        raise UsageError(f"{exc}, in the local time of a system: nothing {done}") from exc
    except OSError as exc:
        raise CannotRun(f"cannot write {args.out}: {exc.strerror or exc}") from exc


def day_text(value: date | timedelta) -> str:
    """``--since``/``--until`` as given: ``2026-12-01`` or ``7d``."""
    return f"{value.days}d" if isinstance(value, timedelta) else value.isoformat()


def reversed_range(since: date | timedelta | None, until: date | timedelta | None) -> bool:
    """``--since`` after ``--until`` (a count of days read from today's UTC date here: the
    per-system local reading differs by a day at most, and finds nothing to show)."""
    if since is None or until is None:
        return False
    today = datetime.now(UTC).date()
    first = today - since if isinstance(since, timedelta) else since
    last = today - until if isinstance(until, timedelta) else until
    return first > last


def check_range(args: argparse.Namespace) -> None:
    """:class:`UsageError` when ``--since`` is after ``--until``."""
    if reversed_range(args.since, args.until):
        raise UsageError(f"--since {day_text(args.since)} is after --until {day_text(args.until)}")


def span(args: argparse.Namespace) -> str:
    """The range asked for, in words: ``2026-12-01 to the last day``."""
    since = day_text(args.since) if args.since is not None else "the first day"
    until = day_text(args.until) if args.until is not None else "the last day"
    return f"{since} to {until}"
