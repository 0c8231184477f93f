"""The ``enlighten-async`` command: ``backfill``, ``status``, ``export``, ``plot``,
``simulate`` and ``auth`` (the v4 API's OAuth tokens).

``enlighten-async backfill --simulate`` starts the embedded simulator in-process with a
compressed clock and backfills from it: the client's real job, on any machine, with no
key. With ``--key``/``--user-id`` (or ``ENLIGHTEN_API_KEY``/``ENLIGHTEN_USER_ID``) it
talks to the real service, or to ``--base-url``/``ENLIGHTEN_BASE_URL``; without a key or
user id, and without ``--simulate``, it is a usage error (exit 2: never a silent switch
to the simulator). ``--api v4`` (or ENLIGHTEN_CLIENT_ID without a user id) backfills
from the live Monitoring API v4: the application's key and OAuth client, and the owners
logged in with ``auth login``; ``backfill --simulate --api v4`` runs it against the
embedded v4 simulator, whose owners log in without a browser. The key is never echoed;
``--key-file``/``ENLIGHTEN_API_KEY_FILE`` read it from a file, off the command line that
any local user can read. A URL given (base or Redis) is shown without its credentials
and query, and a malformed one is a usage error.

The package: :mod:`~enlighten_async.cli.parser` (the options), one module per command
(``backfill`` with ``dry_run``, ``status``, ``export``, ``plot``, ``simulate``, ``auth``),
:mod:`~enlighten_async.cli.connect` (key, service or simulator, client, Redis),
:mod:`~enlighten_async.cli.connect_v4` (v4: the application, the owners, one fleet),
:mod:`~enlighten_async.cli.progress`, :mod:`~enlighten_async.cli.reading` (what ``export``
and ``plot`` share), :mod:`~enlighten_async.cli.output` (stdout whose reader may go away)
and :mod:`~enlighten_async.cli.exits`: the one map from exceptions to exit statuses.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import sys
import warnings
from collections.abc import Callable, Coroutine, Iterator, Sequence
from typing import Any, TextIO

from enlighten_async.backfill import DEFAULT_KINDS, FAILURE_LOG_MARK
from enlighten_async.cli import simulate
from enlighten_async.cli.exits import (
    EXIT_CANNOT_RUN,
    EXIT_FAILED_SPANS,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_QUOTA_SPENT,
    EXIT_TERMINATED,
    EXIT_USAGE,
    HANDLED,
    UsageError,
    fail,
)
from enlighten_async.cli.parser import (
    DEFAULT_DB,
    DEFAULT_SIM_DB,
    DEFAULT_SIM_TIME_SCALE,
    build_parser,
)
from enlighten_async.core import deprecated as _deprecated
from enlighten_async.core.spans import LookbackWarning

__all__ = [
    "COMMANDS",
    "DEFAULT_DB",
    "DEFAULT_SIM_DB",
    "DEFAULT_SIM_TIME_SCALE",
    "EXIT_CANNOT_RUN",
    "EXIT_FAILED_SPANS",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_QUOTA_SPENT",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "UsageError",
    "build_parser",
    "main",
]

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

Command = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]


def _imported_when_run(name: str) -> Command:
    """The ``run`` of ``enlighten_async.cli.<name>``, imported when the command runs: a
    process imports what its own command needs (v4's OAuth only for ``auth``)."""

    async def run(args: argparse.Namespace) -> int:
        command: Command = importlib.import_module(f"enlighten_async.cli.{name}").run
        return await command(args)

    run.__qualname__ = run.__name__ = f"{name}.run"
    return run


#: The commands that run on an event loop, by name (``simulate`` runs its own server).
COMMANDS: dict[str, Command] = {
    name: _imported_when_run(name) for name in ("backfill", "status", "export", "plot", "auth")
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (a usage error of argparse's own
    exits 2 through :class:`SystemExit`, with its usage line)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # `enlighten-async` alone: the help, as a usage error
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    verbosity = args.verbose + getattr(args, "verbose_after", 0) + getattr(args, "verbose_leaf", 0)
    if args.command == "simulate":
        return simulate.run(args, verbosity)
    command = COMMANDS.get(args.command)
    if command is None:  # a parser's command that nothing runs: never fall through
        parser.error(f"argument COMMAND: invalid choice: {args.command!r}")
    with _logging(verbosity), _clean_warnings():
        try:
            return asyncio.run(command(args))
        except KeyboardInterrupt:
            # asyncio.run cancelled the backfill task, which printed how to resume.
            return EXIT_INTERRUPTED
        except HANDLED as exc:
            return fail(exc)


def _quiet_failures(record: logging.LogRecord) -> bool:
    """A logging filter: drop backfill's line per failed span (the summary lists them)."""
    return not getattr(record, FAILURE_LOG_MARK, False)


@contextlib.contextmanager
def _logging(verbosity: int) -> Iterator[None]:
    """``-v``: INFO, ``-vv``: DEBUG for the ``enlighten_async`` loggers, to stderr.

    Other libraries' loggers (aiohttp, asyncio) stay at WARNING. The level is put back on
    the way out, so that ``main()`` called in-process leaves logging as it found it.
    """
    logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT)
    if verbosity <= 0:
        # The summary lists the failed spans: without -v, not a WARNING line each too.
        failures = logging.getLogger("enlighten_async.backfill")
        failures.addFilter(_quiet_failures)
        try:
            yield
        finally:
            failures.removeFilter(_quiet_failures)
        return
    logger = logging.getLogger("enlighten_async")
    before = logger.level
    logger.setLevel(logging.INFO if verbosity == 1 else logging.DEBUG)
    try:
        yield
    finally:
        logger.setLevel(before)


@contextlib.contextmanager
def _clean_warnings() -> Iterator[None]:
    """Show a :class:`LookbackWarning` as one line on stderr, once per run.

    The planner warns once per kind (and per system); Python would print each with its
    source line. Other warnings keep Python's own handling.
    """
    shown = [False]
    python_show = warnings.showwarning

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        if not issubclass(category, LookbackWarning):
            python_show(message, category, filename, lineno, file, line)
            return
        if not shown[0]:
            shown[0] = True
            text = str(message)
            kind, sep, rest = text.partition(": ")
            if sep and kind in DEFAULT_KINDS:  # the first kind's name would mislead
                text = rest
            print(f"warning: {text}", file=sys.stderr, flush=True)

    with warnings.catch_warnings():
        # "always": every one reaches show(), which keeps the first (the registry of
        # "default" would also hide it in a second run in the same process)
        warnings.simplefilter("always", LookbackWarning)
        warnings.showwarning = show
        yield


# Renamed after 0.1.0 (a request's time range is a span): the old name still works, with a
# DeprecationWarning.
__getattr__ = _deprecated.module_getattr(
    __name__, {"EXIT_FAILED_WINDOWS": (f"{__name__}.EXIT_FAILED_SPANS", EXIT_FAILED_SPANS)}
)
