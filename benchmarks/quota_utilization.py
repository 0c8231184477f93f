"""How much of a plan's quota each client turns into answers, against the embedded simulator.

What it measures
    One run. Every client gets the same workload against a FRESH simulator (127.0.0.1, a
    free port, started and stopped here): the same fleet seed, the same server quota, the
    same time scale, and its own clock shared by that simulator and that client, whose
    origin sits on a window boundary. The simulator runs in its own spawned process, pinned
    to the last CPU while this one keeps the others (``--no-pin`` leaves both free), as a
    remote service would: its CPU and collector stay out of the client's time, which
    matters at 1,000/second, where the last window's 1,000 calls are paid in CPU on both
    sides. The two processes share the clock through CLOCK_MONOTONIC (``SharedClock``).
    ``--in-process`` runs the simulator on the client's event loop instead, with a
    :class:`~enlighten_async.ScaledClock` (the setup before 0.2.0: at 1,000/second its
    server's CPU adds about 0.1 s to the last window). Three server quotas (``--quotas``):

    * ``watt``: the "watt" plan (10/minute + 10,000/month), 600 calls, time scale 300;
    * ``20/s``: 20/second, 200 calls, time scale 1 (real time);
    * ``1000/s``: 1,000/second, 10,000 calls, time scale 1.

    The workload is that many calls (``--requests`` overrides), ``stats`` and ``rgm_stats``
    alternately, over ``--systems`` systems (default 60), each on a distinct one-hour span
    of the last three days, all started at once (one ``asyncio.gather`` of every coroutine).

    The clients:

    * ``client/told``: ``EnlightenClient(..., clock=clock, plan=...)`` told the quota
      (``"watt"``, or ``[Quota(20, "second")]``...);
    * ``client/learn``: the same with ``plan=None`` (it learns the quota from its first 409);
    * ``client/spread``: told, with ``Scheduler(..., spread=True)``: aiolimiter spreads each
      window's grants over 90% of the window (no goal on the ratio, which pays for the last
      window's spread; ``fill`` shows it costs no fill);
    * ``plain``: bare aiohttp (default connector, 100 connections) + tenacity
      ``AsyncRetrying`` retrying 409 only, ``wait_exponential(multiplier=1, max=--backoff-max)``
      (default five windows: 300 s for watt, 5 s per second) slept with ``clock.sleep``
      (simulated seconds), at most ``--attempts`` attempts (30);
      a call that still fails is *lost*;
    * ``aiolimiter``: the same, every attempt first passing
      ``AsyncLimiter(limit, period / time_scale)`` (the quota's nominal rate, in loop
      seconds).

    Per client, one row: wall time (real s), simulated time from the gather's start to its
    end, ``counted`` = requests the server counted against the quota (every request it did
    not answer 409: faulted ones count too), ``bound`` = the best any client can reach on
    fixed windows: the last window it needs opens ``ceil(counted / limit) - 1`` windows
    after the one it started in (600 at 10/minute from a window's start: 59 x 60 = 3540
    simulated s), ``ratio`` = simulated / bound, 409s the server
    served, requests answered 200 in full (a dropped connection's 200 is not one), calls
    lost (the caller ended with an exception), and the requests the server received.
    ``fill`` is counted / (quota windows spanned x limit): 1.00 means every minute window
    from the first to the last was full. Under every row, ``last window``: when the last
    quota window opened (simulated s into the run), how long after it opened the server
    counted its first and its last request, and this process's CPU per request sent:
    the guard, then the time the last window's calls took. For this client another line
    gives its ``scheduler_snapshot()``.

    ``max_wait`` counts from a call's submission, and the watt workload queues about an
    hour of quota at once (more with faults): this client runs with ``max_wait=inf``
    (``--max-wait``); with the default 3600 s the calls that would wait past the hour get
    ``RateLimitError`` with ``retry_at`` at once instead (65 of 600 in the fault scenario).

    Goals for this client, PASS/MISS per row: ratio <= 1.03; 409s <= 0 when told the plan,
    <= 1 + max_in_flight when it must learn it; no call lost. With ``--faults`` the simulator
    injects ``Faults(p_503=0.10, p_500=0.02, p_drop=0.01)`` and this client runs with its
    default ``RetryPolicy()`` (``--retry-attempts``/``--max-total`` override it); the
    baselines still retry 409 only and lose the calls that meet a fault (watt only).
    The ``503s`` scenario (20/s only; ``--503s`` runs it alone) injects
    ``Faults(p_503=0.10)``: 10% of answers are 503 "data temporarily unavailable"
    (``errorCode`` 7), retried by this client's default ``RetryPolicy()``; its ratio goal is
    <= 1.10 (issue 18: the last answers' retries must still back off, and a call that fails
    twice in the last window owes the server its second retry's exponential second).

How to run
    .venv/bin/python benchmarks/quota_utilization.py                 # every scenario
    .venv/bin/python benchmarks/quota_utilization.py --quotas 20/s 1000/s   # per-second only
    .venv/bin/python benchmarks/quota_utilization.py --only client --check
    .venv/bin/python benchmarks/quota_utilization.py --faults        # the fault scenario only
    .venv/bin/python benchmarks/quota_utilization.py --503s --only client  # 20/s, 10% 503s
    .venv/bin/python benchmarks/quota_utilization.py --only client --verbose   # INFO logs
    .venv/bin/python benchmarks/quota_utilization.py --in-process    # simulator on this loop

It exits 0 (it is a measurement) unless ``--check`` is given and a goal of this client is
missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import multiprocessing
import platform
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiolimiter import AsyncLimiter
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

# Run from a checkout without installing: the package is the parent of this folder.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import CpuSplit, loadavg, pin_this_process

from enlighten_async import (
    AuthError,
    Clock,
    EnlightenClient,
    Priority,
    Quota,
    RateLimitError,
    RetryPolicy,
    ScaledClock,
    Scheduler,
    SchedulerSnapshot,
)
from enlighten_async.simulator import (
    BASE_PATH,
    PLANS,
    Faults,
    Fleet,
    Plan,
    Simulator,
    SimulatorServer,
)
from enlighten_async.simulator.quota import window
from enlighten_async.simulator.v4 import BASE_PATH as V4_BASE_PATH
from enlighten_async.simulator.v4 import V4_PLANS, V4Options
from enlighten_async.v4 import PLANS as V4_CLIENT_PLANS
from enlighten_async.v4 import EnlightenV4Client

HOUR = 3600
GOAL_RATIO = 1.03
#: The 503 scenario's goal (issue 18): the last answers' retries must still back off, and a
#: second failure in the last window costs its exponential second (1.00 s by default).
GOAL_RATIO_503S = 1.10


@dataclass(frozen=True)
class QuotaCase:
    """One quota the server enforces, with its workload."""

    label: str
    server_plan: Plan
    told: str | tuple[Quota, ...]  # what client/told is told
    limit: int  # the shortest window's limit ...
    period: float  # ... and length: the one that binds
    requests: int
    time_scale: float


QUOTAS: dict[str, QuotaCase] = {
    "watt": QuotaCase("watt", PLANS["watt"], "watt", 10, 60.0, 600, 300.0),
    "20/s": QuotaCase("20/s", Plan.parse("20/second"), (Quota(20, "second"),), 20, 1.0, 200, 1.0),
    "1000/s": QuotaCase(
        "1000/s", Plan.parse("1000/second"), (Quota(1000, "second"),), 1000, 1.0, 10_000, 1.0
    ),
}
P_503, P_500, P_DROP = 0.10, 0.02, 0.01  # the fault scenario's knobs
P_RETRIED_503 = 0.10  # the 503 scenario's: "data temporarily unavailable" only


def scenario_faults(scenario: str, seed: int) -> Faults | None:
    """The simulator's faults in ``scenario`` (``None``: none)."""
    if scenario == "faults":
        return Faults(p_503=P_503, p_500=P_500, p_drop=P_DROP, seed=seed)
    if scenario == "503s":
        return Faults(p_503=P_RETRIED_503, seed=seed)
    return None


