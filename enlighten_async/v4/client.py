"""EnlightenV4Client: one coroutine per read operation of the Enphase Monitoring API v4.

Data flows one way, as in v2's client: a method checks its arguments
(:mod:`enlighten_async.v4.args`) and builds a :class:`Request`; the scheduler paces it;
at send time the attempt asks the :class:`TokenSource` for an access token and sends the
request with it (``attrs.evolve(request, bearer=token)``); :func:`decode` turns the answer
into a model or a typed error.

Credentials: the application's API key (sent by the transport as the query's ``key``) and
an OAuth access token (``Authorization: Bearer``, the request's ``bearer``). A 401 may
mean an expired token: the client asks the token source to refresh once
(``after_unauthorized``) and sends again, once, through the scheduler (the second request
counts against the quota like any other); a second 401 is the :class:`AuthError`. Neither
the key nor a token shows in a repr, a log line or an error.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any, Generic, TypeVar

import aiohttp
import attrs

from enlighten_async.core.args import (
    epoch_arg,
    seconds_arg,
    system_id_arg,
    text_arg,
    url_arg,
)
from enlighten_async.core.client import BaseClient, CallOptions, ClientCore, exchange
from enlighten_async.core.clock import Clock
from enlighten_async.core.exceptions import (
    AuthError,
    EnlightenError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
    TransportError,
)
from enlighten_async.core.quota import Quota
from enlighten_async.core.retry import RetryPolicy
from enlighten_async.core.scheduler import (
    Scheduler,
)
from enlighten_async.core.transport import (
    AiohttpTransport,
    Credentials,
    Transport,
    scrub,
)
from enlighten_async.core.wire import Request
from enlighten_async.v4.args import (
    MAX_MICROS_PAGE_SIZE,
    MAX_SYSTEMS_PAGE_SIZE,
    DateLike,
    Epoch,
    date_range,
    events_range,
    page_args,
    rgm_range,
    telemetry_args,
)
from enlighten_async.v4.models import (
    Alarms,
    BatteryLifetime,
    BatteryTelemetry,
    ConsumptionLifetime,
    ConsumptionMeterReadings,
    ConsumptionMeterTelemetry,
    Devices,
    EnchargeTelemetry,
    EnergyExportLifetime,
    EnergyExportTelemetry,
    EnergyImportLifetime,
    EnergyImportTelemetry,
    EnergyLifetime,
    Events,
    EventTypes,
    InvertersSummary,
    LatestTelemetry,
    MicrosTelemetry,
    MicroTelemetry,
    ProductionMeterReadings,
    ProductionMeterTelemetry,
    ProductionMicroTelemetry,
    RgmStats,
    StorageMeterReadings,
    Summary,
    System,
    SystemId,
    SystemsPage,
)
from enlighten_async.v4.oauth.manager import TokenSource
from enlighten_async.v4.plans import PLANS, resolve_v4_plan
from enlighten_async.v4.protocol import decode

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MONTH_RESERVE",
    "MAX_PAGES",
    "EnlightenV4Client",
    "TokenSource",
]

log = logging.getLogger("enlighten_async.v4.client")

#: The live API (the spec's own host is a QA host).
DEFAULT_BASE_URL = "https://api.enphaseenergy.com/api/v4"
#: Default total timeout of one request, in seconds.
DEFAULT_TIMEOUT = 30.0
#: Requests of each month's quota that background calls leave to interactive ones (5% of
#: the free Watt plan's 1,000): a backfill that spends its month still leaves room for a
#: dashboard's calls. Counted only when the month's limit is known (told, or learned).
DEFAULT_MONTH_RESERVE = 50
#: The most ``/systems`` pages one walk follows (100,000 systems at 100 a page); a server
#: that keeps answering past it is broken.
MAX_PAGES = 1_000

T = TypeVar("T")


@attrs.frozen
class _Core(ClientCore):
    """What a client and all its views share: the core's, and the token source."""

    tokens: TokenSource


