"""The argument parser of ``enlighten-async``: its commands, their options, the options'
types and the help texts (each command's exit statuses are in its ``--help``)."""

from __future__ import annotations

import argparse
import math
from datetime import date, timedelta
from typing import Any

from enlighten_async import __version__
from enlighten_async.backfill import CLAIM_LEASE
from enlighten_async.core.quota import PLANS, Quota, resolve_plan
from enlighten_async.v4.plans import PLANS as V4_PLANS

__all__ = [
    "DEFAULT_DB",
    "DEFAULT_SIM_DB",
    "DEFAULT_SIM_TIME_SCALE",
    "DEFAULT_SIM_V4_DB",
    "STOPPED_REPORTING_SECONDS",
    "build_parser",
    "version_kinds",
]

#: How much faster the embedded simulator's clock runs in ``backfill --simulate``.
DEFAULT_SIM_TIME_SCALE = 600.0
#: The store of a run against the service, and the embedded simulator's: a different
#: file, so that synthetic data never passes for a real fleet's.
DEFAULT_DB = "enlighten.db"
DEFAULT_SIM_DB = "enlighten-sim.db"
#: The v4 simulator's store: never the v2 demo's (a store holds one API version's data).
DEFAULT_SIM_V4_DB = "enlighten-sim-v4.db"
#: The API versions ``backfill --api`` takes.
API_VERSIONS = ("v2", "v4")


BACKFILL_EPILOG = """\
exit status:
  0    every planned span is in the store
  1    some spans failed (listed in the summary; run again to retry them)
  2    usage error (bad option, missing key or user id, a malformed URL or key file,
       a store of another source)
  3    could not run: authentication or connection failure, API error while planning,
       a store that cannot be used (damaged, not a database, locked, not writable)
  4    stopped cleanly, to go on later: the month's quota is spent (less the reserve
       kept for interactive calls; run again from the next month's start, UTC) or
       --budget requests were sent (run again); the spans fetched so far are kept
  130  interrupted (Ctrl-C); the spans fetched so far are kept
  143  stopped by SIGTERM (kill, systemd, docker stop), the same way as Ctrl-C

Without --simulate, the key (--key or --key-file; else ENLIGHTEN_API_KEY or
ENLIGHTEN_API_KEY_FILE) is needed, and for API v2 --user-id/ENLIGHTEN_USER_ID (a
missing one is exit 2; the simulator is never used unless asked).

API v4 (--api v4; also chosen when ENLIGHTEN_CLIENT_ID is set and no user id is): the
application's client id (--client-id or ENLIGHTEN_CLIENT_ID) and secret
(ENLIGHTEN_CLIENT_SECRET, --client-secret-file or ENLIGHTEN_CLIENT_SECRET_FILE), and
the token sets of the owners who authorized it ('enlighten-async auth login'), in
--token-dir or, with --redis-url/ENLIGHTEN_REDIS_URL, in that Redis. Every logged-in
owner's systems are fetched (or --systems), on one quota: --plan or ENLIGHTEN_PLAN
(watt, kilowatt, megawatt, partner; default watt), of which background requests leave
the last 50 of the month to interactive calls.

A store records its source (API version; base URL and a hash of the user id, or of
the v4 application's client id; or the simulator's version, seed and fleet size) and
refuses another one, a v2 store a v4 run too (start another: --db another.db); the
simulator's default store is enlighten-sim.db, and enlighten-sim-v4.db with --api v4.

The month's requests are counted in the store's file (without --redis-url): runs one
after another in a month see one month's budget, and `status` shows it."""


#: A system whose last report is this long before the backfill listed it has stopped
#: reporting: ``status`` shows the time since as a gap. (Envoys report every 15 minutes,
#: some on metered links every few hours.)
STOPPED_REPORTING_SECONDS = 6 * 3600

