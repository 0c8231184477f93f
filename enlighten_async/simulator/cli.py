"""The ``simulate`` program: serve a simulator until SIGINT/SIGTERM.

On start it prints ``ENLIGHTEN_BASE_URL=...``, ``ENLIGHTEN_API_KEY=...`` and
``ENLIGHTEN_USER_ID=...`` (one per line, flushed) so a parent process or a shell can pick
them up.

With ``--api v4`` it serves the Monitoring API v4 and prints ``ENLIGHTEN_BASE_URL``,
``ENLIGHTEN_API_KEY``, ``ENLIGHTEN_CLIENT_ID``, ``ENLIGHTEN_CLIENT_SECRET``,
``ENLIGHTEN_TOKEN_URL`` and ``ENLIGHTEN_AUTHORIZE_URL`` instead. The client secret is
printed on purpose: it is the simulator's own, made up from the seed, and a client needs
it to reach the token endpoint. No real secret ever passes through this program.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import shlex
import signal
import sys
from datetime import datetime
from urllib.parse import urlencode

from ..core.clock import ScaledClock
from .app import Simulator
from .faults import BOMB_BYTES, HOSTILE_FAULTS, OVERSIZE_BYTES, PROBABILITIES, Faults
from .fleet import Fleet
from .quota import PLANS, Plan
from .server import SimulatorServer
from .v4 import AUTHORIZE_PATH, TOKEN_PATH, V4_PLANS, V4Options

__all__ = ["DESCRIPTION", "EPILOG", "add_arguments", "main", "run"]

#: The ``--help`` description of ``simulate``.
DESCRIPTION = (
    "Serve the embedded simulator of the Enlighten Systems API v2 on loopback, over a "
    "deterministic synthetic fleet, until Ctrl-C. On start it prints ENLIGHTEN_BASE_URL, "
    "ENLIGHTEN_API_KEY and ENLIGHTEN_USER_ID (one per line, on stdout), then a "
    "'listening on' line on stderr."
)
#: The ``--help`` epilog: why the defaults are what they are.
EPILOG = (
    "The defaults (20 systems, seed 1, plan watt, time scale 600) are those of "
    "'enlighten-async backfill --simulate', so a backfill against this server at its "
    "defaults finishes in seconds, given the same clock: 'enlighten-async backfill "
    "--time-scale 600'. --time-scale 1 runs the clock in real time (a 409's minute lasts "
    "a minute)."
)
#: Defaults shared with ``enlighten-async backfill --simulate``.
DEFAULT_SYSTEMS, DEFAULT_SEED, DEFAULT_PLAN, DEFAULT_TIME_SCALE = 20, 1, "watt", 600.0


def _plan(text: str) -> Plan:
    try:
        return Plan.parse(text)
    except ValueError as exc:
        # A v4-only plan name (partner) is read here; --api v4 maps every name to v4's.
        if text.strip().lower() in V4_PLANS:
            return V4_PLANS[text.strip().lower()]
        raise argparse.ArgumentTypeError(str(exc)) from None


def origin_arg(text: str) -> float:
    """``--origin``: an ISO 8601 date and time with its zone, as epoch seconds."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date and time: {text!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give a timezone (Z or +hh:mm): {text!r}")
    return moment.timestamp()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the simulator's options to ``parser``; every help text names its default."""
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=_port, default=8080, help="port; 0 picks a free one (default: %(default)s)"
    )
    parser.add_argument(
        "--systems", type=int, default=DEFAULT_SYSTEMS, help="fleet size (default: %(default)s)"
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help="fleet and fault seed (default: %(default)s)"
    )
    parser.add_argument(
        "--plan",
        type=_plan,
        default=DEFAULT_PLAN,  # a string default goes through type=: a Plan
        help=f"rate plan: one of {', '.join(PLANS)} (default: %(default)s)",
    )
    parser.add_argument(
        "--limit",
        type=_plan,
        action="append",
        default=[],
        help="custom limit such as 20/second (repeatable; replaces --plan; default: none)",
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=DEFAULT_TIME_SCALE,
        help="simulated seconds per real second (default: %(default)g)",
    )
    parser.add_argument(
        "--origin",
        type=origin_arg,
        default=None,
        metavar="ISO",
        help="simulated time at start, e.g. 2025-11-20T15:00Z (default: now); the fleet's "
        "dates are relative to it, so a fixed origin serves the same data on any day",
    )
    parser.add_argument(
        "--api",
        choices=("v2", "v4"),
        default="v2",
        help="the API to serve: v2 (retired, kept for archives) or v4 (OAuth 2.0, "
        "the live one) (default: %(default)s)",
    )
    parser.add_argument(
        "--access-seconds",
        type=float,
        default=V4Options.access_seconds,
        help="v4: an access token's life, simulated seconds (default: %(default)g)",
    )
    parser.add_argument(
        "--refresh-seconds",
        type=float,
        default=V4Options.refresh_seconds,
        help="v4: a refresh token's life, simulated seconds (default: %(default)g)",
    )
    parser.add_argument(
        "--keep-old-refresh",
        action="store_true",
        help="v4: a refresh leaves the old refresh token alive (default: it dies)",
    )
    parser.add_argument(
        "--period-fields",
        action="store_true",
        help="v4: a 429 says period, period_start, period_end and limit (default: bare)",
    )
    parser.add_argument(
        "--refusals-count",
        action="store_true",
        help="v4: a 429 counts against the quota (default: it does not)",
    )
    parser.add_argument(
        "--extra-fields",
        action="store_true",
        help="v4: answers carry fields no spec names (default: off)",
    )
    parser.add_argument(
        "--example-shapes",
        action="store_true",
        help="v4: answer in the shapes of the spec's examples where they disagree with its "
        "schemas, as the service is seen to (default: the schemas' shapes)",
    )
    parser.add_argument("--key", default=None, help="API key to accept (default: from --seed)")
    parser.add_argument("--user-id", default=None, help="user id to accept (default: from --seed)")
    for fault in PROBABILITIES:
        parser.add_argument(
            _fault_flag(fault),
            type=float,
            default=0.0,
            metavar="P",
            help=f"probability of {fault} (default: %(default)s)"
            + ("; hostile (issue 19)" if fault in HOSTILE_FAULTS else ""),
        )
    parser.add_argument(
        "--oversize-bytes",
        type=int,
        default=OVERSIZE_BYTES,
        help="size of an oversize answer (default: %(default)s)",
    )
    parser.add_argument(
        "--bomb-bytes",
        type=int,
        default=BOMB_BYTES,
        help="what a gzip bomb inflates to (default: %(default)s)",
    )
    parser.add_argument(
        "--slow-seconds",
        type=float,
        default=30.0,
        help="simulated delay of a slow answer (default: %(default)s)",
    )
    parser.add_argument(
        "--max-concurrent",
        type=int,
        default=None,
        help="503 above this many requests in flight (default: no limit)",
    )
    parser.add_argument(
        "--log-level", default="WARNING", help="logging level (default: %(default)s)"
    )


