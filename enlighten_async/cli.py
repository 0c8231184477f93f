"""The ``enlighten-async`` command: ``backfill``, ``status``, ``export``, ``plot`` and
``simulate``.

``enlighten-async backfill --simulate`` starts the embedded simulator in-process with a
compressed clock and backfills from it: the client's real job, on any machine, with no
key. With ``--key``/``--user-id`` (or ``ENLIGHTEN_API_KEY``/``ENLIGHTEN_USER_ID``) it
talks to the real service, or to ``--base-url``/``ENLIGHTEN_BASE_URL``; without a key or
user id, and without ``--simulate``, it is a usage error (exit 2: never a silent switch
to the simulator). The key is never echoed; ``--key-file``/``ENLIGHTEN_API_KEY_FILE``
read it from a file, off the command line that any local user can read. A URL given
(base or Redis) is shown without its credentials and query, and a malformed one is a
usage error.

``--redis-url``/``ENLIGHTEN_REDIS_URL`` makes several workers of one key share one quota
through Redis (:class:`~enlighten_async.RedisLedger`); ``--shard I/N`` gives worker ``I``
of ``N`` its share of the fleet. Redis unreachable at start is a one-line error (exit 3);
Redis lost mid-run stops the run the same way: the windows stored so far are kept and a
rerun resumes (a worker that went on alone would overrun the quota its peers share).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import os
import signal
import sys
import time
import warnings
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any, TextIO

from attrs import frozen

from enlighten_async import __version__
from enlighten_async.backfill import (
    CLAIM_LEASE,
    DEFAULT_KINDS,
    FAILURE_LOG_MARK,
    BackfillPlan,
    BackfillReport,
    Progress,
    backfill,
    plan_backfill,
)
from enlighten_async.core.args import redis_url_arg, url_arg
from enlighten_async.core.clock import Clock, ScaledClock
from enlighten_async.core.exceptions import EnlightenError
from enlighten_async.core.quota import PLANS, Quota, parse_quota, resolve_plan
from enlighten_async.core.scheduler import Scheduler
from enlighten_async.core.spans import LookbackWarning
from enlighten_async.store import SQLiteStore, StoreError, StoreSource, StoreSourceError
from enlighten_async.v2.client import DEFAULT_BASE_URL, EnlightenClient

__all__ = ["main"]

UTC = timezone.utc
#: How much faster the embedded simulator's clock runs in ``backfill --simulate``.
DEFAULT_SIM_TIME_SCALE = 600.0
#: The store of a run against the service, and the embedded simulator's: a different
#: file, so that synthetic windows never pass for a real fleet's.
DEFAULT_DB = "enlighten.db"
DEFAULT_SIM_DB = "enlighten-sim.db"

#: Exit statuses of ``backfill`` (also in its ``--help``). A stop by a signal is 128 plus
#: its number, as a shell reports a process the signal killed: 130 Ctrl-C, 143 SIGTERM.
EXIT_OK, EXIT_FAILED_WINDOWS, EXIT_USAGE, EXIT_CANNOT_RUN, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_TERMINATED = 128 + signal.SIGTERM
BACKFILL_EPILOG = """\
exit status:
  0    every planned window is in the store
  1    some windows failed (listed in the summary; run again to retry them)
  2    usage error (bad option, missing key or user id, a malformed URL or key file,
       a store of another source)
  3    could not run: authentication or connection failure, API error while planning,
       a store that cannot be used (damaged, not a database, locked, not writable)
  130  interrupted (Ctrl-C); the windows fetched so far are kept
  143  stopped by SIGTERM (kill, systemd, docker stop), the same way as Ctrl-C

