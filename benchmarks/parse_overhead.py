"""Per-call overhead of ``EnlightenClient.rgm_stats`` over a bare aiohttp GET + ``json.loads``.

What it measures
    A local ``aiohttp.web`` server (127.0.0.1 only, a free port, in its own spawned
    process, pinned to the last CPU while this process keeps the others; ``--no-pin`` to
    leave both free) answers every request with one pre-serialized one-month
    ``rgm_stats`` body: two meters, 15-minute intervals, i.e. 2,880 top-level
    ``intervals`` and 2 x 2,880 ``meter_intervals[].intervals`` items, shaped like the
    spec's ``RgmStatsResponse``.

    The same number of sequential requests (one at a time, so the figure is the cost of
    one call) goes through each path, in rounds whose order rotates so that drift (CPU
    frequency, other load) hits all alike:

    * **bare**: ``aiohttp.ClientSession.get`` + ``json.loads(await resp.read())``;
    * **client**: ``await EnlightenClient(...).rgm_stats(system_id, start_at=..., end_at=...)``
      (scheduler, retry wrapper, transport, ``decode``, cattrs structuring into models);
    * reference rows, the same GET + another parser: ``orjson.loads``, msgspec Structs,
      pydantic v2 models (each if installed: ``pip install -e '.[bench]'``).

    Per path: median, mean and p90 ms/request, the garbage collector's pauses per request
    and its full (generation 2) collections (``gc.callbacks``), and the ratios to bare
    (median and p90); the paired per-round ratios client/bare and their median. Goals
    (issue 12): median client/bare <= 1.0, p90 client/bare <= 1.5, <= 1 full collection
    per 100 client calls. Then the client's own CPU cost without the network (parse,
    ``converter.structure``, ``decode``, one ``Scheduler.submit`` of a no-op attempt).
    ``--profile`` adds a cProfile of the client path (top 15 by cumulative and own time).

How to run
    .venv/bin/python benchmarks/parse_overhead.py                  # N=200 per path
    .venv/bin/python benchmarks/parse_overhead.py --requests 500 --rounds 10 --warmup 20
    .venv/bin/python benchmarks/parse_overhead.py --check          # exit 1 if a goal is missed
    .venv/bin/python benchmarks/parse_overhead.py --profile        # + cProfile, top 15

It exits 0 whatever the figures (it is a measurement), unless ``--check`` is given.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import multiprocessing
import platform
import pstats
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

# Run from a checkout without installing: the package is the parent of this folder.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import CpuSplit, loadavg, pin_this_process

from enlighten_async import EnlightenClient
from enlighten_async.core.scheduler import Scheduler
from enlighten_async.core.wire import RawResponse, Request
from enlighten_async.v2.converter import converter
from enlighten_async.v2.models import RgmStats
from enlighten_async.v2.protocol import decode

HOST = "127.0.0.1"
SYSTEM_ID = 1765
API_KEY = "bench-key"
USER_ID = "bench-user"
#: Goals (issue 12): the client's median at most bare aiohttp + ``json.loads``'s, its p90
#: at most 1.5x bare's p90, at most one full collection per 100 calls.
GOAL_RATIO = 1.0
GOAL_P90 = 1.5
GOAL_FULL = 1.0
BARE = "bare: aiohttp + json.loads"
CLIENT = "client.rgm_stats"
DAYS = 30
INTERVALS_PER_DAY = 96  # 15-minute intervals
STEP = 900
#: 2026-10-01T00:00:00Z: the month the body covers.
START_AT = int(datetime(2026, 10, 1, tzinfo=timezone.utc).timestamp())
END_AT = START_AT + DAYS * INTERVALS_PER_DAY * STEP
METERS = (("1218676784", "1218347675"), ("1218676785", "1218347675"))


# -- the body -------------------------------------------------------------------------------


def build_body(system_id: int = SYSTEM_ID) -> bytes:
    """One month of ``rgm_stats`` for two meters of ``system_id``, serialized once (about
    0.5 MB)."""
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
        "system_id": system_id,
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


def _serve(bodies: dict[str, bytes], conn: Any, cpu: int | None) -> None:
    """The server process: answers ``GET <path>`` with ``bodies[path]`` until killed."""
    pin_this_process(cpu)

    async def handle(request: web.Request) -> web.Response:
        if request.query.get("key") != API_KEY or request.query.get("user_id") != USER_ID:
            return web.json_response({"reason": "401", "message": ["Not authorized"]}, status=401)
        body = bodies.get(request.path)
        if body is None:
            return web.json_response({"reason": "404", "message": ["Not found"]}, status=404)
        return web.Response(body=body, content_type="application/json")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, HOST, 0)  # port 0: the OS picks a free one
        await site.start()
        conn.send(int(runner.addresses[0][1]))
        await asyncio.Event().wait()  # until the parent terminates this process

    asyncio.run(main())


class ProcessServer:
    """An ``aiohttp.web`` server on 127.0.0.1 in its own process (spawned, so it shares
    nothing with the client), pinned to the last CPU when ``pin`` and there are two or
    more; the client process is pinned to the others. Its collector and CPU stay out of
    the client's figures."""

    def __init__(self, bodies: dict[str, bytes], *, pin: bool = True) -> None:
        self.cpus = CpuSplit(pin)
        self.pinned = self.cpus.pinned
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(
            target=_serve,
            args=(bodies, child, self.cpus.server_cpu),
            name="bench-server",
            daemon=True,
        )
        self.port = 0

    def start(self) -> None:
        self._proc.start()
        if not self._conn.poll(60):
            self._proc.kill()
            raise RuntimeError("server did not start in 60 s")
        self.port = int(self._conn.recv())
        self.cpus.pin_client()

    def stop(self) -> None:
        self._proc.terminate()
        self._proc.join(timeout=30)

    def describe(self) -> str:
        return self.cpus.describe("server")


