"""The version-neutral core of the simulator: counting, auth, the quota gate and injected
faults, as aiohttp middlewares, over any API version's :class:`~.routing.RouteTable`.

A request to an operation meets them in this order (:attr:`Pipeline.STEPS`); the first in
aiohttp's list is the outermost, so a step that answers stops every step after it:

1. ``count_operation``: counted per operation (every request, a refused one too);
2. ``authenticate``: a wrong key or user id is answered 401, counting against no quota;
3. ``draw_date_fault``: a lying ``Date`` is drawn, so that it can go on a 409 too;
4. ``quota_gate``: one request too many is answered 409 and not counted;
5. ``draw_fault``: the fault is drawn; a far 409 is answered here, not counted;
6. ``count_quota``: the request counts against every quota window of the plan;
7. ``serve_fault``: the drawn fault is served, around the operation's answer.

The quota and the faults each take two steps because the service's order interleaves them,
and the benchmarks and the soak depend on the order of the random draws for a seed: the
fault is drawn only for a request the quota lets through, and only such a request counts.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from email.utils import formatdate
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from aiohttp import web

from ..core.clock import Clock
from .counters import Counters
from .faults import (
    ANSWER_FAULTS,
    FAR_CONFLICT_FAULTS,
    FAR_CONFLICT_SECONDS,
    SIZE_FAULTS,
    Faults,
    gzip_bomb,
)
from .quota import Plan, QuotaTracker
from .routing import RouteTable, json_response

if TYPE_CHECKING:  # a Protocol in aiohttp's typedefs (a handler's parameter is named)
    from aiohttp.typedefs import Middleware

__all__ = ["DATE_FAULT", "Pipeline", "SimulatorState", "Visit"]

_HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
)
#: The bytes an ``oversize`` body is written in.
_PAD_CHUNK = 64 * 1024
#: The faults counted as soon as they are served: instead of the answer, or before it
#: (``slow``).
_INSTEAD = ("503", "busy", "500", "502", "slow")


def _request_key(name: str, fault: type) -> Any:
    """A ``RequestKey`` where aiohttp has them (3.14 on, where a plain string key warns),
    else the string."""
    return getattr(web, "RequestKey", lambda name, _: name)(name, fault)


#: Where a request's ``Date`` fault waits for the answer's headers.
DATE_FAULT: Any = _request_key("enlighten_async.simulator.date_fault", str)


class SimulatorState(Protocol):
    """What the middlewares read of a simulator, at each request (so that a test may swap
    a part)."""

    api_key: str
    user_id: str
    plan: Plan
    clock: Clock
    faults: Faults
    quota: QuotaTracker
    counters: Counters


@dataclass(slots=True)
class Visit:
    """One request to an operation, as the steps pass it on."""

    operation: str
    table: RouteTable
    #: The simulated time the quota gate looked at the request (its windows' time).
    now: float = 0.0
    #: The fault drawn for it (``None``: answered normally).
    fault: str | None = None


_VISIT: Any = _request_key("enlighten_async.simulator.visit", Visit)

Next = Callable[[web.Request], Awaitable[web.StreamResponse]]
Step = Callable[[web.Request, Visit, Next], Awaitable[web.StreamResponse]]


def _on_operations(step: Step) -> Middleware:
    """``step`` as a middleware that lets anything but an operation (the counters, a 404,
    a 405) through untouched."""

    @web.middleware
    def middleware(request: web.Request, handler: Next) -> Awaitable[web.StreamResponse]:
        # Not a coroutine itself: the step's (or the handler's) is awaited by aiohttp, one
        # frame less a step.
        try:
            visit = request[_VISIT]
        except KeyError:
            return handler(request)
        return step(request, visit, handler)

    middleware.__name__ = middleware.__qualname__ = step.__name__
    return middleware


class Pipeline:
    """The middlewares of one simulator, and the hook that stamps each answer's ``Date``.

    :meth:`register` a version's table, then give :meth:`middlewares` to the app and
    :meth:`on_response_prepare` to its ``on_response_prepare`` signal.
    """

    #: The steps in the order a request meets them (see the module's docstring).
    STEPS: ClassVar[tuple[str, ...]] = (
        "count_operation",
        "authenticate",
        "draw_date_fault",
        "quota_gate",
        "draw_fault",
        "count_quota",
        "serve_fault",
    )

    def __init__(self, sim: SimulatorState) -> None:
        self.sim = sim
        #: The table of each operation, by its route's name.
        self.operations: dict[str, RouteTable] = {}
        self._base_paths: tuple[str, ...] = ()
        self._in_flight = 0

    def register(self, table: RouteTable, operations: Iterable[str]) -> None:
        """Serve ``operations`` (route names) through the steps, worded by ``table``."""
        self.operations.update(dict.fromkeys(operations, table))
        self._base_paths += (table.base_path,)

    def middlewares(self) -> list[Middleware]:
        """The steps as aiohttp middlewares, outermost first."""
        return [
            self.count_operation,
            *(_on_operations(getattr(self, name)) for name in self.STEPS[1:]),
        ]

    # -- the steps ------------------------------------------------------------------------

    @web.middleware
    async def count_operation(self, request: web.Request, handler: Next) -> web.StreamResponse:
        """Count a request per operation and start its :class:`Visit`."""
        name = request.match_info.route.name or ""
        table = self.operations.get(name)
        if table is None:  # not an operation: the counters, a 404, a 405
            return await handler(request)
        request[_VISIT] = Visit(name, table)
        self.sim.counters.requests[name] += 1
        return await handler(request)

    async def authenticate(
        self, request: web.Request, visit: Visit, handler: Next
    ) -> web.StreamResponse:
        """401 unless the query names the simulator's key and user id."""
        q = request.query
        if q.get("key") != self.sim.api_key or q.get("user_id") != self.sim.user_id:
            return visit.table.unauthorized()
        return await handler(request)

    async def draw_date_fault(
        self, request: web.Request, visit: Visit, handler: Next
    ) -> web.StreamResponse:
        """Draw the ``Date`` fault, before the quota is looked at, so that a 409 may carry a
        lying ``Date``; :meth:`on_response_prepare` serves it."""
        lie = self.sim.faults.pick_date(visit.operation)
        if lie is not None:
            request[DATE_FAULT] = lie
        return await handler(request)

    async def quota_gate(
        self, request: web.Request, visit: Visit, handler: Next
    ) -> web.StreamResponse:
        """409, worded by the version, for one request too many (not counted)."""
        sim = self.sim
        visit.now = sim.clock.now()
        over = sim.quota.check(request.query["key"], visit.now)
        if over is None:
            return await handler(request)
        sim.counters.conflicts += 1
        quota = over.quota
        return visit.table.quota_refusal(
            sim.plan, quota.period, quota.limit, over.period_start, over.period_end
        )

    async def draw_fault(
        self, request: web.Request, visit: Visit, handler: Next
    ) -> web.StreamResponse:
        """Draw the fault; answer a far 409 at once (a 409, so not counted against the
        quota, as the service does not count one)."""
        fault = visit.fault = self.sim.faults.pick(visit.operation, self._in_flight)
        if fault not in FAR_CONFLICT_FAULTS:
            return await handler(request)
        self.sim.counters.faults[fault] += 1
        # The real one's shape, for the plan's largest limit (a client learning it is not
        # slowed), whose period_end contradicts its period by ten years.
        period, length = ("second", 1) if fault == "409_far_second" else ("minute", 60)
        now = int(visit.now)
        limit = max((quota.limit for quota in self.sim.plan.limits), default=1000)
        return visit.table.quota_refusal(
            self.sim.plan, period, limit, now // length * length, now + FAR_CONFLICT_SECONDS
        )

    async def count_quota(
        self, request: web.Request, visit: Visit, handler: Next
    ) -> web.StreamResponse:
        """Count the request in every quota window of the plan."""
        self.sim.quota.count(request.query["key"], visit.now)
        return await handler(request)

    async def serve_fault(
        self, request: web.Request, visit: Visit, handler: Next
    ) -> web.StreamResponse:
        """Serve the drawn fault: instead of the answer, before it (``slow``) or on it.

        A fault is counted when it is served, so that the counters say exactly what the
        client had to survive (a body-less answer cannot be truncated).
        """
        sim, fault = self.sim, visit.fault
        self._in_flight += 1
        try:
            if fault in _INSTEAD:
                sim.counters.faults[fault] += 1
            if fault == "busy":
                return visit.table.busy()
            if fault in ("503", "500"):
                return visit.table.unavailable(int(fault))
            if fault == "502":
                return web.Response(text=_HTML_502, status=502, content_type="text/html")
            if fault == "slow":
                await sim.clock.sleep(sim.faults.slow_seconds)
            response = await handler(request)
            if fault in ANSWER_FAULTS or fault in SIZE_FAULTS:
                return await self._hostile(fault, visit, request, response)
            cut = _truncated(response) if fault in ("truncate", "drop") else None
            if fault is None or cut is None:
                # Not a body fault, or no body to cut (a 204): answered as it is.
                return response
            assert isinstance(response, web.Response)
            sim.counters.faults[fault] += 1
            if fault == "truncate":
                return cut
            return await _drop(request, response, cut)
        finally:
            self._in_flight -= 1

    # -- the Date header ------------------------------------------------------------------

    async def on_response_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        """Stamp the simulated time as the ``Date`` (a lie when one was drawn, counted here:
        it is served now) and count the status of an answer under a version's path."""
        sim = self.sim
        when = sim.clock.now()
        lie = request.get(DATE_FAULT)
        if lie is not None:
            when = sim.faults.lying_date(lie, when)
            sim.counters.faults[lie] += 1
        response.headers["Date"] = formatdate(when, usegmt=True)
        if request.path.startswith(self._base_paths):
            sim.counters.statuses[response.status] += 1

    # -- hostile answers ------------------------------------------------------------------

    async def _hostile(
        self, fault: str, visit: Visit, request: web.Request, response: web.StreamResponse
    ) -> web.StreamResponse:
        """``response`` turned into the hostile answer ``fault``; as it is (and the fault not
        counted) when it is not a 200 with a JSON body the fault can change."""
        if (
            not isinstance(response, web.Response)
            or response.status != 200
            or response.content_type != "application/json"
            or not response.body
        ):
            return response
        faults, counters = self.sim.faults, self.sim.counters
        raw = bytes(response.body)  # type: ignore[arg-type]
        if fault == "gzip_bomb":
            counters.faults[fault] += 1
            # The real answer is gone: a client that read the bomb through would get spaces.
            return web.Response(
                body=gzip_bomb(faults.bomb_bytes),
                content_type="application/json",
                headers={"Content-Encoding": "gzip"},
            )
        if fault == "oversize":
            counters.faults[fault] += 1
            return await _oversize(request, raw, faults.oversize_bytes)
        body = json.loads(raw)
        changed = (
            visit.table.changed(fault, visit.operation, request, body)
            if isinstance(body, dict)
            else None
        )
        if changed is None:
            return response
        counters.faults[fault] += 1
        return json_response(changed)


