"""EnlightenClient: one coroutine per operation of the Enlighten Systems API v2.

Data flows one way: a method checks its arguments and builds a :class:`Request`; the
scheduler paces it; the transport sends it; :func:`decode` turns the answer into a model
or a typed error.
"""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime
from types import TracebackType
from typing import Any, TypeVar

import aiohttp
import attrs

from enlighten_async import _args as p
from enlighten_async._clock import Clock
from enlighten_async._exceptions import EnlightenError
from enlighten_async._models import (
    ConnectionType,
    ConsumptionInterval,
    ConsumptionLifetime,
    ConsumptionStats,
    EnergyLifetime,
    Envoys,
    Inventory,
    InvertersSummary,
    MonthlyProduction,
    ProductionMeterReadings,
    RgmInterval,
    RgmStats,
    SearchSystemIdResult,
    Stats,
    StatsInterval,
    Status,
    Summary,
    System,
    SystemsPage,
)
from enlighten_async._pagination import paginate
from enlighten_async._protocol import Request, decode
from enlighten_async._quota import Quota
from enlighten_async._retry import RetryPolicy
from enlighten_async._scheduler import Priority, Scheduler, SchedulerStats
from enlighten_async._transport import Credentials, Transport
from enlighten_async._windows import Kind, plan_windows

__all__ = ["DEFAULT_BASE_URL", "EnlightenClient"]

#: The spec's server.
DEFAULT_BASE_URL = "https://api.enphaseenergy.com/api/v2"
#: Default total timeout of one request, in seconds.
DEFAULT_TIMEOUT = 30.0

T = TypeVar("T")
Epoch = datetime | int | float
DateLike = date | str
IntFilter = int | Sequence[int]
StrFilter = str | Sequence[str]
StatusFilter = Status | str | Sequence[Status | str]
ConnectionFilter = ConnectionType | str | Sequence[ConnectionType | str]


@attrs.frozen
class _CallOptions:
    priority: Priority = Priority.INTERACTIVE
    max_wait: float | None = None


