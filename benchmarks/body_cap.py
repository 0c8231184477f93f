"""What the body caps (issue 19, point 1) cost an ordinary answer: a month of ``rgm_stats``.

What it measures
    The same ``EnlightenClient.rgm_stats`` call, two ways, against a local ``aiohttp.web``
    server (127.0.0.1, a free port, its own spawned process pinned to the last CPU; the
    client keeps the others; ``--no-pin`` leaves both free) that answers with
    ``parse_overhead.py``'s one-month body (two meters, 2,880 + 2 x 2,880 intervals,
    567,603 bytes), sent as it is (``identity``) or gzip-compressed (``gzip``, level 6):

    * **before**: the read of ``601139a`` (main before the caps), kept in this script as
      the baseline: aiohttp decompresses (``auto_decompress``), ``await resp.read()``
      takes the whole body, then the same ``decode``;
    * **after**: the transport as it is: the body read as it arrives and counted against
      ``MAX_WIRE_BYTES``/``MAX_BODY_BYTES``, gzip undone by the transport in 64 KiB steps
      with the loop run between them, then ``decode`` (whose interval scan is skipped for
      a body under 1 MiB).

    Calls are sequential (one at a time). Each round runs both paths for both encodings,
    the order of before/after alternating from round to round. Per encoding and path: the
    median ms per call over all rounds; per round, the paired ratio after/before of the
    round medians, and the median of those ratios. Goal: **median paired ratio <= 1.02**
    per encoding (no slower than before, within a 2% margin for noise). Then, without the
    network: ``zlib.decompress`` of the gzip body against the transport's stepped inflate,
    and the interval scan on a 1.5 MiB body (what a body over the threshold pays).

How to run
    .venv/bin/python benchmarks/body_cap.py                        # 9 rounds x 100 calls
    .venv/bin/python benchmarks/body_cap.py --rounds 15 --calls 200 --check

It exits 0 whatever the figures, unless ``--check`` is given and a goal is missed. Timing
is wall clock on a shared machine: the load averages are printed before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import multiprocessing
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

# Run from a checkout without installing: the package is the parent of this folder.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import CpuSplit, loadavg, pin_this_process
from parse_overhead import API_KEY, END_AT, HOST, START_AT, USER_ID, build_body

from enlighten_async import EnlightenClient
from enlighten_async.core.decoding import too_many_intervals as _too_many_intervals
from enlighten_async.core.transport import AiohttpTransport, _Inflater
from enlighten_async.core.wire import RawResponse, Request
from enlighten_async.v2.models import RgmStats

#: Goal: the capped read's median paired ratio to the read before it, per encoding.
GOAL_RATIO = 1.02
#: The system id each encoding is served under.
SYSTEMS = {"identity": 1765, "gzip": 1766}
PATHS = ("before", "after")

Call = Callable[[], Awaitable[Any]]


# -- the server -----------------------------------------------------------------------------


def _serve(plain: bytes, packed: bytes, conn: Any, cpu: int | None) -> None:
    """The server process: the month, plain or gzip by system id, until killed."""
    pin_this_process(cpu)
    answers = {
        f"/api/v2/systems/{SYSTEMS['identity']}/rgm_stats": (plain, {}),
        f"/api/v2/systems/{SYSTEMS['gzip']}/rgm_stats": (packed, {"Content-Encoding": "gzip"}),
    }

    async def handle(request: web.Request) -> web.Response:
        body, headers = answers[request.path]
        return web.Response(body=body, headers=headers, content_type="application/json")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, HOST, 0)
        await site.start()
        conn.send(int(runner.addresses[0][1]))
        await asyncio.Event().wait()

    asyncio.run(main())


# -- the baseline ---------------------------------------------------------------------------


class BeforeTransport(AiohttpTransport):
    """The read of ``601139a``: aiohttp decompresses and ``resp.read()`` takes it all.

    Only the success path is kept (the benchmark's answers are all 200s); everything else
    (URL building, session, credentials) is the transport's own.
    """

    async def send(self, request: Request[object]) -> RawResponse:
        creds = self._credentials
        url: Any = self._url(request)
        params = None
        if url is None:
            params = [*request.params, ("key", creds.api_key), ("user_id", creds.user_id)]
            url = self.base_url + request.path
        session = await self._get_session()
        async with session.get(
            url, params=params, timeout=self._timeout, allow_redirects=False
        ) as resp:
            body = await resp.read()
            return RawResponse(resp.status, resp.headers, body, redact=creds.redact)


def _client(base_url: str, path: str) -> EnlightenClient:
    client = EnlightenClient(API_KEY, USER_ID, base_url=base_url, plan="unlimited")
    if path == "before":
        # The same object, read as before: swapping the class keeps every other part.
        client._core.transport.__class__ = BeforeTransport
    return client


def _call(client: EnlightenClient, system_id: int) -> Call:
    async def call() -> Any:
        return await client.rgm_stats(system_id, start_at=START_AT, end_at=END_AT)

    return call


async def _time(call: Call, n: int) -> list[float]:
    out: list[float] = []
    clock = time.perf_counter
    for _ in range(n):
        t0 = clock()
        await call()
        out.append(clock() - t0)
    return out


# -- without the network ---------------------------------------------------------------------


def _best_and_median(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return min(samples), statistics.median(samples)


async def _inflate(packed: bytes, piece: int) -> bytes:
    """The transport's inflate over ``packed`` in socket-sized pieces."""
    inflater = _Inflater(gzip=True)
    parts: list[bytes] = []
    size = 0
    for i in range(0, len(packed), piece):
        size = await inflater.feed(packed[i : i + piece], parts, size)
    inflater.finish()
    return b"".join(parts)


def offline(plain: bytes, packed: bytes, repeat: int) -> list[tuple[str, float, float]]:
    import zlib

    loop = asyncio.new_event_loop()
    try:
        assert len(loop.run_until_complete(_inflate(packed, 65536))) == len(plain)
        rows = [
            (
                "zlib.decompress(gzip body), one call",
                *_best_and_median(lambda: zlib.decompress(packed, 16 + zlib.MAX_WBITS), repeat),
            ),
            (
                "transport inflate, 64 KiB steps + sleep(0)",
                *_best_and_median(lambda: loop.run_until_complete(_inflate(packed, 65536)), repeat),
            ),
        ]
    finally:
        loop.close()
    big = plain * 3  # 1.6 MiB: past SCAN_ABOVE_BYTES, so its brackets are counted
    raw = RawResponse(200, {}, big)
    rows.append(
        (
            f"interval scan of a {len(big) / 2**20:.1f} MiB body",
            *_best_and_median(lambda: _too_many_intervals(raw, "rgm_stats"), repeat),
        )
    )
    raw_small = RawResponse(200, {}, plain)
    rows.append(
        (
            "interval scan of the month (skipped: < 1 MiB)",
            *_best_and_median(lambda: _too_many_intervals(raw_small, "rgm_stats"), repeat),
        )
    )
    return rows


# -- main -----------------------------------------------------------------------------------


async def run(args: argparse.Namespace, port: int) -> bool:
    base_url = f"http://{HOST}:{port}/api/v2"
    encodings = [e for e in SYSTEMS if e in args.encodings]
    paths = [p for p in PATHS if p in args.paths]
    clients = {path: _client(base_url, path) for path in paths}
    calls = {(enc, path): _call(clients[path], SYSTEMS[enc]) for enc in encodings for path in paths}
    samples: dict[tuple[str, str], list[float]] = {k: [] for k in calls}
    rounds: list[dict[tuple[str, str], float]] = []
    cpu_rounds: list[dict[tuple[str, str], float]] = []
    try:
        for key, call in calls.items():
            check = await call()
            assert isinstance(check, RgmStats) and len(check.intervals) == 2880, key
            await _time(call, args.warmup)
        for r in range(args.rounds):
            order = paths if r % 2 == 0 else paths[::-1]
            medians: dict[tuple[str, str], float] = {}
            cpu: dict[tuple[str, str], float] = {}
            for enc in encodings:
                for path in order:
                    cpu0 = time.process_time()
                    got = await _time(calls[enc, path], args.calls)
                    cpu[enc, path] = (time.process_time() - cpu0) / args.calls
                    samples[enc, path].extend(got)
                    medians[enc, path] = statistics.median(got)
            rounds.append(medians)
            cpu_rounds.append(cpu)
    finally:
        for client in clients.values():
            await client.close()

    print(f"\n{args.rounds} rounds x {args.calls} sequential calls per path and encoding")
    if len(paths) < len(PATHS):
        return True  # one path alone (a run for an instruction count): nothing to pair
    print("per round: wall ms per call (median), then CPU ms per call (process_time)")
    print(f"{'round':>5} " + " ".join(f"{e + ' ' + p:>16}" for e in encodings for p in PATHS))
    for r, (medians, cpu) in enumerate(zip(rounds, cpu_rounds, strict=True), 1):
        cells = " ".join(f"{medians[e, p] * 1e3:16.3f}" for e in encodings for p in PATHS)
        cpus = " ".join(f"{cpu[e, p] * 1e3:16.3f}" for e in encodings for p in PATHS)
        print(f"{r:>5} {cells}\n{'cpu':>5} {cpus}")
    ok = True
    print(
        f"\n{'encoding':<9} {'before ms':>10} {'after ms':>10} {'ratio':>6} "
        f"{'paired median':>13} {'paired range':>14}"
    )
    for enc in encodings:
        before = statistics.median(samples[enc, "before"])
        after = statistics.median(samples[enc, "after"])
        paired = [m[enc, "after"] / m[enc, "before"] for m in rounds]
        med = statistics.median(paired)
        ok = ok and med <= GOAL_RATIO
        print(
            f"{enc:<9} {before * 1e3:10.3f} {after * 1e3:10.3f} {after / before:6.3f} "
            f"{med:13.3f} {min(paired):6.3f}-{max(paired):.3f}"
        )
        cpu_paired = [m[enc, "after"] / m[enc, "before"] for m in cpu_rounds]
        cpu_before = statistics.median(m[enc, "before"] for m in cpu_rounds)
        cpu_after = statistics.median(m[enc, "after"] for m in cpu_rounds)
        print(
            f"{'  cpu':<9} {cpu_before * 1e3:10.3f} {cpu_after * 1e3:10.3f} "
            f"{cpu_after / cpu_before:6.3f} {statistics.median(cpu_paired):13.3f} "
            f"{min(cpu_paired):6.3f}-{max(cpu_paired):.3f}"
        )
        print(
            f"goal: {enc} median paired after/before <= {GOAL_RATIO}: {med:.3f} -> "
            f"{'PASS' if med <= GOAL_RATIO else 'MISS'}"
        )
    return ok


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--rounds", type=int, default=9, help="alternating rounds (default 9)")
    ap.add_argument("--calls", type=int, default=100, help="timed calls per path per round")
    ap.add_argument("--warmup", type=int, default=10, help="untimed calls per path first")
    ap.add_argument("--repeat", type=int, default=50, help="runs per offline row")
    ap.add_argument("--check", action="store_true", help="exit 1 if a goal is missed")
    ap.add_argument("--no-pin", action="store_true", help="do not pin server and client CPUs")
    ap.add_argument("--paths", nargs="+", choices=PATHS, default=list(PATHS), help="(both)")
    ap.add_argument(
        "--encodings", nargs="+", choices=list(SYSTEMS), default=list(SYSTEMS), help="(both)"
    )
    ap.add_argument("--no-offline", action="store_true", help="skip the rows without network")
    args = ap.parse_args(argv)
    if args.rounds < 1 or args.calls < 1:
        ap.error("--rounds and --calls must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plain = build_body(SYSTEMS["identity"])
    # Its own system's answer (the client checks the answer is for the system it asked).
    packed = gzip.compress(build_body(SYSTEMS["gzip"]), 6)
    cpus = CpuSplit(not args.no_pin)
    ctx = multiprocessing.get_context("spawn")
    conn, child = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(plain, packed, child, cpus.server_cpu), daemon=True)
    proc.start()
    if not conn.poll(60):
        proc.kill()
        raise RuntimeError("server did not start in 60 s")
    port = int(conn.recv())
    cpus.pin_client()
    print(
        f"Python {platform.python_version()}, aiohttp {aiohttp.__version__}, "
        f"{platform.machine()}; {cpus.describe()}; body {len(plain):,} bytes, gzip "
        f"{len(packed):,}; loadavg {loadavg()}"
    )
    try:
        ok = asyncio.run(run(args, port))
    finally:
        proc.terminate()
        proc.join(timeout=30)
        cpus.restore()
    if not args.no_offline:
        print(f"\nwithout the network ({args.repeat} runs each):")
        print(f"{'part':<48} {'best ms':>9} {'median ms':>9}")
        for name, best, med in offline(plain, packed, args.repeat):
            print(f"{name:<48} {best * 1e3:9.3f} {med * 1e3:9.3f}")
    print(f"loadavg {loadavg()}")
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
