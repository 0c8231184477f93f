"""What a command connects to, read once from the options and the environment: the API
key, the service or the embedded simulator, the client, and its ledger (a shared Redis
one, or the month's counts in the store's file)."""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

from attrs import frozen

from enlighten_async.cli.exits import UsageError
from enlighten_async.cli.parser import DEFAULT_SIM_TIME_SCALE
from enlighten_async.core.args import redis_url_arg, url_arg
from enlighten_async.core.clock import Clock, ScaledClock
from enlighten_async.core.exceptions import EnlightenError
from enlighten_async.core.quota import Quota
from enlighten_async.core.scheduler import Scheduler
from enlighten_async.pg_store import is_postgres_url
from enlighten_async.v2.client import DEFAULT_BASE_URL, EnlightenClient

__all__ = [
    "Credentials",
    "RedisUrl",
    "api_key",
    "client",
    "credentials",
    "redis_ledger",
    "read_secret_file",
    "redis_url",
    "store_ledger",
    "target",
]

#: More than a key could be: a wrong file (a log, a binary) is refused unread.
KEY_FILE_MAX_BYTES = 4096


def api_key(args: argparse.Namespace) -> str | None:
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


def read_secret_file(path: str, name: str) -> str:
    """A secret held alone in the file ``path`` (``name``: the option or variable that
    gave it), read as a key file is; messages name the file, never what it holds."""
    return _read_key_file(path, name)


@frozen
class RedisUrl:
    """``--redis-url`` or ``$ENLIGHTEN_REDIS_URL``, checked."""

    url: str
    name: str  # the option or variable it came from, for messages


def redis_url(args: argparse.Namespace) -> RedisUrl | None:
    """The shared ledger's URL, checked; ``None`` without one. The one reader of
    ``$ENLIGHTEN_REDIS_URL``.

    Checked before anything opens, and shown without its password or query.
    """
    if args.redis_url:
        url, name = str(args.redis_url), "--redis-url"
    elif os.environ.get("ENLIGHTEN_REDIS_URL"):
        url, name = os.environ["ENLIGHTEN_REDIS_URL"], "ENLIGHTEN_REDIS_URL"
    else:
        return None
    try:
        return RedisUrl(redis_url_arg(url, name), name)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


@frozen
class Credentials:
    """Where ``backfill`` fetches from: the embedded simulator, or a service with its key
    and user id; and the shared ledger's URL, if one is given."""

    simulate: bool
    key: str | None
    user_id: str | None
    base_url: str | None
    redis: RedisUrl | None


def credentials(args: argparse.Namespace) -> Credentials:
    """Read and check the options and the environment once, before anything starts.

    The simulator is used with ``--simulate`` only. Without it, a missing key or user id
    is a usage error (also when nothing at all is given): a missing key must not quietly
    fill a store from the simulator.
    """
    simulate, key, user_id, base_url = _service(args)
    return Credentials(simulate, key, user_id, base_url, redis_url(args))


def _service(args: argparse.Namespace) -> tuple[bool, str | None, str | None, str | None]:
    """``(simulate, key, user_id, base_url)``."""
    key = api_key(args)
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
async def target(
    args: argparse.Namespace, given: Credentials
) -> AsyncIterator[tuple[str, str, str, Clock | None]]:
    """Yield ``(base_url, key, user_id, clock)``: the simulator's, or the real service's."""
    if given.simulate:
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
    key, user_id, base_url = given.key, given.user_id, given.base_url
    assert key is not None and user_id is not None and base_url is not None
    # A standalone simulator with a compressed clock: keep time as it does (the client
    # learns the offset between the two clocks from the answers' Date headers).
    yield base_url, key, user_id, (ScaledClock(args.time_scale) if args.time_scale else None)


async def client(
    args: argparse.Namespace,
    given: Credentials,
    base_url: str,
    key: str,
    user_id: str,
    clock: Clock | None,
    *,
    ledger_db: str | None = None,
) -> tuple[EnlightenClient, Any]:
    """The backfill's client and its ledger: a shared Redis one with a Redis URL, else,
    with ``ledger_db`` (the store's file), a :class:`SQLiteLedger` that keeps the month's
    counts there; ``None`` without either (the client's own, in memory).

    Raises :class:`UsageError` or :class:`ValueError` for options the client refuses,
    :class:`EnlightenError` for a Redis that does not answer.
    """
    if given.redis is None and ledger_db is not None and not is_postgres_url(ledger_db):
        ledger: Any = store_ledger(ledger_db, key, args.plan)
    elif given.redis is None:
        made = EnlightenClient(
            key,
            user_id,
            base_url=base_url,
            plan=args.plan,
            clock=clock,
            max_in_flight=args.max_in_flight,
        )
        return made, None
    else:
        ledger = await redis_ledger(given.redis, key, args.plan)
    scheduler_kwargs: dict[str, Any] = {"ledger": ledger, "clock": clock}
    if args.max_in_flight is not None:
        scheduler_kwargs["max_in_flight"] = args.max_in_flight
    try:
        scheduler = Scheduler(**scheduler_kwargs)
        made = EnlightenClient(key, user_id, base_url=base_url, scheduler=scheduler)
    except BaseException:
        await ledger.aclose()
        raise
    return made, ledger


def store_ledger(db: str, key: str, plan: str | tuple[Quota, ...] | None) -> Any:
    """The single-machine ledger: a :class:`SQLiteLedger` keeping the key's month counts
    and learned quotas in the store's file ``db`` (opened at its first request, after the
    store), so that runs one after another in a month see one budget. (A PostgreSQL store
    has no file: its workers share a Redis ledger, ``--redis-url``, or count in memory.)"""
    from enlighten_async.core.sqlite_ledger import SQLiteLedger

    return SQLiteLedger(db, key, plan=plan)


async def redis_ledger(redis: RedisUrl, key: str, plan: str | tuple[Quota, ...] | None) -> Any:
    """A :class:`RedisLedger` that answered a ping; :class:`UsageError` for a URL it
    cannot read, :class:`EnlightenError` for a Redis that does not answer."""
    try:
        from enlighten_async.core.redis_ledger import RedisLedger
    except ImportError:  # pragma: no cover - the extra is missing
        raise EnlightenError("--redis-url needs: pip install 'enlighten-async[redis]'") from None
    try:
        ledger = RedisLedger(redis.url, key, plan=plan)
    except ValueError as exc:  # a malformed URL: the message shows it without secrets
        raise UsageError(f"{redis.name}: {exc}") from None
    try:
        await ledger.ping()
    except EnlightenError:
        await ledger.aclose()
        raise
    return ledger