Without --simulate, the key (--key or --key-file; else ENLIGHTEN_API_KEY or
ENLIGHTEN_API_KEY_FILE) and --user-id/ENLIGHTEN_USER_ID are needed (a missing one is
exit 2; the simulator is never used unless asked). A store records its source (base
URL and a hash of the user id, or the simulator's seed and fleet size) and refuses
another one; the simulator's default store is enlighten-sim.db."""


#: A system whose last report is this long before the backfill listed it has stopped
#: reporting: ``status`` shows the time since as a gap. (Envoys report every 15 minutes,
#: some on metered links every few hours.)
STOPPED_REPORTING_SECONDS = 6 * 3600

STATUS_EPILOG = f"""\
Times are UTC (marked "UTC"; "Z" in --json); the zone beside each system is its own.
A system stopped reporting when its last report came more than
{STOPPED_REPORTING_SECONDS // 3600} hours before the last backfill listed the systems
(by the client's clock): each of its kinds then shows a gap "(no reports)" from the last
report to that listing. Other gaps are ranges never fetched.

--json prints one object:
  {{"store": "enlighten.db", "times": "UTC",
   "quota": null | {{"namespace": "1a2b3c4d", "month": "2026-12", "used": 211,
                    "limit": 10000 | null, "left": 9789 | null}},
   "systems": [{{"system_id": 89, "name": "..." | null, "timezone": "Europe/Berlin" | null,
                "status": "comm" | null, "last_report_at": "2026-12-04T09:06:00Z" | null,
                "listed_at": "2026-12-07T16:59:00Z" | null, "stopped_reporting": true,
                "kinds": [{{"kind": "stats", "ranges": 9, "rows": 2016,
                           "first_end_at": "...Z" | null, "last_end_at": "...Z" | null,
                           "gaps": [{{"start": "...Z", "end": "...Z",
                                     "why": "not fetched" | "no reports"}}]}}]}}]}}
  null: not recorded (a store from before this version, or a system never listed).
  A gap "not fetched" of energy_lifetime covers the days from start's date up to,
  not including, end's date.

exit status:
  0    shown (also a store that holds nothing yet)
  2    usage error: no store at --db (none is created; also with --redis-url),
       --redis-url without the API key, a malformed --redis-url or key file
  3    the store cannot be used (damaged, not a store), or Redis cannot be reached"""


VERBOSE_HELP = "log to stderr: -v INFO, -vv DEBUG (before or after the command)"
LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class UsageError(Exception):
    """A command line that cannot run (exit status 2)."""


KEY_HELP = (
    "API key (default: $ENLIGHTEN_API_KEY); never echoed, but any local user can read a "
    "command line: prefer --key-file or the environment"
)
KEY_FILE_HELP = (
    "read the API key from this file (default: $ENLIGHTEN_API_KEY_FILE): its one line, "
    "without the newline"
)
#: More than a key could be: a wrong file (a log, a binary) is refused unread.
KEY_FILE_MAX_BYTES = 4096


def _api_key(args: argparse.Namespace) -> str | None:
    """The API key: ``--key``, ``--key-file``, ``$ENLIGHTEN_API_KEY`` or
    ``$ENLIGHTEN_API_KEY_FILE``, the command line first; ``None`` if none is given.

    Two sources at one level (both options, or both variables) are a usage error, as an
    ambiguity. Messages name the file, never what it holds.
    """
    if args.key and args.key_file:
        raise UsageError("give the API key once: --key or --key-file, not both")
    if args.key:
        return str(args.key)
    if args.key_file:
        return _read_key_file(args.key_file, "--key-file")
    env_key = os.environ.get("ENLIGHTEN_API_KEY") or None
    env_file = os.environ.get("ENLIGHTEN_API_KEY_FILE") or None
    if env_key and env_file:
        raise UsageError("both ENLIGHTEN_API_KEY and ENLIGHTEN_API_KEY_FILE are set: unset one")
    if env_file:
        return _read_key_file(env_file, "ENLIGHTEN_API_KEY_FILE")
    return env_key


def _read_key_file(path: str, name: str) -> str:
    """The key held in ``path``: its text without surrounding whitespace (the newline an
    editor or ``echo`` adds), or :class:`UsageError`."""
    try:
        with open(path, "rb") as f:
            data = f.read(KEY_FILE_MAX_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"{name}: cannot read {path!r}: {exc.strerror or exc}") from None
    if len(data) > KEY_FILE_MAX_BYTES:
        raise UsageError(f"{name}: {path!r} is over {KEY_FILE_MAX_BYTES} bytes: not a key file")
    try:
        key = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise UsageError(f"{name}: {path!r} is not UTF-8 text") from None
    if not key:
        raise UsageError(f"{name}: {path!r} is empty")
    if any(c.isspace() or ord(c) < 0x20 for c in key):
        # Two lines or words: a wrong file, or a key with its variable name; say which
        # file, never its content.
        raise UsageError(f"{name}: {path!r} must hold the key alone, on one line")
    return key


def _redis_url(args: argparse.Namespace) -> tuple[str, str] | None:
    """``(url, the option or variable it came from)``, checked; ``None`` without one.

    Checked before anything opens, and shown without its password or query.
    """
    if args.redis_url:
        url, name = str(args.redis_url), "--redis-url"
    elif os.environ.get("ENLIGHTEN_REDIS_URL"):
        url, name = os.environ["ENLIGHTEN_REDIS_URL"], "ENLIGHTEN_REDIS_URL"
    else:
        return None
    try:
        return redis_url_arg(url, name), name
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def _quota_plan(text: str) -> str | tuple[Quota, ...]:
    """``--plan``: a plan name, or limits like ``10/minute,10000/month``."""
    if text.strip().lower() in PLANS:
        return text.strip().lower()
    try:
        limits = tuple(parse_quota(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc}; or a plan: {', '.join(PLANS)}") from None
    if not limits:
        raise argparse.ArgumentTypeError(f"a plan ({', '.join(PLANS)}) or limits like 10/minute")
    return limits


def _shard(text: str) -> tuple[int, int]:
    """``--shard I/N``: worker ``I`` of ``N`` (1 <= I <= N)."""
    index, sep, count = text.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected I/N such as 1/4, got {text!r}") from None
    if not sep or n < 1 or not 1 <= i <= n:
        raise argparse.ArgumentTypeError(f"expected I/N with 1 <= I <= N, got {text!r}")
    return i, n


def _sim_plan(text: str) -> str:
    from enlighten_async.simulator import Plan

    try:
        Plan.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


#: The widest ``--since``/``--until`` the commands take: a century back, and no date in the
#: last days of the calendar (a day after it must still exist).
MAX_DAYS_BACK = 36_500
LAST_DATE = date(9999, 12, 1)


def _sim_origin(text: str) -> float:
    from enlighten_async.simulator.cli import origin_arg

    return origin_arg(text)


def _date_or_days(text: str) -> date | timedelta:
    """``2024-05-01``, or ``7d``: the local date seven days before each system's local today."""
    text = text.strip()
    if text.endswith("d") and text[:-1].isdigit():
        if len(text) > 7 or int(text[:-1]) > MAX_DAYS_BACK:
            raise argparse.ArgumentTypeError(f"at most {MAX_DAYS_BACK}d, got {text!r}")
        return timedelta(days=int(text[:-1]))
    return _date(text, "YYYY-MM-DD or Nd")


def _date(text: str, expected: str = "YYYY-MM-DD") -> date:
    """A local date of each system, ``2024-05-01``."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if day > LAST_DATE:
        raise argparse.ArgumentTypeError(f"a date up to {LAST_DATE}, got {text!r}")
    return day


def _kinds(text: str) -> list[str]:
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    bad = [k for k in kinds if k not in DEFAULT_KINDS]
    if bad or not kinds:
        raise argparse.ArgumentTypeError(f"kinds are a comma list of {', '.join(DEFAULT_KINDS)}")
    return kinds


def _systems(text: str) -> list[int] | None:
    if text.strip().lower() == "all":
        return None
    try:
        ids = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("systems: 'all' or a comma list of ids") from None
    if not ids or any(i <= 0 for i in ids):
        raise argparse.ArgumentTypeError("systems: 'all' or a comma list of positive ids")
    return ids


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``enlighten-async``."""
    parser = argparse.ArgumentParser(
        prog="enlighten-async",
        description="Asyncio client for the Enphase Enlighten Systems API v2.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help=VERBOSE_HELP)
    # Not required=True: with no command, main() prints the whole help (not only argparse's
    # one-line "required" error) and exits 2.
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    bf = sub.add_parser(
        "backfill",
        help="fetch history into a SQLite store (resumable)",
        description="Fetch history into a SQLite store. Resumable: run it again after a "
        "failure or an interruption and it fetches only what is missing.",
        epilog=BACKFILL_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bf.add_argument(
        "--simulate",
        action="store_true",
        help="run against the embedded simulator (never used without this flag)",
    )
    bf.add_argument("--key", help=KEY_HELP)
    bf.add_argument("--key-file", metavar="PATH", help=KEY_FILE_HELP)
    bf.add_argument("--user-id", help="user id (default: $ENLIGHTEN_USER_ID)")
    bf.add_argument("--base-url", help="API base URL (default: $ENLIGHTEN_BASE_URL or the service)")
    bf.add_argument("--systems", type=_systems, default=None, help="'all' (default) or ids: 67,72")
    bf.add_argument(
        "--since",
        type=_date_or_days,
        default=None,
        help="first day, YYYY-MM-DD or Nd (default: 7d); dates are each system's local "
        "dates, and --since and --until are both included",
    )
    bf.add_argument(
        "--until", type=_date_or_days, default=None, help="last local day (default: now)"
    )
    bf.add_argument(
        "--kinds", type=_kinds, default=list(DEFAULT_KINDS), help=",".join(DEFAULT_KINDS)
    )
    bf.add_argument(
        "--db",
        default=None,
        help=f"SQLite file (default: {DEFAULT_DB}; with the simulator, {DEFAULT_SIM_DB})",
    )
    bf.add_argument(
        "--plan",
        type=_quota_plan,
        default=None,
        help=f"quota plan ({', '.join(PLANS)}) or limits like 10/minute,10000/month; "
        "without it the quota is learned from the first 409",
    )
    bf.add_argument("--max-in-flight", type=_positive_int, default=None, help="concurrent requests")
    bf.add_argument(
        "--redis-url",
        default=None,
        help="share the key's quota with other workers through this Redis "
        "(default: $ENLIGHTEN_REDIS_URL; without it the quota is counted in this process)",
    )
    bf.add_argument(
        "--shard",
        type=_shard,
        default=None,
        metavar="I/N",
        help="fetch only worker I's share of N (by system id: no overlap, no gap)",
    )
    bf.add_argument(
        "--claim-lease",
        type=_positive_float,
        default=CLAIM_LEASE,
        metavar="SECONDS",
        help="how long this run's claim on a window lasts unless renewed: runs sharing "
        "--db fetch each window once, and a killed run's windows are taken over this "
        f"long after (default: {CLAIM_LEASE:g})",
    )
    sim = bf.add_argument_group("simulator (with --simulate)")
    sim.add_argument(
        "--sim-systems", type=_positive_int, default=20, help="systems in the fleet (20)"
    )
    sim.add_argument(
        "--sim-plan", type=_sim_plan, default="watt", help="the simulator's quota plan (watt)"
    )
    sim.add_argument(
        "--time-scale",
        type=_positive_float,
        default=None,
        help=f"simulated seconds per real second ({DEFAULT_SIM_TIME_SCALE:g}); against a "
        "standalone 'enlighten-async simulate', give its --time-scale so the client keeps "
        "its clock",
    )
    sim.add_argument("--seed", type=int, default=1, help="fleet seed (1)")
    sim.add_argument(
        "--sim-origin",
        type=_sim_origin,
        default=None,
        metavar="ISO",
        help="the simulator's time at start, e.g. 2026-12-07T12:00Z (default: now): the "
        "fleet's dates are relative to it, so a fixed origin backfills the same data any day",
    )
    bf.add_argument("--no-progress", action="store_true", help="no progress bar")
    bf.add_argument(
        "--dry-run",
        action="store_true",
        help="plan only: list the systems (the /systems requests planning needs: one per "
        "1000 systems, or per 200 ids of --systems; counted in the output) and read --db if "
        "it exists, then print the windows to fetch, their requests and the time they take "
        "at the plan's rate (--plan; with --simulate, --sim-plan). Fetches no window, "
        "creates or changes no store",
    )

    st = sub.add_parser(
        "status",
        help="what the store holds per system and kind, and gaps",
        description="Show what a store holds: each system's last report (as the last backfill "
        "listed the systems), and per system and kind the windows, rows, first and last "
        "interval and the gaps. Reads the store only (never the API, never creating or "
        "changing the file); with --redis-url, also this month's requests of the key.",
        epilog=STATUS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    st.add_argument("--db", default=DEFAULT_DB, help=f"SQLite file (default: {DEFAULT_DB})")
    st.add_argument(
        "--json", action="store_true", help="print one JSON object (its shape is below)"
    )
    st.add_argument(
        "--redis-url",
        default=None,
        help="also show this month's requests used and left, from the shared ledger "
        "(default: $ENLIGHTEN_REDIS_URL; needs --key or $ENLIGHTEN_API_KEY)",
    )
    st.add_argument("--key", help=KEY_HELP)
    st.add_argument("--key-file", metavar="PATH", help=KEY_FILE_HELP)
    st.add_argument(
        "--plan",
        type=_quota_plan,
        default=None,
        help="the key's plan, for the month's requests left (default: as learned)",
    )

    _add_export_parsers(sub)

    from enlighten_async.simulator import cli as sim_cli

    sm = sub.add_parser(
        "simulate",
        help="serve the embedded simulator on loopback",
        description=sim_cli.DESCRIPTION,
        epilog=sim_cli.EPILOG,
    )
    sim_cli.add_arguments(sm)
    for command in sub.choices.values():
        # -v/-vv after the subcommand too: `enlighten-async backfill -v`. Its own dest, since
        # a subcommand's default would overwrite a count given before the subcommand.
        command.add_argument(
            "-v", "--verbose", action="count", default=0, dest="verbose_after", help=VERBOSE_HELP
        )
    return parser


EXPORT_EPILOG = """\
Dates are the system's local days, both included (a day runs from local midnight to
local midnight), in the zone the store recorded for it (UTC when it has no usable one).

exit status:
  0    written
  1    nothing in the range (an export still writes the header)
  2    usage error: bad option, no store at --db, a system the store does not hold,
       a missing extra (pandas/pyarrow, matplotlib), parquet to a terminal
  3    the store cannot be used (damaged, not a store)"""


def _add_export_parsers(sub: Any) -> None:
    """The ``export`` and ``plot`` subcommands (they read the store, never the API)."""
    from enlighten_async.store import COLUMNS

    ex = sub.add_parser(
        "export",
        help="write stored rows as CSV or parquet",
        description="Write the stored rows of one kind as CSV or gzipped CSV (no extra\n"
        "needed) or parquet (needs the 'parquet' extra), to --out or to stdout. The format\n"
        "is --out's extension (.csv, .csv.gz, .parquet) unless --format says otherwise.\n\n"
        "Every row: end_at in UTC, local_time (the wall clock of the system's zone, no\n"
        "offset), timezone and system_name; energy_lifetime has local dates, no local_time.",
        epilog=EXPORT_EPILOG.replace(
            "a missing extra", "an --out extension that names no format, a missing extra"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ex.add_argument("--db", default=DEFAULT_DB, help=f"SQLite file (default: {DEFAULT_DB})")
    ex.add_argument("--kind", choices=list(COLUMNS), default="stats", help="what to export (stats)")
    ex.add_argument("--systems", type=_systems, default=None, help="'all' (default) or ids: 67,78")
    ex.add_argument(
        "--since", type=_date_or_days, default=None, help="first local day (default: all)"
    )
    ex.add_argument(
        "--until", type=_date_or_days, default=None, help="last local day (default: all)"
    )
    ex.add_argument(
        "--format",
        choices=("csv", "csv.gz", "parquet"),
        default=None,
        help="overrides --out's extension (default: from the extension; csv to stdout)",
    )
    ex.add_argument(
        "--out",
        default=None,
        help="file to write (default: stdout; parquet and csv.gz go to stdout only when it "
        "is not a terminal)",
    )

    pl = sub.add_parser(
        "plot",
        help="draw a system's production (power and energy) into a PNG",
        description="Draw one system's stored production (stats): power (W) and energy\n"
        "per interval (Wh), and energy per local day (kWh) over more than 3 days; local\n"
        "time on the x axis, which covers the days asked for (up to now): missing\n"
        "intervals are gaps. Needs the 'plot' extra (matplotlib).",
        epilog=EXPORT_EPILOG.replace("an export still writes the header", "no file written"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pl.add_argument("--db", default=DEFAULT_DB, help=f"SQLite file (default: {DEFAULT_DB})")
    pl.add_argument("--system", type=_positive_int, required=True, help="system id")
    pl.add_argument(
        "--since", type=_date_or_days, default=None, help="first local day (default: all)"
    )
    pl.add_argument(
        "--until", type=_date_or_days, default=None, help="last local day (default: all)"
    )
    pl.add_argument("--out", required=True, help="PNG file to write")
    pl.add_argument("--width", type=_positive_int, default=1200, help="pixels (1200)")
    pl.add_argument("--height", type=_positive_int, default=700, help="pixels (700)")


def _credentials(args: argparse.Namespace) -> tuple[bool, str | None, str | None, str | None]:
    """``(simulate, key, user_id, base_url)`` from the options and the environment.

    The simulator is used with ``--simulate`` only. Without it, a missing key or user id
    is a usage error (also when nothing at all is given): a missing key must not quietly
    fill a store from the simulator.
    """
    key = _api_key(args)
    user_id = args.user_id or os.environ.get("ENLIGHTEN_USER_ID") or None
    base_url = args.base_url or os.environ.get("ENLIGHTEN_BASE_URL") or None
    if args.simulate:
        return True, None, None, None
    if not (key or user_id or base_url):
        # A cron job that lost its environment must fail loudly, not fill a store from
        # the simulator and exit 0.
        raise UsageError(
            "no API key or user id: set ENLIGHTEN_API_KEY and ENLIGHTEN_USER_ID "
            "(or --key and --user-id), or pass --simulate for the embedded simulator"
        )
    if not key:
        given = "a user id" if user_id else "a base URL"
        raise UsageError(
            f"{given} is given but no API key: set ENLIGHTEN_API_KEY (or --key), "
            "or use --simulate for the embedded simulator"
        )
    if not user_id:
        raise UsageError("a user id is needed: --user-id or ENLIGHTEN_USER_ID")
    if base_url is not None:
        # Checked here, before a Redis ledger or a store is opened: a malformed URL is a
        # usage error (exit 2), not a network failure to retry.
        try:
            url_arg(base_url)
        except ValueError as exc:
            name = "--base-url" if args.base_url else "ENLIGHTEN_BASE_URL"
            raise UsageError(f"{name}: {exc}") from None
    return False, key, user_id, base_url or DEFAULT_BASE_URL


@contextlib.asynccontextmanager
async def _target(args: argparse.Namespace) -> AsyncIterator[tuple[str, str, str, Clock | None]]:
    """Yield ``(base_url, key, user_id, clock)``: the simulator's, or the real service's."""
    simulate, key, user_id, base_url = _credentials(args)
    if simulate:
        from enlighten_async.simulator import Fleet, Plan, Simulator, SimulatorServer

        scale = args.time_scale or DEFAULT_SIM_TIME_SCALE
        clock = ScaledClock(scale, origin=args.sim_origin)
        simulator = Simulator(
            fleet=Fleet(args.sim_systems, seed=args.seed),
            plan=Plan.parse(args.sim_plan),
            clock=clock,
        )
        async with SimulatorServer(simulator) as server:
            print(
                f"Embedded simulator: {args.sim_systems} systems, plan {args.sim_plan}, "
                f"clock x{scale:g} (a simulated minute lasts {60 / scale:.2f}s)"
            )
            yield server.base_url, simulator.api_key, simulator.user_id, clock
        return
    assert key is not None and user_id is not None and base_url is not None
    # A standalone simulator with a compressed clock: keep time as it does (the client
    # learns the offset between the two clocks from the answers' Date headers).
    yield base_url, key, user_id, (ScaledClock(args.time_scale) if args.time_scale else None)


def _duration(seconds: float | None) -> str:
    """``H:MM:SS``, or ``?`` when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    whole = max(0, round(seconds))
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


@frozen
class _Figures:
    """What a progress line shows, from a :class:`Progress` and the time since start."""

    handled: int
    todo: int
    elapsed: float
    rate: float  # windows handled per second
    eta: float | None

    @classmethod
    def of(cls, p: Progress, elapsed: float) -> _Figures:
        todo = max(0, p.planned - p.skipped)
        handled = p.done + p.failed + p.stored_meanwhile
        rate = handled / elapsed if elapsed > 0 else 0.0
        eta = p.eta_seconds  # from the quota, when one is known
        if eta is None and rate > 0:
            eta = (todo - handled) / rate
        return cls(handled, todo, elapsed, rate, eta)


#: The plain printer's mark for "stdout's reader is gone".
_GONE = -100


def _stdout_to_devnull() -> None:
    """The reader of stdout went away (``... | head``): not an error. Point stdout at
    devnull so that later prints and the interpreter's final flush do not complain."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _progress_printer(mode: str) -> tuple[Callable[[Progress], None], Callable[[], None]]:
    """An ``on_progress`` callback and a stop function: ``rich``, ``plain`` or ``none``."""
    if mode == "none":
        return (lambda _p: None), (lambda: None)
    started = time.monotonic()
    try:
        if mode != "rich":
            raise ImportError("plain lines asked for")
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as RichProgress
        from rich.table import Column
        from rich.text import Text
    except ImportError:  # rich is optional: fall back to a line every 5%
        last = [-1]

        def plain(p: Progress) -> None:
            f = _Figures.of(p, time.monotonic() - started)
            if f.todo == 0:  # nothing to do: the summary says so, not "0% windows=0/0"
                return
            pct = int(100 * f.handled / f.todo)
            if pct // 5 != last[0] // 5 and last[0] != _GONE:
                last[0] = pct
                try:
                    print(
                        f"{pct:3d}% windows={f.handled}/{f.todo} requests={p.requests_sent} "
                        f"409s={p.conflicts} retries={p.retries} failed={p.failed} "
                        f"elapsed={_duration(f.elapsed)} windows/s={f.rate:.1f} "
                        f"eta={_duration(f.eta)}",
                        flush=True,
                    )
                except BrokenPipeError:  # `backfill | head`: the run goes on, unprinted
                    last[0] = _GONE
                    _stdout_to_devnull()

        return plain, (lambda: None)

    class Bar(RichProgress):
        """The bar on one line, the counters below it (wrapped, never cut)."""

        info = ""

        def get_renderables(self) -> Any:
            yield self.make_tasks_table(self.tasks)
            yield Text(self.info)

    # The bar shrinks first (down to 4 cells); the other columns are never cut, so the
    # line fits down to about 50 columns even with five-digit counts.
    fixed = Column(no_wrap=True)
    bar = Bar(
        TextColumn("[bold]backfill", table_column=fixed),
        BarColumn(bar_width=None),
        MofNCompleteColumn(table_column=fixed),
        TimeElapsedColumn(table_column=fixed),
        TextColumn("eta {task.fields[eta]}", table_column=fixed),
        expand=True,
        transient=False,
    )
    task_id: list[Any] = []

    def update(p: Progress) -> None:
        f = _Figures.of(p, time.monotonic() - started)
        if f.todo == 0 and not task_id:  # nothing to do: no empty bar
            return
        bar.info = (
            f"windows/s={f.rate:.1f}  requests={p.requests_sent}  409s={p.conflicts}  "
            f"retries={p.retries}  failed={p.failed}"
        )
        if not task_id:
            bar.start()
            task_id.append(bar.add_task("backfill", total=f.todo, eta=_duration(f.eta)))
        bar.update(task_id[0], completed=f.handled, total=f.todo, eta=_duration(f.eta))

    def stop() -> None:
        if task_id:
            bar.stop()

    return update, stop


#: How many failed windows the summary lists one by one.
SUMMARY_FAILURES = 50


def _print_summary(report: BackfillReport, db: str) -> None:
    if report.planned == report.skipped:
        print(
            f"Nothing to do: all {report.planned} planned windows are already in {db}"
            if report.planned
            else "Nothing to do: no window in the range (nothing has been reported there yet)"
        )
    print(
        f"Backfill summary: {report.planned} windows planned, {report.skipped} already stored, "
        f"{report.stored_meanwhile} stored by another run meanwhile, "
        f"{report.done} fetched, {report.failed} failed; {report.rows} rows written; "
        f"{report.requests_sent} requests, {report.conflicts} 409s, {report.retries} retries; "
        f"{report.elapsed_seconds:.1f}s. Store: {db}"
    )
    # Each failure once: here, not also as a WARNING log line (see _quiet_failures).
    for failure in report.failures[:SUMMARY_FAILURES]:
        print(f"  failed: {failure.item.describe()}: {failure.error}")
    if report.failed > SUMMARY_FAILURES:
        print(
            f"  ... and {report.failed - SUMMARY_FAILURES} more "
            "(-v logs each failure as it happens)"
        )


def _quiet_failures(record: logging.LogRecord) -> bool:
    """A logging filter: drop backfill's line per failed window (the summary lists them)."""
    return not getattr(record, FAILURE_LOG_MARK, False)


def _error(message: object) -> None:
    print(f"error: {message}", file=sys.stderr)


async def _backfill(args: argparse.Namespace) -> int:
    try:
        simulate = _credentials(args)[0]  # usage errors before anything starts
        _redis_url(args)
    except UsageError as exc:
        _error(exc)
        return EXIT_USAGE
    if args.db is None:
        args.db = DEFAULT_SIM_DB if simulate else DEFAULT_DB
    if args.dry_run:
        return await _dry_run(args, simulate)
    created = _absent(args.db)
    status = await _run_backfill(args, simulate)
    if created and status != EXIT_OK:
        await _remove_if_empty(args.db)
    return status


def _absent(path: str) -> bool:
    # a stat before the loop does any work: no need for a thread
    return not os.path.lexists(path)


async def _remove_if_empty(db: str) -> None:
    """Remove a store this run created and that holds nothing (the run failed first).

    Another backfill that opened the same new file in the same moment and has written
    nothing yet would lose it; two runs racing to create one store is rare enough.
    """
    try:
        async with SQLiteStore(db) as store:
            if await store.status():
                return
    except StoreError:
        return  # not ours to judge: leave it
    for path in (db, f"{db}-wal", f"{db}-shm", f"{db}-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


async def _run_backfill(args: argparse.Namespace, simulate: bool) -> int:
    # None: backfill's default, 7 days before each system's local today by the client's
    # clock (the simulator's, when simulating: its fleet reports up to its "now").
    since = args.since
    async with _target(args) as (base_url, key, user_id, clock):
        made = await _client(args, base_url, key, user_id, clock)
        if isinstance(made, int):
            return made
        client, ledger = made
        mode = "none" if args.no_progress else ("rich" if sys.stdout.isatty() else "plain")
        update, stop = _progress_printer(mode)
        task: asyncio.Future[BackfillReport] | None = None

        def on_progress(p: Progress) -> None:
            # The shared ledger lost: stop (a worker going on alone would overrun the
            # quota its peers share); what is stored stays, and a rerun resumes.
            if ledger is not None and ledger.lost is not None and task is not None:
                task.cancel()
            update(p)

        if simulate:
            source = StoreSource.simulated(seed=args.seed, systems=args.sim_systems)
        else:
            source = StoreSource.service(base_url, user_id)
        try:
            async with client, SQLiteStore(args.db, source=source) as store:
                task = asyncio.ensure_future(
                    backfill(
                        client,
                        store,
                        args.systems,
                        args.kinds,
                        since,
                        args.until,
                        on_progress=on_progress,
                        shard=args.shard,
                        claim_lease=args.claim_lease,
                    )
                )
                terminated = _on_sigterm(task)
                try:
                    report = await task
                except asyncio.CancelledError:
                    stop()
                    if ledger is not None and ledger.lost is not None:
                        _error(
                            f"{ledger.lost}; stopped. The windows fetched so far are kept in "
                            f"{args.db}; run the same command again to fetch only the rest."
                        )
                        return EXIT_CANNOT_RUN
                    print(
                        f"\n{'Terminated' if terminated else 'Interrupted'}. The windows "
                        f"fetched so far are kept in {args.db}; run the same command again "
                        "to fetch only the rest.",
                        flush=True,
                    )
                    return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
                finally:
                    _on_sigterm(None)
                    stop()
        except (StoreError, EnlightenError, ValueError) as exc:
            return _run_failed(exc)
        finally:
            if ledger is not None:
                with contextlib.suppress(Exception):
                    await ledger.aclose()
    if ledger is not None and ledger.lost is not None:
        _error(f"{ledger.lost}; run the same command again to fetch the windows that failed")
        _print_summary(report, args.db)
        return EXIT_CANNOT_RUN
    _print_summary(report, args.db)
    return EXIT_OK if report.failed == 0 else EXIT_FAILED_WINDOWS


def _run_failed(exc: StoreError | EnlightenError | ValueError) -> int:
    """Say why a backfill (or its dry run) could not run, in one line; its exit status."""
    if isinstance(exc, StoreSourceError):  # the store holds another source's data
        _error(f"{exc} (--db)")
        return EXIT_USAGE
    _error(exc)
    if isinstance(exc, (StoreError, EnlightenError)):
        # The store cannot be used (the message names the file); auth, connection, an API
        # error while planning or listing.
        return EXIT_CANNOT_RUN
    return EXIT_USAGE  # since after until, unknown system ids


class _Terminated:
    """Whether SIGTERM stopped the run (true once it came)."""

    came = False

    def __bool__(self) -> bool:
        return self.came


def _on_sigterm(task: asyncio.Future[Any] | None) -> _Terminated:
    """Cancel ``task`` on SIGTERM, as Ctrl-C cancels it (``None``: SIGTERM's default again).

    A process manager's stop (``kill``, systemd, ``docker stop``) then ends the run the same
    way: the windows stored so far are kept, and the command says how to resume.
    """
    loop = asyncio.get_running_loop()
    terminated = _Terminated()
    with contextlib.suppress(NotImplementedError, RuntimeError):  # no signals here
        if task is None:
            loop.remove_signal_handler(signal.SIGTERM)
        else:

            def stop() -> None:
                terminated.came = True
                task.cancel()

            loop.add_signal_handler(signal.SIGTERM, stop)
    return terminated


async def _client(
    args: argparse.Namespace, base_url: str, key: str, user_id: str, clock: Clock | None
) -> tuple[EnlightenClient, Any] | int:
    """The backfill's client and its shared ledger (``None`` without ``--redis-url``); or
    the exit status, the error shown."""
    ledger: Any = None
    try:
        redis_url = _redis_url(args)
        if redis_url is not None:
            ledger = await _redis_ledger(*redis_url, key, args.plan)
            scheduler_kwargs: dict[str, Any] = {"ledger": ledger, "clock": clock}
            if args.max_in_flight is not None:
                scheduler_kwargs["max_in_flight"] = args.max_in_flight
            client = EnlightenClient(
                key, user_id, base_url=base_url, scheduler=Scheduler(**scheduler_kwargs)
            )
        else:
            client = EnlightenClient(
                key,
                user_id,
                base_url=base_url,
                plan=args.plan,
                clock=clock,
                max_in_flight=args.max_in_flight,
            )
    except (ValueError, UsageError) as exc:
        _error(exc)
        return EXIT_USAGE
    except EnlightenError as exc:  # Redis unreachable at start
        _error(exc)
        return EXIT_CANNOT_RUN
    return client, ledger


async def _dry_run(args: argparse.Namespace, simulate: bool) -> int:
    """``backfill --dry-run``: what a backfill would fetch, and how long it would take."""
    async with _target(args) as (base_url, key, user_id, clock):
        made = await _client(args, base_url, key, user_id, clock)
        if isinstance(made, int):
            return made
        client, ledger = made
        store: SQLiteStore | None = None
        try:
            if not _absent(args.db):  # read what is done; a missing store is not created
                store = SQLiteStore(args.db, read_only=True)
                await store.open()
            async with client:
                plan = await plan_backfill(
                    client,
                    store,
                    args.systems,
                    args.kinds,
                    args.since,
                    args.until,
                    shard=args.shard,
                )
        except (StoreError, EnlightenError, ValueError) as exc:
            return _run_failed(exc)
        finally:
            if store is not None:
                await store.close()
            if ledger is not None:
                with contextlib.suppress(Exception):
                    await ledger.aclose()
        if args.plan is not None:
            limits: tuple[Quota, ...] | None = resolve_plan(args.plan)
            plan_name = args.plan if isinstance(args.plan, str) else "--plan"
        elif simulate:
            from enlighten_async.simulator import Plan

            limits, plan_name = Plan.parse(args.sim_plan).limits, args.sim_plan
        else:
            limits, plan_name = None, ""
        scale = clock.scale if clock is not None else 1.0
    for line in _plan_lines(plan, args.db, limits, plan_name, scale):
        print(line)
    return EXIT_OK


def _plan_lines(
    plan: BackfillPlan,
    db: str,
    limits: tuple[Quota, ...] | None,
    plan_name: str,
    scale: float,
) -> list[str]:
    """What ``backfill --dry-run`` prints."""
    listing = plan.requests_sent
    lines = [
        f"Dry run: no window fetched, no store written. Planning sent {listing} "
        f"request{'s' if listing != 1 else ''} (/systems: each system's zone and dates)."
    ]
    groups: dict[tuple[int, str], list[Any]] = {}
    for item in plan.windows:
        groups.setdefault((item.system_id, item.kind), []).append(item)
    if groups:
        lines.append(
            f"{'system':>8} {'kind':<18} {'windows':>7}  {'first start (UTC)':<17}  last end (UTC)"
        )
    fmt = "%Y-%m-%d %H:%M"
    for (system_id, kind), items in groups.items():
        first = datetime.fromtimestamp(min(i.start_at for i in items), UTC).strftime(fmt)
        last = datetime.fromtimestamp(max(i.end_at for i in items), UTC).strftime(fmt)
        lines.append(f"{system_id:>8} {kind:<18} {len(items):>7}  {first:<17}  {last}")
    todo = len(plan.windows)
    lines.append(
        f"Would fetch {todo} windows of {plan.systems} systems with {todo} requests "
        f"({plan.skipped} of {plan.planned} planned are already in {db})."
        if todo
        else f"Nothing to do: all {plan.planned} planned windows are already in {db}."
    )
    if not todo:
        return lines
    total = todo + listing
    if limits is None:
        lines.append(
            "Time: unknown without --plan (a backfill learns the quota from its first 409)."
        )
        return lines
    seconds, beyond = _quota_seconds(total, limits)
    text = f"Time at plan {plan_name} ({', '.join(map(str, limits)) or 'unlimited'}): "
    if not limits:
        text += "no quota wait"
    else:
        text += f"about {_duration(seconds)} of quota windows for {total} requests"
        if scale != 1.0:
            text += f" ({seconds / scale:.1f}s of real time at the clock x{scale:g})"
    lines.append(text + (f"; {beyond}" if beyond else "") + ".")
    return lines


def _quota_seconds(requests: int, limits: Sequence[Quota]) -> tuple[float, str]:
    """How long ``requests`` take at ``limits`` (fixed windows: the last window's
    requests go out when it opens), and what a month limit leaves for next month."""
    seconds = 0.0
    beyond = ""
    for quota in limits:
        if quota.seconds is None:  # the month: no fixed length
            if requests > quota.limit:
                beyond = (
                    f"{requests - quota.limit} requests more than the month's {quota.limit} "
                    "wait for the next month"
                )
            continue
        seconds = max(seconds, (requests - 1) // quota.limit * quota.seconds)
    return seconds, beyond


async def _redis_ledger(url: str, name: str, key: str, plan: str | tuple[Quota, ...] | None) -> Any:
    """A :class:`RedisLedger` that answered a ping; :class:`UsageError` for a URL it
    cannot read (``name`` the option or variable it came from), :class:`EnlightenError`
    for a Redis that does not answer."""
    try:
        from enlighten_async.core.redis_ledger import RedisLedger
    except ImportError:  # pragma: no cover - the extra is missing
        raise EnlightenError("--redis-url needs: pip install 'enlighten-async[redis]'") from None
    try:
        ledger = RedisLedger(url, key, plan=plan)
    except ValueError as exc:  # a malformed URL: the message shows it without secrets
        raise UsageError(f"{name}: {exc}") from None
    try:
        await ledger.ping()
    except EnlightenError:
        await ledger.aclose()
        raise
    return ledger


async def _redis_quota(args: argparse.Namespace) -> dict[str, Any] | int:
    """This month's requests used and left, from the shared ledger; or the exit status
    (the error shown)."""
    try:
        redis_url = _redis_url(args)
        key = _api_key(args)
    except UsageError as exc:
        _error(exc)
        return EXIT_USAGE
    assert redis_url is not None  # status asks only when one is given
    if not key:
        _error(
            "status --redis-url needs the API key: --key-file, --key, ENLIGHTEN_API_KEY "
            "or ENLIGHTEN_API_KEY_FILE"
        )
        return EXIT_USAGE
    try:
        ledger = await _redis_ledger(*redis_url, key, args.plan)
        try:
            await ledger.refresh()
            # The ledger counts the real service's month: the wall clock is the service's.
            used = await ledger.month_usage(datetime.now(UTC).timestamp())
        finally:
            await ledger.aclose()
    except UsageError as exc:
        _error(exc)
        return EXIT_USAGE
    except EnlightenError as exc:
        _error(exc)
        return EXIT_CANNOT_RUN
    quota = ledger.learned_month_limit()
    limit = None if quota is None else int(quota.limit)
    return {
        "namespace": ledger.namespace.rsplit(":", 1)[-1][:8],
        "month": datetime.now(UTC).strftime("%Y-%m"),
        "used": int(used),
        "limit": limit,
        "left": None if limit is None else max(0, limit - used),
    }


def _z(moment: datetime | None) -> str | None:
    """An instant in ISO 8601 UTC, ``2026-12-04T09:06:00Z``."""
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _status_document(
    db: str, rows: Sequence[Any], systems: dict[int, Any], quota: dict[str, Any] | None
) -> dict[str, Any]:
    """What ``status`` shows, as the object ``--json`` prints (documented in its help)."""
    by_system: dict[int, list[Any]] = {}
    for r in rows:
        by_system.setdefault(r.system_id, []).append(r)
    shown = []
    for system_id in sorted(by_system.keys() | systems.keys()):
        listed = systems.get(system_id)
        report = None if listed is None else listed.last_report_at
        listed_at = None if listed is None else listed.updated_at
        stopped = (
            report is not None
            and listed_at is not None
            and (listed_at - report).total_seconds() > STOPPED_REPORTING_SECONDS
        )
        kinds = []
        for r in by_system.get(system_id, []):
            gaps = [{"start": _z(a), "end": _z(b), "why": "not fetched"} for a, b in r.gaps]
            if stopped:
                gaps.append({"start": _z(report), "end": _z(listed_at), "why": "no reports"})
            kinds.append(
                {
                    "kind": r.kind,
                    "ranges": r.ranges,
                    "rows": r.rows,
                    "first_end_at": _z(r.first_end_at),
                    "last_end_at": _z(r.last_end_at),
                    "gaps": gaps,
                }
            )
        shown.append(
            {
                "system_id": system_id,
                "name": None if listed is None else listed.name,
                "timezone": None if listed is None else listed.timezone,
                "status": None if listed is None else listed.status,
                "last_report_at": _z(report),
                "listed_at": _z(listed_at),
                "stopped_reporting": stopped,
                "kinds": kinds,
            }
        )
    return {"store": db, "times": "UTC", "quota": quota, "systems": shown}


def _since(seconds: float) -> str:
    """``3d 07:53``: days, hours and minutes."""
    minutes = int(seconds // 60)
    days, minutes = divmod(minutes, 24 * 60)
    return f"{days}d {minutes // 60:02d}:{minutes % 60:02d}"


def _status_lines(doc: dict[str, Any]) -> list[str]:
    """``status`` for people: the quota, the systems, then each system's kinds; UTC."""

    def hm(z: str | None) -> str:  # "2026-12-04T09:06:00Z" -> "2026-12-04 09:06"
        return "-" if z is None else z[:16].replace("T", " ")

    lines = []
    quota = doc["quota"]
    if quota is not None:
        left = (
            "left unknown: no month limit was told (--plan) or learned"
            if quota["limit"] is None
            else f"{quota['left']} left of {quota['limit']}"
        )
        lines.append(
            f"Shared quota {quota['namespace']}..., month {quota['month']}: "
            f"{quota['used']} requests used, {left}"
        )
    systems = doc["systems"]
    if not any(system["kinds"] for system in systems):
        lines.append(f"{doc['store']} holds nothing yet")
        return lines
    lines.append(f"Store {doc['store']}; all times UTC.")
    listed = [s for s in systems if s["listed_at"] is not None]
    if listed:
        at = max(s["listed_at"] for s in listed)
        lines.append(f"Systems as the last backfill listed them ({hm(at)} UTC):")
        lines.append(f"{'system':>8}  {'name':<20} {'zone':<22} {'status':<12} last report (UTC)")
        for s in listed:
            note = ""
            if s["stopped_reporting"]:
                report = datetime.fromisoformat(s["last_report_at"].replace("Z", "+00:00"))
                then = datetime.fromisoformat(s["listed_at"].replace("Z", "+00:00"))
                note = f"  stopped reporting: none for {_since((then - report).total_seconds())}"
            lines.append(
                f"{s['system_id']:>8}  {(s['name'] or '-')[:20]:<20} "
                f"{(s['timezone'] or '-')[:22]:<22} {(s['status'] or '-')[:12]:<12} "
                f"{hm(s['last_report_at'])}{note}"
            )
    lines.append(
        f"{'system':>8} {'kind':<18} {'windows':>7} {'rows':>8}  "
        f"{'first end (UTC)':<17} {'last end (UTC)':<17} gaps (UTC)"
    )
    for s in systems:
        for k in s["kinds"]:
            gaps = [
                f"{hm(g['start'])}..{hm(g['end'])}"
                + (" (no reports)" if g["why"] == "no reports" else "")
                for g in k["gaps"]
            ]
            text = ", ".join(gaps[:3]) or "none"
            if len(gaps) > 3:
                text += f" (+{len(gaps) - 3} more)"
            lines.append(
                f"{s['system_id']:>8} {k['kind']:<18} {k['ranges']:>7} {k['rows']:>8}  "
                f"{hm(k['first_end_at']):<17} {hm(k['last_end_at']):<17} {text}"
            )
    return lines


async def _status(args: argparse.Namespace) -> int:
    quota: dict[str, Any] | None = None
    if args.redis_url or os.environ.get("ENLIGHTEN_REDIS_URL"):
        found = await _redis_quota(args)
        if isinstance(found, int):
            return found
        quota = found
    try:
        async with SQLiteStore(args.db, read_only=True) as store:  # never creates the file
            rows = await store.status()
            systems = await store.systems()
    except StoreError as exc:
        _error(exc)
        return EXIT_CANNOT_RUN
    doc = _status_document(args.db, rows, systems, quota)
    if args.json:
        import json

        lines = [json.dumps(doc, indent=2)]
    else:
        lines = _status_lines(doc)
    try:
        for line in lines:
            print(line)
        sys.stdout.flush()
    except BrokenPipeError:  # ``enlighten-async status | head``
        _stdout_to_devnull()
    return 0


async def _open_for_reading(args: argparse.Namespace) -> tuple[SQLiteStore | None, int]:
    """The store at ``--db``, open; or ``None`` and the exit status, the error shown
    (also when ``--out`` would overwrite the store)."""
    if _overwrites_store(args):
        return None, EXIT_USAGE
    if _absent(args.db):
        _error(f"no store at {args.db}")
        return None, EXIT_USAGE
    store = SQLiteStore(args.db, read_only=True)  # reading commands never write the store
    try:
        await store.open()
    except StoreError as exc:
        _error(exc)
        return None, EXIT_CANNOT_RUN
    return store, EXIT_OK


async def _export(args: argparse.Namespace) -> int:
    from enlighten_async import export

    if _reversed(args.since, args.until):
        _error(f"--since {_day_text(args.since)} is after --until {_day_text(args.until)}")
        return EXIT_USAGE
    if _overwrites_store(args):  # said before a complaint about the store's extension
        return EXIT_USAGE
    args.format = _export_format(args)
    if args.format is None:
        return EXIT_USAGE
    if args.format == "parquet":
        try:
            export._pyarrow()
        except ImportError as exc:
            _error(exc)
            return EXIT_USAGE
    if args.format != "csv" and args.out is None and sys.stdout.isatty():
        _error(f"{args.format} is binary: give --out FILE, or redirect stdout")
        return EXIT_USAGE
    store, status = await _open_for_reading(args)
    if store is None:
        return status
    try:
        systems = await export.local_systems(store, args.systems)
        count = await _write_export(store, systems, args)
    except (ValueError, StoreError, OSError) as exc:
        return _reading_failed(exc, args, "exported")
    finally:
        await store.close()
    if count == 0:
        _error(f"no {args.kind} rows in {args.db} for {_span(args)} (wrote the header only)")
        return EXIT_FAILED_WINDOWS
    return EXIT_OK


def _export_format(args: argparse.Namespace) -> str | None:
    """``--format``, else the one ``--out``'s extension names (stdout: CSV); ``None``
    (said) for an extension that names none."""
    from enlighten_async import export

    # a folder cannot be written whatever its name: said later, as for any such --out
    if args.format is not None or args.out is None or os.path.isdir(args.out):
        return str(args.format or "csv")
    try:
        return export.format_for(args.out)
    except ValueError:
        known = ", ".join(export.FORMATS)
        _error(f"--out {args.out}: unknown extension (expected {known}); or give --format")
        return None


def _reading_failed(exc: Exception, args: argparse.Namespace, done: str) -> int:
    """What ``export`` and ``plot`` say (one line) and exit with when reading the store or
    writing ``--out`` failed."""
    from enlighten_async import export

    if isinstance(exc, export.UnknownSystemError):
        _error(exc)
        return EXIT_USAGE
    if isinstance(exc, ValueError):  # the range is reversed in a system's local time
        _error(f"{exc}, in the local time of a system: nothing {done}")
        return EXIT_USAGE
    if isinstance(exc, StoreError):
        _error(exc)
        return EXIT_CANNOT_RUN
    # an OSError: --out cannot be written
    _error(f"cannot write {args.out}: {getattr(exc, 'strerror', None) or exc}")
    return EXIT_CANNOT_RUN


def _overwrites_store(args: argparse.Namespace) -> bool:
    """``--out`` names the store or one of SQLite's files beside it: refuse (said)."""
    if args.out is None:
        return False
    out = os.path.realpath(args.out)
    db = os.path.realpath(args.db)
    if out in {db, f"{db}-wal", f"{db}-shm", f"{db}-journal"}:
        _error(f"--out {args.out} would overwrite the store {args.db}")
        return True
    return False


def _day_text(value: date | timedelta) -> str:
    return f"{value.days}d" if isinstance(value, timedelta) else value.isoformat()


def _reversed(since: date | timedelta | None, until: date | timedelta | None) -> bool:
    """``--since`` after ``--until`` (a count of days read from today's UTC date here: the
    per-system local reading differs by a day at most, and finds nothing to show)."""
    if since is None or until is None:
        return False
    today = datetime.now(UTC).date()
    first = today - since if isinstance(since, timedelta) else since
    last = today - until if isinstance(until, timedelta) else until
    return first > last


def _span(args: argparse.Namespace) -> str:
    since = _day_text(args.since) if args.since is not None else "the first day"
    until = _day_text(args.until) if args.until is not None else "the last day"
    return f"{since} to {until}"


async def _write_export(store: SQLiteStore, systems: Any, args: argparse.Namespace) -> int:
    """Write the export to ``--out`` (whole or not at all) or stdout; the row count."""
    import io

    from enlighten_async import export

    kw = {"since": args.since, "until": args.until}
    if args.out is None and args.format == "csv":
        try:
            count = await export.write_csv(store, args.kind, systems, sys.stdout, **kw)
            sys.stdout.flush()
        except BrokenPipeError:  # ``export | head``: not an error
            _stdout_to_devnull()
            return 1
        return count
    binary = export.write_csv_gz if args.format == "csv.gz" else export.write_parquet
    if args.out is None:  # parquet or csv.gz to a pipe or a file
        buffer = io.BytesIO()
        count = await binary(store, args.kind, systems, buffer, **kw)
        sys.stdout.buffer.write(buffer.getvalue())
        sys.stdout.flush()
        return count
    # A temporary file renamed at the end: an interrupted export leaves no half file.
    fd, tmp = _temp_beside(args.out)
    try:
        if args.format == "csv":
            # the CLI's one job at this point: writing on the loop's thread is fine
            with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
                count = await export.write_csv(store, args.kind, systems, f, **kw)
        else:
            os.close(fd)
            count = await binary(store, args.kind, systems, tmp, **kw)
        os.replace(tmp, args.out)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    return count


def _temp_beside(path: str) -> tuple[int, str]:
    """A new temporary file in ``path``'s folder (so that a rename replaces ``path``)."""
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=".export-", dir=os.path.dirname(os.path.abspath(path)))
    # mkstemp makes it private (0600); the export gets the mode a new file would get
    umask = os.umask(0o22)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return fd, tmp


async def _plot(args: argparse.Namespace) -> int:
    from enlighten_async import export, plot

    if _reversed(args.since, args.until):
        _error(f"--since {_day_text(args.since)} is after --until {_day_text(args.until)}")
        return EXIT_USAGE
    try:
        plot._matplotlib()
    except ImportError as exc:
        _error(exc)
        return EXIT_USAGE
    store, status = await _open_for_reading(args)
    if store is None:
        return status
    try:
        (system,) = await export.local_systems(store, [args.system])
        count = await plot.plot_production(
            store,
            system,
            args.out,
            since=args.since,
            until=args.until,
            width=args.width,
            height=args.height,
        )
    except plot.EmptyRangeError as exc:
        _error(f"{exc} in {args.db}; nothing drawn")
        return EXIT_FAILED_WINDOWS
    except (ValueError, StoreError, OSError) as exc:
        return _reading_failed(exc, args, "drawn")
    finally:
        await store.close()
    print(f"Drew {count} intervals of system {args.system} into {args.out}")
    return EXIT_OK


@contextlib.contextmanager
def _logging(verbosity: int) -> Iterator[None]:
    """``-v``: INFO, ``-vv``: DEBUG for the ``enlighten_async`` loggers, to stderr.

    Other libraries' loggers (aiohttp, asyncio) stay at WARNING. The level is put back on
    the way out, so that ``main()`` called in-process leaves logging as it found it.
    """
    logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT)
    if verbosity <= 0:
        # The summary lists the failed windows: without -v, not a WARNING line each too.
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


def _status_without_store(args: argparse.Namespace) -> int:
    hint = ""
    if args.db == DEFAULT_DB and os.path.exists(DEFAULT_SIM_DB):
        hint = f" (the simulator's store is {DEFAULT_SIM_DB}: --db {DEFAULT_SIM_DB})"
    _error(f"no store at {args.db}{hint}")
    return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # `enlighten-async` alone: the help, as a usage error
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    verbosity = args.verbose + getattr(args, "verbose_after", 0)
    if args.command == "simulate":
        # The simulator configures logging itself, from its own --log-level (or -v).
        from enlighten_async.simulator import cli as sim_cli

        if verbosity:
            args.log_level = "INFO" if verbosity == 1 else "DEBUG"
        return sim_cli.run(args)
    with _logging(verbosity), _clean_warnings():
        return _main(args)


def _main(args: argparse.Namespace) -> int:
    # No store: exit 2 before anything else (with --redis-url too), and none is created.
    if args.command == "status" and not os.path.exists(args.db):
        return _status_without_store(args)
    runners = {"backfill": _backfill, "export": _export, "plot": _plot}
    runner = runners.get(args.command, _status)
    try:
        return asyncio.run(runner(args))
    except KeyboardInterrupt:
        # asyncio.run cancelled the backfill task, which printed how to resume.
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
