"""What a v4 backfill connects to: the API version chosen, the application's key and OAuth
settings, the owners' token sets, and one client over every owner's systems.

API v4 reads a system with an access token of its owner (a *principal*): one application
(API key, OAuth client id and secret) reads every owner who authorized it, on the one
quota the service counts per API key. So a v4 backfill makes one
:class:`~enlighten_async.v4.client.EnlightenV4Client` on one scheduler, a view of it per
principal (:meth:`~enlighten_async.v4.client.EnlightenV4Client.with_tokens`), each with
the :class:`~enlighten_async.v4.oauth.TokenManager` of that principal's stored set, and
hands them to a :class:`~enlighten_async.v4.fleet.V4Fleet`: the one client a backfill
sees, which lists ``/systems`` of every principal and fetches each system as its owner.

``--simulate`` with ``--api v4`` does the same against the embedded v4 simulator: its
principals log in the way an owner does (the authorize page, then the token endpoint),
with no browser, into a token store in memory.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

from attrs import field, frozen

from enlighten_async.cli import connect
from enlighten_async.cli.auth import OAuthConfig, default_token_dir, oauth_config, token_store
from enlighten_async.cli.exits import UsageError
from enlighten_async.cli.parser import DEFAULT_SIM_TIME_SCALE, version_kinds
from enlighten_async.core.args import url_arg
from enlighten_async.core.clock import Clock, ScaledClock
from enlighten_async.core.quota import Quota
from enlighten_async.core.scheduler import Scheduler
from enlighten_async.pg_store import is_postgres_url
from enlighten_async.store import StoreSource
from enlighten_async.v4.client import DEFAULT_BASE_URL, DEFAULT_MONTH_RESERVE, EnlightenV4Client
from enlighten_async.v4.oauth import MemoryTokenStore, TokenEndpoint, TokenManager, TokenStore
from enlighten_async.v4.plans import PLANS, resolve_v4_plan

__all__ = [
    "DEFAULT_V4_PLAN",
    "V4Connection",
    "V4Credentials",
    "checked_kinds",
    "chosen_api",
    "connect_v4",
    "credentials",
    "plan_limits",
]

#: The v4 plan a backfill assumes when neither ``--plan`` nor ``$ENLIGHTEN_PLAN`` names one:
#: the free plan, the smallest (a larger plan's quota is then under-used, never overrun).
DEFAULT_V4_PLAN = "watt"


def chosen_api(args: argparse.Namespace) -> str:
    """``--api``; else v4 when ``--client-id``/``$ENLIGHTEN_CLIENT_ID`` is given and no user
    id (``--user-id``/``$ENLIGHTEN_USER_ID``: v2's), else v2 (also with ``--simulate``).

    Whether the token store holds principals is checked when the v4 run connects (none is
    a usage error that says to log in).
    """
    if args.api:
        return str(args.api)
    if args.simulate:
        return "v2"
    if args.user_id or os.environ.get("ENLIGHTEN_USER_ID"):
        return "v2"
    if args.client_id or os.environ.get("ENLIGHTEN_CLIENT_ID"):
        return "v4"
    return "v2"


def checked_kinds(args: argparse.Namespace, api: str) -> list[str]:
    """``--kinds`` (default: all of ``api``'s), each a kind of ``api``; else a usage error."""
    own = version_kinds(api)
    if args.kinds is None:
        return list(own)
    other = [k for k in args.kinds if k not in own]
    if other:
        raise UsageError(
            f"--kinds: {', '.join(other)} {'is' if len(other) == 1 else 'are'} not of API "
            f"{api}; its kinds are {','.join(own)}"
        )
    return list(args.kinds)


def plan_limits(args: argparse.Namespace) -> tuple[str, tuple[Quota, ...]]:
    """The v4 plan's name and quotas: ``--plan``, ``$ENLIGHTEN_PLAN``, else
    :data:`DEFAULT_V4_PLAN` (with ``--simulate``: ``--sim-plan``, the plan it serves)."""
    if args.simulate:
        text: Any = args.sim_plan
        name = "--sim-plan"
    elif args.plan is not None:
        text, name = args.plan, "--plan"
    else:
        text = os.environ.get("ENLIGHTEN_PLAN") or DEFAULT_V4_PLAN
        name = "ENLIGHTEN_PLAN"
    try:
        quotas = resolve_v4_plan(text)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{name}: {exc}") from None
    assert quotas is not None  # text is never None
    shown = text.strip().lower() if isinstance(text, str) else "--plan"
    return shown, quotas


@frozen
class V4Credentials:
    """A v4 backfill's settings, read and checked once before anything starts: the key,
    the service's base URL and the application's OAuth settings (``None`` each with
    ``--simulate``), the shared ledger's URL and the plan."""

    simulate: bool
    key: str | None = field(repr=False)
    base_url: str | None
    oauth: OAuthConfig | None
    redis: connect.RedisUrl | None
    plan: str
    quotas: tuple[Quota, ...]


def credentials(args: argparse.Namespace) -> V4Credentials:
    """Read and check a v4 backfill's options and environment (usage errors first)."""
    plan, quotas = plan_limits(args)
    redis = connect.redis_url(args)
    if args.simulate:
        return V4Credentials(True, None, None, None, redis, plan, quotas)
    if args.user_id:
        raise UsageError("--user-id is v2's: API v4 reads the systems of the logged-in owners")
    key = connect.api_key(args)
    if not key:
        raise UsageError(
            "API v4 needs the application's API key: set ENLIGHTEN_API_KEY (or --key-file), "
            "or use --simulate --api v4 for the embedded simulator"
        )
    oauth = oauth_config(args)
    base_url = args.base_url or os.environ.get("ENLIGHTEN_BASE_URL") or None
    if base_url is not None:
        try:
            url_arg(base_url)
        except ValueError as exc:
            name = "--base-url" if args.base_url else "ENLIGHTEN_BASE_URL"
            raise UsageError(f"{name}: {exc}") from None
    return V4Credentials(False, key, base_url or DEFAULT_BASE_URL, oauth, redis, plan, quotas)


@frozen
class V4Connection:
    """A connected v4 backfill: the one client over every principal (a
    :class:`~enlighten_async.v4.fleet.V4Fleet`), what the store records as the source, the
    principals, the client's clock, and the shared ledger (``None`` without Redis)."""

    client: Any
    source: StoreSource
    principals: tuple[str, ...]
    base_url: str
    clock: Clock | None
    ledger: Any


@contextlib.asynccontextmanager
async def connect_v4(
    args: argparse.Namespace, given: V4Credentials, *, ledger_db: str | None = None
) -> AsyncIterator[V4Connection]:
    """Connect a v4 backfill (the service, or the embedded v4 simulator with
    ``--simulate``); the clients and the ledger are closed on the way out. Without Redis,
    ``ledger_db`` (the store's file) keeps the month's counts (a
    :class:`~enlighten_async.core.sqlite_ledger.SQLiteLedger`), as for v2.

    Raises :class:`UsageError` when no principal has logged in, and what the token store
    or Redis raise when they cannot be used.
    """
    if given.simulate:
        async with _simulated(args, given) as (key, endpoint, store, principals, url, clock):
            source = StoreSource.simulated(seed=args.seed, systems=args.sim_systems, api="v4")
            async with _fleet(
                args, given, key, endpoint, store, principals, url, clock, ledger_db
            ) as (client, ledger):
                yield V4Connection(client, source, principals, url, clock, ledger)
        return
    assert given.key is not None and given.oauth is not None and given.base_url is not None
    # A standalone simulator with a compressed clock: keep time as it does.
    kept: Clock | None = ScaledClock(args.time_scale) if args.time_scale else None
    oauth = given.oauth
    endpoint = TokenEndpoint(
        oauth.client_id, oauth.client_secret, base_url=oauth.base_url, clock=kept
    )
    async with token_store(args, oauth.client_id) as store:
        principals = tuple(await store.principals())
        if not principals:
            # The store's place, not the client id: nothing a backfill prints names the
            # application (auth status shows it, on purpose).
            raise UsageError(
                f"API v4: no owner has logged in to {_place(args)}: run 'enlighten-async "
                "auth login' (with the same --token-dir or Redis), or use --api v2 with "
                "ENLIGHTEN_USER_ID"
            )
        source = StoreSource.service(
            given.base_url, api="v4", api_key=given.key, client_id=oauth.client_id
        )
        async with _fleet(
            args, given, given.key, endpoint, store, principals, given.base_url, kept, ledger_db
        ) as (client, ledger):
            yield V4Connection(client, source, principals, given.base_url, kept, ledger)


def _place(args: argparse.Namespace) -> str:
    """Where the token store is, in words: its directory, or Redis."""
    if connect.redis_url(args) is not None:
        return "the token store in Redis"
    return f"the token store in {args.token_dir or default_token_dir()}"


@contextlib.asynccontextmanager
async def _simulated(
    args: argparse.Namespace, given: V4Credentials
) -> AsyncIterator[tuple[str, TokenEndpoint, TokenStore, tuple[str, ...], str, Clock]]:
    """The embedded v4 simulator, serving on loopback, with every principal logged in
    (as an owner would, without a browser) into a token store in memory: yields
    ``(key, endpoint, store, principals, base_url, clock)``."""
    from enlighten_async.simulator import Fleet, Simulator, SimulatorServer
    from enlighten_async.simulator.embedded import EmbeddedSimulator, simulated_login
    from enlighten_async.simulator.v4 import v4_plan

    scale = args.time_scale or DEFAULT_SIM_TIME_SCALE
    clock = ScaledClock(scale, origin=args.sim_origin)
    simulator = Simulator(
        fleet=Fleet(args.sim_systems, seed=args.seed),
        plan=v4_plan(given.plan),
        clock=clock,
        api="v4",
    )
    async with SimulatorServer(simulator) as server:
        sim = EmbeddedSimulator(simulator, server, given.plan)
        store = MemoryTokenStore()
        endpoint = sim.token_endpoint()
        for principal in sim.principals:
            # as an owner does: the authorize page, then the token endpoint
            await simulated_login(endpoint, store, principal)
        print(
            f"Embedded v4 simulator: {args.sim_systems} systems, {len(sim.principals)} owners "
            f"logged in, plan {given.plan}, clock x{scale:g} (a simulated minute lasts "
            f"{60 / scale:.2f}s)"
        )
        yield sim.api_key, endpoint, store, sim.principals, sim.base_url, clock


@contextlib.asynccontextmanager
async def _fleet(
    args: argparse.Namespace,
    given: V4Credentials,
    key: str,
    endpoint: TokenEndpoint,
    store: TokenStore,
    principals: tuple[str, ...],
    base_url: str,
    clock: Clock | None,
    ledger_db: str | None = None,
) -> AsyncIterator[tuple[Any, Any]]:
    """One client per principal on one scheduler (one quota: the API key's), as one
    :class:`~enlighten_async.v4.fleet.V4Fleet`; and its ledger: Redis's, else the store
    file's (``ledger_db``), else ``None`` (in memory)."""
    from enlighten_async.v4.fleet import V4Fleet

    ledger = None
    if given.redis is not None:
        ledger = await connect.redis_ledger(given.redis, key, given.quotas)
    elif ledger_db is not None and not is_postgres_url(ledger_db):
        # quotas, not the plan's name: a name would be looked up in v2's table
        ledger = connect.store_ledger(ledger_db, key, given.quotas)
    try:
        kwargs: dict[str, Any] = {"clock": clock, "ledger": ledger}
        if args.max_in_flight is not None:
            kwargs["max_in_flight"] = args.max_in_flight
        # As EnlightenV4Client makes its own: v4's plan table, a bare 429 probed once
        # before the month is taken as spent, and the month's last requests kept for
        # interactive calls.
        scheduler = Scheduler(
            given.quotas,
            plans=PLANS,
            bare_refusal="probe",
            month_reserve=DEFAULT_MONTH_RESERVE,
            **kwargs,
        )
        managers = [TokenManager(endpoint, store, p, clock=clock) for p in principals]
        client = EnlightenV4Client(key, managers[0], base_url=base_url, scheduler=scheduler)
        async with client:
            views = [client, *(client.with_tokens(m) for m in managers[1:])]
            yield V4Fleet(views), ledger
    finally:
        if ledger is not None:
            with contextlib.suppress(Exception):
                await ledger.aclose()
