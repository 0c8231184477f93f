"""The embedded simulator in one line, for scripts, examples and notebooks.

::

    from enlighten_async.simulator import embedded

    async with embedded(systems=20) as sim, sim.client() as client:
        async for system in client.systems():
            print(system.system_name)

It is what ``enlighten-async backfill --simulate`` does: a synthetic fleet served on
127.0.0.1 (a free port) by this process, with a compressed clock that the client shares,
so that quota windows pass in a blink and no real minute is spent waiting.
"""

from __future__ import annotations

import contextlib
import math
import secrets
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import urlencode

import aiohttp

from ..core.clock import ScaledClock
from ..store import StoreSource
from ..v2.client import EnlightenClient
from ..v4.client import EnlightenV4Client
from ..v4.fleet import V4Fleet
from ..v4.oauth import (
    DEFAULT_REDIRECT_URI,
    MemoryTokenStore,
    TokenEndpoint,
    TokenManager,
    TokenStore,
    code_from_redirect,
    login,
)
from .app import Simulator
from .fleet import Fleet
from .quota import Plan
from .server import SimulatorServer
from .v4 import AUTHORIZE_PATH, TOKEN_PATH, V4Options, v4_plan

__all__ = ["DEFAULT_EMBEDDED_TIME_SCALE", "EmbeddedSimulator", "embedded"]

#: How much faster than real time the embedded simulator's clock runs by default (the
#: same as ``backfill --simulate``): a simulated minute lasts 0.1 s.
DEFAULT_EMBEDDED_TIME_SCALE = 600.0