@dataclass(frozen=True)
class Job:
    """One call of the workload."""

    op: str  # "stats" or "rgm_stats"
    system_id: int
    start_at: int
    end_at: int


@dataclass
class Row:
    """One client's outcome."""

    scenario: str
    name: str
    limit: int
    period: float
    start: float  # simulated time when the gather started
    wall: float
    sim: float
    counted: int
    conflicts: int
    ok: int
    lost: int
    sent: int
    windows: int
    faults: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    snapshot: str = ""
    cpu: float = math.nan  # this process's CPU seconds during the gather
    last_window_first: float = math.nan  # simulated times: the first request counted in
    last_counted: float = math.nan  # the last window, and the last one counted
    goal_409: int | None = None  # None: not this client, no goals
    goal_ratio: float = GOAL_RATIO
    # v4 rows: quota refusals per window of the binding quota (its index), and the most
    # any one window may draw (None: no such goal)
    refused_windows: dict[int, int] = field(default_factory=dict)
    goal_per_window: int | None = None

    @property
    def bound(self) -> float:
        """The best any client reaches on fixed windows: the last window it needs opens
        ``ceil(counted / limit) - 1`` windows after the one it started in."""
        if not self.counted:
            return math.nan
        first = math.floor(self.start / self.period) * self.period
        last_opens = first + (math.ceil(self.counted / self.limit) - 1) * self.period
        return last_opens - self.start

    @property
    def ratio(self) -> float:
        return self.sim / self.bound if self.bound else math.nan

    @property
    def refusal_name(self) -> str:
        """What the API answers for a spent quota: 409 on v2, 429 on v4."""
        return "429s" if self.scenario.startswith("v4") else "409s"

    @property
    def fill(self) -> float:
        return self.counted / (self.windows * self.limit) if self.windows else math.nan

    def misses(self) -> list[str]:
        if self.goal_409 is None:
            return []
        out = []
        if not self.ratio <= self.goal_ratio:
            out.append(f"ratio {self.ratio:.4f} > {self.goal_ratio}")
        if self.conflicts > self.goal_409:
            out.append(f"{self.refusal_name} {self.conflicts} > {self.goal_409}")
        worst = max(self.refused_windows.values(), default=0)
        if self.goal_per_window is not None and worst > self.goal_per_window:
            out.append(f"{worst} {self.refusal_name} in one window > {self.goal_per_window}")
        if self.lost:
            out.append(f"{self.lost} lost")
        return out


class Conflict(Exception):
    """A 409 seen by a baseline."""


class HttpStatusError(Exception):
    """Any other non-200 answer seen by a baseline (not retried)."""


def make_jobs(fleet: Fleet, n_requests: int, now: float) -> list[Job]:
    """``n_requests`` distinct calls, ``stats`` and ``rgm_stats`` alternately, round robin over
    the fleet's systems, each on its own one-hour span between 2 h and 3 days ago."""
    systems = fleet.systems
    top = int(now) // HOUR * HOUR
    jobs = []
    for i in range(n_requests):
        s = systems[i % len(systems)]
        k = 2 + i // len(systems)  # the k-th call of a system: k hours back, ...
        op = "rgm_stats" if s.stopped_at is not None or i % 2 else "stats"
        start = top - (k % 70 + 2) * HOUR - (k // 70) * 300  # ... distinct past 70 calls
        jobs.append(Job(op, s.system_id, start, start + HOUR))
    assert len(set(jobs)) == len(jobs)
    return jobs


def exc_name(exc: BaseException) -> str:
    status = getattr(exc, "status", None)
    return type(exc).__name__ + (f"({status})" if status else "")


async def gather_jobs(
    jobs: list[Job], call: Callable[[Job], Awaitable[Any]]
) -> tuple[int, dict[str, int]]:
    results = await asyncio.gather(*(call(j) for j in jobs), return_exceptions=True)
    errors: dict[str, int] = {}
    for r in results:
        if isinstance(r, BaseException):
            errors[exc_name(r)] = errors.get(exc_name(r), 0) + 1
    return sum(errors.values()), errors


def baseline_call(
    session: aiohttp.ClientSession,
    base_url: str,
    endpoint: Endpoint,
    clock: Clock,
    args: argparse.Namespace,
    limiter: AsyncLimiter | None,
    period: float,
) -> Callable[[Job], Awaitable[Any]]:
    """A script's call: GET, 409 retried by tenacity with exponential backoff."""
    # Five windows at most between tries (300 s for a minute quota), unless told otherwise.
    backoff_max = args.backoff_max or 5 * period
    creds = (("key", endpoint.api_key), ("user_id", endpoint.user_id))

    async def get(job: Job) -> Any:
        url = f"{base_url}/systems/{job.system_id}/{job.op}"
        params = (("start_at", str(job.start_at)), ("end_at", str(job.end_at)), *creds)
        async with session.get(url, params=params) as resp:
            body = await resp.read()
            if resp.status == 409:
                raise Conflict()
            if resp.status != 200:
                raise HttpStatusError(resp.status)
            return json.loads(body)

    async def call(job: Job) -> Any:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(Conflict),
            wait=wait_exponential(multiplier=1, max=backoff_max),
            stop=stop_after_attempt(args.attempts),
            sleep=clock.sleep,
            reraise=True,
        ):
            with attempt:
                if limiter is None:
                    return await get(job)
                async with limiter:
                    return await get(job)
        raise AssertionError("unreachable")  # pragma: no cover

    return call


