"""Per-call overhead of ``EnlightenClient.rgm_stats`` over a bare aiohttp GET + ``json.loads``.

What it measures
    A local ``aiohttp.web`` server (127.0.0.1 only, a free port, in a background thread
    of this process, started and stopped by the script) answers every request with one
    pre-serialized one-month ``rgm_stats`` body: two meters, 15-minute intervals, i.e.
    2,880 top-level ``intervals`` and 2 x 2,880 ``meter_intervals[].intervals`` items,
    shaped like the spec's ``RgmStatsResponse``.

    The same number of sequential requests (one at a time, so the figure is the cost of
    one call) goes through two paths, in alternating rounds so that drift (CPU frequency,
    other load) hits both alike:

    * **bare**: ``aiohttp.ClientSession.get`` + ``json.loads(await resp.read())``;
    * **client**: ``await EnlightenClient(...).rgm_stats(system_id, start_at=..., end_at=...)``
      (scheduler, retry wrapper, transport, ``decode``, cattrs structuring into models).

    It prints the median ms/request of each path, the ratio client/bare against the goal
    (ratio <= 1.5), the garbage collector's pauses per request on each path (``gc.callbacks``),
    and a breakdown of the client's own CPU cost measured without the network
    (``json.loads``, ``converter.structure``, ``decode``, one ``Scheduler.submit`` of a no-op
    attempt). ``--profile`` adds a cProfile of the client path (top 15 by cumulative and by
    own time).

How to run
    .venv/bin/python benchmarks/parse_overhead.py                  # N=200 per path
    .venv/bin/python benchmarks/parse_overhead.py --requests 500 --rounds 10 --warmup 20
    .venv/bin/python benchmarks/parse_overhead.py --check          # exit 1 if ratio > 1.5
    .venv/bin/python benchmarks/parse_overhead.py --profile        # + cProfile, top 15

It exits 0 whatever the ratio (it is a measurement), unless ``--check`` is given.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import platform
import pstats
import statistics
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

# Run from a checkout without installing: the package is the parent of this folder.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from enlighten_async import EnlightenClient
from enlighten_async._converter import converter
from enlighten_async._models import RgmStats
from enlighten_async._protocol import RawResponse, decode
from enlighten_async._scheduler import Scheduler

HOST = "127.0.0.1"
SYSTEM_ID = 1765
API_KEY = "bench-key"
USER_ID = "bench-user"
GOAL_RATIO = 1.5
DAYS = 30
INTERVALS_PER_DAY = 96  # 15-minute intervals
STEP = 900
#: 2026-10-01T00:00:00Z: the month the body covers.
START_AT = int(datetime(2026, 10, 1, tzinfo=timezone.utc).timestamp())
END_AT = START_AT + DAYS * INTERVALS_PER_DAY * STEP
METERS = (("1218676784", "1218347675"), ("1218676785", "1218347675"))


# -- the body -------------------------------------------------------------------------------


def build_body() -> bytes:
    """One month of ``rgm_stats`` for two meters, serialized once (about 0.5 MB)."""
    count = DAYS * INTERVALS_PER_DAY
    ends = [START_AT + (i + 1) * STEP for i in range(count)]

    def produced(i: int, scale: int) -> int:
        # A daily bell: nothing at night, a peak at noon.
        slot = i % INTERVALS_PER_DAY
        return max(0, scale * (48 - abs(slot - 48)) - scale * 20)

    meter_intervals = []
    for m, (meter_sn, envoy_sn) in enumerate(METERS):
        meter_intervals.append(
            {
                "meter_serial_number": meter_sn,
                "envoy_serial_number": envoy_sn,
                "intervals": [
                    {
                        "channel": 1,
                        "end_at": end,
                        # wh_del is "number, format: float, nullable"; curr_w "integer,
                        # nullable": give some floats and a few nulls, as meters do.
                        "wh_del": None if i % 997 == 0 else produced(i, 3 + m) + 0.5,
                        "curr_w": None if i % 997 == 0 else produced(i, 3 + m) * 4,
                    }
                    for i, end in enumerate(ends)
                ],
            }
        )
    body = {
        "system_id": SYSTEM_ID,
        "total_devices": len(METERS),
        "meta": {
            "status": "normal",
            "last_report_at": END_AT - 60,
            "last_energy_at": END_AT - 300,
            "operational_at": 1357023600,
        },
        "intervals": [
            {"end_at": end, "wh_del": produced(i, 7), "devices_reporting": len(METERS)}
            for i, end in enumerate(ends)
        ],
        "meter_intervals": meter_intervals,
    }
    return json.dumps(body).encode()


# -- the server -----------------------------------------------------------------------------


class LocalServer:
    """An ``aiohttp.web`` server on 127.0.0.1, on its own loop in a background thread.

    Its own thread keeps its work out of the client's profile; requests are sequential,
    so the two threads never compete for the interpreter.
    """

    def __init__(self, body: bytes) -> None:
        self._body = body
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-server", daemon=True)
        self._error: BaseException | None = None
        self.port = 0

    async def _handle(self, request: web.Request) -> web.Response:
        if request.query.get("key") != API_KEY or request.query.get("user_id") != USER_ID:
            return web.json_response({"reason": "401", "message": ["Not authorized"]}, status=401)
        return web.Response(body=self._body, content_type="application/json")

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/api/v2/systems/{system_id}/rgm_stats", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, 0)  # port 0: the OS picks a free one
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._start())
        except BaseException as exc:  # report to the starting thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        if self._runner is not None:
            self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(timeout=30)
        if self._error is not None:
            raise RuntimeError(f"server failed to start: {self._error!r}")
        if not self.port:
            raise RuntimeError("server did not start in 30 s")

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)


# -- the two paths --------------------------------------------------------------------------

Call = Callable[[], Awaitable[Any]]


def bare_call(session: aiohttp.ClientSession, base_url: str) -> Call:
    url = f"{base_url}/systems/{SYSTEM_ID}/rgm_stats"
    params = [
        ("start_at", str(START_AT)),
        ("end_at", str(END_AT)),
        ("key", API_KEY),
        ("user_id", USER_ID),
    ]

    async def call() -> Any:
        async with session.get(url, params=params, allow_redirects=False) as resp:
            if resp.status != 200:
                raise RuntimeError(f"bare: HTTP {resp.status}")
            return json.loads(await resp.read())

    return call


def client_call(client: EnlightenClient) -> Call:
    async def call() -> Any:
        return await client.rgm_stats(SYSTEM_ID, start_at=START_AT, end_at=END_AT)

    return call


class GcMeter:
    """Adds up the cyclic garbage collector's pauses while a path is being timed."""

    def __init__(self) -> None:
        self.path: str | None = None
        self.seconds: dict[str, float] = {}
        self.full: dict[str, int] = {}
        self._t0 = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if self.path is None:
            return
        if phase == "start":
            self._t0 = time.perf_counter()
            return
        self.seconds[self.path] = self.seconds.get(self.path, 0.0) + (
            time.perf_counter() - self._t0
        )
        if info.get("generation") == 2:
            self.full[self.path] = self.full.get(self.path, 0) + 1


