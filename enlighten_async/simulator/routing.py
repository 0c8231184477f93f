"""What an API version gives the simulator: its routes, and how it words the answers that
the version-neutral middlewares (auth, quota, faults) give on its behalf.

A version is a :class:`RouteTable` subclass in ``simulator/v<N>/``; the app registers it in
one line (see :mod:`enlighten_async.simulator.app`). Handlers build plain dicts, never the
client's models, so that a bug cannot hide on both sides.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NamedTuple

from aiohttp import web

from .quota import Plan

__all__ = ["Body", "Handler", "Reject", "Route", "RouteTable", "json_response"]

Body = dict[str, Any] | list[Any]
#: A version's handler: the request and the simulated time it is answered at.
Handler = Callable[[web.Request, float], Awaitable[web.StreamResponse]]


class Reject(Exception):
    """Raised by a handler to answer ``status`` with ``body`` (``None``: no body)."""

    def __init__(self, status: int, body: Body | None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def json_response(body: Body, status: int = 200) -> web.Response:
    """``body`` as compact JSON (the service sends no spaces)."""
    text = json.dumps(body, separators=(",", ":"))
    return web.Response(text=text, status=status, content_type="application/json")


class Route(NamedTuple):
    """One operation: its full path, its name (the operationId) and its handler."""

    path: str
    operation: str
    handler: Handler


class RouteTable(ABC):
    """One API version: the routes it serves under :attr:`base_path`, and the wording of
    the refusals and failures the middlewares answer for it (each version has its own
    error bodies)."""

    #: Where the version lives, e.g. ``/api/v2``.
    base_path: str

    @abstractmethod
    def routes(self) -> Sequence[Route]:
        """Every operation of the version, in the order the router tries them."""

    @abstractmethod
    def unauthorized(self) -> web.Response:
        """The answer to a wrong key or user id."""

    @abstractmethod
    def quota_refusal(
        self, plan: Plan, period: str, limit: int, period_start: int, period_end: int
    ) -> web.Response:
        """The answer to one request too many for ``limit`` per ``period`` of ``plan``, in
        the window ``[period_start, period_end)``."""

    @abstractmethod
    def unavailable(self, status: int) -> web.Response:
        """A server error (``status`` 500 or 503) saying the data is unavailable for now."""

    @abstractmethod
    def busy(self) -> web.Response:
        """The answer to one request too many in flight for a key."""

    @abstractmethod
    def changed(
        self, fault: str, operation: str, request: web.Request, body: dict[str, Any]
    ) -> dict[str, Any] | None:
        """``body`` (the answer to ``request``) made an answer to something else, as the
        hostile fault ``fault`` (an ``ANSWER_FAULTS`` one) says, or ``None`` if it cannot be."""