# -- the simulator, in this process or in its own --------------------------------------------


class SharedClock:
    """:class:`~enlighten_async.ScaledClock`'s arithmetic, started at a given instant of
    ``time.monotonic()`` (CLOCK_MONOTONIC, one for every process on the machine, and the
    default event loop's time): a simulator in another process and this client then agree
    on "now". It reads ``origin`` until :meth:`start`."""

    def __init__(self, scale: float, origin: float) -> None:
        self.scale = scale
        self.origin = origin
        self._t0: float | None = None

    def start(self, t0: float) -> None:
        """Let the clock run: it reads ``origin`` at monotonic time ``t0``."""
        self._t0 = t0

    def now(self) -> float:
        """Simulated epoch seconds."""
        if self._t0 is None:
            return self.origin
        return self.origin + (time.monotonic() - self._t0) * self.scale

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of simulated time."""
        await asyncio.sleep(max(0.0, seconds) / self.scale)


@dataclass(frozen=True)
class ServerSpec:
    """Everything a simulator process needs (picklable)."""

    systems: int
    seed: int
    plan: Plan
    faults: Faults | None
    scale: float
    origin: float
    api: str = "v2"  # "v4": the Monitoring API v4, with ``v4``'s options
    v4: V4Options | None = None


@dataclass(frozen=True)
class ServerResult:
    """The simulator's counters at the end of a run, and when it counted."""

    total_requests: int
    conflicts: int
    statuses: dict[int, int]
    faults: dict[str, int]
    first_counted: float  # simulated time of the first request counted against the quota
    last_counted: float  # ... and of the last (nan when none)
    last_window_first: float  # ... and of the first one counted in the last one's window
    tally: RefusalTally | None = None  # v4 runs: counts per month, refusals per window