class EmbeddedSimulator:
    """A simulator serving on loopback in this process, and what a client needs to reach it.

    Made by :func:`embedded`. ``client()`` gives an :class:`~enlighten_async.EnlightenClient`
    wired to it: its URL, key and user id, its plan and its clock.
    """

    def __init__(self, simulator: Simulator, server: SimulatorServer, plan: str) -> None:
        self.simulator = simulator
        self.server = server
        self.plan = plan

    def __repr__(self) -> str:
        # Never the key or the user id, even synthetic ones.
        return f"EmbeddedSimulator(base_url={self.base_url!r}, plan={self.plan!r})"

    @property
    def base_url(self) -> str:
        """The API base URL, ``http://127.0.0.1:PORT/api/v2``."""
        return self.server.base_url

    @property
    def api_key(self) -> str:
        """The key the simulator accepts."""
        return self.simulator.api_key

    @property
    def user_id(self) -> str:
        """The user id the simulator accepts."""
        return self.simulator.user_id

    @property
    def clock(self) -> ScaledClock:
        """The simulator's compressed clock; its clients must share it."""
        clock = self.simulator.clock
        assert isinstance(clock, ScaledClock)
        return clock

    @property
    def store_source(self) -> StoreSource:
        """What a store filled from this simulator records as its source."""
        fleet = self.simulator.fleet
        return StoreSource.simulated(seed=fleet.seed, systems=fleet.n_systems)

    # -- v4 (``embedded(api="v4")``) -------------------------------------------------------

    @property
    def client_id(self) -> str:
        """The v4 application's OAuth client id."""
        return self.simulator.oauth.application.client_id

    @property
    def client_secret(self) -> str:
        """The v4 application's OAuth client secret (the simulator's own, not a real one)."""
        return self.simulator.oauth.application.client_secret

    @property
    def principals(self) -> tuple[str, ...]:
        """The owners (``enl_uid``) who may authorize the v4 application."""
        return self.simulator.oauth.principals

    @property
    def token_url(self) -> str:
        """The v4 token endpoint, ``http://127.0.0.1:PORT/oauth/token``."""
        return self.server.root_url + TOKEN_PATH

    def authorize_url(self, redirect_uri: str | None = None, state: str | None = None) -> str:
        """The v4 authorize URL an owner opens (it redirects at once with a code)."""
        params = {"response_type": "code", "client_id": self.client_id}
        if redirect_uri is not None:
            params["redirect_uri"] = redirect_uri
        if state is not None:
            params["state"] = state
        return f"{self.server.root_url}{AUTHORIZE_PATH}?{urlencode(params)}"

    def authorization_code(self, principal: str | None = None) -> str:
        """A fresh single-use v4 authorization code for ``principal`` (default the first),
        as the default redirect page would show it."""
        return self.simulator.oauth.issue_code(enl_uid=principal)

    def tokens(self, principal: str | None = None) -> dict[str, object]:
        """A v4 token answer (``access_token``, ``refresh_token``, ``expires_in``, ...) for
        ``principal``, minted without HTTP (the token endpoint counts it as a code
        exchange)."""
        oauth = self.simulator.oauth
        return oauth.grant(oauth.issue_code(enl_uid=principal))

    def token_endpoint(self, redirect_uri: str | None = None) -> TokenEndpoint:
        """The v4 application's :class:`~enlighten_async.v4.oauth.TokenEndpoint` at this
        simulator (its root, its client id and secret), on the simulator's clock."""
        return TokenEndpoint(
            self.client_id,
            self.client_secret,
            redirect_uri=redirect_uri or DEFAULT_REDIRECT_URI,
            base_url=self.server.root_url,
            clock=self.clock,
        )

    async def v4_client(
        self, principal: str | None = None, *, store: TokenStore | None = None, **options: Any
    ) -> EnlightenV4Client:
        """An :class:`~enlighten_async.v4.client.EnlightenV4Client` for this v4 simulator,
        logged in as ``principal`` (default: the first of :attr:`principals`).
        ``plan=None`` leaves the client untold of the plan (it learns it from a 429).

        The login takes the way a real one does: the authorize page (which redirects with a
        code and the ``state`` sent), then the token endpoint
        (:func:`~enlighten_async.v4.oauth.login`), into ``store``, a fresh
        :class:`~enlighten_async.v4.oauth.MemoryTokenStore` unless one is given. A given
        store that already holds the principal's set is used as it is (no login). The
        client's :class:`~enlighten_async.v4.oauth.TokenManager` and the client share the
        simulator's clock and are told its plan; ``options`` go to the client
        (``timeout``, ``max_in_flight``, ...). Use it as ``async with await
        sim.v4_client() as client``.
        """
        if self.simulator.api != "v4":
            raise ValueError("v4_client() needs a v4 simulator: embedded(api='v4')")
        uid = principal if principal is not None else self.principals[0]
        if uid not in self.principals:
            raise ValueError(f"unknown principal {uid!r}; known: {', '.join(self.principals)}")
        endpoint = self.token_endpoint()
        if store is None:
            store = MemoryTokenStore()
        await self._login(uid, store, endpoint)
        manager = TokenManager(endpoint, store, uid, clock=self.clock)
        # ``plan=None`` in options: the client is not told the plan (a hidden quota it
        # learns from the first 429); ``scheduler=``: one shared, which sets the pace.
        settings: dict[str, Any] = {"plan": self.plan, "clock": self.clock}
        if "scheduler" in options:
            settings = {}
        return EnlightenV4Client(
            self.api_key,
            manager,
            base_url=self.base_url,
            **{**settings, **options},
        )

    async def v4_fleet(
        self,
        principals: Sequence[str] | None = None,
        *,
        store: TokenStore | None = None,
        **options: Any,
    ) -> V4Fleet:
        """A :class:`~enlighten_async.v4.fleet.V4Fleet` of ``principals`` (default: every
        one of :attr:`principals`), each logged in as :meth:`v4_client` does, into one
        ``store``: the first owner's client (``options`` go to it) and, for the others,
        its :meth:`~enlighten_async.v4.client.EnlightenV4Client.with_tokens` views (one
        scheduler). Close ``fleet.clients[0]`` when done: ``async with (await
        sim.v4_fleet()).clients[0]``."""
        uids = list(self.principals if principals is None else principals)
        if not uids:
            raise ValueError("a fleet needs at least one principal")
        if store is None:
            store = MemoryTokenStore()
        first = await self.v4_client(uids[0], store=store, **options)
        clients = [first]
        endpoint = self.token_endpoint()
        for uid in uids[1:]:
            if uid not in self.principals:
                await first.close()
                raise ValueError(f"unknown principal {uid!r}; known: {', '.join(self.principals)}")
            await self._login(uid, store, endpoint)
            clients.append(first.with_tokens(TokenManager(endpoint, store, uid, clock=self.clock)))
        return V4Fleet(clients)

    async def _login(self, uid: str, store: TokenStore, endpoint: TokenEndpoint) -> None:
        """Log ``uid`` in through the authorize page and the token endpoint, into
        ``store`` (nothing when it holds the principal's set already)."""
        if await store.load(uid) is None:
            state = secrets.token_urlsafe(16)
            # enl_uid: the simulator's own parameter, which owner says yes.
            url = f"{endpoint.authorize_url(state)}&{urlencode({'enl_uid': uid})}"
            async with (
                aiohttp.ClientSession() as http,
                http.get(url, allow_redirects=False) as page,
            ):
                location = page.headers.get("Location", "")
                if page.status != 302 or not location:
                    raise RuntimeError(f"the authorize page answered {page.status}, no redirect")
            tokens = await login(endpoint, store, code_from_redirect(location, state=state))
            if tokens.principal != uid:
                raise RuntimeError("the simulator logged in another principal")

    def client(self, **options: Any) -> EnlightenClient:
        """An :class:`~enlighten_async.EnlightenClient` for this simulator.

        It is told the simulator's plan and shares its clock; ``options`` go to the client
        (``timeout``, ``max_in_flight``, ...). Use it as ``async with sim.client() as c``.
        """
        return EnlightenClient(
            self.api_key,
            self.user_id,
            base_url=self.base_url,
            plan=self.plan,
            clock=self.clock,
            **options,
        )