def _truncated(response: web.StreamResponse) -> web.Response | None:
    """``response`` with its body cut in half, or ``None`` when there is nothing to cut."""
    if not isinstance(response, web.Response) or not response.body:
        return None
    body = bytes(response.body)  # type: ignore[arg-type]
    if len(body) < 2:
        return None
    return web.Response(
        body=body[: len(body) // 2], status=response.status, content_type="application/json"
    )


async def _drop(request: web.Request, full: web.Response, cut: web.Response) -> web.StreamResponse:
    # Promise the whole body, send part of it, then hang up: the client sees a payload
    # error mid-body, like a connection reset by a load balancer. (Hanging up before the
    # first byte would be invisible: aiohttp's client silently re-sends.)
    resp = web.StreamResponse(status=full.status)
    resp.content_type = "application/json"
    resp.content_length = len(full.body)  # type: ignore[arg-type]
    await resp.prepare(request)
    await resp.write(bytes(cut.body))  # type: ignore[arg-type]
    if request.transport is not None:
        request.transport.close()
    return resp


async def _oversize(request: web.Request, raw: bytes, size: int) -> web.StreamResponse:
    # The real answer and then whitespace (still JSON, so only its size is wrong) up to
    # ``size`` bytes, chunked: the client cannot tell the size before it has read it.
    resp = web.StreamResponse(status=200)
    resp.content_type = "application/json"
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    left = size - len(raw)
    pad = b" " * _PAD_CHUNK
    try:
        await resp.write(raw)
        while left > 0:
            await resp.write(pad[:left])
            left -= _PAD_CHUNK
        await resp.write_eof()
    except ConnectionError:
        pass  # the client stopped reading and hung up: what a client with a cap does
    return resp