STATUS_EPILOG = f"""\
Times are UTC (marked "UTC"; "Z" in --json); the zone beside each system is its own.
A system stopped reporting when its last report came more than
{STOPPED_REPORTING_SECONDS // 3600} hours before the last backfill listed the systems
(by the client's clock): it is listed as "stopped since" its last report (UTC), and each
of its kinds shows a gap "(no reports)" from the last report to that listing, not zeros.
Other gaps are ranges never fetched. Alike for v2 and v4 stores.

--json prints one object:
  {{"store": "enlighten.db", "times": "UTC",
   "source": null | {{"api": "v2" | "v4", "from": "https://api.enphaseenergy.com/api/v2"}},
   "quota": null | {{"namespace": "1a2b3c4d", "month": "2026-12", "used": 211,
                    "limit": 10000 | null, "left": 9789 | null,
                    "reserve": 50 | null, "turns_at": "2027-01-01T00:00:00Z",
                    "source": "store" | "redis"}},
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
"quota" is this month's requests of the API key (UTC months, as the service counts
them): from --redis-url, or else as the store's file counted them (a backfill without
--redis-url counts there); null when neither has a count. "reserve" is the part of the
limit kept for interactive calls (a backfill stops short of it).

exit status:
  0    shown (also a store that holds nothing yet)
  2    usage error: no store at --db (none is created; also with --redis-url),
       --redis-url without the API key, a malformed --redis-url or key file
  3    the store cannot be used (damaged, not a store), or Redis cannot be reached"""


VERBOSE_HELP = "log to stderr: -v INFO, -vv DEBUG (before or after the command)"

