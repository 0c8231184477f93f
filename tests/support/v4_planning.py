"""A v4 client that plans only (no token, no server) and v4 systems to plan for: what the
planning tests and ``benchmarks/requests_per_year.py``'s test give ``plan_backfill``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from enlighten_async.core.clock import ScaledClock
from enlighten_async.core.converter import converter
from enlighten_async.v4.client import EnlightenV4Client
from enlighten_async.v4.fleet import FleetSystem, V4Fleet
from enlighten_async.v4.models import System


class NoTokens:
    """A token source that is never asked: planning with given systems sends nothing."""

    async def access_token(self) -> str:
        raise AssertionError("planning sent a request")

    async def after_unauthorized(self, rejected: str) -> str:
        raise AssertionError("planning sent a request")


@contextlib.asynccontextmanager
async def planning_fleet(now: float) -> AsyncIterator[V4Fleet]:
    """A :class:`V4Fleet` of one client whose clock stands at ``now`` (runs at 1x)."""
    client = EnlightenV4Client("planning-only", NoTokens(), clock=ScaledClock(1.0, origin=now))
    async with client:
        yield V4Fleet([client])


def v4_system(
    system_id: int,
    zone: str,
    *,
    operational_at: int,
    last_report_at: int,
    **more: Any,
) -> FleetSystem:
    """A v4 system as ``/systems`` lists it, as the engine reads it."""
    body = {
        "system_id": system_id,
        "name": f"System {system_id}",
        "timezone": zone,
        "status": "normal",
        "operational_at": operational_at,
        "last_report_at": last_report_at,
        **more,
    }
    return FleetSystem(converter.structure(body, System))