# -- the two paths --------------------------------------------------------------------------

Call = Callable[[], Awaitable[Any]]


def _params() -> list[tuple[str, str]]:
    return [
        ("start_at", str(START_AT)),
        ("end_at", str(END_AT)),
        ("key", API_KEY),
        ("user_id", USER_ID),
    ]


def bare_call(
    session: aiohttp.ClientSession, base_url: str, parse: Callable[[bytes], Any] = json.loads
) -> Call:
    """aiohttp GET + ``parse(body)``: the floor (``json.loads``) or a reference parser."""
    url = f"{base_url}/systems/{SYSTEM_ID}/rgm_stats"
    params = _params()

    async def call() -> Any:
        async with session.get(url, params=params, allow_redirects=False) as resp:
            if resp.status != 200:
                raise RuntimeError(f"bare: HTTP {resp.status}")
            return parse(await resp.read())

    return call


# -- reference parsers (``pip install -e '.[bench]'``) ----------------------------------------
# Module level: with postponed annotations, msgspec and pydantic resolve names here.

try:
    import msgspec

    class MsMeta(msgspec.Struct):
        status: str
        last_report_at: int
        last_energy_at: int
        operational_at: int

    class MsRgmInterval(msgspec.Struct):
        end_at: int
        wh_del: int
        devices_reporting: int

    class MsMeterInterval(msgspec.Struct):
        channel: int
        end_at: int
        wh_del: float | None
        curr_w: int | None

    class MsMeterIntervals(msgspec.Struct):
        meter_serial_number: str
        envoy_serial_number: str
        intervals: list[MsMeterInterval]

    class MsRgmStats(msgspec.Struct):
        system_id: int
        total_devices: int
        meta: MsMeta
        intervals: list[MsRgmInterval]
        meter_intervals: list[MsMeterIntervals] = []

    HAVE_MSGSPEC = True
except ImportError:
    HAVE_MSGSPEC = False

try:
    import pydantic

    class PdMeta(pydantic.BaseModel):
        status: str
        last_report_at: datetime
        last_energy_at: datetime
        operational_at: datetime

    class PdRgmInterval(pydantic.BaseModel):
        end_at: datetime
        wh_del: int
        devices_reporting: int

    class PdMeterInterval(pydantic.BaseModel):
        channel: int
        end_at: datetime
        wh_del: float | None
        curr_w: int | None

    class PdMeterIntervals(pydantic.BaseModel):
        meter_serial_number: str
        envoy_serial_number: str
        intervals: list[PdMeterInterval]

    class PdRgmStats(pydantic.BaseModel):
        system_id: int
        total_devices: int
        meta: PdMeta
        intervals: list[PdRgmInterval]
        meter_intervals: list[PdMeterIntervals] = []

    HAVE_PYDANTIC = True
except ImportError:
    HAVE_PYDANTIC = False


def reference_parsers() -> dict[str, Callable[[bytes], Any]]:
    """Parsers other clients use, for reference rows: orjson (dicts), msgspec Structs and
    pydantic v2 models of ``RgmStatsResponse``; each only if installed (``pip install
    -e '.[bench]'``). msgspec keeps epochs as ints (it has no epoch-to-datetime rule);
    pydantic makes aware datetimes, as this client does."""
    out: dict[str, Callable[[bytes], Any]] = {}
    try:
        import orjson

        out["bare + orjson.loads"] = orjson.loads
    except ImportError:
        pass
    if HAVE_MSGSPEC:
        out["msgspec Structs"] = msgspec.json.Decoder(MsRgmStats).decode
    if HAVE_PYDANTIC:
        out["pydantic v2 models"] = PdRgmStats.model_validate_json
    return out


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
            lambda: decode(Request("rgm_stats", "/x", (), RgmStats), raw),
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


def p90(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=10)[-1]