def _fault_flag(fault: str) -> str:
    """The option of a fault's probability: ``--fault-503``, ``--fault-wrong-span``."""
    return "--fault-" + fault.replace("_", "-")


def _fault_dest(fault: str) -> str:
    return "fault_" + fault.replace("-", "_")


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, got {port}")
    return port


def _simulator(args: argparse.Namespace) -> Simulator:
    plan: Plan = args.plan
    if args.limit:
        plan = Plan("custom", tuple(lim for p in args.limit for lim in p.limits))
    # Every probability from its flag (PROBABILITIES names both), so none can be missed.
    probabilities = {
        name: getattr(args, _fault_dest(fault)) for fault, name in PROBABILITIES.items()
    }
    faults = Faults(
        **probabilities,
        oversize_bytes=args.oversize_bytes,
        bomb_bytes=args.bomb_bytes,
        slow_seconds=args.slow_seconds,
        max_concurrent=args.max_concurrent,
        seed=args.seed,
    )
    api = getattr(args, "api", "v2")
    v4 = None
    if api == "v4":
        # The plan names v4's plan of that name (the same name has other limits in v2).
        plan = V4_PLANS.get(plan.name, plan)
        v4 = V4Options(
            access_seconds=args.access_seconds,
            refresh_seconds=args.refresh_seconds,
            old_refresh_dies=not args.keep_old_refresh,
            period_fields=args.period_fields,
            refusal_counts=args.refusals_count,
            extra_fields=args.extra_fields,
            example_shapes=args.example_shapes,
        )
    return Simulator(
        api=api,
        v4=v4,
        fleet=Fleet(args.systems, seed=args.seed),
        plan=plan,
        clock=ScaledClock(args.time_scale, origin=args.origin),
        faults=faults,
        api_key=args.key,
        user_id=args.user_id,
    )


