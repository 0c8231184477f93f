"""EnlightenClient: one coroutine per operation of the Enlighten Systems API v2.

Data flows one way: a method checks its arguments and builds a :class:`Request`; the
scheduler paces it; the transport sends it; :func:`decode` turns the answer into a model
or a typed error.

Then a method whose answer is a series (the intervals of ``stats``, ``rgm_stats`` and
``consumption_stats``, the days of ``energy_lifetime`` and ``consumption_lifetime``, the
readings of ``monthly_production`` and ``production_meter_readings``) checks that the
answer is the one it asked for (issue 19): a ``system_id`` of another system, an interval
ending outside the span asked for, or days outside the dates asked for is a
:class:`ResponseFormatError` (:func:`check_answer`), before anyone stores a row of it.
These are the answers whose rows are filed under the system asked for (``iter_*`` yields
them as its intervals, a backfill stores them under its id); ``summary``, ``envoys`` and
``inventory`` name their system for the caller to see, and are not checked.

The span is the one the service answers, as the spec describes it: ``start_at`` rounded
down to the interval's mark (the interval ending right there is tolerated: a span's
neighbour owns it, and ``iter_*`` and the store leave it out), ``end_at`` rounded up to
it. A bound the call did not give (the service's defaults: today's local midnight, now)
is not checked.
"""

from __future__ import annotations

import calendar
import warnings
from collections.abc import AsyncIterator, Awaitable, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any, Final, Generic, TypeAlias, TypeVar

import aiohttp

from enlighten_async.core.args import (
    EPOCH_MAX,
    check_order,
    date_arg,
    epoch_arg,
    next_arg,
    seconds_arg,
    system_id_arg,
    text_arg,
    url_arg,
    utc_today,
)
from enlighten_async.core.client import BaseClient, CallOptions, ClientCore, exchange
from enlighten_async.core.clock import Clock
from enlighten_async.core.deprecated import renamed
from enlighten_async.core.exceptions import EnlightenError, ResponseFormatError
from enlighten_async.core.quota import Quota, resolve_plan
from enlighten_async.core.retry import RetryPolicy
from enlighten_async.core.scheduler import (
    Scheduler,
    SchedulerSnapshot,
)
from enlighten_async.core.spans import plan_spans
from enlighten_async.core.transport import (
    AiohttpTransport,
    Credentials,
    Transport,
    scrub,
)
from enlighten_async.core.wire import Request
from enlighten_async.v2.filters import SystemsFilter, Unpack, systems_query
from enlighten_async.v2.kinds import IntervalOperation
from enlighten_async.v2.models import (
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
    Series,
    Stats,
    StatsInterval,
    Summary,
    System,
    SystemsPage,
)
from enlighten_async.v2.pagination import paginate
from enlighten_async.v2.plans import PLANS
from enlighten_async.v2.protocol import decode

__all__ = ["DEFAULT_BASE_URL", "DateLike", "EnlightenClient", "Epoch"]

#: The spec's server.
DEFAULT_BASE_URL = "https://api.enphaseenergy.com/api/v2"
#: Default total timeout of one request, in seconds.
DEFAULT_TIMEOUT = 30.0

T = TypeVar("T")
Epoch: TypeAlias = datetime | int | float
"""A moment as the client takes it: an aware ``datetime``, or epoch seconds (``int`` or
``float``). A naive ``datetime`` is refused (``ValueError``): its zone would be a guess."""
DateLike: TypeAlias = date | str
"""A calendar date: a ``date``, or an ISO ``"YYYY-MM-DD"`` string."""