async def run(args: argparse.Namespace, body: bytes, port: int) -> bool:
    base_url = f"http://{HOST}:{port}/api/v2"
    meter = GcMeter()
    async with (
        aiohttp.ClientSession() as session,
        EnlightenClient(API_KEY, USER_ID, base_url=base_url, plan="unlimited") as client,
    ):
        ours = client_call(client)
        check = await ours()
        assert isinstance(check, RgmStats)
        assert len(check.intervals) == DAYS * INTERVALS_PER_DAY
        assert all(len(m.intervals) == DAYS * INTERVALS_PER_DAY for m in check.meter_intervals)
        del check

        paths: dict[str, Call] = {BARE: bare_call(session, base_url), CLIENT: ours}
        if not args.no_reference:
            for name, parse in reference_parsers().items():
                paths[name] = bare_call(session, base_url, parse)
        for call in paths.values():
            await time_calls(call, args.warmup)

        samples: dict[str, list[float]] = {name: [] for name in paths}
        round_rows: list[dict[str, float]] = []
        gc.collect()
        gc.callbacks.append(meter)
        try:
            for r, k in enumerate(split(args.requests, args.rounds)):
                # Rotate the order, so no path always follows the same one.
                order = list(paths.items())
                order = order[r % len(order) :] + order[: r % len(order)]
                medians: dict[str, float] = {}
                for path, call in order:
                    got = await time_calls(call, k, meter, path)
                    samples[path].extend(got)
                    medians[path] = statistics.median(got)
                round_rows.append(medians)
        finally:
            gc.callbacks.remove(meter)

    bare_med, bare_p90 = statistics.median(samples[BARE]), p90(samples[BARE])
    print(
        f"\nbody: {len(body):,} bytes; {args.requests} sequential requests per path "
        f"in {args.rounds} rotating rounds, {args.warmup} warm-up each"
    )
    print(f"\n{'round':>5} {'bare ms':>9} {'client ms':>9} {'ratio':>6}")
    paired = []
    for r, medians in enumerate(round_rows, 1):
        paired.append(medians[CLIENT] / medians[BARE])
        print(f"{r:>5} {ms(medians[BARE])} {ms(medians[CLIENT])} {paired[-1]:6.2f}")
    print(f"median of the paired round ratios: {statistics.median(paired):.2f}")

    print(
        f"\n{'path':<28} {'median ms':>9} {'mean ms':>9} {'p90 ms':>9} {'gc ms/req':>9} "
        f"{'full gc':>7} {'/100':>5} {'x bare':>6} {'p90 x':>6}"
    )
    for path, got in samples.items():
        gc_per = meter.seconds.get(path, 0.0) / len(got)
        full = meter.full.get(path, 0)
        print(
            f"{path:<28} {ms(statistics.median(got))} {ms(statistics.fmean(got))} "
            f"{ms(p90(got))} {ms(gc_per)} {full:>7} {100 * full / len(got):5.1f} "
            f"{statistics.median(got) / bare_med:6.2f} {p90(got) / bare_p90:6.2f}"
        )

    rows = await breakdown(body, args.breakdown_repeat)
    print(f"\nclient's own CPU cost, no network ({args.breakdown_repeat} runs each):")
    print(f"{'part':<46} {'best ms':>9} {'median ms':>9}")
    for name, best, med in rows:
        print(f"{name:<46} {ms(best)} {ms(med)}")

    client_ms = samples[CLIENT]
    ratio = statistics.median(client_ms) / bare_med
    p90_ratio = p90(client_ms) / bare_p90
    full_per_100 = 100 * meter.full.get(CLIENT, 0) / len(client_ms)
    goals = [
        (f"median client/bare <= {GOAL_RATIO}", ratio, ratio <= GOAL_RATIO),
        (f"p90 client/bare <= {GOAL_P90}", p90_ratio, p90_ratio <= GOAL_P90),
        (
            f"full collections per 100 calls <= {GOAL_FULL}",
            full_per_100,
            full_per_100 <= GOAL_FULL,
        ),
    ]
    print()
    for name, value, ok in goals:
        print(f"goal: {name}: {value:.2f} -> {'PASS' if ok else 'MISS'}")

    if args.profile:
        async with EnlightenClient(API_KEY, USER_ID, base_url=base_url, plan="unlimited") as client:
            await profile(client_call(client), args.profile_requests)
    return all(ok for _, _, ok in goals)


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
    ap.add_argument("--check", action="store_true", help="exit 1 if a goal is missed")
    ap.add_argument("--no-reference", action="store_true", help="skip orjson/msgspec/pydantic")
    ap.add_argument("--no-pin", action="store_true", help="do not pin server and client CPUs")
    ap.add_argument("--profile", action="store_true", help="cProfile the client path")
    ap.add_argument("--profile-requests", type=int, default=50, help="calls under cProfile")
    args = ap.parse_args(argv)
    if args.requests < args.rounds or args.rounds < 1:
        ap.error("--requests must be at least --rounds, and --rounds at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    body = build_body()
    server = ProcessServer({f"/api/v2/systems/{SYSTEM_ID}/rgm_stats": body}, pin=not args.no_pin)
    server.start()
    print(
        f"Python {platform.python_version()}, aiohttp {aiohttp.__version__}, "
        f"{platform.machine()}, gc {'on' if gc.isenabled() else 'off'}; {server.describe()}; "
        f"loadavg {loadavg()}"
    )
    try:
        ok = asyncio.run(run(args, body, server.port))
    finally:
        server.stop()
    print(f"loadavg {loadavg()}")
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
