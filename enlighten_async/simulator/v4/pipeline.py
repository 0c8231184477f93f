"""The v4 simulator's steps where they differ from v2's: who may call (an API key and a
bearer token, a key that matches the token's client, a plan that covers the operation)
and whether a refused request (429) counts.

The other steps (counting, faults, the ``Date``) are the version-neutral
:class:`~enlighten_async.simulator.middlewares.Pipeline`'s, unchanged.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import web

from ..counters import Counters
from ..middlewares import Next, Pipeline, SimulatorState, Visit
from ..routing import json_response
from .oauth import OAuthServer
from .options import GATED_OPERATIONS, V4Options

__all__ = ["V4Counters", "V4Pipeline", "V4State"]


class V4State(SimulatorState, Protocol):
    """What the v4 steps read of a simulator besides what every version's do."""

    oauth: OAuthServer
    v4: V4Options


@dataclass
class V4Counters(Counters):
    """:class:`Counters` plus the token endpoint's: refreshes per principal (``enl_uid``),
    token requests by outcome, and 401s by cause (``key``, ``token``, ``mismatch``,
    ``plan``). ``conflicts`` counts 429s."""

    refreshes: Counter[str] = field(default_factory=Counter)
    token_requests: Counter[str] = field(default_factory=Counter)
    unauthorized: Counter[str] = field(default_factory=Counter)

    def reset(self) -> None:
        """Zero every counter."""
        super().reset()
        self.refreshes.clear()
        self.token_requests.clear()
        self.unauthorized.clear()

    def to_dict(self) -> dict[str, object]:
        """:meth:`Counters.to_dict` with the v4 counters."""
        return {
            **super().to_dict(),
            "refreshes": dict(self.refreshes),
            "token_requests": dict(self.token_requests),
            "unauthorized": dict(self.unauthorized),
        }


_UNAUTHORIZED = "User is not authorized"
_MISMATCH = "API Key -Client mismatch"


class V4Pipeline(Pipeline):
    """v2's steps with v4's auth and v4's counting of refusals."""

    sim: V4State

    def __init__(self, sim: V4State) -> None:
        super().__init__(sim)
        self.sim = sim

    def _refuse(self, cause: str, details: str) -> web.Response:
        counters = self.sim.counters
        if isinstance(counters, V4Counters):
            counters.unauthorized[cause] += 1
        body = {"message": "Not Authorized", "details": details, "code": 401}
        return json_response(body, 401)

    async def authenticate(
        self, request: web.Request, visit: Visit, handler: Next
    ) -> web.StreamResponse:
        """401 for a key no application holds, a missing, unknown or expired token, a key
        of another application than the token's, or an operation the plan does not cover
        (the service's 401, not a 403: NOTES.md)."""
        sim = self.sim
        app = sim.oauth.application_for_key(request.query.get("key"))
        if app is None:
            return self._refuse("key", _UNAUTHORIZED)
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        grant = (
            sim.oauth.access(token.strip(), sim.clock.now()) if scheme.lower() == "bearer" else None
        )
        if grant is None:
            return self._refuse("token", _UNAUTHORIZED)
        if grant.client_id != app.client_id:
            return self._refuse("mismatch", _MISMATCH)
        if visit.operation in GATED_OPERATIONS and sim.plan.name in sim.v4.gated_plans:
            return self._refuse("plan", _UNAUTHORIZED)
        return await handler(request)

    async def quota_gate(
        self, request: web.Request, visit: Visit, handler: Next
    ) -> web.StreamResponse:
        """429, worded by the table, for one request too many; counted against the
        windows when ``V4Options.refusal_counts`` says a refusal is a hit."""
        sim = self.sim
        visit.now = sim.clock.now()
        key = request.query["key"]
        over = sim.quota.check(key, visit.now)
        if over is None:
            return await handler(request)
        sim.counters.conflicts += 1
        if sim.v4.refusal_counts:
            sim.quota.count(key, visit.now)
        quota = over.quota
        return visit.table.quota_refusal(
            sim.plan, quota.period, quota.limit, over.period_start, over.period_end
        )