class EnlightenV4Client(BaseClient):
    """An asyncio client for the Enphase Monitoring API v4 (read operations).

    ::

        async with EnlightenV4Client(api_key="...", tokens=token_source, plan="watt") as c:
            async for system in c.systems():
                summary = await c.summary(system.system_id)

    ``tokens`` is a :class:`TokenSource` (the OAuth token store of
    :mod:`enlighten_async.v4.oauth`, or anything with ``access_token()`` and
    ``after_unauthorized()``). ``plan`` is a v4 plan name (``"watt"``, ``"kilowatt"``,
    ``"megawatt"``, ``"partner"``: :data:`enlighten_async.v4.plans.PLANS`), quotas in text
    or a list of :class:`Quota`; without it the scheduler learns from the first 429. Pass
    ``scheduler`` to share one among clients of the same application (one quota per API
    key, whoever authorized the tokens). ``month_reserve`` (default
    :data:`DEFAULT_MONTH_RESERVE`) is the part of the month's quota that background calls
    (``with_options(priority=Priority.BACKGROUND)``, as a backfill makes) leave to
    interactive ones: they stop ``month_reserve`` requests short of the month's limit and
    fail at once with :class:`RateLimitError` (``retry_at``: the next month). ``transport``
    replaces the aiohttp transport (a :class:`~enlighten_async.core.transport.MockTransport`
    in tests).
    """

    __slots__ = ()

    _core: _Core

    def __init__(
        self,
        api_key: str,
        tokens: TokenSource,
        *,
        base_url: str = DEFAULT_BASE_URL,
        session: aiohttp.ClientSession | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        scheduler: Scheduler | None = None,
        plan: str | Sequence[Quota] | None = None,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        max_in_flight: int | None = None,
        month_reserve: int | None = None,
        transport: Transport | None = None,
    ) -> None:
        credentials = Credentials.api_key_only(api_key)
        if api_key != api_key.strip() or any(ord(c) < 0x20 or ord(c) == 0x7F for c in api_key):
            raise ValueError("api_key has leading or trailing whitespace or a control character")
        if not isinstance(tokens, TokenSource):
            raise TypeError(
                "tokens must be a TokenSource (access_token() and after_unauthorized()), "
                f"got {type(tokens).__name__}"
            )
        if transport is not None:
            if not isinstance(transport, Transport):
                raise TypeError(f"transport must be a Transport, got {type(transport).__name__}")
            if base_url != DEFAULT_BASE_URL or session is not None or timeout != DEFAULT_TIMEOUT:
                raise ValueError(
                    "pass base_url, session and timeout to the transport, not the client"
                )
        base_url = url_arg(base_url)
        seconds_arg(timeout, "timeout", positive=True)
        if scheduler is not None:
            if not isinstance(scheduler, Scheduler):
                raise TypeError(f"scheduler must be a Scheduler, got {type(scheduler).__name__}")
            options = {
                "plan": plan,
                "clock": clock,
                "retry": retry,
                "max_in_flight": max_in_flight,
                "month_reserve": month_reserve,
            }
            given = [name for name, value in options.items() if value is not None]
            if given:
                raise ValueError(f"pass {', '.join(given)} to the shared Scheduler, not the client")
        else:
            kwargs: dict[str, Any] = {
                "clock": clock,
                "retry": retry,
                "month_reserve": DEFAULT_MONTH_RESERVE if month_reserve is None else month_reserve,
            }
            if max_in_flight is not None:
                kwargs["max_in_flight"] = max_in_flight
            # v4's 429 usually names no period: read it by v4's plan table, probe once
            # before taking the month as spent (see Scheduler's bare_refusal).
            scheduler = Scheduler(
                resolve_v4_plan(plan, empty=False),
                plans=PLANS,
                bare_refusal="probe",
                **kwargs,
            )
        if transport is None:
            if session is not None and session.closed:
                raise ValueError("session is closed")
            transport = AiohttpTransport(
                base_url,
                credentials,
                session=session,
                timeout=aiohttp.ClientTimeout(total=timeout),
                limit=scheduler.max_in_flight,
            )
        self._bind(_Core(credentials, transport, scheduler, tokens), CallOptions(), is_view=False)

    @property
    def api_version(self) -> str:
        """``"v4"``: the API version this client calls (a backfill fetches its kinds)."""
        return "v4"

    def with_tokens(self, tokens: TokenSource) -> EnlightenV4Client:
        """A view of this client that calls as another system owner: ``tokens`` is that
        owner's :class:`TokenSource` (a :class:`~enlighten_async.v4.oauth.TokenManager` of
        the same application). It shares the API key, the transport and the scheduler, so
        every owner of one application spends the one quota the service counts per API key;
        closing it closes nothing. (Across processes, give their schedulers one
        :class:`~enlighten_async.core.redis_ledger.RedisLedger` of the key.)"""
        if not isinstance(tokens, TokenSource):
            raise TypeError(
                "tokens must be a TokenSource (access_token() and after_unauthorized()), "
                f"got {type(tokens).__name__}"
            )
        view = type(self).__new__(type(self))
        view._bind(attrs.evolve(self._core, tokens=tokens), self._options, is_view=True)
        return view

    async def _call(self, request: Request[T]) -> T:
        core = self._core
        attempt = _Attempt(core, request)
        try:
            return await self._submit(attempt, request.operation)
        except AuthError as exc:
            if exc.status != 401 or attempt.rejected is None:
                raise
            rejected = attempt.rejected
        # Outside the except: the refresh's own failure must not chain the 401.
        log.info("%s: 401; refreshing the access token and sending once more", request.operation)
        attempt.retry_token = await core.tokens.after_unauthorized(rejected)
        attempt.rejected_before, attempt.rejected = rejected, None
        attempt.refreshed = True
        # Through the scheduler again: the second request is paced and counted.
        return await self._submit(attempt, request.operation)

    # -- systems --------------------------------------------------------------------------

    def systems(
        self, *, size: int | None = None, sort_by: str | None = None
    ) -> AsyncIterator[System]:
        """Every system the tokens' user may see, page after page (``size`` a page, at
        most 100; ``sort_by`` ``"id"`` or ``"-id"``).

        A page is fetched only when the previous one is used up. The walk ends with a
        :class:`ResponseFormatError` (after the items of the page that showed it) when the
        server misbehaves: a page it already sent, a page of no items before the total,
        more items than its total, or more than :data:`MAX_PAGES` pages.
        """
        query = _systems_query(size, sort_by)

        async def walk() -> AsyncIterator[System]:
            seen_pages: set[int] = set()
            got = 0
            page_no = 1
            while True:
                page = await self._systems_page(query, page_no)
                current = page.current_page if page.current_page is not None else page_no
                if current in seen_pages or current != page_no:
                    raise _broken(page_no, f"it answered page {current} for page {page_no}")
                seen_pages.add(current)
                items = page.items()
                for item in items:
                    yield item
                got += len(items)
                total = page.total
                if total is None or got >= total:
                    if total is not None and got > total:
                        raise _broken(page_no, f"{got} systems, more than its total {total}")
                    return
                if not items:
                    raise _broken(page_no, f"an empty page before its total {total}")
                if page_no >= MAX_PAGES:
                    raise _broken(page_no, f"more than {MAX_PAGES} pages")
                page_no += 1

        return walk()

    async def systems_page(
        self, *, page: int = 1, size: int | None = None, sort_by: str | None = None
    ) -> SystemsPage:
        """One page of ``/systems`` (``page`` from 1, ``size`` at most 100)."""
        query = _systems_query(size, sort_by)
        page_args(page, None, largest=MAX_SYSTEMS_PAGE_SIZE)
        return await self._systems_page(query, page)

    async def _systems_page(self, query: list[tuple[str, str]], page: int) -> SystemsPage:
        params = (("page", str(page)), *query)
        return await self._call(Request("systems", "/systems", params, SystemsPage))

    async def system(self, system_id: int) -> System:
        """A system's details."""
        return await self._call(
            Request("system", f"/systems/{system_id_arg(system_id)}", (), System)
        )

    async def summary(self, system_id: int, *, summary_date: DateLike | None = None) -> Summary:
        """A system's summary for ``summary_date`` (the site's today by default)."""
        params = (
            ()
            if summary_date is None
            else tuple(("summary_date", v) for _, v in date_range(summary_date, None))
        )
        return await self._call(Request("summary", _path(system_id, "summary"), params, Summary))

    async def devices(self, system_id: int) -> Devices:
        """Every device of a system, by group."""
        return await self._call(Request("devices", _path(system_id, "devices"), (), Devices))

    async def retrieve_system_id(self, serial_num: str) -> SystemId:
        """The system a gateway (Envoy) serial number belongs to."""
        text_arg(serial_num, "serial_num")
        return await self._call(
            Request(
                "retrieve_system_id",
                "/systems/retrieve_system_id",
                (("serial_num", serial_num),),
                SystemId,
            )
        )

    async def inverters_summary_by_envoy_or_site(
        self,
        *,
        site_id: int | None = None,
        envoy_serial_number: str | None = None,
        page: int | None = None,
        size: int | None = None,
    ) -> tuple[InvertersSummary, ...]:
        """Microinverter summaries of a site (``site_id``: the system id) or of one Envoy."""
        if (site_id is None) == (envoy_serial_number is None):
            raise TypeError("give site_id or envoy_serial_number (one of them)")
        params: list[tuple[str, str]] = []
        if site_id is not None:
            params.append(("site_id", system_id_arg(site_id, "site_id")))
        else:
            params.append(
                ("envoy_serial_number", text_arg(envoy_serial_number, "envoy_serial_number"))
            )
        params += page_args(page, size, largest=MAX_SYSTEMS_PAGE_SIZE)
        return await self._call(
            Request(
                "inverters_summary_by_envoy_or_site",
                "/systems/inverters_summary_by_envoy_or_site",
                tuple(params),
                _INVERTERS_SUMMARIES,
            )
        )

    # -- events and alarms ----------------------------------------------------------------

    async def events(
        self, system_id: int, *, start_time: Epoch, end_time: Epoch | None = None
    ) -> Events:
        """A system's events from ``start_time`` (required) to ``end_time`` (a day later
        or now by default), at most a week a request."""
        params = events_range(start_time, end_time, "events")
        return await self._call(
            Request("events", _path(system_id, "events"), tuple(params), Events)
        )

    async def alarms(
        self,
        system_id: int,
        *,
        start_time: Epoch,
        end_time: Epoch | None = None,
        cleared: bool | None = None,
    ) -> Alarms:
        """A system's alarms from ``start_time`` (required), at most a week a request;
        ``cleared`` filters cleared (or uncleared) alarms."""
        params = events_range(start_time, end_time, "alarms")
        if cleared is not None:
            if not isinstance(cleared, bool):
                raise TypeError(f"cleared must be a bool, got {type(cleared).__name__}")
            params.append(("cleared", "true" if cleared else "false"))
        return await self._call(
            Request("alarms", _path(system_id, "alarms"), tuple(params), Alarms)
        )

    async def open_events(self, system_id: int) -> Events:
        """A system's events still open."""
        return await self._call(Request("open_events", _path(system_id, "open_events"), (), Events))

    async def open_alarms(self, system_id: int) -> Alarms:
        """A system's alarms still open."""
        return await self._call(Request("open_alarms", _path(system_id, "open_alarms"), (), Alarms))

    async def event_types(self, *, event_type_id: int | None = None) -> EventTypes:
        """What each event type means (or the one ``event_type_id`` names)."""
        params = (
            ()
            if event_type_id is None
            else (("event_type_id", system_id_arg(event_type_id, "event_type_id")),)
        )
        return await self._call(Request("event_types", "/systems/event_types", params, EventTypes))

    # -- meter readings -------------------------------------------------------------------

    async def production_meter_readings(
        self, system_id: int, *, end_at: Epoch | None = None
    ) -> ProductionMeterReadings:
        """Each production meter's last reading as of ``end_at`` (now)."""
        return await self._call(
            _readings("production_meter_readings", system_id, end_at, ProductionMeterReadings)
        )

    async def consumption_meter_readings(
        self, system_id: int, *, end_at: Epoch | None = None
    ) -> ConsumptionMeterReadings:
        """Each consumption meter's last reading as of ``end_at`` (now)."""
        return await self._call(
            _readings("consumption_meter_readings", system_id, end_at, ConsumptionMeterReadings)
        )

    async def storage_meter_readings(
        self, system_id: int, *, end_at: Epoch | None = None
    ) -> StorageMeterReadings:
        """Each storage meter's last reading as of ``end_at`` (now)."""
        return await self._call(
            _readings("storage_meter_readings", system_id, end_at, StorageMeterReadings)
        )

    # -- site-level series ----------------------------------------------------------------

    async def rgm_stats(
        self, system_id: int, *, start_at: Epoch | None = None, end_at: Epoch | None = None
    ) -> RgmStats:
        """Revenue-grade meter production in 15-minute intervals, at most 7 days a request,
        from a start within 2 years."""
        params = rgm_range(start_at, end_at, now=self.clock.now())
        return await self._call(
            Request("rgm_stats", _path(system_id, "rgm_stats"), tuple(params), RgmStats)
        )

    async def energy_lifetime(
        self,
        system_id: int,
        *,
        start_date: DateLike | None = None,
        end_date: DateLike | None = None,
        production: str | None = None,
    ) -> EnergyLifetime:
        """Daily production (Wh); ``production="all"`` adds the micro and meter series."""
        params = date_range(start_date, end_date)
        if production is not None:
            if production != "all":
                raise ValueError(f"production must be 'all' or None, got {production!r}")
            params.append(("production", "all"))
        return await self._call(
            Request(
                "energy_lifetime",
                _path(system_id, "energy_lifetime"),
                tuple(params),
                EnergyLifetime,
            )
        )

    async def consumption_lifetime(
        self,
        system_id: int,
        *,
        start_date: DateLike | None = None,
        end_date: DateLike | None = None,
    ) -> ConsumptionLifetime:
        """Daily consumption (Wh)."""
        return await self._call(
            _lifetime("consumption_lifetime", system_id, start_date, end_date, ConsumptionLifetime)
        )

    async def battery_lifetime(
        self,
        system_id: int,
        *,
        start_date: DateLike | None = None,
        end_date: DateLike | None = None,
    ) -> BatteryLifetime:
        """Daily battery charge and discharge (Wh)."""
        return await self._call(
            _lifetime("battery_lifetime", system_id, start_date, end_date, BatteryLifetime)
        )

    async def energy_import_lifetime(
        self,
        system_id: int,
        *,
        start_date: DateLike | None = None,
        end_date: DateLike | None = None,
    ) -> EnergyImportLifetime:
        """Daily import from the grid (Wh)."""
        return await self._call(
            _lifetime(
                "energy_import_lifetime", system_id, start_date, end_date, EnergyImportLifetime
            )
        )

    async def energy_export_lifetime(
        self,
        system_id: int,
        *,
        start_date: DateLike | None = None,
        end_date: DateLike | None = None,
    ) -> EnergyExportLifetime:
        """Daily export to the grid (Wh)."""
        return await self._call(
            _lifetime(
                "energy_export_lifetime", system_id, start_date, end_date, EnergyExportLifetime
            )
        )

    # -- telemetry ------------------------------------------------------------------------

    def _telemetry(
        self,
        operation: str,
        path: str,
        model: type[T],
        start_at: Epoch | None,
        start_date: DateLike | None,
        granularity: str | None,
        extra: tuple[tuple[str, str], ...] = (),
    ) -> Request[T]:
        params = telemetry_args(start_at, start_date, granularity, now=self.clock.now())
        return Request(operation, path, (*extra, *params), model)

    async def production_micro_telemetry(
        self,
        system_id: int,
        *,
        start_at: Epoch | None = None,
        start_date: DateLike | None = None,
        granularity: str | None = None,
    ) -> ProductionMicroTelemetry:
        """Microinverter production, 5-minute intervals, from the start for ``granularity``
        (``5mins``, ``15mins``, ``day``, ``week``). A start (``start_at`` or
        ``start_date``) within 2 years is required."""
        return await self._call(
            self._telemetry(
                "production_micro_telemetry",
                _path(system_id, "telemetry/production_micro"),
                ProductionMicroTelemetry,
                start_at,
                start_date,
                granularity,
            )
        )

    async def production_meter_telemetry(
        self,
        system_id: int,
        *,
        start_at: Epoch | None = None,
        start_date: DateLike | None = None,
        granularity: str | None = None,
    ) -> ProductionMeterTelemetry:
        """Production meter, 15-minute intervals (see :meth:`production_micro_telemetry`)."""
        return await self._call(
            self._telemetry(
                "production_meter_telemetry",
                _path(system_id, "telemetry/production_meter"),
                ProductionMeterTelemetry,
                start_at,
                start_date,
                granularity,
            )
        )

    async def consumption_meter_telemetry(
        self,
        system_id: int,
        *,
        start_at: Epoch | None = None,
        start_date: DateLike | None = None,
        granularity: str | None = None,
    ) -> ConsumptionMeterTelemetry:
        """Consumption meter, 15-minute intervals."""
        return await self._call(
            self._telemetry(
                "consumption_meter_telemetry",
                _path(system_id, "telemetry/consumption_meter"),
                ConsumptionMeterTelemetry,
                start_at,
                start_date,
                granularity,
            )
        )

    async def battery_telemetry(
        self,
        system_id: int,
        *,
        start_at: Epoch | None = None,
        start_date: DateLike | None = None,
        granularity: str | None = None,
    ) -> BatteryTelemetry:
        """Battery charge, discharge and state of charge, 15-minute intervals."""
        return await self._call(
            self._telemetry(
                "battery_telemetry",
                _path(system_id, "telemetry/battery"),
                BatteryTelemetry,
                start_at,
                start_date,
                granularity,
            )
        )

    async def energy_import_telemetry(
        self,
        system_id: int,
        *,
        start_at: Epoch | None = None,
        start_date: DateLike | None = None,
        granularity: str | None = None,
    ) -> EnergyImportTelemetry:
        """Energy imported from the grid, 15-minute intervals."""
        return await self._call(
            self._telemetry(
                "energy_import_telemetry",
                _path(system_id, "energy_import_telemetry"),
                EnergyImportTelemetry,
                start_at,
                start_date,
                granularity,
            )
        )

    async def energy_export_telemetry(
        self,
        system_id: int,
        *,
        start_at: Epoch | None = None,
        start_date: DateLike | None = None,
        granularity: str | None = None,
    ) -> EnergyExportTelemetry:
        """Energy exported to the grid, 15-minute intervals."""
        return await self._call(
            self._telemetry(
                "energy_export_telemetry",
                _path(system_id, "energy_export_telemetry"),
                EnergyExportTelemetry,
                start_at,
                start_date,
                granularity,
            )
        )

    async def micro_telemetry(
        self,
        system_id: int,
        serial_no: str,
        *,
        start_at: Epoch | None = None,
        start_date: DateLike | None = None,
        granularity: str | None = None,
    ) -> MicroTelemetry:
        """One microinverter's production, 5-minute intervals (Kilowatt plan and above)."""
        path = _path(system_id, f"devices/micros/{_serial(serial_no)}/telemetry")
        return await self._call(
            self._telemetry(
                "micro_telemetry", path, MicroTelemetry, start_at, start_date, granularity
            )
        )

    async def encharge_telemetry(
        self,
        system_id: int,
        serial_no: str,
        *,
        start_at: Epoch | None = None,
        start_date: DateLike | None = None,
        granularity: str | None = None,
    ) -> EnchargeTelemetry:
        """One IQ Battery's charge, discharge and state of charge, 15-minute intervals."""
        path = _path(system_id, f"devices/encharges/{_serial(serial_no)}/telemetry")
        return await self._call(
            self._telemetry(
                "encharge_telemetry", path, EnchargeTelemetry, start_at, start_date, granularity
            )
        )

    async def micros_telemetry(
        self,
        system_id: int,
        *,
        start_at: Epoch | None = None,
        start_date: DateLike | None = None,
        granularity: str | None = None,
        page: int | None = None,
        size: int | None = None,
    ) -> MicrosTelemetry:
        """A page of every microinverter's intervals (``size`` at most 20; Kilowatt plan
        and above)."""
        extra = tuple(page_args(page, size, largest=MAX_MICROS_PAGE_SIZE))
        return await self._call(
            self._telemetry(
                "micros_telemetry",
                _path(system_id, "devices/micros/telemetry"),
                MicrosTelemetry,
                start_at,
                start_date,
                granularity,
                extra,
            )
        )

    async def latest_telemetry(self, system_id: int) -> LatestTelemetry:
        """Each device's latest power reading."""
        return await self._call(
            Request("latest_telemetry", _path(system_id, "latest_telemetry"), (), LatestTelemetry)
        )