@contextlib.asynccontextmanager
async def embedded(
    systems: int = 20,
    *,
    plan: str = "watt",
    time_scale: float = DEFAULT_EMBEDDED_TIME_SCALE,
    seed: int = 1,  # the fleet of `backfill --simulate` and `simulate`
    api: str = "v2",
    v4: V4Options | None = None,
) -> AsyncIterator[EmbeddedSimulator]:
    """Serve a simulated fleet of ``systems`` systems on 127.0.0.1 while the block runs.

    ``plan`` is one of the service's plans (``watt``, ``kilowatt``, ``megawatt``,
    ``unlimited``) or quotas as text (``"20/second"``), read by
    :func:`~enlighten_async.core.quota.resolve_plan`, enforced by the simulator and told to
    :meth:`EmbeddedSimulator.client`.
    ``time_scale`` is simulated seconds per real second. The same ``seed`` gives the same
    fleet. Bad arguments raise before anything starts.

    ``api="v4"`` serves the Monitoring API v4 (``plan`` then names a v4 plan, ``partner``
    too; ``v4`` its knobs): :attr:`EmbeddedSimulator.base_url` ends in ``/api/v4``, and
    ``api_key``, ``client_id``, ``client_secret``, :meth:`~EmbeddedSimulator.authorization_code`
    and :meth:`~EmbeddedSimulator.tokens` give a client what it needs, and
    :meth:`~EmbeddedSimulator.v4_client` a logged-in client. (``client()`` is v2's.)
    """
    if api not in ("v2", "v4"):
        raise ValueError(f"api must be v2 or v4, got {api!r}")
    if isinstance(systems, bool) or not isinstance(systems, int):
        raise TypeError(f"systems must be an int, got {type(systems).__name__}")
    if systems < 1:
        raise ValueError(f"systems must be at least 1, got {systems}")
    if not isinstance(plan, str):
        raise TypeError(f"plan must be a plan name or quotas as text, got {type(plan).__name__}")
    # The one plan validator's answer and words, over the version's table.
    served = v4_plan(plan) if api == "v4" else Plan.parse(plan)
    if isinstance(time_scale, bool) or not isinstance(time_scale, (int, float)):
        raise TypeError(f"time_scale must be a number, got {type(time_scale).__name__}")
    if not (math.isfinite(time_scale) and time_scale > 0):
        raise ValueError(f"time_scale must be a positive finite number, got {time_scale!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    simulator = Simulator(
        fleet=Fleet(systems, seed=seed),
        plan=served,
        clock=ScaledClock(time_scale),
        api=api,
        v4=v4,
    )
    async with SimulatorServer(simulator) as server:
        yield EmbeddedSimulator(simulator, server, plan)