KEY_HELP = (
    "API key (default: $ENLIGHTEN_API_KEY); never echoed, but any local user can read a "
    "command line: prefer --key-file or the environment"
)
KEY_FILE_HELP = (
    "read the API key from this file (default: $ENLIGHTEN_API_KEY_FILE): its one line, "
    "without the newline"
)
#: More than a key could be: a wrong file (a log, a binary) is refused unread.


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
    """``--plan``: a plan name (kept as the name, which the scheduler and ``status`` show),
    or quotas like ``10/minute,10000/month``; checked by
    :func:`~enlighten_async.core.quota.resolve_plan`, the one place that reads plans.
    A name of API v4's plans only (``partner``) is kept as the name too: ``backfill``
    reads it in the table of the version it runs."""
    if text.strip().lower() in V4_PLANS and text.strip().lower() not in PLANS:
        return text.strip().lower()
    try:
        quotas = resolve_plan(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    name = text.strip().lower()
    if name in PLANS:
        return name
    assert quotas is not None  # text is never None
    return quotas


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
    """``--sim-plan``: a plan of either version's table (``partner`` is v4's), or quotas."""
    from enlighten_async.simulator import Plan

    if text.strip().lower() in V4_PLANS:
        return text
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
    """``--kinds``: a comma list of registered kinds (``backfill`` then checks that they are
    kinds of the API version it runs)."""
    from enlighten_async.kinds import KINDS

    kinds = [k.strip() for k in text.split(",") if k.strip()]
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise argparse.ArgumentTypeError(f"kinds are a comma list of {', '.join(KINDS)}")
    return kinds


def version_kinds(api: str) -> tuple[str, ...]:
    """The kinds of API version ``api``, in the order a backfill fetches them."""
    from enlighten_async.kinds import kinds_of

    return kinds_of(api)


def _kinds_help() -> str:
    """``--kinds``'s help: each version's kinds (the default: all of the version's)."""
    lists = "; ".join(f"{api}: {', '.join(version_kinds(api))}" for api in API_VERSIONS)
    return f"a comma list of the API version's kinds (default: all of them). {lists}"


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
        description="Asyncio client for the Enphase Enlighten APIs: the Monitoring API v4 "
        "and the retired Systems API v2.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help=VERBOSE_HELP)
    # Not required=True: with no command, main() prints the whole help (not only argparse's
    # one-line "required" error) and exits 2.
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (_add_backfill, _add_status, _add_export, _add_plot, _add_simulate, _add_auth):
        add(sub)
    for command in sub.choices.values():
        # -v/-vv after the subcommand too: `enlighten-async backfill -v`. Its own dest, since
        # a subcommand's default would overwrite a count given before the subcommand.
        command.add_argument(
            "-v", "--verbose", action="count", default=0, dest="verbose_after", help=VERBOSE_HELP
        )
    return parser


AUTH_DESCRIPTION = (
    "OAuth 2.0 for the v4 Monitoring API: log a system owner in, show the stored\n"
    "token sets, refresh one now. Tokens are kept in a token store (files in --token-dir,\n"
    "or Redis), one set per principal (the owner's enl_uid); nothing printed holds a token,\n"
    "a code or the client secret."
)

AUTH_EPILOG = """\
The application's credentials: --client-id or ENLIGHTEN_CLIENT_ID; the client secret
in ENLIGHTEN_CLIENT_SECRET, or in a file (--client-secret-file or
ENLIGHTEN_CLIENT_SECRET_FILE), never on the command line. The OAuth server: --oauth-url
or ENLIGHTEN_OAUTH_URL (its root), else the root of ENLIGHTEN_TOKEN_URL or
ENLIGHTEN_AUTHORIZE_URL as 'enlighten-async simulate --api v4' prints them
(set -a; . ./sim.env; set +a), else Enphase's.

exit status:
  0    done
  2    usage error: no client id or secret, a malformed URL or secret file, a pasted
       line without a code or with another state, no principal logged in
  3    could not run: the token endpoint refused the client or the grant (the owner
       must authorize again: the line says where), no answer, the token store or
       Redis cannot be used, no redirect came to --listen in time
  130  interrupted (Ctrl-C)"""


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, got {value}")
    return value


def _auth_common(parser: argparse.ArgumentParser) -> None:
    """The options every ``auth`` command takes: the application and the token store."""
    parser.add_argument(
        "--client-id", help="the application's OAuth client id (default: $ENLIGHTEN_CLIENT_ID)"
    )
    parser.add_argument(
        "--client-secret-file",
        metavar="PATH",
        help="read the client secret from this file (default: $ENLIGHTEN_CLIENT_SECRET, "
        "or $ENLIGHTEN_CLIENT_SECRET_FILE); there is no option for the secret itself",
    )
    parser.add_argument(
        "--oauth-url",
        metavar="URL",
        help="where /oauth/authorize and /oauth/token live (default: $ENLIGHTEN_OAUTH_URL, "
        "else the root of $ENLIGHTEN_TOKEN_URL, else https://api.enphaseenergy.com)",
    )
    parser.add_argument(
        "--token-dir",
        metavar="DIR",
        help="keep token sets in files here, 0600 in a 0700 directory (default: "
        "$XDG_DATA_HOME/enlighten-async/tokens, or ~/.local/share/enlighten-async/tokens)",
    )
    parser.add_argument(
        "--redis-url",
        default=None,
        help="keep token sets in this Redis instead, shared by every worker "
        "(default: $ENLIGHTEN_REDIS_URL)",
    )


def _add_auth(sub: Any) -> None:
    """``auth``: ``login``, ``status`` and ``refresh`` of the v4 API's OAuth tokens."""
    auth = _command(sub, "auth", "OAuth 2.0 for the v4 API: login, status, refresh",
                    AUTH_DESCRIPTION, AUTH_EPILOG)  # fmt: skip
    commands = auth.add_subparsers(dest="auth_command", metavar="COMMAND")
    login = _command(
        commands,
        "login",
        "authorize: print the authorize URL, then take the code",
        "Print the URL where the system owner grants this application access; then read\n"
        "the code the owner is shown, or the whole URL the browser went to, from stdin\n"
        "(its state is checked). With --listen, a listener on 127.0.0.1 is the redirect\n"
        "URI and catches the code itself. The principal's tokens go to the token store.",
        AUTH_EPILOG,
    )
    login.add_argument(
        "--listen",
        type=_port,
        nargs="?",
        const=0,
        default=None,
        metavar="PORT",
        help="catch the redirect on http://127.0.0.1:PORT/callback (the application's "
        "registered redirect URI; without PORT, a free port)",
    )
    login.add_argument(
        "--listen-timeout",
        type=_positive_float,
        default=300.0,
        metavar="SECONDS",
        help="how long --listen waits for the redirect (300)",
    )
    login.add_argument(
        "--redirect-uri",
        default=None,
        help="the redirect URI registered for the application (default: Enphase's page "
        "that shows the code)",
    )
    status = _command(
        commands,
        "status",
        "the stored principals, their tokens' expiry and the plan",
        "Show the principals with stored tokens, when their access and refresh tokens\n"
        "expire (UTC) and the plan; never a token. Reads the store only.",
        AUTH_EPILOG,
    )
    status.add_argument(
        "--plan",
        default=None,
        help="the application's v4 plan (watt, kilowatt, megawatt, partner) to show "
        "(default: $ENLIGHTEN_PLAN, else unknown)",
    )
    status.add_argument("--json", action="store_true", help="print one JSON object")
    refresh = _command(
        commands,
        "refresh",
        "refresh a principal's tokens now",
        "Refresh the tokens of PRINCIPAL (default: every stored principal) now, whatever\n"
        "their expiry; the rotated refresh token is saved before anything else.",
        AUTH_EPILOG,
    )
    refresh.add_argument("principal", nargs="?", default=None, metavar="PRINCIPAL",
                         help="the owner's user id (enl_uid)")  # fmt: skip
    for command in (login, status, refresh):
        _auth_common(command)
        command.add_argument(
            "-v", "--verbose", action="count", default=0, dest="verbose_leaf", help=VERBOSE_HELP
        )


def _command(
    sub: Any, name: str, summary: str, description: str, epilog: str
) -> argparse.ArgumentParser:
    """Add the command ``name``: ``summary`` in the list of commands, and its ``--help``
    with ``description`` and ``epilog`` as written (their line breaks kept)."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help=summary,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


BACKFILL_DESCRIPTION = (
    "Fetch history into a SQLite store. Resumable: run it again after a "
    "failure or an interruption and it fetches only what is missing."
)


def _add_backfill(sub: Any) -> None:
    """``backfill``: fetch history into a store."""
    backfill = _command(
        sub,
        "backfill",
        "fetch history into a SQLite store (resumable)",
        BACKFILL_DESCRIPTION,
        BACKFILL_EPILOG,
    )
    backfill.add_argument(
        "--simulate",
        action="store_true",
        help="run against the embedded simulator (never used without this flag)",
    )
    backfill.add_argument(
        "--api",
        choices=API_VERSIONS,
        default=None,
        help="the API version (default: v4 when ENLIGHTEN_CLIENT_ID is set and no user id "
        "is, else v2; v2 with --simulate)",
    )
    backfill.add_argument("--key", help=KEY_HELP)
    backfill.add_argument("--key-file", metavar="PATH", help=KEY_FILE_HELP)
    backfill.add_argument("--user-id", help="user id (default: $ENLIGHTEN_USER_ID)")
    backfill.add_argument(
        "--base-url", help="API base URL (default: $ENLIGHTEN_BASE_URL or the service)"
    )
    backfill.add_argument(
        "--systems", type=_systems, default=None, help="'all' (default) or ids: 67,72"
    )
    backfill.add_argument(
        "--since",
        type=_date_or_days,
        default=None,
        help="first day, YYYY-MM-DD or Nd (default: 7d); dates are each system's local "
        "dates, and --since and --until are both included",
    )
    backfill.add_argument(
        "--until", type=_date_or_days, default=None, help="last local day (default: now)"
    )
    backfill.add_argument("--kinds", type=_kinds, default=None, help=_kinds_help())
    backfill.add_argument(
        "--db",
        default=None,
        help=f"SQLite file (default: {DEFAULT_DB}; with the simulator, {DEFAULT_SIM_DB}, "
        f"or {DEFAULT_SIM_V4_DB} with --api v4)",
    )
    backfill.add_argument(
        "--plan",
        type=_quota_plan,
        default=None,
        help=f"quota plan (v2: {', '.join(PLANS)}; v4: {', '.join(V4_PLANS)}) or limits "
        "like 10/minute,10000/month; without it v2 learns the quota from the first 409, v4 "
        "takes $ENLIGHTEN_PLAN, else watt",
    )
    backfill.add_argument(
        "--max-in-flight", type=_positive_int, default=None, help="concurrent requests"
    )
    backfill.add_argument(
        "--redis-url",
        default=None,
        help="share the key's quota with other workers through this Redis "
        "(default: $ENLIGHTEN_REDIS_URL; without it the quota is counted in this process)",
    )
    backfill.add_argument(
        "--budget",
        type=_positive_int,
        default=None,
        metavar="N",
        help="send at most N requests in this run (the listing, re-sends and retries "
        "included), then stop cleanly with exit status 4; a later run goes on",
    )
    backfill.add_argument(
        "--shard",
        type=_shard,
        default=None,
        metavar="I/N",
        help="fetch only worker I's share of N (by system id: no overlap, no gap)",
    )
    backfill.add_argument(
        "--claim-lease",
        type=_positive_float,
        default=CLAIM_LEASE,
        metavar="SECONDS",
        help="how long this run's claim on a span lasts unless renewed: runs sharing "
        "--db fetch each span once, and a killed run's spans are taken over this "
        f"long after (default: {CLAIM_LEASE:g})",
    )
    v4 = backfill.add_argument_group("API v4 (see below)")
    v4.add_argument(
        "--client-id", help="the application's OAuth client id (default: $ENLIGHTEN_CLIENT_ID)"
    )
    v4.add_argument(
        "--client-secret-file",
        metavar="PATH",
        help="read the client secret from this file (default: $ENLIGHTEN_CLIENT_SECRET, "
        "or $ENLIGHTEN_CLIENT_SECRET_FILE)",
    )
    v4.add_argument(
        "--oauth-url",
        metavar="URL",
        help="where /oauth/token lives (default: $ENLIGHTEN_OAUTH_URL, else Enphase's)",
    )
    v4.add_argument(
        "--token-dir",
        metavar="DIR",
        help="the token sets 'auth login' kept (default: as 'auth'; with --redis-url, "
        "that Redis holds them)",
    )
    sim = backfill.add_argument_group("simulator (with --simulate)")
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
    backfill.add_argument("--no-progress", action="store_true", help="no progress bar")
    backfill.add_argument(
        "--dry-run",
        action="store_true",
        help="plan only: list the systems (the /systems requests planning needs: one per "
        "1000 systems, or per 200 ids of --systems; counted in the output) and read --db if "
        "it exists, then print the spans to fetch, their requests and the time they take "
        "at the plan's rate (--plan; with --simulate, --sim-plan). Fetches no span, "
        "creates or changes no store",
    )


STATUS_DESCRIPTION = (
    "Show what a store holds: each system's last report (as the last backfill "
    "listed the systems), and per system and kind the done ranges, rows, first and last "
    "interval and the gaps. Reads the store only (never the API, never creating or "
    "changing the file); with --redis-url, also this month's requests of the key."
)


def _add_status(sub: Any) -> None:
    """``status``: what a store holds (it reads the store, never the API)."""
    status = _command(
        sub,
        "status",
        "what the store holds per system and kind, and gaps",
        STATUS_DESCRIPTION,
        STATUS_EPILOG,
    )
    status.add_argument("--db", default=DEFAULT_DB, help=f"SQLite file (default: {DEFAULT_DB})")
    status.add_argument(
        "--json", action="store_true", help="print one JSON object (its shape is below)"
    )
    status.add_argument(
        "--redis-url",
        default=None,
        help="also show this month's requests used and left, from the shared ledger "
        "(default: $ENLIGHTEN_REDIS_URL; needs --key or $ENLIGHTEN_API_KEY)",
    )
    status.add_argument("--key", help=KEY_HELP)
    status.add_argument("--key-file", metavar="PATH", help=KEY_FILE_HELP)
    status.add_argument(
        "--plan",
        type=_quota_plan,
        default=None,
        help="the key's plan, for the month's requests left (default: as learned)",
    )


def _add_simulate(sub: Any) -> None:
    """``simulate``: the simulator's own options, as ``python -m enlighten_async.simulator``."""
    from enlighten_async.simulator import cli as sim_cli

    simulate = sub.add_parser(
        "simulate",
        help="serve the embedded simulator on loopback",
        description=sim_cli.DESCRIPTION,
        epilog=sim_cli.EPILOG,
    )
    sim_cli.add_arguments(simulate)


EXPORT_EPILOG = """\
Dates are the system's local days, both included (a day runs from local midnight to
local midnight), in the zone the store recorded for it (UTC when it has no usable one).

exit status:
  0    written
  1    nothing in the range (an export still writes the header)
  2    usage error: bad option, no store at --db, a system the store does not hold,
       a missing extra (pandas/pyarrow, matplotlib), parquet to a terminal
  3    the store cannot be used (damaged, not a store)"""


EXPORT_DESCRIPTION = (
    "Write the stored rows of one kind as CSV or gzipped CSV (no extra\n"
    "needed) or parquet (needs the 'parquet' extra), to --out or to stdout. The format\n"
    "is --out's extension (.csv, .csv.gz, .parquet) unless --format says otherwise.\n\n"
    "Every row: end_at in UTC, local_time (the wall clock of the system's zone, no\n"
    "offset), timezone and system_name; the kinds of local days (energy_lifetime, v4's\n"
    "daily_*) have local dates, no local_time. Every kind of v2 and v4 exports, and\n"
    "rgm_meter_intervals and rgm_channels (the rgm kinds' per-meter channels) too."
)


def _add_export(sub: Any) -> None:
    """``export``: stored rows as CSV or parquet (it reads the store, never the API)."""
    from enlighten_async.store import COLUMNS

    export = _command(
        sub,
        "export",
        "write stored rows as CSV or parquet",
        EXPORT_DESCRIPTION,
        EXPORT_EPILOG.replace(
            "a missing extra", "an --out extension that names no format, a missing extra"
        ),
    )
    export.add_argument("--db", default=DEFAULT_DB, help=f"SQLite file (default: {DEFAULT_DB})")
    export.add_argument(
        "--kind",
        choices=list(COLUMNS),
        default=None,
        help="what to export (default: the first kind the store holds rows of: stats in "
        "a v2 store, micro_production in a v4 one)",
    )
    export.add_argument(
        "--systems", type=_systems, default=None, help="'all' (default) or ids: 67,78"
    )
    export.add_argument(
        "--since", type=_date_or_days, default=None, help="first local day (default: all)"
    )
    export.add_argument(
        "--until", type=_date_or_days, default=None, help="last local day (default: all)"
    )
    export.add_argument(
        "--format",
        choices=("csv", "csv.gz", "parquet"),
        default=None,
        help="overrides --out's extension (default: from the extension; csv to stdout)",
    )
    export.add_argument(
        "--out",
        default=None,
        help="file to write (default: stdout; parquet and csv.gz go to stdout only when it "
        "is not a terminal)",
    )


PLOT_DESCRIPTION = (
    "Draw one system's stored production (v2: stats; v4: micro_production, else\n"
    "meter_production): power (W) and energy per interval (Wh), and energy per local\n"
    "day (kWh) over more than 3 days; from a v4 store also consumption's power beside\n"
    "production's, the battery's state of charge (%) and the grid's energy imported and\n"
    "exported, when the store holds them. Local time on the x axis, which covers the\n"
    "days asked for (up to now): missing intervals are gaps. Needs the 'plot' extra\n"
    "(matplotlib)."
)


def _add_plot(sub: Any) -> None:
    """``plot``: a system's production into a PNG (it reads the store, never the API)."""
    plot = _command(
        sub,
        "plot",
        "draw a system's production (and v4's battery and grid) into a PNG",
        PLOT_DESCRIPTION,
        EXPORT_EPILOG.replace("an export still writes the header", "no file written"),
    )
    plot.add_argument("--db", default=DEFAULT_DB, help=f"SQLite file (default: {DEFAULT_DB})")
    plot.add_argument("--system", type=_positive_int, required=True, help="system id")
    plot.add_argument(
        "--since", type=_date_or_days, default=None, help="first local day (default: all)"
    )
    plot.add_argument(
        "--until", type=_date_or_days, default=None, help="last local day (default: all)"
    )
    plot.add_argument("--out", required=True, help="PNG file to write")
    plot.add_argument("--width", type=_positive_int, default=1200, help="pixels (1200)")
    plot.add_argument("--height", type=_positive_int, default=700, help="pixels (700)")
