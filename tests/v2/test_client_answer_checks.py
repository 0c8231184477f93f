"""The client's checks of an answer: rows that do not belong never reach the store.

* The models refuse what a 64-bit column cannot hold, and the converter's decisions on
  floats, exponents, non-ASCII digits, sub-second epochs, negative values and duplicate
  keys (the docstrings of ``enlighten_async.core.converter`` and ``v2.converter``) hold
  for every body.
* The client refuses a series answer for another system, or with intervals (days)
  outside the span (dates) it asked for: ``ResponseFormatError``.
* A backfill asks again, after its other spans, for a span whose answer was not for
  it, stores nothing of such an answer, and reports the span when it stays bad; a later
  run fetches it.

The store's own guard (a range's write never changes another range's rows) is in
``tests/test_store_contract.py``, for both stores.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aioresponses import aioresponses

import enlighten_async as ea
from enlighten_async.backfill import BAD_ANSWER_RETRIES, backfill
from enlighten_async.core.spans import local_days
from enlighten_async.core.wire import RawResponse, Request
from enlighten_async.simulator import PLANS, Fleet, Simulator, SimulatorServer
from enlighten_async.store import SQLiteStore
from enlighten_async.v2.protocol import decode

from ..conftest import API_KEY, BASE, USER_ID

UTC = timezone.utc
SID = 67
#: A 5-minute mark (2026-09-01T00:00:00Z) and the day of stats from it.
T0 = 1_788_220_800
META = b'{"status": "normal", "last_report_at": 1, "last_energy_at": 1, "operational_at": 1}'


def _stats_body(interval: bytes, system_id: bytes = b"67") -> bytes:
    """A stats body of one good interval and ``interval`` (raw JSON, any spelling)."""
    good = b'{"end_at": %d, "powr": 12, "enwh": 1, "devices_reporting": 3}' % (T0 + 300)
    return b'{"system_id": %s, "total_devices": 3, "meta": %s, "intervals": [%s, %s]}' % (
        system_id,
        META,
        good,
        interval,
    )


def _decode(body: bytes, model: Any = ea.Stats, operation: str = "stats") -> Any:
    return decode(Request(operation, f"/systems/{SID}/{operation}", (), model), _raw(body))


def _raw(body: bytes) -> RawResponse:
    return RawResponse(200, {}, body)


# -- the models: what a number may be -------------------------------------------------------


@pytest.mark.parametrize("field", ["powr", "enwh", "devices_reporting"])
@pytest.mark.parametrize(
    "value", [b"9223372036854775808", b"18446744073709551615", b"1e30", b"-9223372036854775809"]
)
def test_an_integer_beyond_64_bits_is_a_response_format_error(field: str, value: bytes) -> None:
    fields = {"end_at": b"%d" % (T0 + 600), "powr": b"1", "enwh": b"1", "devices_reporting": b"1"}
    fields[field] = value
    interval = b"{" + b", ".join(b'"%s": %s' % (k.encode(), v) for k, v in fields.items()) + b"}"
    with pytest.raises(ea.ResponseFormatError) as info:
        _decode(_stats_body(interval))
    assert any(f"$.intervals[1].{field}" in line for line in info.value.details), info.value
    # The largest value that fits is a value like any other.
    fields[field] = b"9223372036854775807" if field != "devices_reporting" else b"7"
    interval = b"{" + b", ".join(b'"%s": %s' % (k.encode(), v) for k, v in fields.items()) + b"}"
    assert _decode(_stats_body(interval)).intervals[1].powr >= 1


@pytest.mark.parametrize(
    "body",
    [
        # the lifetime series (a tuple column) and a model's own integer
        b'{"system_id": 66, "start_date": "2026-01-01", "production": [1, 9223372036854775808],'
        b' "meta": %s}' % META,
        b'{"system_id": 66, "start_date": "2026-01-01", "production": [1, 2e3], "meta": %s}' % META,
        b'{"system_id": 1e30, "start_date": "2026-01-01", "production": [1], "meta": %s}' % META,
    ],
)
def test_lifetime_values_beyond_64_bits_or_written_as_floats_are_refused(body: bytes) -> None:
    with pytest.raises(ea.ResponseFormatError):
        _decode(body, ea.EnergyLifetime, "energy_lifetime")


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (b"1e3", "exponent"),
        (b"1E+3", "exponent"),
        (b"12.0", "fraction"),
        (b'"\xd9\xa1\xd9\xa2"', "Arabic-Indic digits"),  # "١٢", which int() reads as 12
        (b'"\xef\xbc\x91\xef\xbc\x92"', "fullwidth digits"),
    ],
)
def test_an_integer_written_otherwise_than_in_ascii_digits_is_refused(
    value: bytes, why: str
) -> None:
    interval = b'{"end_at": %d, "powr": 1, "enwh": %s, "devices_reporting": 1}' % (T0 + 600, value)
    with pytest.raises(ea.ResponseFormatError, match=re.escape("$.intervals[1].enwh")):
        _decode(_stats_body(interval))
    # ASCII digits, quoted or not, are still read.
    for ok in (b"12", b'"12"', b'" 12 "'):
        interval = b'{"end_at": %d, "powr": 1, "enwh": %s, "devices_reporting": 1}' % (
            T0 + 600,
            ok,
        )
        assert _decode(_stats_body(interval)).intervals[1].enwh == 12


@pytest.mark.parametrize(
    "end_at",
    [b"%d.5" % (T0 + 600), b"%d.0" % (T0 + 600), b'"2026-09-01T00:10:00.5Z"', b"1.7882214e9"],
)
def test_an_epoch_that_is_not_whole_seconds_is_refused(end_at: bytes) -> None:
    # Stored, it would have been cut to the second; a float epoch is refused outright.
    interval = b'{"end_at": %s, "powr": 1, "enwh": 1, "devices_reporting": 1}' % end_at
    with pytest.raises(ea.ResponseFormatError, match=re.escape("$.intervals[1].end_at")):
        _decode(_stats_body(interval))
    # Whole seconds, as an integer, digits or an ISO string, are read.
    for ok in (b"%d" % (T0 + 600), b'"%d"' % (T0 + 600), b'"2026-09-01T00:10:00Z"'):
        interval = b'{"end_at": %s, "powr": 1, "enwh": 1, "devices_reporting": 1}' % ok
        assert _decode(_stats_body(interval)).intervals[1].end_at.timestamp() == T0 + 600


def test_negative_counts_and_microinverter_production_are_refused_meter_readings_are_not() -> None:
    for field in ("powr", "enwh", "devices_reporting"):
        values = {"powr": 1, "enwh": 1, "devices_reporting": 1, field: -1}
        interval = orjson.dumps({"end_at": T0 + 600, **values})
        with pytest.raises(ea.ResponseFormatError) as info:
            _decode(_stats_body(interval))
        assert f"must not be negative, got -1 @ $.intervals[1].{field}" in info.value.details
    with pytest.raises(ea.ResponseFormatError, match="total_devices"):
        _decode(_stats_body(b'{"end_at": 1, "powr": 1, "enwh": 1, "devices_reporting": 1}')
                .replace(b'"total_devices": 3', b'"total_devices": -3'))  # fmt: skip
    lifetime = b'{"system_id": 66, "start_date": "2026-01-01", "production": [5, -2],'
    micro = lifetime + b' "micro_production": [1, -1], "meta": %s}' % META
    with pytest.raises(ea.ResponseFormatError, match=re.escape("got -1 @ $.micro_production[1]")):
        _decode(micro, ea.EnergyLifetime, "energy_lifetime")
    # A meter measures both ways (a night's standby draw, a net feed's export): signed.
    meter = lifetime + b' "meter_production": [-3, 4], "meta": %s}' % META
    assert _decode(meter, ea.EnergyLifetime, "energy_lifetime").meter_production == (-3, 4)
    rgm = orjson.dumps(
        {
            "system_id": SID,
            "total_devices": 1,
            "meta": orjson.loads(META),
            "intervals": [{"end_at": T0 + 900, "wh_del": -4, "devices_reporting": 1}],
            "meter_intervals": [
                {
                    "meter_serial_number": "m",
                    "envoy_serial_number": "e",
                    "intervals": [{"channel": 1, "end_at": T0 + 900, "wh_del": -1.5, "curr_w": -6}],
                }
            ],
        }
    )
    parsed = _decode(rgm, ea.RgmStats, "rgm_stats")
    assert parsed.intervals[0].wh_del == -4 and parsed.meter_intervals[0].intervals[0].curr_w == -6
    consumption = orjson.dumps(
        {
            "system_id": SID,
            "total_devices": 1,
            "meta": orjson.loads(META),
            "intervals": [{"end_at": T0 + 900, "enwh": -7, "devices_reporting": 1}],
        }
    )
    assert _decode(consumption, ea.ConsumptionStats, "consumption_stats").intervals[0].enwh == -7


# -- the client: an answer for the system and span asked for ---------------------------------


def _mock_stats(mocked: aioresponses, body: bytes) -> None:
    mocked.get(
        re.compile("^" + re.escape(f"{BASE}/systems/{SID}/stats") + r"(\?.*)?$"),
        body=body,
        content_type="application/json",
    )


def _client(**kwargs: Any) -> ea.EnlightenClient:
    kwargs.setdefault("retry", ea.RetryPolicy(attempts=1))
    return ea.EnlightenClient(API_KEY, USER_ID, **kwargs)


@pytest.mark.parametrize("system_id", [b"99", b'67, "system_id": 99'])
async def test_a_stats_answer_for_another_system_is_a_response_format_error(
    mock_api: aioresponses, system_id: bytes
) -> None:
    # The second: a duplicate key, of which the last wins (orjson's behaviour, kept), and is
    # checked like any other value.
    interval = b'{"end_at": %d, "powr": 1, "enwh": 1, "devices_reporting": 1}' % (T0 + 600)
    _mock_stats(mock_api, _stats_body(interval, system_id))
    async with _client() as client:
        with pytest.raises(ea.ResponseFormatError) as info:
            await client.stats(SID, start_at=T0, end_at=T0 + 86400)
    assert info.value.status == 200 and info.value.operation == "stats"
    assert "system 99, not 67, @ $.system_id" in info.value.details
    (url,) = [u for (_, u) in mock_api.requests]
    assert url.path == f"/api/v2/systems/{SID}/stats"
    assert (url.query["start_at"], url.query["end_at"]) == (str(T0), str(T0 + 86400))


@pytest.mark.parametrize(
    "end_at",
    [
        -1,
        0,
        T0 - 300,  # the last interval of the day before: another span's
        T0 + 86400 + 300,  # the first of the next day
        100_000_000_000,  # the year 5138
    ],
)
async def test_a_stats_interval_outside_the_span_is_a_response_format_error(
    mock_api: aioresponses, end_at: int
) -> None:
    interval = b'{"end_at": %d, "powr": 1, "enwh": 999999, "devices_reporting": 1}' % end_at
    _mock_stats(mock_api, _stats_body(interval))
    # A service may repeat the last interval of the span before (ending at start_at):
    # tolerated. start_at is rounded down to the mark, end_at up to it, as the service does.
    boundary = b'{"end_at": %d, "powr": 1, "enwh": 5, "devices_reporting": 1}' % T0
    _mock_stats(mock_api, _stats_body(boundary))
    _mock_stats(mock_api, _stats_body(boundary))
    async with _client() as client:
        with pytest.raises(ea.ResponseFormatError, match="not for what was asked") as info:
            await client.stats(SID, start_at=T0, end_at=T0 + 86400)
        assert info.value.details[0].endswith("@ $.intervals[1].end_at"), info.value.details
        stats = await client.stats(SID, start_at=T0 + 299, end_at=T0 + 301)
        assert [int(i.end_at.timestamp()) for i in stats.intervals] == [T0 + 300, T0]
        # ... and left to its own span by iter_stats (the store leaves it out too).
        streamed = [i async for i in client.iter_stats(SID, T0, T0 + 600)]
    assert [int(i.end_at.timestamp()) for i in streamed] == [T0 + 300]


async def test_rgm_meter_intervals_and_lifetime_days_outside_what_was_asked_are_refused(
    mock_api: aioresponses,
) -> None:
    meta = orjson.loads(META)
    rgm = {
        "system_id": SID,
        "total_devices": 1,
        "meta": meta,
        "intervals": [{"end_at": T0 + 900, "wh_del": 4, "devices_reporting": 1}],
        "meter_intervals": [
            {
                "meter_serial_number": "m",
                "envoy_serial_number": "e",
                "intervals": [{"channel": 1, "end_at": T0 - 900, "wh_del": 1.0, "curr_w": 4}],
            }
        ],
    }
    mock_api.get(re.compile(f".*/systems/{SID}/rgm_stats.*"), payload=rgm)
    lifetime = {"system_id": SID, "start_date": "2026-08-31", "production": [1, 2], "meta": meta}
    mock_api.get(re.compile(f".*/systems/{SID}/energy_lifetime.*"), payload=lifetime)
    late = dict(lifetime, start_date="2026-09-01", production=[1, 2, 3])
    mock_api.get(re.compile(f".*/systems/{SID}/energy_lifetime.*"), payload=late)
    fine = dict(lifetime, start_date="2026-09-02", production=[1])  # starts late: fine
    mock_api.get(re.compile(f".*/systems/{SID}/energy_lifetime.*"), payload=fine)
    async with _client() as client:
        with pytest.raises(ea.ResponseFormatError) as info:
            await client.rgm_stats(SID, start_at=T0, end_at=T0 + 86400)
        assert info.value.details[0].endswith("@ $.meter_intervals[0].intervals[0].end_at")
        first, last = date(2026, 9, 1), date(2026, 9, 2)
        with pytest.raises(ea.ResponseFormatError, match="before start_date 2026-09-01"):
            await client.energy_lifetime(SID, start_date=first, end_date=last)
        with pytest.raises(ea.ResponseFormatError, match="after end_date 2026-09-02"):
            await client.energy_lifetime(SID, start_date=first, end_date=last)
        result = await client.energy_lifetime(SID, start_date=first, end_date=last)
    assert result is not None and result.production == (1,)


# -- the backfill: a span whose answer was not for it --------------------------------------

Tamper = Callable[[dict[str, Any], int], dict[str, Any]]


def _outside(body: dict[str, Any], start_at: int) -> dict[str, Any]:
    # An interval timed inside the span before (stored already, or never asked for) and
    # one at epoch 0, both with a value no honest row has.
    extra = [{"end_at": at, "powr": 1, "enwh": 999999, "devices_reporting": 1} for at in (0,)]
    extra.append({"end_at": start_at - 600, "powr": 1, "enwh": 999999, "devices_reporting": 1})
    return dict(body, intervals=[*body["intervals"], *extra])


def _other_system(body: dict[str, Any], start_at: int) -> dict[str, Any]:
    return dict(body, system_id=body["system_id"] + 1)


def _huge(body: dict[str, Any], start_at: int) -> dict[str, Any]:
    rows = [dict(i, enwh=2**63) for i in body["intervals"]] or [
        {"end_at": start_at + 300, "powr": 1, "enwh": 2**63, "devices_reporting": 1}
    ]
    return dict(body, intervals=rows)


class TamperingProxy:
    """A loopback server in front of the simulator that spoils ``stats`` answers.

    ``bad_answers`` of each span (by its query) are spoiled with ``tamper``; the rest go
    through as they are. ``asked`` counts the stats requests of each span.
    """

    def __init__(self, upstream: str, tamper: Tamper, bad_answers: int) -> None:
        self.upstream, self.tamper, self.bad_answers = upstream, tamper, bad_answers
        self.asked: dict[str, int] = {}
        self.base_url = ""
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        assert self._session is not None
        tail = request.match_info["tail"]
        async with self._session.get(f"{self.upstream}/{tail}", params=request.query) as up:
            body, status = await up.read(), up.status
            date_header = up.headers.get("Date", "")
        if status == 200 and tail.endswith("/stats"):
            span = request.query["start_at"]
            self.asked[span] = self.asked.get(span, 0) + 1
            if self.asked[span] <= self.bad_answers:
                spoiled = self.tamper(orjson.loads(body), int(span))
                body = orjson.dumps(spoiled)
        headers = {"Content-Type": "application/json", "Date": date_header}
        return web.Response(status=status, body=body, headers=headers)

    async def __aenter__(self) -> TamperingProxy:
        self._session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_get("/api/v2/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}/api/v2"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None and self._session is not None
        await self._runner.cleanup()
        await self._session.close()


@pytest.fixture
async def sim() -> AsyncIterator[tuple[Simulator, str]]:
    simulator = Simulator(fleet=Fleet(1, seed=5), plan=PLANS["unlimited"], clock=ea.ScaledClock(1))
    async with SimulatorServer(simulator) as server:
        yield simulator, server.base_url


def _days(simulator: Simulator) -> tuple[date, date]:
    today = datetime.fromtimestamp(simulator.clock.now(), UTC).date()
    return today - timedelta(days=5), today - timedelta(days=3)


async def _run(simulator: Simulator, base_url: str, db: Path) -> ea.BackfillReport:
    since, until = _days(simulator)
    sid = simulator.fleet.systems[0].system_id
    async with (
        ea.EnlightenClient(
            simulator.api_key, simulator.user_id, base_url=base_url, clock=simulator.clock
        ) as client,
        SQLiteStore(db) as store,
    ):
        return await backfill(client, store, [sid], kinds=["stats"], since=since, until=until)


async def _assert_equal_to_the_fleet(simulator: Simulator, db: Path) -> None:
    system = simulator.fleet.systems[0]
    since, until = _days(simulator)
    start, end = local_days(since, until, system.tz)
    truth = simulator.fleet.stats_intervals(system.system_id, start, end, simulator.clock.now())
    async with SQLiteStore(db) as store:
        rows = await store.intervals("stats", system.system_id)
    assert truth and [(r[1], r[3]) for r in rows] == [(t["end_at"], t["enwh"]) for t in truth]


@pytest.mark.parametrize("tamper", [_outside, _other_system, _huge])
async def test_a_bad_answer_is_asked_for_again_after_the_other_spans(
    sim: tuple[Simulator, str], tmp_path: Path, tamper: Tamper
) -> None:
    simulator, upstream = sim
    async with TamperingProxy(upstream, tamper, bad_answers=1) as proxy:
        report = await _run(simulator, proxy.base_url, tmp_path / "b.db")
    assert report.failures == [] and report.complete and report.done == report.planned >= 3
    # Each span: the bad answer, then (after the other spans) a good one.
    assert list(proxy.asked.values()) == [2] * report.planned
    await _assert_equal_to_the_fleet(simulator, tmp_path / "b.db")


@pytest.mark.parametrize("tamper", [_outside, _other_system, _huge])
async def test_a_span_whose_answer_stays_bad_is_reported_stores_nothing_and_a_later_run_gets_it(
    sim: tuple[Simulator, str], tmp_path: Path, tamper: Tamper
) -> None:
    simulator, upstream = sim
    db = tmp_path / "b.db"
    async with TamperingProxy(upstream, tamper, bad_answers=10) as proxy:
        report = await _run(simulator, proxy.base_url, db)
    assert report.done == 0 and report.failed == report.planned >= 3
    assert list(proxy.asked.values()) == [1 + BAD_ANSWER_RETRIES] * report.planned
    assert all("not for what was asked" in f.error or "does not fit" in f.error
               for f in report.failures), report.failures  # fmt: skip
    async with SQLiteStore(db) as store:
        sid = simulator.fleet.systems[0].system_id
        assert await store.intervals("stats", sid) == []
        assert await store.done_ranges(sid, "stats") == set()
    # A later run, against an honest server, fetches every span.
    again = await _run(simulator, upstream, db)
    assert again.failures == [] and again.done == report.planned
    await _assert_equal_to_the_fleet(simulator, db)