async def time_calls(
    call: Call, n: int, meter: GcMeter | None = None, path: str = ""
) -> list[float]:
    """Seconds of each of ``n`` sequential calls."""
    out: list[float] = []
    clock = time.perf_counter
    if meter is not None:
        meter.path = path
    try:
        for _ in range(n):
            t0 = clock()
            await call()
            out.append(clock() - t0)
    finally:
        if meter is not None:
            meter.path = None
    return out


def split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


# -- breakdown without the network ----------------------------------------------------------

Row = tuple[str, float, float]  # name, best seconds, median seconds


def measure(name: str, fn: Callable[[], object], repeat: int) -> Row:
    """Best and median seconds of one ``fn()`` over ``repeat`` runs (after one warm-up)."""
    fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return name, min(samples), statistics.median(samples)


async def breakdown(body: bytes, repeat: int) -> list[Row]:
    data = json.loads(body)
    raw = RawResponse(200, {}, body)
    rows = [
        measure("json.loads(body)", lambda: json.loads(body), repeat),
        measure(
            "converter.structure(data, RgmStats)",
            lambda: converter.structure(data, RgmStats),
            repeat,
        ),
        measure(
            "decode() = json.loads + structure",
            lambda: decode("rgm_stats", raw, RgmStats),
            repeat,
        ),
    ]

    scheduler = Scheduler("unlimited")

    async def noop() -> None:
        return None

    async def submit_many(k: int) -> float:
        t0 = time.perf_counter()
        for _ in range(k):
            await scheduler.submit(noop, operation="rgm_stats")
        return (time.perf_counter() - t0) / k

    await submit_many(100)
    per = [await submit_many(200) for _ in range(5)]
    rows.append(("Scheduler.submit(no-op): tenacity + dispatch", min(per), statistics.median(per)))
    return rows


# -- main -----------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:9.3f}"


