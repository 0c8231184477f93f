"""A fake server with fixed quota windows, and the helpers the scheduler tests share.

Runs on whatever clock it is given: under looptime, virtual time.
"""

from __future__ import annotations

import asyncio
import json
import math
from email.utils import formatdate
from typing import Any

import enlighten_async as ea
from enlighten_async.core.wire import RawResponse
from enlighten_async.v2.protocol import error_for

ORIGIN = 1_800_000_030.0  # 30 s into a minute window: the first window is a partial one


class FakeServer:
    """Fixed windows of ``limit`` per ``period`` seconds; 409s do not count."""

    def __init__(
        self,
        clock: ea.Clock,
        limit: int = 10,
        period: float = 60.0,
        *,
        latency: float = 0.2,
        skew: float = 0.0,
        period_name: str = "minute",
    ) -> None:
        self.clock, self.limit, self.period = clock, limit, period
        self.latency, self.skew, self.period_name = latency, skew, period_name
        self.counts: dict[int, int] = {}
        self.accepted: list[float] = []  # server times of counted requests
        self.conflicts: list[float] = []
        self.failures: list[str] = []  # scripted faults, consumed in order

    def now(self) -> float:
        return self.clock.now() + self.skew

    async def handle(self, operation: str = "stats") -> str:
        await asyncio.sleep(self.latency / 2)
        t = self.now()
        if self.failures:
            kind = self.failures.pop(0)
            await asyncio.sleep(self.latency / 2)
            if kind == "transport":
                raise ea.TransportError(
                    "dropped", operation=operation, cause="ServerDisconnectedError"
                )
            status = int(kind)
            body = (
                {"errorCode": 7, "errorMessages": ["Data temporarily unavailable."]}
                if status >= 500
                else {"reason": str(status), "message": ["no"]}
            )
            raise error_for(operation, RawResponse(status, {}, json.dumps(body).encode()))
        index = math.floor(t / self.period)
        if self.counts.get(index, 0) >= self.limit:
            self.conflicts.append(t)
            start = index * self.period
            body = {
                "reason": "409",
                "message": ["Usage limit exceeded for plan Watt"],
                "period": self.period_name,
                "period_start": int(start),
                "period_end": int(start + self.period),
                "limit": self.limit,
            }
            await asyncio.sleep(self.latency / 2)
            headers = {"Date": formatdate(self.now(), usegmt=True)}
            raise error_for(operation, RawResponse(409, headers, json.dumps(body).encode()))
        self.counts[index] = self.counts.get(index, 0) + 1
        self.accepted.append(t)
        await asyncio.sleep(self.latency / 2)
        return "ok"


def make(plan: Any = None, **kwargs: Any) -> tuple[ea.Scheduler, FakeServer, ea.ScaledClock]:
    clock = ea.ScaledClock(1.0, origin=ORIGIN)
    server_kwargs = {
        k: kwargs.pop(k) for k in ("limit", "period", "latency", "skew") if k in kwargs
    }
    kwargs.setdefault("retry", ea.RetryPolicy(attempts=4, initial_delay=1.0, jitter=0.5))
    scheduler = ea.Scheduler(plan, clock=clock, **kwargs)
    return scheduler, FakeServer(clock, **server_kwargs), clock


async def run_many(scheduler: ea.Scheduler, server: FakeServer, n: int, **kw: Any) -> list[Any]:
    results: list[Any] = await asyncio.gather(
        *(scheduler.submit(server.handle, operation="stats", **kw) for _ in range(n)),
        return_exceptions=True,
    )
    return results


def per_window(server: FakeServer) -> dict[int, int]:
    return dict(sorted(server.counts.items()))