class _Attempt(Generic[T]):
    """One call's request, sent once per call of it (the scheduler re-sends after a 429
    and retries): an access token, send with it, show the ``Date`` to the scheduler,
    decode. ``rejected`` is the token a 401 refused (``rejected_before`` once the refresh
    answered); ``retry_token`` the one the refresh gave."""

    __slots__ = (
        "core",
        "refreshed",
        "rejected",
        "rejected_before",
        "request",
        "retry_token",
        "sends",
    )

    def __init__(self, core: _Core, request: Request[T]) -> None:
        self.core = core
        self.request = request
        self.sends = 0
        self.rejected: str | None = None
        self.retry_token: str | None = None
        self.rejected_before: str | None = None
        self.refreshed = False

    async def __call__(self) -> T:
        self.sends += 1
        core = self.core
        pinned = self.retry_token
        self.retry_token = None
        # Asked at send time, after the retry after a 401 too: the retry may wait in the
        # scheduler (a quota window, a spent month), and the token the refresh gave before
        # that wait may expire in it. The source's current token then serves, unless the
        # source still hands out the rejected one (then the refresh's token does).
        try:
            token = await core.tokens.access_token()
        except RateLimitError as exc:
            # The token endpoint's 429, not the API's: the scheduler must not read it as the
            # API's quota (it would hold to the next minute, probe, then take the month as
            # spent). A server error instead, which the retry policy retries.
            raise ServerError(
                f"{self.request.operation}: the token endpoint is busy (HTTP 429): {exc}",
                operation=self.request.operation,
                status=exc.status,
            ) from None
        if pinned is not None and token == self.rejected_before:
            token = pinned
        request = attrs.evolve(self.request, bearer=token)
        try:
            raw = await exchange(core.transport, core.scheduler, request, self.sends)
        except TransportError as exc:
            scrub(exc, core.credentials, token)
            raise
        try:
            return decode(request, raw)
        except EnlightenError as exc:
            scrub(exc, core.credentials, token)
            if raw.status == 401 and not self.refreshed:
                self.rejected = token
            raise