@dataclass
class RefusalTally:
    """What a v4 run's simulator counted, by window: requests counted per UTC month
    (``"2026-11"``), quota refusals (429s) per window of the shortest timed quota (its
    index: epoch seconds // its length), and how many of them were refusals of a spent
    month (the month's count at its limit when the 429 went)."""

    month_limit: int | None
    period: float
    counted_months: dict[str, int] = field(default_factory=dict)
    refused_windows: dict[int, int] = field(default_factory=dict)
    refused_month: int = 0

    def record(self, t: float, refused: bool) -> None:
        """One answer to a request at simulated time ``t``: counted, or refused (429)."""
        month = datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m")
        if not refused:
            self.counted_months[month] = self.counted_months.get(month, 0) + 1
            return
        window = int(t // self.period)
        self.refused_windows[window] = self.refused_windows.get(window, 0) + 1
        if self.month_limit is not None and self.counted_months.get(month, 0) >= self.month_limit:
            self.refused_month += 1


def build_simulator(
    spec: ServerSpec, clock: Clock
) -> tuple[Simulator, list[float], RefusalTally | None]:
    """The simulator of one run, with a record of when it counted each request (the first
    and the last, simulated time): every request it answered but with a quota refusal
    (409 on v2, 429 on v4); on v4, also its :class:`RefusalTally`."""
    sim = Simulator(
        fleet=Fleet(spec.systems, seed=spec.seed),
        plan=spec.plan,
        clock=clock,
        faults=spec.faults,
        api=spec.api,
        v4=spec.v4,
    )
    counted = [math.nan, math.nan, math.nan]
    period = min((q.seconds for q in spec.plan.limits if q.seconds), default=math.inf)
    base_path, refusal = (V4_BASE_PATH, 429) if spec.api == "v4" else (BASE_PATH, 409)
    month = next((q.limit for q in spec.plan.limits if q.period == "month"), None)
    tally = RefusalTally(month, period) if spec.api == "v4" else None

    async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
        if not request.path.startswith(base_path):
            return
        if tally is not None:
            tally.record(clock.now(), response.status == refusal)
        if response.status != refusal:
            t = clock.now()
            if math.isnan(counted[0]):
                counted[0] = t
            if math.isnan(counted[2]) or t // period != counted[1] // period:
                counted[2] = t
            counted[1] = t

    sim.app.on_response_prepare.append(on_prepare)
    return sim, counted, tally


def server_result(
    sim: Simulator, counted: list[float], tally: RefusalTally | None = None
) -> ServerResult:
    c = sim.counters
    return ServerResult(
        total_requests=c.total_requests,
        conflicts=c.conflicts,
        statuses=dict(c.statuses),
        faults=dict(c.faults),
        first_counted=counted[0],
        last_counted=counted[1],
        last_window_first=counted[2],
        tally=tally,
    )


def mint_token(sim: Simulator) -> str:
    """A v4 simulator's access token for its first principal, minted without HTTP (it
    lives a simulated day, longer than any run here); ``""`` on v2."""
    if sim.api != "v4":
        return ""
    return str(sim.oauth.grant(sim.oauth.issue_code())["access_token"])


def _serve_simulator(spec: ServerSpec, conn: Any, cpu: int | None) -> None:
    """The simulator process: serve until the parent says stop, then send the counters."""
    pin_this_process(cpu)
    logging.basicConfig(level=logging.WARNING)

    async def main() -> None:
        clock = SharedClock(spec.scale, spec.origin)
        sim, counted, tally = build_simulator(spec, clock)
        loop = asyncio.get_running_loop()
        readable = asyncio.Event()
        loop.add_reader(conn.fileno(), readable.set)

        async def receive() -> Any:
            while not conn.poll():
                readable.clear()
                await readable.wait()
            return conn.recv()

        async with SimulatorServer(sim) as server:
            token = mint_token(sim)
            conn.send(("ready", server.base_url, sim.api_key, sim.user_id, token))
            message = await receive()
            assert message[0] == "start", message
            clock.start(message[1])
            conn.send(("started",))
            message = await receive()
            assert message[0] == "stop", message
        conn.send(("result", server_result(sim, counted, tally)))

    asyncio.run(main())


class Endpoint:
    """Where the client finds the simulator of one run."""

    base_url: str
    api_key: str
    user_id: str
    access_token: str  # v4: a token the simulator minted for its first principal
    clock: Clock

    async def result(self) -> ServerResult:
        """Stop serving; the counters."""
        raise NotImplementedError


class InProcessSimulator(Endpoint):
    """The simulator on this event loop, sharing a :class:`ScaledClock` with the client."""

    def __init__(self, spec: ServerSpec) -> None:
        self.clock = ScaledClock(spec.scale, origin=spec.origin)
        self._sim, self._counted, self._tally = build_simulator(spec, self.clock)
        self._server = SimulatorServer(self._sim)
        self.api_key, self.user_id = self._sim.api_key, self._sim.user_id
        self.access_token = mint_token(self._sim)

    async def __aenter__(self) -> InProcessSimulator:
        await self._server.__aenter__()
        self.base_url = self._server.base_url
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._server.__aexit__(None, None, None)

    async def result(self) -> ServerResult:
        await self._server.__aexit__(None, None, None)
        return server_result(self._sim, self._counted, self._tally)


class ProcessSimulator(Endpoint):
    """The simulator in its own spawned process (pinned to the last CPU when ``pin``, this
    process to the others), sharing a :class:`SharedClock`: its CPU, its collector and its
    event loop stay out of the client's way, as a remote service's would."""

    def __init__(self, spec: ServerSpec, *, pin: bool) -> None:
        self._cpus = CpuSplit(pin)
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(
            target=_serve_simulator,
            args=(spec, child, self._cpus.server_cpu),
            name="simulator",
            daemon=True,
        )
        self._clock = SharedClock(spec.scale, spec.origin)
        self.clock = self._clock

    def _expect(self, kind: str, timeout: float = 60.0) -> Any:
        if not self._conn.poll(timeout):
            self._proc.kill()
            raise RuntimeError(f"the simulator process sent no {kind!r} in {timeout:g} s")
        message = self._conn.recv()
        if message[0] != kind:
            # The kind only: a message may carry the key or a token.
            raise RuntimeError(f"the simulator process sent {message[0]!r}, not {kind!r}")
        return message

    async def __aenter__(self) -> ProcessSimulator:
        self._proc.start()
        _, self.base_url, self.api_key, self.user_id, self.access_token = await asyncio.to_thread(
            self._expect, "ready"
        )
        self._cpus.pin_client()
        t0 = time.monotonic()
        self._conn.send(("start", t0))
        await asyncio.to_thread(self._expect, "started")
        self._clock.start(t0)
        return self

    async def result(self) -> ServerResult:
        self._conn.send(("stop",))
        _, result = await asyncio.to_thread(self._expect, "result")
        assert isinstance(result, ServerResult)
        return result

    async def __aexit__(self, *exc: object) -> None:
        if self._proc.is_alive():
            self._proc.terminate()
        await asyncio.to_thread(self._proc.join, 30)
        self._cpus.restore()


async def run_one(
    scenario: str, name: str, args: argparse.Namespace, faults: Faults | None, case: QuotaCase
) -> Row:
    """A fresh simulator and clock, one client, the whole workload."""
    scale = args.time_scale or case.time_scale
    n_requests = args.requests or case.requests
    period = int(case.period)
    origin = float(int(time.time()) // period * period)  # a window starts with the run
    spec = ServerSpec(args.systems, args.seed, case.server_plan, faults, scale, origin)
    fleet = Fleet(args.systems, seed=args.seed)
    fleet.anchor(origin)  # as the simulator anchors its own
    jobs = make_jobs(fleet, n_requests, origin)
    row_snapshot = ""
    goal: int | None = None
    endpoint = InProcessSimulator(spec) if args.in_process else ProcessSimulator(spec, pin=args.pin)
    async with endpoint:
        url, clock = endpoint.base_url, endpoint.clock
        if name.startswith("client"):
            told = name in ("client/told", "client/spread")
            # client/spread trades the last window's time for no burst: fill is its goal.
            goal = None if name == "client/spread" else 0 if told else 1 + args.max_in_flight
            retry = (
                RetryPolicy(
                    attempts=args.retry_attempts or RetryPolicy().attempts,
                    max_total=args.max_total or RetryPolicy().max_total,
                )
                if faults is not None
                else None
            )
            if name == "client/spread":
                scheduler = Scheduler(
                    case.told,
                    clock=clock,
                    max_in_flight=args.max_in_flight,
                    retry=retry,
                    spread=True,
                )
                client = EnlightenClient(
                    endpoint.api_key, endpoint.user_id, base_url=url, scheduler=scheduler
                )
            else:
                client = EnlightenClient(
                    endpoint.api_key,
                    endpoint.user_id,
                    base_url=url,
                    clock=clock,
                    plan=case.told if told else None,
                    max_in_flight=args.max_in_flight,
                    retry=retry,
                )

            view = client.with_options(max_wait=args.max_wait)

            async def client_call(job: Job) -> Any:
                fn = view.stats if job.op == "stats" else view.rgm_stats
                return await fn(job.system_id, start_at=job.start_at, end_at=job.end_at)

            async with client:
                t_cpu, t_wall, t_sim = time.process_time(), time.perf_counter(), clock.now()
                lost, errors = await gather_jobs(jobs, client_call)
                wall, simulated = time.perf_counter() - t_wall, clock.now() - t_sim
                cpu = time.process_time() - t_cpu
                row_snapshot = snapshot_text(client.scheduler_snapshot())
        else:
            limiter = (
                AsyncLimiter(case.limit, case.period / scale) if name == "aiolimiter" else None
            )
            async with aiohttp.ClientSession() as session:
                call = baseline_call(session, url, endpoint, clock, args, limiter, case.period)
                t_cpu, t_wall, t_sim = time.process_time(), time.perf_counter(), clock.now()
                lost, errors = await gather_jobs(jobs, call)
                wall, simulated = time.perf_counter() - t_wall, clock.now() - t_sim
                cpu = time.process_time() - t_cpu
        c = await endpoint.result()
    spanned = (
        int(c.last_counted // case.period) - int(c.first_counted // case.period) + 1
        if not math.isnan(c.first_counted)
        else 0
    )
    broken = c.faults.get("drop", 0) + c.faults.get("truncate", 0)
    return Row(
        scenario=scenario,
        name=name,
        limit=case.limit,
        period=case.period,
        start=t_sim,
        wall=wall,
        sim=simulated,
        counted=c.total_requests - c.conflicts - c.statuses.get(401, 0),
        conflicts=c.conflicts,
        ok=c.statuses.get(200, 0) - broken,
        lost=lost,
        sent=c.total_requests,
        windows=spanned,
        faults=dict(c.faults),
        errors=errors,
        snapshot=row_snapshot,
        cpu=cpu,
        last_window_first=c.last_window_first,
        last_counted=c.last_counted,
        goal_409=goal,
        goal_ratio=GOAL_RATIO_503S if scenario.endswith("503s") else GOAL_RATIO,
    )


def snapshot_text(st: SchedulerSnapshot) -> str:
    """A scheduler's snapshot in one line."""
    return (
        f"sent={st.requests_sent} conflicts={st.conflicts} retries={st.retries} "
        f"holds={st.holds} raised={st.rate_limit_errors_raised} "
        f"wait={st.wait_seconds:.0f}s learned={[str(q) for q in st.learned_quotas]} "
        f"offset={st.clock_offset:+.3f}s "
        f"uncertainty={st.clock_uncertainty:.3f}s cap={st.in_flight_cap}"
    )


# -- API v4 (issue 21) ------------------------------------------------------------------------

#: The Watt plan's minute quota: what binds every v4 row.
V4_PER_MINUTE = 10
#: Calls of the told and learning rows.
V4_REQUESTS = 200
#: The month quota the month rows' client is told (and their simulator enforces) ...
V4_MONTH = 1_000
#: ... and the client's ``Scheduler(month_reserve=...)``: bulk calls stop 50 short of it.
V4_RESERVE = 50
#: Interactive calls sent once the bulk has stopped: they may use the reserve.
V4_INTERACTIVE = 3
#: Bulk calls sent again after the month's turn (the turn variant): the count restarts.
V4_AFTER_TURN = 20
#: The turn variant starts so that the budget runs out this many minutes before the month's end.
V4_TURN_LEAD = 5
#: The month rows' bulk calls' ``max_wait`` (simulated s): two minute windows, so that a
#: wait for the next month (more than the lead) fails at once with ``retry_at``.
V4_BULK_MAX_WAIT = 120.0
#: Simulated seconds per real second on the v4 rows (a minute window lasts 200 ms).
V4_TIME_SCALE = 300.0


@dataclass(frozen=True)
class V4Case:
    """One v4 row: told the plan, learning it (bare 429 bodies or with period fields), or
    told a month quota with a reserve (``turn``: across a month's end)."""

    scenario: str
    name: str
    kind: str  # "told", "learn" or "month"
    period_fields: bool = False
    turn: bool = False


V4_CASES: dict[str, V4Case] = {
    "told": V4Case("v4 watt", "v4/told", "told"),
    "bare": V4Case("v4 watt bare", "v4/learn", "learn"),
    "fields": V4Case("v4 watt fields", "v4/learn", "learn", period_fields=True),
    "month": V4Case("v4 month", "v4/month", "month"),
    "turn": V4Case("v4 month turn", "v4/month", "month", turn=True),
}


class MintedToken:
    """A :class:`~enlighten_async.v4.TokenSource` of one access token the simulator minted
    for its first principal (``sim.oauth.grant(sim.oauth.issue_code())``). It lives a
    simulated day, longer than any run here, so it is never refreshed: a 401 fails the
    call (a lost call in the row)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __repr__(self) -> str:
        return "MintedToken(***)"

    async def access_token(self) -> str:
        """The minted token."""
        return self._token

    async def after_unauthorized(self, rejected: str) -> str:
        """No refresh here: the run's token was refused."""
        raise AuthError("the benchmark's minted access token was refused", status=401)


async def v4_call(client: EnlightenV4Client, job: Job) -> Any:
    """A workload call on v4: ``summary`` for v2's ``stats``, else ``rgm_stats``."""
    if job.op == "stats":
        return await client.summary(job.system_id)
    return await client.rgm_stats(job.system_id, start_at=job.start_at, end_at=job.end_at)


def v4_endpoint(
    spec: ServerSpec, args: argparse.Namespace
) -> InProcessSimulator | ProcessSimulator:
    """Where a v4 row's simulator runs: its own process, or this loop (``--in-process``)."""
    return InProcessSimulator(spec) if args.in_process else ProcessSimulator(spec, pin=args.pin)


async def run_v4_rate(case: V4Case, args: argparse.Namespace) -> Row:
    """A told or learning v4 row: ``--v4-requests`` calls at once (one gather) against a
    fresh Watt-plan v4 simulator; the client told ``"watt"`` or nothing."""
    scale = args.v4_time_scale
    period = 60
    origin = float(int(time.time()) // period * period)  # a window starts with the run
    options = V4Options(period_fields=case.period_fields)
    spec = ServerSpec(
        args.systems, args.seed, V4_PLANS["watt"], None, scale, origin, api="v4", v4=options
    )
    fleet = Fleet(args.systems, seed=args.seed)
    fleet.anchor(origin)
    jobs = make_jobs(fleet, args.v4_requests, origin)
    told = case.kind == "told"
    async with v4_endpoint(spec, args) as endpoint:
        clock = endpoint.clock
        client = EnlightenV4Client(
            endpoint.api_key,
            MintedToken(endpoint.access_token),
            base_url=endpoint.base_url,
            clock=clock,
            plan="watt" if told else None,
            max_in_flight=args.max_in_flight,
        )
        view = client.with_options(max_wait=args.max_wait)
        async with client:
            t_cpu, t_wall, t_sim = time.process_time(), time.perf_counter(), clock.now()
            lost, errors = await gather_jobs(jobs, lambda job: v4_call(view, job))
            wall, simulated = time.perf_counter() - t_wall, clock.now() - t_sim
            cpu = time.process_time() - t_cpu
            st = client.scheduler_snapshot()
        c = await endpoint.result()
    assert c.tally is not None
    # Learning: 1 + max_in_flight refusals (the first, and those already in flight) for
    # each quota the client had to learn, and never more in one window.
    per_window = 0 if told else 1 + args.max_in_flight
    return Row(
        scenario=case.scenario,
        name=case.name,
        limit=V4_PER_MINUTE,
        period=float(period),
        start=t_sim,
        wall=wall,
        sim=simulated,
        counted=c.total_requests - c.conflicts - c.statuses.get(401, 0),
        conflicts=c.conflicts,
        ok=c.statuses.get(200, 0),
        lost=lost,
        sent=c.total_requests,
        windows=(
            int(c.last_counted // period) - int(c.first_counted // period) + 1
            if not math.isnan(c.first_counted)
            else 0
        ),
        errors=errors,
        snapshot=snapshot_text(st),
        cpu=cpu,
        last_window_first=c.last_window_first,
        last_counted=c.last_counted,
        goal_409=0 if told else per_window * max(1, len(st.learned_quotas)),
        refused_windows=dict(c.tally.refused_windows),
        goal_per_window=per_window,
    )


@dataclass
class MonthRow:
    """A month row's outcome: what the simulator counted per UTC month, and what the
    client's bulk and interactive calls got."""

    scenario: str
    name: str
    wall: float
    sim: float
    limit: int
    reserve: int
    month: str  # the month the run starts in ("2026-11")
    month_end: float  # its end (epoch s)
    counted_months: dict[str, int]
    refused: int  # 429s the simulator served
    refused_month: int  # ... of them refusals of a spent month
    bulk_ok: int  # bulk calls answered before the budget stopped them
    refusals: int  # bulk calls refused with RateLimitError for the month, without a request
    retry_at: datetime | None  # the earliest ``retry_at`` among them
    interactive_ok: int
    interactive: int
    after_turn_ok: int | None  # the turn variant: bulk calls answered after the turn
    after_turn: int
    lost: int  # calls that ended otherwise (any other exception)
    errors: dict[str, int] = field(default_factory=dict)
    snapshot: str = ""

    @property
    def budget(self) -> int:
        """What bulk calls may spend of the month: its limit minus the reserve."""
        return self.limit - self.reserve

    def misses(self) -> list[str]:
        """The goals missed: bulk stops at the budget and is refused with the next month in
        ``retry_at``; interactive calls still go; no 429 (so no month 429); nothing lost;
        after the turn the bulk goes again and the count restarts."""
        out = []
        # A minute 429 (none is expected) spends a grant of the client's month count that
        # the server did not count: the bulk then stops that much short, never past.
        if not self.budget - self.refused <= self.bulk_ok <= self.budget:
            out.append(f"bulk stopped at {self.bulk_ok}, not the budget {self.budget}")
        first = self.counted_months.get(self.month, 0)
        if first != self.bulk_ok + self.interactive_ok or first > self.limit:
            out.append(f"{first} counted in {self.month} != bulk + interactive")
        if self.refused_month:
            out.append(f"{self.refused_month} month 429s")
        if self.refused:
            out.append(f"429s {self.refused} > 0")
        if not self.refusals or self.retry_at is None:
            out.append("no RateLimitError at the budget")
        elif not 0 <= self.retry_at.timestamp() - self.month_end <= 60:
            out.append(f"retry_at {self.retry_at.isoformat()} is not the next month's start")
        if self.interactive_ok != self.interactive:
            out.append(f"{self.interactive_ok} of {self.interactive} interactive calls answered")
        if self.after_turn_ok is not None:
            second = sum(n for m, n in self.counted_months.items() if m > self.month)
            if self.after_turn_ok != self.after_turn or second != self.after_turn:
                out.append(
                    f"after the turn: {self.after_turn_ok} of {self.after_turn} answered, "
                    f"{second} counted in the new month"
                )
        if self.lost:
            out.append(f"{self.lost} lost")
        return out


MONTH_HEADER = (
    f"{'scenario':<16} {'client':<13} {'wall s':>7} {'sim s':>7} {'budget':>6} {'bulk':>5} "
    f"{'inter':>5} {'429s':>5} {'m429s':>5} {'refused':>7} {'lost':>5}  retry_at / goals"
)


def format_month_row(r: MonthRow) -> str:
    """A month row and its figures, with PASS or MISS."""
    miss = r.misses()
    verdict = "PASS" if not miss else "MISS (" + "; ".join(miss) + ")"
    retry = r.retry_at.isoformat() if r.retry_at is not None else "-"
    line = (
        f"{r.scenario:<16} {r.name:<13} {r.wall:>7.2f} {r.sim:>7.1f} {r.budget:>6d} "
        f"{r.bulk_ok:>5d} {r.interactive_ok:>5d} {r.refused:>5d} {r.refused_month:>5d} "
        f"{r.refusals:>7d} {r.lost:>5d}  {retry}  {verdict}"
    )
    end = datetime.fromtimestamp(r.month_end, timezone.utc).isoformat()
    extra = [
        f"told {r.limit}/month, month_reserve {r.reserve}; {r.month} ends {end}; counted at "
        f"the simulator per UTC month: {r.counted_months}"
    ]
    if r.after_turn_ok is not None:
        extra.append(
            f"after the turn: {r.after_turn_ok} of {r.after_turn} bulk calls answered, "
            "counted in the new month"
        )
    if r.snapshot:
        extra.append(f"scheduler_snapshot: {r.snapshot}")
    if r.errors:
        extra.append(f"lost as: {r.errors}")
    return "\n".join([line, *(f"{'':<31}{e}" for e in extra)])


async def drain(
    client: EnlightenV4Client, jobs: Iterator[Job], workers: int
) -> tuple[int, list[RateLimitError], dict[str, int]]:
    """Bulk work as a backfill does it: ``workers`` loops, each awaiting one call after the
    other from ``jobs``, each stopping at its first :class:`RateLimitError` (the budget).
    Returns the calls answered, the refusals, and the other errors by name."""
    ok = 0
    refusals: list[RateLimitError] = []
    errors: dict[str, int] = {}

    async def worker() -> None:
        nonlocal ok
        for job in jobs:  # one iterator shared: each job goes once
            try:
                await v4_call(client, job)
            except RateLimitError as exc:
                refusals.append(exc)
                return
            except Exception as exc:
                errors[exc_name(exc)] = errors.get(exc_name(exc), 0) + 1
            else:
                ok += 1

    await asyncio.gather(*(worker() for _ in range(workers)))
    return ok, refusals, errors


async def run_v4_month(case: V4Case, args: argparse.Namespace) -> MonthRow:
    """A month row: a client told ``10/minute`` and ``--v4-month``/month with
    ``month_reserve=--v4-reserve`` runs bulk calls (``Priority.BACKGROUND``) until the
    budget stops them, then ``V4_INTERACTIVE`` interactive calls; the turn variant then
    waits for the month's turn (``retry_at``) and runs ``V4_AFTER_TURN`` bulk calls."""
    scale = args.v4_time_scale
    limit, reserve = args.v4_month, args.v4_reserve
    budget = limit - reserve
    quotas = (Quota(V4_PER_MINUTE, "minute"), Quota(limit, "month"))
    watt = V4_PLANS["watt"]
    server_plan = watt if quotas == watt.limits else Plan("custom", quotas)
    month_start, month_end = window("month", time.time())
    if case.turn:
        # The budget's last window closes --v4-turn-lead minutes before the month's end.
        origin = month_end - (math.ceil(budget / V4_PER_MINUTE) + args.v4_turn_lead) * 60.0
    else:
        origin = month_start + 14 * 86_400.0  # the 15th, 00:00 UTC
    month = datetime.fromtimestamp(origin, timezone.utc).strftime("%Y-%m")
    _, end = window("month", origin)
    spec = ServerSpec(
        args.systems, args.seed, server_plan, None, scale, origin, api="v4", v4=V4Options()
    )
    fleet = Fleet(args.systems, seed=args.seed)
    fleet.anchor(origin)
    jobs = make_jobs(fleet, limit + V4_INTERACTIVE + V4_AFTER_TURN, origin)
    bulk_jobs, rest = jobs[:limit], jobs[limit:]
    interactive_jobs, after_jobs = rest[:V4_INTERACTIVE], rest[V4_INTERACTIVE:]
    lost_as: dict[str, int] = {}
    after_ok: int | None = None
    async with v4_endpoint(spec, args) as endpoint:
        clock = endpoint.clock
        scheduler = Scheduler(
            quotas,
            clock=clock,
            max_in_flight=args.max_in_flight,
            plans=V4_CLIENT_PLANS,
            bare_refusal="probe",
            month_reserve=reserve,
        )
        client = EnlightenV4Client(
            endpoint.api_key,
            MintedToken(endpoint.access_token),
            base_url=endpoint.base_url,
            scheduler=scheduler,
        )
        bulk = client.with_options(priority=Priority.BACKGROUND, max_wait=V4_BULK_MAX_WAIT)
        async with client:
            t_wall, t_sim = time.perf_counter(), clock.now()
            bulk_ok, refusals, errors = await drain(bulk, iter(bulk_jobs), args.max_in_flight)
            _merge(lost_as, errors)
            month_refusals = [e for e in refusals if e.period == "month"]
            for exc in refusals:
                if exc.period != "month":
                    _merge(lost_as, {f"RateLimitError({exc.period})": 1})
            n_lost, errors = await gather_jobs(interactive_jobs, lambda job: v4_call(client, job))
            _merge(lost_as, errors)
            interactive_ok = len(interactive_jobs) - n_lost
            retry_at = min((e.retry_at for e in month_refusals if e.retry_at), default=None)
            if case.turn and retry_at is not None:
                await clock.sleep(retry_at.timestamp() - clock.now())
                after_ok, again, errors = await drain(bulk, iter(after_jobs), args.max_in_flight)
                _merge(lost_as, errors)
                _merge(lost_as, {f"RateLimitError({e.period}) after the turn": 1 for e in again})
            wall, simulated = time.perf_counter() - t_wall, clock.now() - t_sim
            st = client.scheduler_snapshot()
        c = await endpoint.result()
    assert c.tally is not None
    return MonthRow(
        scenario=case.scenario,
        name=case.name,
        wall=wall,
        sim=simulated,
        limit=limit,
        reserve=reserve,
        month=month,
        month_end=float(end),
        counted_months=dict(c.tally.counted_months),
        refused=c.conflicts,
        refused_month=c.tally.refused_month,
        bulk_ok=bulk_ok,
        refusals=len(month_refusals),
        retry_at=retry_at,
        interactive_ok=interactive_ok,
        interactive=len(interactive_jobs),
        after_turn_ok=after_ok,
        after_turn=len(after_jobs),
        lost=sum(lost_as.values()),
        errors=lost_as,
        snapshot=snapshot_text(st),
    )


def _merge(into: dict[str, int], more: dict[str, int]) -> None:
    for name, n in more.items():
        into[name] = into.get(name, 0) + n


async def run_v4(args: argparse.Namespace) -> list[Row | MonthRow]:
    """The v4 rows ``--v4-rows`` names, each printed as it ends."""
    rows: list[Row | MonthRow] = []
    rate = [V4_CASES[k] for k in args.v4_rows if V4_CASES[k].kind != "month"]
    month = [V4_CASES[k] for k in args.v4_rows if V4_CASES[k].kind == "month"]
    if rate:
        print(HEADER.replace("409s", "429s"))
        for case in rate:
            row = await run_v4_rate(case, args)
            print(format_row(row), flush=True)
            rows.append(row)
    if month:
        print(MONTH_HEADER)
        for case in month:
            month_row = await run_v4_month(case, args)
            print(format_month_row(month_row), flush=True)
            rows.append(month_row)
    return rows


HEADER = (
    f"{'scenario':<16} {'client':<13} {'wall s':>7} {'sim s':>7} {'counted':>7} {'bound s':>7} "
    f"{'ratio':>6} {'fill':>5} {'409s':>6} {'200':>5} {'lost':>5} {'sent':>6}  goals"
)


def format_row(r: Row) -> str:
    if r.goal_409 is None:
        verdict = "-"
    else:
        miss = r.misses()
        verdict = "PASS" if not miss else "MISS (" + "; ".join(miss) + ")"
    line = (
        f"{r.scenario:<16} {r.name:<13} {r.wall:>7.2f} {r.sim:>7.1f} {r.counted:>7d} "
        f"{r.bound:>7.1f} {r.ratio:>6.3f} {r.fill:>5.2f} {r.conflicts:>6d} {r.ok:>5d} "
        f"{r.lost:>5d} {r.sent:>6d}  {verdict}"
    )
    extra = []
    if not math.isnan(r.last_counted) and r.sent:
        opened = math.floor(r.last_counted / r.period) * r.period
        extra.append(
            f"last window: opened {opened - r.start:.3f} s in; counted its first request "
            f"{(r.last_window_first - opened) * 1000:.0f} ms after it opened, its last "
            f"{(r.last_counted - opened) * 1000:.0f} ms after; this process's CPU "
            f"{r.cpu / r.sent * 1e6:.0f} µs per request sent"
        )
    if r.goal_per_window is not None or r.refused_windows:
        windows = {(w * int(r.period)) - int(r.start): n for w, n in r.refused_windows.items()}
        extra.append(
            f"{r.refusal_name} per {r.period:g} s window (its opening, s into the run: count): "
            f"{windows or 'none'}; at most {r.goal_per_window} a window"
        )
    if r.snapshot:
        extra.append(f"scheduler_snapshot: {r.snapshot}")
    if r.faults:
        extra.append(f"faults injected: {r.faults}")
    if r.errors:
        extra.append(f"lost as: {r.errors}")
    return "\n".join([line, *(f"{'':<31}{e}" for e in extra)])


async def main_async(args: argparse.Namespace) -> list[Row | MonthRow]:
    """Every row the arguments ask for: v2's, then v4's (this client's only)."""
    rows: list[Row | MonthRow] = []
    if "v2" in args.api:
        rows.extend(await run_v2(args))
    v2_only = args.faults or args.retried_503s or args.only not in (None, "client")
    if "v4" in args.api and args.v4_rows and not v2_only:
        rows.extend(await run_v4(args))
    return rows


async def run_v2(args: argparse.Namespace) -> list[Row]:
    """v2's rows: every quota, scenario and client the arguments ask for."""
    names = ["client/told", "client/learn", "client/spread", "plain", "aiolimiter"]
    if args.only == "client":
        names = names[:3]
    elif args.only is not None:
        names = [args.only]
    scenarios = ["clean", "faults", "503s"] if args.with_faults else ["clean"]
    if args.faults:
        scenarios = ["faults"]
    if args.retried_503s:
        scenarios = ["503s"]
    rows: list[Row] = []
    print(HEADER)
    for label in args.quotas:
        case = QUOTAS[label]
        for scenario in scenarios:
            if scenario == "faults" and label != "watt":
                continue  # the fault scenario is the minute plan's
            if scenario == "503s" and label != "20/s":
                continue  # a second's window is where a retry's backoff shows
            for name in names:
                faults = scenario_faults(scenario, args.seed)
                row = await run_one(f"{label} {scenario}", name, args, faults, case)
                print(format_row(row), flush=True)
                rows.append(row)
    return rows


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument(
        "--quotas",
        nargs="+",
        choices=tuple(QUOTAS),
        default=list(QUOTAS),
        help="server quotas to run (all: watt 20/s 1000/s)",
    )
    ap.add_argument(
        "--requests",
        type=int,
        default=None,
        help="calls per client (watt 600, 20/s 200, 1000/s 10,000)",
    )
    ap.add_argument("--systems", type=int, default=60, help="systems in the fleet (60)")
    ap.add_argument(
        "--time-scale",
        type=float,
        default=None,
        help="simulated seconds per real second (watt 300; per-second quotas 1)",
    )
    ap.add_argument("--max-in-flight", type=int, default=8, help="this client's cap (8)")
    ap.add_argument("--only", choices=("client", "plain", "aiolimiter"), default=None)
    ap.add_argument(
        "--max-wait",
        type=float,
        default=math.inf,
        help="this client's max_wait, simulated s (inf: the workload queues an hour at once)",
    )
    ap.add_argument("--faults", action="store_true", help="run only the fault scenario")
    ap.add_argument(
        "--503s",
        dest="retried_503s",
        action="store_true",
        help="run only the 503 scenario (20/s, 10%% of answers 503 errorCode 7)",
    )
    ap.add_argument(
        "--no-faults", dest="with_faults", action="store_false", help="skip the fault scenario"
    )
    ap.add_argument("--check", action="store_true", help="exit 1 if a goal of this client fails")
    ap.add_argument("--seed", type=int, default=1, help="fleet and fault seed (1)")
    ap.add_argument("--attempts", type=int, default=30, help="baselines: attempts per call (30)")
    ap.add_argument(
        "--backoff-max",
        type=float,
        default=None,
        help="baselines: longest backoff, simulated s (five windows: 300 for watt, 5 per second)",
    )
    ap.add_argument(
        "--retry-attempts",
        type=int,
        default=None,
        help="this client, with faults: attempts (RetryPolicy's default)",
    )
    ap.add_argument(
        "--max-total",
        type=float,
        default=None,
        help="this client, with faults: RetryPolicy.max_total, simulated s (the default)",
    )
    ap.add_argument(
        "--in-process",
        action="store_true",
        help="run the simulator on the client's event loop (default: its own process)",
    )
    ap.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="do not pin the simulator process to the last CPU and this one to the others",
    )
    ap.add_argument(
        "--api",
        nargs="+",
        choices=("v2", "v4"),
        default=["v2", "v4"],
        help="which API's rows to run (both); v4's are this client's only, no faults",
    )
    ap.add_argument(
        "--v4-rows",
        nargs="*",
        choices=tuple(V4_CASES),
        default=list(V4_CASES),
        help="v4 rows to run (all: told bare fields month turn)",
    )
    ap.add_argument(
        "--v4-requests",
        type=int,
        default=V4_REQUESTS,
        help=f"v4 told/learning rows: calls ({V4_REQUESTS})",
    )
    ap.add_argument(
        "--v4-month",
        type=int,
        default=V4_MONTH,
        help=f"v4 month rows: the month quota told and enforced ({V4_MONTH:,})",
    )
    ap.add_argument(
        "--v4-reserve",
        type=int,
        default=V4_RESERVE,
        help=f"v4 month rows: the client's month_reserve ({V4_RESERVE})",
    )
    ap.add_argument(
        "--v4-turn-lead",
        type=int,
        default=V4_TURN_LEAD,
        help=f"v4 turn row: minutes from the budget's end to the month's ({V4_TURN_LEAD})",
    )
    ap.add_argument(
        "--v4-time-scale",
        type=float,
        default=V4_TIME_SCALE,
        help=f"v4 rows: simulated seconds per real second ({V4_TIME_SCALE:g})",
    )
    ap.add_argument("--verbose", action="store_true", help="log the enlighten_async logger")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="%(relativeCreated)8.0fms %(name)s %(message)s"
    )
    if args.verbose:
        logging.getLogger("enlighten_async").setLevel(logging.INFO)
        logging.getLogger("enlighten_async.simulator").setLevel(logging.WARNING)
    for label in args.quotas if "v2" in args.api else ():
        case = QUOTAS[label]
        scale = args.time_scale or case.time_scale
        print(
            f"quota_utilization {label}: server plan {case.server_plan}, "
            f"{args.requests or case.requests} calls over {args.systems} systems, time scale "
            f"{scale:g} (a {case.period:g} s window = {case.period / scale * 1000:.0f} ms)"
        )
    print(
        f"max_in_flight {args.max_in_flight}; Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}, load {loadavg()}"
    )
    print(
        f"goals for this client: ratio <= {GOAL_RATIO} (503s: <= {GOAL_RATIO_503S}); "
        f"409s <= 0 told, <= {1 + args.max_in_flight} (1 + max_in_flight) learning; none lost"
    )
    if "v4" in args.api and args.v4_rows:
        mif, scale = args.max_in_flight, args.v4_time_scale
        print(
            f"quota_utilization v4: a v4 simulator (Simulator(api='v4')) on the Watt plan "
            f"(10/minute + 1,000/month), time scale {scale:g} (a minute = "
            f"{60 / scale * 1000:.0f} ms); told/learning: {args.v4_requests} calls at once; "
            f"month rows: told 10/minute + {args.v4_month:,}/month, month_reserve "
            f"{args.v4_reserve}, bulk (BACKGROUND, max_wait {V4_BULK_MAX_WAIT:g} s) in "
            f"{mif} workers, then {V4_INTERACTIVE} interactive calls; the turn row starts "
            f"{args.v4_turn_lead} min + the budget's minutes before a month's end and sends "
            f"{V4_AFTER_TURN} bulk calls after it"
        )
        print(
            f"v4 goals: told ratio <= {GOAL_RATIO}, 0 429s; learning (bare 429 bodies, and "
            f"with period fields) <= {1 + mif} (1 + max_in_flight) 429s a window and per "
            f"quota learned, ratio <= {GOAL_RATIO}; month: bulk stops at the budget, "
            "RateLimitError with retry_at = the next month (UTC), 0 429s (so no month 429); "
            "none lost"
        )
    rows = asyncio.run(main_async(args))
    print(f"load at the end: {loadavg()}")
    missed = [r for r in rows if r.misses()]
    if args.check and missed:
        print(f"CHECK FAILED: {len(missed)} row(s) of this client missed a goal")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