async def run(args: argparse.Namespace, body: bytes, port: int) -> float:
    base_url = f"http://{HOST}:{port}/api/v2"
    meter = GcMeter()
    async with (
        aiohttp.ClientSession() as session,
        EnlightenClient(API_KEY, USER_ID, base_url=base_url, plan="unlimited") as client,
    ):
        bare = bare_call(session, base_url)
        ours = client_call(client)
        check = await ours()
        assert isinstance(check, RgmStats)
        assert len(check.intervals) == DAYS * INTERVALS_PER_DAY
        assert all(len(m.intervals) == DAYS * INTERVALS_PER_DAY for m in check.meter_intervals)
        del check

        await time_calls(bare, args.warmup)
        await time_calls(ours, args.warmup)

        samples: dict[str, list[float]] = {"bare": [], "client": []}
        round_rows: list[tuple[int, float, float]] = []
        gc.callbacks.append(meter)
        try:
            for r, k in enumerate(split(args.requests, args.rounds)):
                # Alternate which path goes first, so neither always follows the other.
                order = [("bare", bare), ("client", ours)]
                if r % 2:
                    order.reverse()
                medians: dict[str, float] = {}
                for path, call in order:
                    got = await time_calls(call, k, meter, path)
                    samples[path].extend(got)
                    medians[path] = statistics.median(got)
                round_rows.append((r + 1, medians["bare"], medians["client"]))
        finally:
            gc.callbacks.remove(meter)

    bare_med = statistics.median(samples["bare"])
    client_med = statistics.median(samples["client"])
    ratio = client_med / bare_med

    print(
        f"\nbody: {len(body):,} bytes; {args.requests} sequential requests per path "
        f"in {args.rounds} alternating rounds, {args.warmup} warm-up each"
    )
    print(f"\n{'round':>5} {'bare ms':>9} {'client ms':>9} {'ratio':>6}")
    for r, b, c in round_rows:
        print(f"{r:>5} {ms(b)} {ms(c)} {c / b:6.2f}")

    print(
        f"\n{'path':<30} {'median ms':>9} {'mean ms':>9} {'p90 ms':>9} {'gc ms/req':>9} "
        f"{'full gc':>7}"
    )
    for path, label in (("bare", "bare: aiohttp + json.loads"), ("client", "client.rgm_stats")):
        got = samples[path]
        p90 = statistics.quantiles(got, n=10)[-1]
        gc_per = meter.seconds.get(path, 0.0) / len(got)
        print(
            f"{label:<30} {ms(statistics.median(got))} {ms(statistics.fmean(got))} {ms(p90)} "
            f"{ms(gc_per)} {meter.full.get(path, 0):>7}"
        )
    print(f"{'ratio client/bare (medians)':<30} {ratio:9.2f}")

    rows = await breakdown(body, args.breakdown_repeat)
    print(f"\nclient's own CPU cost, no network ({args.breakdown_repeat} runs each):")
    print(f"{'part':<46} {'best ms':>9} {'median ms':>9}")
    for name, best, med in rows:
        print(f"{name:<46} {ms(best)} {ms(med)}")
    print(f"{'client - bare, end to end (medians)':<46} {'':>9} {ms(client_med - bare_med)}")

    verdict = "PASS" if ratio <= GOAL_RATIO else "MISS"
    print(f"\ngoal: ratio client/bare <= {GOAL_RATIO}: {ratio:.2f} -> {verdict}")

    if args.profile:
        async with EnlightenClient(API_KEY, USER_ID, base_url=base_url, plan="unlimited") as client:
            await profile(client_call(client), args.profile_requests)
    return ratio


async def profile(call: Call, n: int) -> None:
    await call()  # connect first: the profile is of steady-state calls
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        await call()
    prof.disable()
    for key, title in (
        (pstats.SortKey.CUMULATIVE, "cumulative"),
        (pstats.SortKey.TIME, "own (tottime)"),
    ):
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats(key).print_stats(15)
        print(f"\ncProfile of {n} client.rgm_stats calls, top 15 by {title} time:")
        print(out.getvalue().strip())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--requests", type=int, default=200, help="timed requests per path")
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    ap.add_argument("--warmup", type=int, default=10, help="untimed requests per path first")
    ap.add_argument("--breakdown-repeat", type=int, default=40, help="runs per breakdown part")
    ap.add_argument("--check", action="store_true", help="exit 1 if the ratio misses the goal")
    ap.add_argument("--profile", action="store_true", help="cProfile the client path")
    ap.add_argument("--profile-requests", type=int, default=50, help="calls under cProfile")
    args = ap.parse_args(argv)
    if args.requests < args.rounds or args.rounds < 1:
        ap.error("--requests must be at least --rounds, and --rounds at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    body = build_body()
    print(
        f"Python {platform.python_version()}, aiohttp {aiohttp.__version__}, "
        f"{platform.machine()}, gc {'on' if gc.isenabled() else 'off'}"
    )
    server = LocalServer(body)
    server.start()
    try:
        ratio = asyncio.run(run(args, body, server.port))
    finally:
        server.stop()
    return 1 if args.check and ratio > GOAL_RATIO else 0


if __name__ == "__main__":
    sys.exit(main())