#: The model of ``inverters_summary_by_envoy_or_site``: a JSON array of summaries.
_INVERTERS_SUMMARIES: type[tuple[InvertersSummary, ...]] = tuple[InvertersSummary, ...]


def _path(system_id: int, tail: str) -> str:
    return f"/systems/{system_id_arg(system_id)}/{tail}"


def _serial(serial_no: str) -> str:
    """A device serial number for a path: non-empty, and no character that would change
    the path (``/``, ``?``, ``#``, ``%``, ``..``)."""
    text_arg(serial_no, "serial_no")
    if not serial_no.isalnum():
        raise ValueError("serial_no must be letters and digits only")
    return serial_no


def _systems_query(size: int | None, sort_by: str | None) -> list[tuple[str, str]]:
    params = page_args(None, size, largest=MAX_SYSTEMS_PAGE_SIZE)
    if sort_by is not None:
        if sort_by not in ("id", "-id"):
            raise ValueError(f"sort_by must be 'id' or '-id', got {sort_by!r}")
        params.append(("sort_by", sort_by))
    return params


def _readings(operation: str, system_id: int, end_at: Epoch | None, model: type[T]) -> Request[T]:
    params = () if end_at is None else (("end_at", str(epoch_arg(end_at, "end_at"))),)
    return Request(operation, _path(system_id, operation), params, model)


def _lifetime(
    operation: str,
    system_id: int,
    start: DateLike | None,
    end: DateLike | None,
    model: type[T],
) -> Request[T]:
    return Request(operation, _path(system_id, operation), tuple(date_range(start, end)), model)


def _broken(page: int, why: str) -> ResponseFormatError:
    return ResponseFormatError(
        f"systems: pagination stopped after page {page}: the server sent {why}",
        operation="systems",
        status=200,
        details=(why,),
    )
