"""What the library tells an operator: log lines per request and per hold, the scheduler's
repr and ``SchedulerSnapshot.hold_until``. None of it may show the key or the user id."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from email.utils import formatdate
from typing import Any

import pytest
from aioresponses import aioresponses

import enlighten_async as ea
from tests.conftest import API_KEY, BASE, USER_ID
from tests.support.scheduler import ORIGIN, make, run_many

STATS_URL = re.compile("^" + re.escape(BASE + "/systems/67/stats") + r"(\?.*)?$")
LINE = re.compile(r"^GET /api/v2/systems/67/stats -> (\d+) in \d+\.\d ms \(stats, attempt (\d+)\)$")


def _records(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == name]


async def test_one_debug_line_per_request_without_query_or_secrets(
    mock_api: aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    # A 409 that names no window (held for the short backoff floor), then the answer.
    conflict = {"reason": "409", "message": ["Usage limit exceeded"]}
    mock_api.get(STATS_URL, status=409, payload=conflict)
    meta = {"status": "normal", "last_report_at": 1_700_000_000}
    meta.update(last_energy_at=1_700_000_000, operational_at=1_600_000_000)
    body = {"system_id": 67, "total_devices": 1, "meta": meta, "intervals": []}
    mock_api.get(STATS_URL, payload=body)
    caplog.set_level(logging.DEBUG, logger="enlighten_async.transport")
    async with ea.EnlightenClient(API_KEY, USER_ID) as client:
        await client.stats(67, start_at=1_700_000_100, end_at=1_700_000_400)
    lines = [r.getMessage() for r in _records(caplog, "enlighten_async.transport")]
    assert [LINE.match(line).groups() for line in lines] == [  # type: ignore[union-attr]
        ("409", "1"),
        ("200", "2"),
    ]
    for record in caplog.records:
        text = record.getMessage()
        assert API_KEY not in text and USER_ID not in text
        assert "start_at" not in text and "?" not in text


async def test_a_request_that_fails_in_transport_logs_its_kind(
    mock_api: aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    mock_api.get(STATS_URL, exception=asyncio.TimeoutError())
    caplog.set_level(logging.DEBUG, logger="enlighten_async.transport")
    no_retry = ea.RetryPolicy(attempts=1)
    async with ea.EnlightenClient(API_KEY, USER_ID, retry=no_retry) as client:
        with pytest.raises(ea.TransportError):
            await client.stats(67)
    (record,) = _records(caplog, "enlighten_async.transport")
    assert re.match(r"^GET /api/v2/systems/67/stats -> TimeoutError in ", record.getMessage())


@pytest.mark.looptime
async def test_a_hold_and_a_learned_limit_give_one_info_line_each(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="enlighten_async.scheduler")
    scheduler, server, _ = make(max_in_flight=4)
    assert await run_many(scheduler, server, 35) == ["ok"] * 35
    assert len(server.conflicts) >= 2  # several 409s came back from the same window
    lines = [r.getMessage() for r in _records(caplog, "enlighten_async.scheduler")]
    assert [line for line in lines if "learned the limit" in line] == [
        "409 on stats: learned the limit 10/minute"
    ]
    assert len([line for line in lines if "holding every request" in line]) == 1


@pytest.mark.looptime
async def test_hold_until_is_an_aware_datetime_in_the_servers_clock() -> None:
    clock = ea.ScaledClock(1.0, origin=ORIGIN)
    scheduler = ea.Scheduler(clock=clock)
    skew = 100.0  # the server's clock is 100 s ahead of ours
    period_end = ORIGIN + skew + 30  # the server's window ends in 30 s
    sent = 0

    async def attempt() -> str:
        nonlocal sent
        sent += 1
        if sent > 1:
            return "ok"
        body = {"reason": "409", "message": ["no"], "period": "minute", "limit": 10}
        body.update(period_start=int(period_end - 60), period_end=int(period_end))
        headers = {"Date": formatdate(clock.now() + skew, usegmt=True)}
        raw = ea.core.wire.RawResponse(409, headers, __import__("json").dumps(body).encode())
        raise ea.v2.protocol.error_for("stats", raw)

    assert scheduler.snapshot().hold_until is None
    call = asyncio.ensure_future(scheduler.submit(attempt, operation="stats"))
    await asyncio.sleep(5)
    hold = scheduler.snapshot().hold_until
    assert isinstance(hold, datetime) and hold.tzinfo is not None
    expected = datetime.fromtimestamp(period_end, timezone.utc)
    assert 0 <= (hold - expected).total_seconds() <= 2  # the window's end plus a guard
    assert await call == "ok"
    assert scheduler.snapshot().hold_until is None


async def test_scheduler_repr_shows_state_but_never_the_key() -> None:
    key = "k3y-REPR-0123456789abcdef"
    scheduler = ea.Scheduler.for_key(key, plan="watt", max_in_flight=1)
    release = asyncio.Event()

    async def blocked() -> None:
        await release.wait()

    calls = [asyncio.ensure_future(scheduler.submit(blocked)) for _ in range(4)]
    await asyncio.sleep(0.01)
    text = repr(scheduler)
    digest = hashlib.sha256(key.encode()).hexdigest()
    assert key not in text and key[:6] not in text and digest not in text
    assert f"key=sha256:{digest[:12]}" in text
    assert "plan=['10/minute', '10000/month']" in text
    assert "in_flight=1/1" in text and "queued=3" in text
    assert "key=None" in repr(ea.Scheduler())
    release.set()
    await asyncio.gather(*calls)


# -- what a pending call costs the garbage collector ---------------------------------------


async def _tracked_per_call(start: Callable[[], Awaitable[Any]], n: int = 2000) -> float:
    """GC-tracked objects per call of ``n`` calls started as tasks and left waiting."""
    gc.collect()
    before = len(gc.get_objects())
    tasks = [asyncio.ensure_future(start()) for _ in range(n)]
    for _ in range(3):
        await asyncio.sleep(0)  # every task runs up to its wait
    per_call = (len(gc.get_objects()) - before) / n
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return per_call


async def test_a_queued_call_keeps_no_more_objects_than_a_task_awaiting_a_bare_future() -> None:
    # The floor: a task awaiting a future of its own (task, context, weak reference,
    # coroutine, future, its iterator, the task's wake-up). The scheduler's ticket is that
    # future; the collector walks every pending call's objects at each full collection.
    loop = asyncio.get_running_loop()

    async def bare() -> None:
        await loop.create_future()

    floor = await _tracked_per_call(bare)
    release = asyncio.Event()
    scheduler = ea.Scheduler("unlimited", max_in_flight=1)
    holder = asyncio.ensure_future(scheduler.submit(release.wait))
    await asyncio.sleep(0)

    async def noop() -> None:
        return None

    queued = await _tracked_per_call(lambda: scheduler.submit(noop))
    assert queued <= floor + 0.1, (queued, floor)

    # A client call adds its own coroutine, its attempt object and its Request: no closure.
    async def send(request: Any) -> Any:
        await release.wait()
        raise ea.TransportError("never sent", operation="stats", cause="Test")

    client = ea.EnlightenClient(
        API_KEY, USER_ID, scheduler=scheduler, transport=ea.MockTransport(send)
    )
    per_call = await _tracked_per_call(lambda: client.stats(67))
    assert per_call <= floor + 3.1, (per_call, floor)
    release.set()
    await holder
    await client.close()


def test_every_module_logs_under_its_own_name() -> None:
    """``enlighten_async.<module>``, so that one module's lines can be turned on alone; the
    bare ``enlighten_async`` logger is the CLI's (it sets the tree's level)."""
    import pathlib

    root = pathlib.Path(ea.__file__).parent
    found: dict[str, str] = {}
    for path in sorted(root.rglob("*.py")):
        for name in re.findall(r"getLogger\(\"([^\"]+)\"\)", path.read_text(encoding="utf-8")):
            found[str(path.relative_to(root))] = name
    modules = {"backfill.py", "core/transport.py", "core/scheduler.py", "core/retry.py", "store.py"}
    assert modules <= set(found)
    loose = {
        f: n
        for f, n in found.items()
        if f != "cli/__init__.py" and not n.startswith("enlighten_async.")
    }
    assert loose == {}