async def _serve(args: argparse.Namespace) -> None:
    sim = _simulator(args)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows has no signal handlers
            loop.add_signal_handler(sig, stop.set)
    async with SimulatorServer(sim, host=args.host, port=args.port) as server:
        printed = [("ENLIGHTEN_BASE_URL", server.base_url), ("ENLIGHTEN_API_KEY", sim.api_key)]
        if sim.api == "v4":
            # The simulator's own made-up credentials: printed so that a client can use
            # them (no real secret passes through here).
            app = sim.oauth.application
            query = urlencode({"response_type": "code", "client_id": app.client_id})
            printed += [
                ("ENLIGHTEN_CLIENT_ID", app.client_id),
                ("ENLIGHTEN_CLIENT_SECRET", app.client_secret),
                ("ENLIGHTEN_OAUTH_URL", server.root_url),
                ("ENLIGHTEN_TOKEN_URL", f"{server.root_url}{TOKEN_PATH}"),
                ("ENLIGHTEN_AUTHORIZE_URL", f"{server.root_url}{AUTHORIZE_PATH}?{query}"),
            ]
        else:
            printed.append(("ENLIGHTEN_USER_ID", sim.user_id))
        # Quoted for a shell where a value needs it (the authorize URL's "&"), so that
        # `. sim.env` or `eval "$(...)"` sets each variable as printed.
        for name, value in printed:
            print(f"{name}={shlex.quote(value)}", flush=True)
        # On stderr, so that `simulate > sim.env` leaves a file of the variables alone.
        print(f"listening on {server.root_url} (Ctrl-C to stop)", file=sys.stderr, flush=True)
        if args.time_scale != 1:
            print(
                f"clock x{args.time_scale:g}: give clients the same scale "
                f"(enlighten-async backfill --time-scale {args.time_scale:g})",
                file=sys.stderr,
                flush=True,
            )
        await stop.wait()


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; return the exit status: 0, or 2 with one line on stderr
    when the options cannot make a simulator or the address cannot be bound."""
    level = logging.getLevelName(str(args.log_level).upper())
    if not isinstance(level, int):  # an unknown name maps to the text "Level X"
        return _refuse(f"--log-level: unknown level {args.log_level!r}")
    logging.basicConfig(level=level, stream=sys.stderr)
    try:
        _simulator(args)  # bad values fail here, in one line, before a socket is opened
    except (ValueError, TypeError, OverflowError) as exc:
        return _refuse(exc)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(args))
    except OSError as exc:  # the port is taken, out of range, or the host is unknown
        return _refuse(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
    return 0


def _refuse(message: object) -> int:
    print(f"error: {message}", file=sys.stderr, flush=True)
    return 2


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m enlighten_async.simulator``."""
    parser = argparse.ArgumentParser(
        prog="python -m enlighten_async.simulator", description=DESCRIPTION, epilog=EPILOG
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))