class EnlightenClient(BaseClient):
    """An asyncio client for the Enlighten Systems API v2.

    Use it as an async context manager; it owns one ``aiohttp.ClientSession`` unless you
    pass ``session`` (then that session is used and left open)::

        async with EnlightenClient(api_key="...", user_id="...") as client:
            async for system in client.systems(status=["normal", "comm"]):
                summary = await client.summary(system.system_id)

    ``plan`` (``"watt"``, ``"kilowatt"``, ..., quotas such as ``"10/minute,10000/month"``
    or a list of :class:`Quota`) tells the scheduler the quota; without it the scheduler
    learns the quota from the first 409. Pass ``scheduler`` to share one
    among clients of the same key. ``clock`` is the time source (the simulator's
    compressed clock, or a test's). Neither the key nor the user id shows in a repr, a
    log line or an error.

    Used without ``async with``, close it when done with ``await client.close()``: a
    client left open keeps its session, and aiohttp warns about the unclosed session.

    ``transport`` replaces the aiohttp transport: a :class:`MockTransport` answers from a
    function, for tests with no network. A client with a transport takes its base URL
    from it (``base_url``, ``session`` and ``timeout`` are the aiohttp transport's), and
    closing the client closes the transport.
    """

    # Slots: all state lives in the shared core or the per-view options (see _bind).
    __slots__ = ()

    @property
    def api_version(self) -> str:
        """``"v2"``: the API version this client calls (a backfill fetches its kinds)."""
        return "v2"

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
        transport: Transport | None = None,
    ) -> None:
        # Every option is checked here, before a session or scheduler exists: a wrong one
        # fails now, not at the first call and not after a round of retries.
        credentials = Credentials(api_key, user_id)
        for name, secret in (("api_key", api_key), ("user_id", user_id)):
            # A key pasted with its newline costs a 401; the message never shows the value.
            if secret != secret.strip() or any(ord(c) < 0x20 or ord(c) == 0x7F for c in secret):
                raise ValueError(
                    f"{name} has leading or trailing whitespace or a control character"
                )
        if transport is not None:
            if not isinstance(transport, Transport):
                raise TypeError(
                    "transport must be a Transport (base_url, send() and close()), "
                    f"got {type(transport).__name__}"
                )
            aiohttp_options = {
                "base_url": base_url != DEFAULT_BASE_URL,
                "session": session is not None,
                "timeout": timeout != DEFAULT_TIMEOUT,
            }
            given = [name for name, changed in aiohttp_options.items() if changed]
            if given:
                raise ValueError(
                    f"pass {', '.join(given)} to the transport, not the client: a client with "
                    "a transport takes its base URL from it, and sends through it"
                )
        base_url = url_arg(base_url)
        if session is not None:
            if not isinstance(session, aiohttp.ClientSession):
                raise TypeError(
                    f"session must be an aiohttp.ClientSession, got {type(session).__name__}"
                )
            if session.closed:
                raise ValueError("session is closed")
        client_timeout = _timeout_arg(timeout)
        if scheduler is not None:
            if not isinstance(scheduler, Scheduler):
                raise TypeError(f"scheduler must be a Scheduler, got {type(scheduler).__name__}")
            # Checked by "is not None", before any value check: 0 or an empty plan beside a
            # shared scheduler is the same mistake as any other value there.
            options = {"plan": plan, "clock": clock, "retry": retry, "max_in_flight": max_in_flight}
            given = [name for name, value in options.items() if value is not None]
            if given:
                raise ValueError(
                    f"pass {', '.join(given)} to the shared Scheduler, not the client: a client "
                    "with a scheduler takes plan, clock, retry and max_in_flight from it"
                )
        else:
            # The scheduler checks clock, retry and max_in_flight (its checks are the only
            # ones), before any session or request exists.
            kwargs: dict[str, Any] = {"clock": clock, "retry": retry}
            if max_in_flight is not None:
                kwargs["max_in_flight"] = max_in_flight
            scheduler = Scheduler(_plan_arg(plan), **kwargs)
        if transport is None:
            transport = AiohttpTransport(
                base_url,
                credentials,
                session=session,
                timeout=client_timeout,
                limit=scheduler.max_in_flight,
            )
        self._bind(ClientCore(credentials, transport, scheduler), CallOptions(), is_view=False)

    def known_limits(self) -> tuple[Quota, ...]:
        """Deprecated: :meth:`known_quotas` (a quota is the rule, its limit the count)."""
        renamed("EnlightenClient.known_limits()", "EnlightenClient.known_quotas()")
        return self.known_quotas()

    @property
    def _transport(self) -> Transport:
        return self._core.transport

    @property
    def _credentials(self) -> Credentials:
        return self._core.credentials

    def stats_snapshot(self) -> SchedulerSnapshot:
        """Deprecated: :meth:`scheduler_snapshot`."""
        renamed("EnlightenClient.stats_snapshot()", "EnlightenClient.scheduler_snapshot()")
        return self.scheduler.snapshot()

    def _call(self, request: Request[T]) -> Awaitable[T]:
        return self._submit(_Attempt(self._core, request), request.operation)

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
        the service answers ``204 No Content``. An answer for another system, or with days
        outside the dates asked for, is a :class:`ResponseFormatError`.
        """
        params = self._date_range(start_date, end_date)
        if production is not None:
            if not isinstance(production, str):
                raise TypeError(f"production must be 'all' or None, got {production!r}")
            if production != "all":
                raise ValueError(f"production must be 'all' or None, got {production!r}")
            params.append(("production", production))
        request = Request.allowing_no_content(
            "energy_lifetime",
            _system_path(system_id, "energy_lifetime"),
            tuple(params),
            EnergyLifetime,
        )
        return check_answer(request, system_id, await self._call(request))

    async def envoys(self, system_id: int) -> Envoys:
        """The active Envoys of a system."""
        return await self._call(Request("envoys", _system_path(system_id, "envoys"), (), Envoys))

    def systems(
        self, *, next: str | None = None, **filters: Unpack[SystemsFilter]
    ) -> AsyncIterator[System]:
        """Every system the user may query, following ``next`` page by page.

        An async iterator: a page is fetched only when the previous one is used up, so
        breaking out of the loop stops the requests. The filters are keyword arguments,
        each optional (see :class:`SystemsFilter`): ``limit``, ``system_id``,
        ``system_name``, ``status``, ``reference``, ``installer``, ``connection_type``. A
        filter given as a value is sent as ``name=value``; as a list, in the spec's
        bracket form ``name[]=a&name[]=b``. ``limit`` (1 to 1000) is the page size;
        ``next`` starts from a token an earlier page gave. Every page is a request like
        any other: it waits its turn in the scheduler. A server whose tokens go round in a
        circle (A -> B -> A), are not strings, or never end (more than
        :data:`~enlighten_async.v2.pagination.MAX_PAGES` pages) gets a
        :class:`ResponseFormatError` rather than an endless loop of requests.
        """
        first = next_arg(next)
        query = systems_query(filters, "systems")

        async def fetch(token: str | None) -> SystemsPage:
            return await self._systems_page(query, token)

        return paginate(fetch, first, operation="systems")

    async def systems_page(
        self, *, next: str | None = None, **filters: Unpack[SystemsFilter]
    ) -> SystemsPage:
        """One page of ``/systems``; its ``next`` is the token of the following page.

        Takes the filters of :meth:`systems`.
        """
        token = next_arg(next)
        return await self._systems_page(systems_query(filters, "systems_page"), token)

    async def _systems_page(self, query: list[tuple[str, str]], token: str | None) -> SystemsPage:
        params = [*query, ("next", token)] if token else query
        return await self._call(Request("systems", "/systems", tuple(params), SystemsPage))

    async def inventory(self, system_id: int) -> Inventory:
        """The active devices (Envoys, microinverters, meters) of a system."""
        return await self._call(
            Request("inventory", _system_path(system_id, "inventory"), (), Inventory)
        )

    async def inverters_summary_by_envoy_or_site(
        self, site_id: int
    ) -> tuple[InvertersSummary, ...]:
        """Microinverter summaries of a site (``site_id`` is the system id), per Envoy."""
        params = (("site_id", system_id_arg(site_id, "site_id")),)
        return await self._call(
            Request(
                "inverters_summary_by_envoy_or_site",
                "/systems/inverters_summary_by_envoy_or_site",
                params,
                _INVERTERS_SUMMARIES,
            )
        )

    async def monthly_production(
        self, system_id: int, *, start_date: DateLike
    ) -> MonthlyProduction:
        """Production for the month from ``start_date`` (at least a month ago).

        Deprecated by the API: use :meth:`production_meter_readings` or
        :meth:`energy_lifetime`. Emits a ``DeprecationWarning``. A month that cannot have
        ended yet at the site, in any timezone, is refused before a request is sent.
        """
        # Checked before the warning: with warnings as errors, a bad call still says why.
        path = _system_path(system_id, "monthly_production")
        day = date_arg(start_date, "start_date")
        last = _add_month(day) - timedelta(days=1)
        if last >= self._latest_site_date():
            raise ValueError(
                f"start_date must be at least a month ago: the month from {day.isoformat()} "
                f"ends on {last.isoformat()}, which is not over yet"
            )
        warnings.warn(
            "monthly_production is deprecated by the Enlighten API; use "
            "production_meter_readings or energy_lifetime",
            DeprecationWarning,
            stacklevel=2,
        )
        request = Request(
            "monthly_production", path, (("start_date", day.isoformat()),), MonthlyProduction
        )
        return check_answer(request, system_id, await self._call(request))

    async def production_meter_readings(
        self, system_id: int, *, end_at: Epoch | None = None
    ) -> ProductionMeterReadings:
        """The last odometer reading of every production meter as of ``end_at`` (now)."""
        params = () if end_at is None else (("end_at", str(epoch_arg(end_at, "end_at"))),)
        request = Request(
            "production_meter_readings",
            _system_path(system_id, "production_meter_readings"),
            params,
            ProductionMeterReadings,
        )
        return check_answer(request, system_id, await self._call(request))

    async def rgm_stats(
        self, system_id: int, *, start_at: Epoch | None = None, end_at: Epoch | None = None
    ) -> RgmStats:
        """Revenue-grade meter production in 15-minute intervals, at most one month.

        Times are aware datetimes or epoch seconds; the service rounds them down to the
        15-minute mark. For longer ranges use ``iter_rgm_stats``. An answer for another
        system, or with an interval (of ``intervals`` or of a meter's) ending outside the
        span asked for, is a :class:`ResponseFormatError`.
        """
        request = Request(
            "rgm_stats",
            _system_path(system_id, "rgm_stats"),
            _time_range(start_at, end_at),
            RgmStats,
        )
        return check_answer(request, system_id, await self._call(request))

    async def stats(
        self, system_id: int, *, start_at: Epoch | None = None, end_at: Epoch | None = None
    ) -> Stats:
        """Microinverter production in 5-minute intervals, at most one day.

        Times are aware datetimes or epoch seconds; the service rounds them down to the
        5-minute mark and answers 422 for a start after the last report or before
        production. For longer ranges use ``iter_stats``. An answer for another system, or
        with an interval ending outside the span asked for, is a :class:`ResponseFormatError`.
        """
        request = Request(
            "stats", _system_path(system_id, "stats"), _time_range(start_at, end_at), Stats
        )
        return check_answer(request, system_id, await self._call(request))

    async def consumption_lifetime(
        self,
        system_id: int,
        *,
        start_date: DateLike | None = None,
        end_date: DateLike | None = None,
    ) -> ConsumptionLifetime | None:
        """Daily consumption in Wh. Returns ``None`` (204) when the system has no meter."""
        params = self._date_range(start_date, end_date)
        request = Request.allowing_no_content(
            "consumption_lifetime",
            _system_path(system_id, "consumption_lifetime"),
            tuple(params),
            ConsumptionLifetime,
        )
        return check_answer(request, system_id, await self._call(request))

    async def consumption_stats(
        self, system_id: int, *, start_at: Epoch | None = None, end_at: Epoch | None = None
    ) -> ConsumptionStats:
        """Consumption in 15-minute intervals, at most one month.

        An answer for another system, or with an interval ending outside the span asked
        for, is a :class:`ResponseFormatError`.
        """
        request = Request(
            "consumption_stats",
            _system_path(system_id, "consumption_stats"),
            _time_range(start_at, end_at),
            ConsumptionStats,
        )
        return check_answer(request, system_id, await self._call(request))

    async def summary(self, system_id: int, *, summary_date: DateLike | None = None) -> Summary:
        """Summary of a system for ``summary_date`` (today, site-local, by default).

        A date in the future gets :class:`UnprocessableEntityError` from the service.
        """
        params: tuple[tuple[str, str], ...] = ()
        if summary_date is not None:
            # "The future" is the site's, and the spec documents the service's 422 for it.
            params = (("summary_date", date_arg(summary_date, "summary_date").isoformat()),)
        return await self._call(
            Request("summary", _system_path(system_id, "summary"), params, Summary)
        )

    async def search_system_id(self, serial_num: str) -> SearchSystemIdResult:
        """The system an Envoy serial number belongs to (:class:`NotFoundError` if none)."""
        text_arg(serial_num, "serial_num")
        return await self._call(
            Request(
                "search_system_id",
                "/systems/search_system_id",
                (("serial_num", serial_num),),
                SearchSystemIdResult,
            )
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
        return self._iter_spans(IntervalOperation.STATS, system_id, start, end, operational_at)

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
        return self._iter_spans(IntervalOperation.RGM_STATS, system_id, start, end, operational_at)

    def iter_consumption_stats(
        self,
        system_id: int,
        start: Epoch,
        end: Epoch,
        *,
        operational_at: Epoch | None = None,
    ) -> AsyncIterator[ConsumptionInterval]:
        """Every 15-minute consumption interval ending in ``(start, end]``, monthly requests."""
        return self._iter_spans(
            IntervalOperation.CONSUMPTION_STATS, system_id, start, end, operational_at
        )

    def _iter_spans(
        self,
        operation: IntervalOperation,
        system_id: int,
        start: Epoch,
        end: Epoch,
        operational_at: Epoch | None,
    ) -> AsyncIterator[Any]:
        system_id_arg(system_id)
        s, e = epoch_arg(start, "start"), epoch_arg(end, "end")
        check_order(s, e, "start", "end", (start, end))
        spans = plan_spans(
            operation,
            s,
            e,
            now=int(self.clock.now()),
            operational_at=(
                None if operational_at is None else epoch_arg(operational_at, "operational_at")
            ),
        )
        fetch = getattr(self, operation.value)

        async def stream() -> AsyncIterator[Any]:
            for span in spans:
                result = await fetch(system_id, start_at=span.start_at, end_at=span.end_at)
                for interval in result.intervals:
                    # A span owns the intervals ending in (start_at, end_at]: a boundary
                    # interval returned twice by the service is yielded once.
                    if span.start_at < interval.end_at.timestamp() <= span.end_at:
                        yield interval

        return stream()

    def _latest_site_date(self) -> date:
        # No site is more than 14 hours ahead of UTC, so no site's today is later than this.
        return utc_today(self.clock.now() + 14 * 3600)

    @staticmethod
    def _date_range(start: DateLike | None, end: DateLike | None) -> list[tuple[str, str]]:
        s = None if start is None else date_arg(start, "start_date")
        e = None if end is None else date_arg(end, "end_date")
        check_order(s, e, "start_date", "end_date", (start, end))
        params = []
        if s is not None:
            params.append(("start_date", s.isoformat()))
        if e is not None:
            params.append(("end_date", e.isoformat()))
        return params


class _Attempt(Generic[T]):
    """One call's request, sent once per call of it (the scheduler re-sends after a 409,
    and retries): send, show the ``Date`` to the scheduler, decode.

    A slotted object rather than a closure: one object per pending call, where a closure
    is a function, its cell tuple and a cell per captured name.
    """

    __slots__ = ("core", "request", "sends")

    def __init__(self, core: ClientCore, request: Request[T]) -> None:
        self.core = core
        self.request = request
        self.sends = 0

    async def __call__(self) -> T:
        self.sends += 1
        core, request = self.core, self.request
        raw = await exchange(core.transport, core.scheduler, request, self.sends)
        try:
            return decode(request, raw)
        except EnlightenError as exc:
            # A body that echoes the URL must not carry the key, whatever the transport.
            scrub(exc, core.credentials)
            raise


# -- is the answer the one asked for? ---------------------------------------------------------

#: The interval length of each operation whose answer holds intervals, in seconds (the
#: marks the service rounds ``start_at`` down to).
INTERVAL_STEPS: Final = {"stats": 300, "rgm_stats": 900, "consumption_stats": 900}
#: How many problems a wrong answer's error lists.
MAX_ANSWER_PROBLEMS = 5

R = TypeVar("R")


def check_answer(request: Request[Any], system_id: int, result: R) -> R:
    """``result`` if it is an answer to ``request`` for ``system_id``, else raise.

    Raises :class:`ResponseFormatError` (``status`` 200, ``details`` saying where) when
    the answer's ``system_id`` is another system's (``None``, where the spec lets it be
    absent, passes); when an interval (of ``intervals``, or of an ``rgm_stats`` meter's)
    ends before ``start_at`` rounded down to the interval's mark or after ``end_at``
    rounded up to it; or when a daily series (``energy_lifetime``,
    ``consumption_lifetime``) holds a day before ``start_date`` or after ``end_date``.
    """
    if result is None:  # a 204 where the request allows one
        return result
    problems: list[str] = []
    got = getattr(result, "system_id", None)
    if got is not None and got != system_id:
        problems.append(f"system {got}, not {system_id}, @ $.system_id")
    params = dict(request.params)
    step = INTERVAL_STEPS.get(request.operation)
    if step is not None:
        problems += _intervals_outside(result, params, step)
    elif "start_date" in params or "end_date" in params:
        problems += _days_outside(result, params)
    if problems:
        shown = problems[:MAX_ANSWER_PROBLEMS]
        raise ResponseFormatError(
            f"{request.operation}: the answer is not for what was asked: " + "; ".join(shown),
            operation=request.operation,
            status=200,
            details=tuple(shown),
        )
    return result


def _utc_text(epoch: int) -> str:
    try:
        return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return str(epoch)


def _intervals_outside(result: Any, params: dict[str, str], step: int) -> list[str]:
    """Where ``result``'s intervals end outside the span of ``params``, as problems."""
    start, end = params.get("start_at"), params.get("end_at")
    # The service rounds start_at down to the mark; the interval ending right there is the
    # previous span's (tolerated, and left out by iter_* and the store). end_at is
    # rounded up: an interval holding end_at is as much an answer to it.
    low = None if start is None else int(start) // step * step
    high = None if end is None else -(-int(end) // step) * step
    if low is None and high is None:
        return []
    series: list[tuple[str, Series[Any]]] = [("$.intervals", result.intervals)]
    for i, meter in enumerate(getattr(result, "meter_intervals", ())):
        series.append((f"$.meter_intervals[{i}].intervals", meter.intervals))
    out: list[str] = []
    for path, rows in series:
        # The extremes first (known from structuring, no pass over a month of intervals);
        # the index only of a bad one.
        bounds = rows.extremes("end_at")
        if bounds is None or (
            (low is None or bounds[0] >= low) and (high is None or bounds[1] <= high)
        ):
            continue
        for i, end_at in enumerate(rows.column("end_at")):
            if (low is not None and end_at < low) or (high is not None and end_at > high):
                out.append(
                    f"an interval ending at {_utc_text(end_at)}, outside "
                    f"{_utc_text(low) if low is not None else '...'}.."
                    f"{_utc_text(high) if high is not None else '...'}, @ {path}[{i}].end_at"
                )
                break  # one per series: the rest of it is as suspect
    return out


def _days_outside(result: Any, params: dict[str, str]) -> list[str]:
    """Where a daily series holds days outside ``start_date``..``end_date``."""
    first: date | None = getattr(result, "start_date", None)
    values = getattr(result, "production", None) or getattr(result, "consumption", None) or ()
    if first is None or not values:
        return []
    last = first + timedelta(days=len(values) - 1)
    out: list[str] = []
    start, end = params.get("start_date"), params.get("end_date")
    if start is not None and first < date.fromisoformat(start):
        out.append(f"days from {first.isoformat()}, before start_date {start}, @ $.start_date")
    if end is not None and last > date.fromisoformat(end):
        out.append(f"days up to {last.isoformat()}, after end_date {end}, @ $.start_date")
    return out


#: The model of ``inverters_summary_by_envoy_or_site``: a JSON array of summaries.
_INVERTERS_SUMMARIES: type[tuple[InvertersSummary, ...]] = tuple[InvertersSummary, ...]


def _system_path(system_id: int, operation: str) -> str:
    return f"/systems/{system_id_arg(system_id)}/{operation}"


def _time_range(start_at: Epoch | None, end_at: Epoch | None) -> tuple[tuple[str, str], ...]:
    if type(start_at) is int and type(end_at) is int and 0 <= start_at <= end_at <= EPOCH_MAX:
        # Every stats call of a span planner: int epochs in order, their own answer.
        return (("start_at", str(start_at)), ("end_at", str(end_at)))
    s = None if start_at is None else epoch_arg(start_at, "start_at")
    e = None if end_at is None else epoch_arg(end_at, "end_at")
    check_order(s, e, "start_at", "end_at", (start_at, end_at))
    params = []
    if s is not None:
        params.append(("start_at", str(s)))
    if e is not None:
        params.append(("end_at", str(e)))
    return tuple(params)


def _add_month(day: date) -> date:
    """The same day a month later (clamped to the month's last day; ``date.max`` at most)."""
    if (day.year, day.month) == (date.max.year, 12):
        return date.max
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _timeout_arg(timeout: Any) -> aiohttp.ClientTimeout:
    """Seconds (finite, > 0) or an ``aiohttp.ClientTimeout`` whose bounds are such or None."""
    if isinstance(timeout, aiohttp.ClientTimeout):
        for name in ("total", "connect", "sock_read", "sock_connect"):
            value = getattr(timeout, name)
            if value is not None:
                seconds_arg(value, f"timeout.{name}", positive=True)
        return timeout
    if timeout is None:
        raise TypeError(
            "timeout must be seconds or an aiohttp.ClientTimeout; for no total timeout pass "
            "aiohttp.ClientTimeout(total=None) explicitly"
        )
    return aiohttp.ClientTimeout(total=seconds_arg(timeout, "timeout", positive=True))


def _plan_arg(plan: Any) -> tuple[Quota, ...] | None:
    """A plan name of v2's table, quotas in text, or a non-empty list of :class:`Quota`:
    the one plan validator's answer (:func:`~enlighten_async.core.quota.resolve_plan`)."""
    return resolve_plan(plan, PLANS, empty=False)