class EnlightenClient:
    """An asyncio client for the Enlighten Systems API v2.

    Use it as an async context manager; it owns one ``aiohttp.ClientSession`` unless you
    pass ``session`` (then that session is used and left open)::

        async with EnlightenClient(api_key="...", user_id="...") as client:
            async for system in client.systems(status=["normal", "comm"]):
                summary = await client.summary(system.system_id)

    ``plan`` (``"watt"``, ``"kilowatt"``, ...) tells the scheduler the quota; without it
    the scheduler learns the quota from the first 409. Pass ``scheduler`` to share one
    among clients of the same key. ``clock`` is the time source (the simulator's
    compressed clock, or a test's). Neither the key nor the user id shows in a repr, a
    log line or an error.
    """

    def __init__(
        self,
        api_key: str,
        user_id: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        session: aiohttp.ClientSession | None = None,
        timeout: float | aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
        scheduler: Scheduler | None = None,
        plan: str | Sequence[Quota] | None = None,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        max_in_flight: int | None = None,
    ) -> None:
        self._credentials = Credentials(api_key, user_id)
        if scheduler is None:
            kwargs: dict[str, Any] = {"clock": clock, "retry": retry}
            if max_in_flight is not None:
                kwargs["max_in_flight"] = max_in_flight
            plan_arg = plan if plan is None or isinstance(plan, str) else tuple(plan)
            scheduler = Scheduler(plan_arg, **kwargs)
        elif plan is not None or clock is not None or retry is not None or max_in_flight:
            raise ValueError(
                "pass plan, clock, retry and max_in_flight to the shared Scheduler, not the client"
            )
        self.scheduler = scheduler
        client_timeout = (
            timeout
            if isinstance(timeout, aiohttp.ClientTimeout)
            else aiohttp.ClientTimeout(total=timeout)
        )
        self._transport = Transport(
            base_url,
            self._credentials,
            session=session,
            timeout=client_timeout,
            limit=scheduler.max_in_flight,
        )
        self._options = _CallOptions()

    def __repr__(self) -> str:
        return f"EnlightenClient(base_url={self._transport.base_url!r})"

    async def __aenter__(self) -> EnlightenClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session, if the client made it."""
        await self._transport.close()

    @property
    def base_url(self) -> str:
        """The API's base URL this client talks to."""
        return self._transport.base_url

    def with_options(
        self, *, priority: Priority | None = None, max_wait: float | None = None
    ) -> EnlightenClient:
        """A view of this client whose calls use ``priority`` and ``max_wait``.

        It shares the session and the scheduler; closing it closes nothing.
        ``client.with_options(priority=Priority.BACKGROUND)`` is what a backfill uses so that
        an app's interactive calls overtake it.
        """
        view = object.__new__(EnlightenClient)
        view._credentials = self._credentials
        view.scheduler = self.scheduler
        view._transport = self._transport
        view._options = _CallOptions(
            priority=self._options.priority if priority is None else priority,
            max_wait=self._options.max_wait if max_wait is None else max_wait,
        )
        return view

    def stats_snapshot(self) -> SchedulerStats:
        """Requests sent, 409s seen, retries, time spent waiting, the learned limits."""
        return self.scheduler.stats()

    async def _call(self, request: Request, model: Any) -> Any:
        transport = self._transport

        async def attempt() -> Any:
            raw = await transport.send(request)
            try:
                return decode(request.operation, raw, model)
            except EnlightenError as exc:
                transport.scrub(exc)  # a body that echoes the URL must not carry the key
                raise

        return await self.scheduler.submit(
            attempt,
            operation=request.operation,
            priority=self._options.priority,
            max_wait=self._options.max_wait,
        )

    # -- operations ---------------------------------------------------------------------

    async def energy_lifetime(
        self,
        system_id: int,
        *,
        start_date: DateLike | None = None,
        end_date: DateLike | None = None,
        production: str | None = None,
    ) -> EnergyLifetime | None:
        """Daily production in Wh from ``start_date`` to ``end_date``, one entry per day.

        ``production="all"`` adds the microinverter and meter series. Returns ``None`` when
        the service answers ``204 No Content``.
        """
        params = self._date_range(start_date, end_date)
        if production is not None:
            if production != "all":
                raise ValueError(f"production must be 'all' or None, got {production!r}")
            params.append(("production", production))
        return await self._call(  # type: ignore[no-any-return]
            Request("energy_lifetime", _sys(system_id, "energy_lifetime"), tuple(params)),
            EnergyLifetime,
        )

    async def envoys(self, system_id: int) -> Envoys:
        """The active Envoys of a system."""
        return await self._call(  # type: ignore[no-any-return]
            Request("envoys", _sys(system_id, "envoys")), Envoys
        )

    def systems(
        self,
        *,
        limit: int | None = None,
        system_id: IntFilter | None = None,
        system_name: StrFilter | None = None,
        status: StatusFilter | None = None,
        reference: StrFilter | None = None,
        installer: StrFilter | None = None,
        connection_type: ConnectionFilter | None = None,
        next: str | None = None,
    ) -> AsyncIterator[System]:
        """Every system the user may query, following ``next`` page by page.

        An async iterator: a page is fetched only when the previous one is used up, so
        breaking out of the loop stops the requests. A filter given as a value is sent as
        ``name=value``; as a list, in the spec's bracket form ``name[]=a&name[]=b``.
        ``limit`` (1 to 1000) is the page size.
        """
        query = self._systems_query(
            limit=limit,
            system_id=system_id,
            system_name=system_name,
            status=status,
            reference=reference,
            installer=installer,
            connection_type=connection_type,
        )

        async def fetch(token: str | None) -> SystemsPage:
            return await self._systems_page(query, token)

        return paginate(fetch, next)

    async def systems_page(
        self,
        *,
        limit: int | None = None,
        system_id: IntFilter | None = None,
        system_name: StrFilter | None = None,
        status: StatusFilter | None = None,
        reference: StrFilter | None = None,
        installer: StrFilter | None = None,
        connection_type: ConnectionFilter | None = None,
        next: str | None = None,
    ) -> SystemsPage:
        """One page of ``/systems``; its ``next`` is the token of the following page."""
        query = self._systems_query(
            limit=limit,
            system_id=system_id,
            system_name=system_name,
            status=status,
            reference=reference,
            installer=installer,
            connection_type=connection_type,
        )
        return await self._systems_page(query, next)

    async def _systems_page(self, query: list[tuple[str, str]], token: str | None) -> SystemsPage:
        params = [*query, ("next", token)] if token else query
        return await self._call(  # type: ignore[no-any-return]
            Request("systems", "/systems", tuple(params)), SystemsPage
        )

    @staticmethod
    def _systems_query(
        *,
        limit: int | None,
        system_id: Any,
        system_name: Any,
        status: Any,
        reference: Any,
        installer: Any,
        connection_type: Any,
    ) -> list[tuple[str, str]]:
        params: list[tuple[str, str]] = []
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
                raise ValueError(f"limit must be an int from 1 to 1000, got {limit!r}")
            params.append(("limit", str(limit)))
        params += p.filter_params("system_id", system_id, integer=True)
        params += p.filter_params("system_name", system_name)
        params += p.filter_params("status", status)
        params += p.filter_params("reference", reference)
        params += p.filter_params("installer", installer)
        params += p.filter_params("connection_type", connection_type)
        return params

    async def inventory(self, system_id: int) -> Inventory:
        """The active devices (Envoys, microinverters, meters) of a system."""
        return await self._call(  # type: ignore[no-any-return]
            Request("inventory", _sys(system_id, "inventory")), Inventory
        )

    async def inverters_summary_by_envoy_or_site(
        self, site_id: int
    ) -> tuple[InvertersSummary, ...]:
        """Microinverter summaries of a site (``site_id`` is the system id), per Envoy."""
        params = (("site_id", p.system_id_arg(site_id, "site_id")),)
        return await self._call(  # type: ignore[no-any-return]
            Request(
                "inverters_summary_by_envoy_or_site",
                "/systems/inverters_summary_by_envoy_or_site",
                params,
            ),
            tuple[InvertersSummary, ...],
        )

    async def monthly_production(
        self, system_id: int, *, start_date: DateLike
    ) -> MonthlyProduction:
        """Production for the month from ``start_date`` (at least a month ago).

        Deprecated by the API: use :meth:`production_meter_readings` or
        :meth:`energy_lifetime`. Emits a ``DeprecationWarning``.
        """
        warnings.warn(
            "monthly_production is deprecated by the Enlighten API; use "
            "production_meter_readings or energy_lifetime",
            DeprecationWarning,
            stacklevel=2,
        )
        day = p.date_arg(start_date, "start_date")
        return await self._call(  # type: ignore[no-any-return]
            Request(
                "monthly_production",
                _sys(system_id, "monthly_production"),
                (("start_date", day.isoformat()),),
            ),
            MonthlyProduction,
        )

    async def production_meter_readings(
        self, system_id: int, *, end_at: Epoch | None = None
    ) -> ProductionMeterReadings:
        """The last odometer reading of every production meter as of ``end_at`` (now)."""
        params = () if end_at is None else (("end_at", str(p.epoch_arg(end_at, "end_at"))),)
        return await self._call(  # type: ignore[no-any-return]
            Request(
                "production_meter_readings", _sys(system_id, "production_meter_readings"), params
            ),
            ProductionMeterReadings,
        )

    async def rgm_stats(
        self, system_id: int, *, start_at: Epoch | None = None, end_at: Epoch | None = None
    ) -> RgmStats:
        """Revenue-grade meter production in 15-minute intervals, at most one month.

        Times are aware datetimes or epoch seconds; the service rounds them down to the
        15-minute mark. For longer ranges use ``iter_rgm_stats``.
        """
        return await self._call(  # type: ignore[no-any-return]
            Request("rgm_stats", _sys(system_id, "rgm_stats"), _time_range(start_at, end_at)),
            RgmStats,
        )

    async def stats(
        self, system_id: int, *, start_at: Epoch | None = None, end_at: Epoch | None = None
    ) -> Stats:
        """Microinverter production in 5-minute intervals, at most one day.

        Times are aware datetimes or epoch seconds; the service rounds them down to the
        5-minute mark and answers 422 for a start after the last report or before
        production. For longer ranges use ``iter_stats``.
        """
        return await self._call(  # type: ignore[no-any-return]
            Request("stats", _sys(system_id, "stats"), _time_range(start_at, end_at)), Stats
        )

    async def consumption_lifetime(
        self,
        system_id: int,
        *,
        start_date: DateLike | None = None,
        end_date: DateLike | None = None,
    ) -> ConsumptionLifetime | None:
        """Daily consumption in Wh. Returns ``None`` (204) when the system has no meter."""
        params = self._date_range(start_date, end_date)
        return await self._call(  # type: ignore[no-any-return]
            Request("consumption_lifetime", _sys(system_id, "consumption_lifetime"), tuple(params)),
            ConsumptionLifetime,
        )

    async def consumption_stats(
        self, system_id: int, *, start_at: Epoch | None = None, end_at: Epoch | None = None
    ) -> ConsumptionStats:
        """Consumption in 15-minute intervals, at most one month."""
        return await self._call(  # type: ignore[no-any-return]
            Request(
                "consumption_stats",
                _sys(system_id, "consumption_stats"),
                _time_range(start_at, end_at),
            ),
            ConsumptionStats,
        )

    async def summary(self, system_id: int, *, summary_date: DateLike | None = None) -> Summary:
        """Summary of a system for ``summary_date`` (today, site-local, by default)."""
        params = (
            ()
            if summary_date is None
            else (("summary_date", p.date_arg(summary_date, "summary_date").isoformat()),)
        )
        return await self._call(  # type: ignore[no-any-return]
            Request("summary", _sys(system_id, "summary"), params), Summary
        )

    async def search_system_id(self, serial_num: str) -> SearchSystemIdResult:
        """The system an Envoy serial number belongs to (:class:`NotFoundError` if none)."""
        if not isinstance(serial_num, str) or not serial_num.strip():
            raise ValueError("serial_num must be a non-empty string")
        return await self._call(  # type: ignore[no-any-return]
            Request("search_system_id", "/systems/search_system_id", (("serial_num", serial_num),)),
            SearchSystemIdResult,
        )

    # -- ranges ---------------------------------------------------------------------------

    def iter_stats(
        self,
        system_id: int,
        start: Epoch,
        end: Epoch,
        *,
        operational_at: Epoch | None = None,
    ) -> AsyncIterator[StatsInterval]:
        """Every 5-minute interval ending in ``(start, end]``, oldest first, streamed.

        Splits the range into the fewest one-day requests, aligned to the 5-minute marks,
        each interval asked for exactly once. The range is clipped to what the API can
        answer: not after now, not before ``operational_at`` (when given), not more than a
        year back (with a :class:`~enlighten_async.LookbackWarning`). Arguments are checked
        before the first request.
        """
        return self._iter_windows(Kind.STATS, system_id, start, end, operational_at)

    def iter_rgm_stats(
        self,
        system_id: int,
        start: Epoch,
        end: Epoch,
        *,
        operational_at: Epoch | None = None,
    ) -> AsyncIterator[RgmInterval]:
        """Every 15-minute meter interval ending in ``(start, end]``, in one-month requests.

        Yields the system-level ``intervals``; per-meter ``meter_intervals`` come with each
        :meth:`rgm_stats` answer (and are kept by the backfill store).
        """
        return self._iter_windows(Kind.RGM_STATS, system_id, start, end, operational_at)

    def iter_consumption_stats(
        self,
        system_id: int,
        start: Epoch,
        end: Epoch,
        *,
        operational_at: Epoch | None = None,
    ) -> AsyncIterator[ConsumptionInterval]:
        """Every 15-minute consumption interval ending in ``(start, end]``, monthly requests."""
        return self._iter_windows(Kind.CONSUMPTION_STATS, system_id, start, end, operational_at)

    def _iter_windows(
        self,
        kind: Kind,
        system_id: int,
        start: Epoch,
        end: Epoch,
        operational_at: Epoch | None,
    ) -> AsyncIterator[Any]:
        p.system_id_arg(system_id)
        windows = plan_windows(
            kind,
            p.epoch_arg(start, "start"),
            p.epoch_arg(end, "end"),
            now=int(self.scheduler.clock.now()),
            operational_at=(
                None if operational_at is None else p.epoch_arg(operational_at, "operational_at")
            ),
        )
        fetch = getattr(self, kind.value)

        async def stream() -> AsyncIterator[Any]:
            for window in windows:
                result = await fetch(system_id, start_at=window.start_at, end_at=window.end_at)
                for interval in result.intervals:
                    # A window owns the intervals ending in (start_at, end_at]: a boundary
                    # interval returned twice by the service is yielded once.
                    if window.start_at < interval.end_at.timestamp() <= window.end_at:
                        yield interval

        return stream()

    @staticmethod
    def _date_range(start: DateLike | None, end: DateLike | None) -> list[tuple[str, str]]:
        s = None if start is None else p.date_arg(start, "start_date")
        e = None if end is None else p.date_arg(end, "end_date")
        p.check_order(s, e, "start_date", "end_date")
        params = []
        if s is not None:
            params.append(("start_date", s.isoformat()))
        if e is not None:
            params.append(("end_date", e.isoformat()))
        return params


def _sys(system_id: int, operation: str) -> str:
    return f"/systems/{p.system_id_arg(system_id)}/{operation}"


def _time_range(start_at: Epoch | None, end_at: Epoch | None) -> tuple[tuple[str, str], ...]:
    s = None if start_at is None else p.epoch_arg(start_at, "start_at")
    e = None if end_at is None else p.epoch_arg(end_at, "end_at")
    p.check_order(s, e, "start_at", "end_at")
    params = []
    if s is not None:
        params.append(("start_at", str(s)))
    if e is not None:
        params.append(("end_at", str(e)))
    return tuple(params)
