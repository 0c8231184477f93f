"""A backfill's client over the systems of several owners: :class:`V4Fleet`.

On v4 every owner authorizes the application apart (one token pair per ``enl_uid``), and
every owner's calls spend the one quota of the API key. :class:`V4Fleet` takes one client
per owner (the first one and its :meth:`~enlighten_async.v4.client.EnlightenV4Client.
with_tokens` views: one scheduler), lists ``/systems`` once per owner, keeps each system
once (the first owner that lists it), and fetches each system's data with its owner's
client. It is what :func:`enlighten_async.backfill.backfill` is given on v4 (a
:class:`~enlighten_async.core.kinds.BackfillClient`), and what v4's kinds' fetches call.

An owner whose authorization is gone (a refused refresh token:
:class:`~enlighten_async.core.exceptions.ReauthorizationRequired`) is left out, with a
warning, and named in :attr:`V4Fleet.left_out`: one revoked owner does not stop the
others' backfill. When every owner is left out, or ids asked for are not found while an
owner is, the error is raised.

v4's :class:`~enlighten_async.v4.models.System` has no ``meta`` nor ``system_name``:
:class:`FleetSystem` shows it as the engine's :class:`~enlighten_async.core.kinds.
BackfillSystem`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timezone
from typing import TypeVar

from attrs import frozen

from enlighten_async.core.clock import Clock
from enlighten_async.core.exceptions import AuthError, NotFoundError, ReauthorizationRequired
from enlighten_async.core.quota import Quota
from enlighten_async.core.scheduler import Priority, SchedulerSnapshot
from enlighten_async.v4.args import MAX_SYSTEMS_PAGE_SIZE
from enlighten_async.v4.client import MAX_PAGES, EnlightenV4Client
from enlighten_async.v4.models import System

__all__ = ["LISTING_REUSE_SECONDS", "FleetMeta", "FleetSystem", "V4Fleet"]

log = logging.getLogger("enlighten_async.v4.fleet")

_EPOCH = datetime.fromtimestamp(0, timezone.utc)
T = TypeVar("T")
#: An owner's listing is read again for free this long (clock seconds) after it was read:
#: the calls of one backfill (its chunks of ids, a plan then its run) share one listing,
#: while a later run sees each system's last report anew.
LISTING_REUSE_SECONDS = 600.0


@frozen
class FleetMeta:
    """A v4 system's status and report times as the engine reads them
    (:class:`~enlighten_async.core.kinds.SystemMeta`). A system that never reported has
    its operational time (or the epoch) as its last report: nothing is planned after it."""

    status: str | None
    last_report_at: datetime
    operational_at: datetime


@frozen
class FleetSystem:
    """A v4 :class:`~enlighten_async.v4.models.System` and the owner who listed it (its
    index in the fleet's clients), as a :class:`~enlighten_async.core.kinds.
    BackfillSystem`."""

    system: System
    principal: int = 0

    @property
    def system_id(self) -> int:
        """The system's id."""
        return self.system.system_id

    @property
    def system_name(self) -> str:
        """The system's name (``""`` when the listing gave none)."""
        return self.system.name or ""

    @property
    def timezone(self) -> str:
        """The system's IANA timezone as sent (``""`` when none: planned in UTC)."""
        return self.system.timezone or ""

    @property
    def meta(self) -> FleetMeta:
        """How current the system's data is, by the listing."""
        s = self.system
        operational = s.operational_at or _EPOCH
        return FleetMeta(s.status, s.last_report_at or operational, operational)


class V4Fleet:
    """One :class:`~enlighten_async.core.kinds.BackfillClient` over the clients of several
    owners of one application (see the module's docstring).

    ``clients`` are :class:`~enlighten_async.v4.client.EnlightenV4Client` s sharing one
    scheduler (made with ``with_tokens``); a ``ValueError`` otherwise, or when there is
    none. The fleet closes nothing: close the clients.
    """

    __slots__ = ("_clients", "_left_out", "_listed", "_owner")

    def __init__(self, clients: Sequence[EnlightenV4Client]) -> None:
        clients = tuple(clients)
        if not clients:
            raise ValueError("a V4Fleet needs at least one client")
        for client in clients:
            if not isinstance(client, EnlightenV4Client):
                raise TypeError(f"a V4Fleet takes EnlightenV4Client s, got {type(client).__name__}")
            if client.scheduler is not clients[0].scheduler:
                raise ValueError(
                    "the clients of a V4Fleet share one scheduler (one quota per API key): "
                    "make them with the first client's with_tokens()"
                )
        self._clients = clients
        #: system id -> index of the owner that listed it first (shared with the views).
        self._owner: dict[int, int] = {}
        #: each owner's full listing and when (by the clock) it was read, shared with the
        #: views: calls within LISTING_REUSE_SECONDS of it read it again for free.
        self._listed: dict[int, tuple[float, list[System]]] = {}
        #: owner index -> why it was left out (shared with the views).
        self._left_out: dict[int, ReauthorizationRequired] = {}

    def __repr__(self) -> str:
        return f"V4Fleet({len(self._clients)} principals)"

    @property
    def clients(self) -> tuple[EnlightenV4Client, ...]:
        """The owners' clients, in order."""
        return self._clients

    @property
    def api_version(self) -> str:
        """``"v4"``."""
        return "v4"

    @property
    def clock(self) -> Clock:
        """The shared scheduler's clock."""
        return self._clients[0].clock

    @property
    def max_in_flight(self) -> int:
        """The shared scheduler's most requests in flight."""
        return self._clients[0].max_in_flight

    def known_quotas(self) -> tuple[Quota, ...]:
        """The quotas in force for the application's key."""
        return self._clients[0].known_quotas()

    def scheduler_snapshot(self) -> SchedulerSnapshot:
        """The shared scheduler's counts (every owner's requests)."""
        return self._clients[0].scheduler_snapshot()

    def with_options(self, *, priority: Priority) -> V4Fleet:
        """A view of the fleet whose calls (every owner's) use ``priority``."""
        view = V4Fleet.__new__(V4Fleet)
        view._clients = tuple(c.with_options(priority=priority) for c in self._clients)
        view._owner = self._owner
        view._listed = self._listed
        view._left_out = self._left_out
        return view

    @property
    def left_out(self) -> dict[str, ReauthorizationRequired]:
        """The owners left out because their authorization is gone, by principal
        (``enl_uid``), with the error each raised: their systems were not listed. They
        must authorize the application again (then log in with the code)."""
        return {_principal(i, e): e for i, e in sorted(self._left_out.items())}

    def _leave_out(self, index: int, error: ReauthorizationRequired) -> None:
        self._left_out[index] = error
        log.warning(
            "owner %s left out: %s; its systems are not backfilled until it authorizes "
            "this application again",
            _principal(index, error),
            error.message_text,
        )

    def _all_left_out(self) -> None:
        """Raise the first owner's error when every owner is left out: nothing to do."""
        if len(self._left_out) == len(self._clients):
            raise self._left_out[min(self._left_out)]

    def client_for(self, system: object) -> EnlightenV4Client:
        """The client of the owner of ``system`` (a :class:`FleetSystem`, or any system
        or id this fleet listed; the first owner's for one it never listed)."""
        if isinstance(system, FleetSystem) and 0 <= system.principal < len(self._clients):
            return self._clients[system.principal]
        system_id = system if isinstance(system, int) else getattr(system, "system_id", None)
        index = self._owner.get(system_id, 0) if isinstance(system_id, int) else 0
        return self._clients[index]

    def systems(
        self, *, system_id: list[int] | None = None, limit: int = MAX_SYSTEMS_PAGE_SIZE
    ) -> AsyncIterator[FleetSystem]:
        """Every system of every owner, each once (the first owner that lists it owns it),
        or only those of ``system_id``: each found with the fewest requests, listing
        ``/systems`` in pages of ``limit`` (at most 100) or asking for each system
        (``/systems/{id}``), whichever is fewer. An owner's listing is read once per
        fleet. An id no owner has is left out (a backfill refuses it)."""
        size = max(1, min(int(limit), MAX_SYSTEMS_PAGE_SIZE))
        if system_id is None:
            return self._all(size)
        return self._some(list(dict.fromkeys(system_id)), size)

    def _cached(self, index: int) -> list[System] | None:
        """The owner's listing if it was read within :data:`LISTING_REUSE_SECONDS`."""
        known = self._listed.get(index)
        if known is None or self.clock.now() - known[0] > LISTING_REUSE_SECONDS:
            return None
        return known[1]

    def _keep(self, index: int, systems: list[System]) -> None:
        self._listed[index] = (self.clock.now(), systems)

    def _adopt(self, index: int, system: System) -> FleetSystem | None:
        owner = self._owner.setdefault(system.system_id, index)
        return FleetSystem(system, owner) if owner == index else None

    async def _listing(self, index: int, size: int) -> AsyncIterator[System]:
        known = self._cached(index)
        if known is not None:
            for system in known:
                yield system
            return
        got: list[System] = []
        seen: set[int] = set()
        async for system in self._clients[index].systems(size=size):
            # once each: pages shift when a system is added while they are walked
            if system.system_id in seen:
                continue
            seen.add(system.system_id)
            got.append(system)
            yield system
        self._keep(index, got)

    async def _all(self, size: int) -> AsyncIterator[FleetSystem]:
        for index in range(len(self._clients)):
            # An owner's listing whole before any of it is taken: an owner whose
            # authorization goes between two pages is left out with all its systems, not
            # with those of its first pages kept (whose spans would all fail).
            listed = [s async for s in self._asking(index, self._listing(index, size))]
            if index in self._left_out:
                continue
            for system in listed:
                adopted = self._adopt(index, system)
                if adopted is not None:
                    yield adopted
        self._all_left_out()

    async def _asking(self, index: int, systems: AsyncIterator[T]) -> AsyncIterator[T]:
        """``systems``, of owner ``index``; an owner whose authorization is gone is left
        out (and taken back when it answers again). A left-out owner is asked again at
        each listing at no cost: its manager reads the store (a new login is taken) and
        sends nothing with a set whose refresh token was refused."""
        try:
            async for system in systems:
                yield system
        except ReauthorizationRequired as exc:
            self._leave_out(index, exc)
        else:
            self._left_out.pop(index, None)

    async def _some(self, wanted: list[int], size: int) -> AsyncIterator[FleetSystem]:
        missing = dict.fromkeys(wanted)
        for index in range(len(self._clients)):
            if not missing:
                return
            # (Yielded as found: an owner whose authorization goes between two pages
            # keeps the ids it found, whose spans then fail without a request.)
            async for system in self._asking(index, self._owned(index, size, missing)):
                yield system
        self._all_left_out()
        if missing and self._left_out:
            # they may be a left-out owner's: not "not found", which would be a guess
            first = self._left_out[min(self._left_out)]
            raise ReauthorizationRequired(
                f"systems {list(missing)[:20]} were not found among the owners that "
                f"answered, and {len(self._left_out)} owner(s) must authorize this "
                f"application again ({first.message_text})",
                operation=first.operation,
                status=first.status,
                authorize_url=first.authorize_url,
                principal=first.principal,
            )

    async def _owned(
        self, index: int, size: int, missing: dict[int, None]
    ) -> AsyncIterator[FleetSystem]:
        """The systems of ``missing`` owner ``index`` has (each taken out of ``missing``)."""
        client = self._clients[index]
        known = self._cached(index)
        if known is not None:
            for system in known:
                if system.system_id in missing and self._adopt(index, system) is not None:
                    del missing[system.system_id]
                    yield FleetSystem(system, index)
            return
        # A page says the owner's total: the pages left against one request per id.
        page = await client.systems_page(page=1, size=size)
        total = page.total if page.total is not None else len(page.items())
        pages_left = max(math.ceil(total / size) - 1, 0)
        got = list(page.items())
        for system in got:
            if system.system_id in missing and self._adopt(index, system) is not None:
                del missing[system.system_id]
                yield FleetSystem(system, index)
        if not missing or pages_left == 0:
            if pages_left == 0:
                self._keep(index, got)
            return
        if len(missing) < pages_left:
            for sid in list(missing):
                try:
                    system = await client.system(sid)
                except NotFoundError:
                    continue  # not this owner's: the next owner may have it
                except AuthError as exc:
                    if exc.status != 403:
                        raise
                    continue
                if self._adopt(index, system) is not None:
                    del missing[sid]
                    yield FleetSystem(system, index)
            return
        async for system in self._rest(index, size, got):
            if system.system_id in missing and self._adopt(index, system) is not None:
                del missing[system.system_id]
                yield FleetSystem(system, index)

    async def _rest(self, index: int, size: int, first: list[System]) -> AsyncIterator[System]:
        """The owner's pages after the first (each asked for once, at most the client's
        ``MAX_PAGES``), kept for later calls when the walk ends."""
        client = self._clients[index]
        got = list(first)
        seen = {s.system_id for s in first}
        for number in range(2, MAX_PAGES + 1):
            page = await client.systems_page(page=number, size=size)
            items = page.items()
            for system in items:
                if system.system_id not in seen:
                    seen.add(system.system_id)
                    got.append(system)
                    yield system
            total = page.total
            if not items or total is None or len(seen) >= total:
                break
        self._keep(index, got)


def _principal(index: int, error: ReauthorizationRequired) -> str:
    """An owner's name in messages: its ``enl_uid`` (not a secret: it names the owner in
    every token log line), or its place in the fleet."""
    return error.principal or f"#{index + 1}"
