"""The issue's token acceptance run on the v4 simulator: worker processes sharing a Redis
token store, and the run that starts, kills and checks them (``tests/test_v4_tokens.py``).

**A worker** (``python -m tests.support.v4_token_worker '<json>'``) is one process of an
application: per principal a :class:`TokenManager` (its :class:`TokenEndpoint` pointed at
the simulator's OAuth root, on the shared compressed clock) and an
:class:`EnlightenV4Client`; :data:`CALLERS` concurrent callers make real calls
(``summary`` and ``system``, in turn) until a simulated end. It prints JSON lines:
``ready`` once set up; then it reads ``go <end>`` on stdin; ``progress`` every
:data:`PROGRESS_EVERY` real seconds (so that a killed worker's calls are counted up to its
death); ``refreshing`` as it sends a principal's refresh and ``window`` once it saved the
answer (with the real seconds between: the span in which a SIGKILL loses the pair, since
the server may by then have killed the old refresh token), ``refresh_failed`` instead of
``window`` when the refresh failed; ``done`` at the end.

**The run** (:func:`token_run`): a simulator on a :class:`WallScaledClock` (so that every
process reads the same simulated time from the wall), a Redis store, 4 workers, the
principals logged in through the token endpoint, 48 simulated hours; optionally SIGKILLs
of a worker at seeded random moments, a new worker started after each, and after each
kill a check that the store holds a working refresh token for every principal (alive at
the simulator, and a fresh manager's call answered); a pair found lost is counted, marked
explained when the victim had that principal's refresh in flight, and restored by a new
login. It returns the figures (:class:`RunFigures`); the test asserts them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from enlighten_async.core.exceptions import AuthError, EnlightenError
from enlighten_async.v4 import EnlightenV4Client
from enlighten_async.v4.models import Summary, System
from enlighten_async.v4.oauth import (
    REFRESH_MARGIN,
    RedisTokenStore,
    TokenEndpoint,
    TokenManager,
    TokenSet,
)
from tests.support.token_server import WallScaledClock

#: Concurrent callers per worker process (shared among the principals in turn).
CALLERS = 100
#: Worker processes sharing the store.
PROCESSES = 4
#: Real seconds between two progress lines of a worker.
PROGRESS_EVERY = 0.2
#: A simulated day: the access token's life in the run.
DAY = 86_400.0
#: The run's length: 48 simulated hours.
HOURS_48 = 48 * 3600.0
#: The client's plan: generous enough that a worker's pacing never binds (the simulator
#: serves the run unlimited, so no 429 either way).
CLIENT_PLAN = "partner"
#: Real seconds the margin covers at least: the lag from a token falling due to the
#: simulator issuing the next (a caller asking, the lock, the request's round trip) on a
#: loaded 2-core machine serving 400 callers. REFRESH_MARGIN (5 simulated minutes) is
#: sized for real time; compressed 34,560 times (48 hours in 5 s) it would be 9 ms. The
#: count stays exactly 2 in 48 hours while each lag is under the margin (see MAX_MARGIN).
REAL_MARGIN = 0.75
#: The longest margin a run uses. From 8 hours on (a day less 48 hours over 3) a third
#: refresh would fall within the 48 hours (no refresh comes before its due time: a 401
#: comes at the server's expiry, later still); at 7.5 hours the third falls at 49.5 hours
#: at the earliest, and the two that do fall may each lag up to 7.5 hours.
MAX_MARGIN = timedelta(hours=7.5)
#: Real seconds a Redis lock lives when its holder is SIGKILLed (the store's LOCK_TTL is 150
#: real seconds, longer than this whole run): a refresh takes a few to a few hundred
#: milliseconds here, under load.
WORKER_LOCK_TTL = 1.0
#: Workers started ahead, waiting to replace a killed one.
STANDBY = 2
#: Real seconds an authorization code lives (a login after a lost pair exchanges one).
CODE_REAL_SECONDS = 30.0

ROOT = Path(__file__).resolve().parents[2]

T = TypeVar("T")


def margin_for(scale: float) -> timedelta:
    """The refresh margin of a run at ``scale``: :data:`REFRESH_MARGIN`, or
    :data:`REAL_MARGIN` real seconds when that is longer in simulated time, but at most
    :data:`MAX_MARGIN`."""
    real = min(timedelta(seconds=REAL_MARGIN * scale), MAX_MARGIN)
    return max(REFRESH_MARGIN, real)


def expected_refreshes(hours: float, day: float, margin: float) -> int:
    """Refreshes per principal in ``hours`` from its login: the k-th falls at
    ``k * (day - margin)`` plus lags (each token is refreshed ``margin`` before the day it
    lives ends, and lives a day from its refresh), so ``floor(hours / (day - margin))``
    while each lag stays under ``margin``."""
    return math.floor(hours / (day - margin))


# -- the worker -------------------------------------------------------------------------


class _TimedEndpoint(TokenEndpoint):
    """A token endpoint that notes when its last refresh was sent (real time), and prints
    ``refreshing`` before it sends (``refresh_failed`` if it fails): a kill between that
    line and the store's ``window`` line lands in the window."""

    sent_at: float | None = None
    principal = ""

    async def refresh(self, refresh_token: str) -> TokenSet:
        """:meth:`TokenEndpoint.refresh`, timed."""
        _emit({"refreshing": self.principal})
        self.sent_at = time.monotonic()
        try:
            return await super().refresh(refresh_token)
        except BaseException:
            _emit({"refresh_failed": self.principal})
            raise


class _WindowStore(RedisTokenStore):
    """A Redis store that prints, on each save of a refreshed set, how long the pair was
    held by nobody but this process (from sending the refresh to the ``HSET``'s end)."""

    endpoints: dict[str, _TimedEndpoint]

    async def save(self, principal: str, tokens: TokenSet) -> None:
        """:meth:`RedisTokenStore.save`, then a ``window`` line."""
        await super().save(principal, tokens)
        endpoint = self.endpoints.get(principal)
        if endpoint is not None and endpoint.sent_at is not None:
            _emit({"window": time.monotonic() - endpoint.sent_at, "principal": principal})
            endpoint.sent_at = None


def _emit(line: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


@dataclass
class _Tally:
    calls: int = 0
    models: int = 0
    unauthorized: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "models": self.models,
            "lost": self.calls - self.models,
            "unauthorized": self.unauthorized,
            "errors": dict(self.errors.most_common(5)),
        }


async def _work(cfg: dict[str, Any], end: float) -> None:
    clock = WallScaledClock(cfg["start"], cfg["scale"])
    store = _WindowStore(cfg["redis"], application=cfg["client_id"], lock_ttl=cfg["lock_ttl"])
    store.endpoints = {}
    margin = timedelta(seconds=cfg["margin"])
    clients: list[EnlightenV4Client] = []
    managers: list[TokenManager] = []
    for principal in cfg["principals"]:
        endpoint = _TimedEndpoint(
            cfg["client_id"], cfg["client_secret"], base_url=cfg["oauth_root"], clock=clock
        )
        endpoint.principal = principal
        store.endpoints[principal] = endpoint
        manager = TokenManager(endpoint, store, principal, clock=clock, margin=margin)
        managers.append(manager)
        clients.append(
            EnlightenV4Client(
                cfg["api_key"], manager, base_url=cfg["base_url"], plan=CLIENT_PLAN, clock=clock
            )
        )
    tally = _Tally()
    systems: list[int] = cfg["systems"]

    async def caller(n: int) -> None:
        client = clients[n % len(clients)]
        i = n
        while clock.now() < end:
            i += 1
            system_id = systems[i % len(systems)]
            try:
                if i % 2:
                    model: object = await client.summary(system_id)
                    ok = isinstance(model, Summary)
                else:
                    model = await client.system(system_id)
                    ok = isinstance(model, System)
            except AuthError as exc:
                tally.calls += 1
                if exc.status == 401:
                    tally.unauthorized += 1
                tally.errors[type(exc).__name__] += 1
                continue
            except EnlightenError as exc:
                tally.calls += 1
                tally.errors[type(exc).__name__] += 1
                continue
            # Counted once answered: a call in flight when its process is killed is the
            # kill's, not the client's.
            tally.calls += 1
            tally.models += ok

    async def report() -> None:
        while True:
            await asyncio.sleep(PROGRESS_EVERY)
            _emit({"progress": tally.to_json()})

    reporter = asyncio.create_task(report())
    try:
        await asyncio.gather(*(caller(n) for n in range(cfg["callers"])))
    finally:
        reporter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reporter
        for client in clients:
            await client.close()
        await store.close()
    _emit({"done": {**tally.to_json(), "refreshes": sum(m.refreshes for m in managers)}})


def worker_main(argv: list[str]) -> None:
    """A worker's entry: the config (JSON) in ``argv[0]``; ``go <end>`` on stdin."""
    cfg = json.loads(argv[0])
    _emit({"ready": True})
    line = sys.stdin.readline().split()
    if len(line) != 2 or line[0] != "go":
        raise SystemExit(f"expected 'go <end>' on stdin, got {line!r}")
    asyncio.run(_work(cfg, float(line[1])))


# -- the run ----------------------------------------------------------------------------


@dataclass
class RunFigures:
    """What a run measured."""

    seed: int
    scale: float
    margin: float
    expected: int
    principals: tuple[str, ...]
    calls: int = 0
    models: int = 0
    lost: int = 0
    unauthorized: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    refreshes: dict[str, int] = field(default_factory=dict)
    refreshes_final: dict[str, int] = field(default_factory=dict)
    counted: dict[str, Any] = field(default_factory=dict)
    refused: int = 0
    kills: int = 0
    lost_pairs: int = 0
    #: Kills that landed while the victim had a refresh sent and not saved (the window).
    window_kills: list[str] = field(default_factory=list)
    #: Lost pairs whose principal had no refresh in flight in the killed worker.
    unexplained: list[str] = field(default_factory=list)
    windows: list[float] = field(default_factory=list)
    run_real: float = 0.0
    simulated_hours: float = 0.0
    ended_hours: float = 0.0
    finished_workers: int = 0
    worker_failures: list[str] = field(default_factory=list)
    final_ok: dict[str, bool] = field(default_factory=dict)
    check_calls: int = 0
    failed_check_calls: int = 0

    def exposure(self) -> float:
        """Expected kills landing in a refresh window: for each kill, the chance that its
        victim is the process refreshing and that the moment falls in the window."""
        if self.run_real <= 0:
            return 0.0
        return self.kills * sum(self.windows) / (self.run_real * PROCESSES)

    def summary(self) -> str:
        """The one line the test prints."""
        per = ", ".join(f"{p}: {n}" for p, n in sorted(self.refreshes.items()))
        after = sum(self.refreshes_final.values()) - sum(self.refreshes.values())
        return (
            f"v4 tokens: seed={self.seed} scale={self.scale:g} "
            f"simulated_hours={self.simulated_hours:.1f} (workers ended at "
            f"{self.ended_hours:.1f}) real_s={self.run_real:.1f} "
            f"processes={PROCESSES} callers/process={CALLERS} calls={self.calls} "
            f"models={self.models} lost={self.lost} 401s_to_callers={self.unauthorized} "
            f"401s_absorbed={self.counted.get('unauthorized', {})} "
            f"refreshes_per_principal_in_48h={{{per}}} expected_each={self.expected} "
            f"refreshes_by_calls_queued_past_the_end={after} "
            f"(margin {self.margin:g} s) refused={self.refused} kills={self.kills} "
            f"kills_in_a_refresh_window={len(self.window_kills)} lost_pairs={self.lost_pairs} "
            f"refresh_windows={len(self.windows)} "
            f"max_window_ms={1000 * max(self.windows, default=0.0):.1f} "
            f"expected_hits={self.exposure():.5f}"
        )


class _Worker:
    """A worker process and the lines it printed."""

    def __init__(self, proc: asyncio.subprocess.Process, figures: RunFigures) -> None:
        self.proc = proc
        self.figures = figures
        self.progress: dict[str, Any] = {}
        self.done: dict[str, Any] | None = None
        #: Principals whose refresh this worker sent and has not saved yet.
        self.refreshing: set[str] = set()
        self.ready = asyncio.get_running_loop().create_future()
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while True:
            raw = await self.proc.stdout.readline()
            if not raw:
                break
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if "ready" in line and not self.ready.done():
                self.ready.set_result(None)
            elif "progress" in line:
                self.progress = line["progress"]
            elif "refreshing" in line:
                self.refreshing.add(line["refreshing"])
            elif "refresh_failed" in line:
                self.refreshing.discard(line["refresh_failed"])
            elif "window" in line:
                self.refreshing.discard(line["principal"])
                self.figures.windows.append(float(line["window"]))
            elif "done" in line:
                self.done = self.progress = line["done"]
        if not self.ready.done():
            self.ready.set_exception(RuntimeError("a worker exited before it was ready"))

    def tally(self) -> None:
        """Add this worker's last figures to the run's."""
        f, p = self.figures, self.progress
        f.calls += p.get("calls", 0)
        f.models += p.get("models", 0)
        f.lost += p.get("lost", 0)
        f.unauthorized += p.get("unauthorized", 0)
        f.errors.update(p.get("errors", {}))


async def _spawn(cfg: dict[str, Any], figures: RunFigures) -> _Worker:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.v4_token_worker",
        json.dumps(cfg),
        cwd=ROOT,
        env=dict(os.environ),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    return _Worker(proc, figures)


async def _go(worker: _Worker, end: float) -> None:
    await asyncio.wait_for(worker.ready, 60)
    assert worker.proc.stdin is not None
    worker.proc.stdin.write(f"go {end!r}\n".encode())
    await worker.proc.stdin.drain()


async def token_run(
    redis_url: str, *, real_seconds: float, kills: int, seed: int, systems: int = 4
) -> RunFigures:
    """48 simulated hours in about ``real_seconds``, with ``kills`` SIGKILLs (see the
    module); returns the figures, asserting nothing."""
    from enlighten_async.simulator import Fleet, Simulator, SimulatorServer
    from enlighten_async.simulator.v4 import V4Options, v4_plan
    from enlighten_async.v4.oauth import login

    scale = HOURS_48 / real_seconds
    clock = WallScaledClock(time.time(), scale)
    margin = margin_for(scale).total_seconds()
    # A code lives CODE_REAL_SECONDS of real time: the simulator's 10 simulated minutes
    # are 17 ms here, shorter than a login's round trip while 400 callers load the loop.
    options = V4Options(
        access_seconds=DAY,
        old_refresh_dies=True,
        principals=2,
        code_seconds=CODE_REAL_SECONDS * scale,
    )
    sim = Simulator(
        fleet=Fleet(systems, seed=3), plan=v4_plan("unlimited"), clock=clock, api="v4", v4=options
    )
    principals = sim.oauth.principals
    figures = RunFigures(
        seed=seed,
        scale=scale,
        margin=margin,
        expected=expected_refreshes(HOURS_48, DAY, margin),
        principals=principals,
    )
    app = sim.oauth.application
    rng = random.Random(seed)
    async with SimulatorServer(sim) as server:
        cfg = {
            "start": clock.start,
            "scale": scale,
            "margin": margin,
            "redis": redis_url,
            "client_id": app.client_id,
            "client_secret": app.client_secret,
            "api_key": app.api_key,
            "oauth_root": server.root_url,
            "base_url": server.base_url,
            "principals": list(principals),
            "systems": [s.system_id for s in sim.fleet.systems],
            "callers": CALLERS,
            "lock_ttl": WORKER_LOCK_TTL,
        }
        store = RedisTokenStore(redis_url, application=app.client_id)
        await store._redis.delete(store.tokens_key)
        endpoint = TokenEndpoint(
            app.client_id, app.client_secret, base_url=server.root_url, clock=clock
        )
        workers: list[_Worker] = []
        # Workers on standby (started, waiting for their go) replace the killed ones at
        # once: a Python start takes a second or two here, hours of the simulated run.
        standby: list[_Worker] = []
        checks: list[asyncio.Task[bool]] = []
        # Per principal: the kills that landed while the victim had its refresh in flight,
        # each able to explain one lost pair until its own check has run.
        unexplained_kills: dict[str, set[int]] = {}
        try:
            workers = [await _spawn(cfg, figures) for _ in range(PROCESSES)]
            await asyncio.gather(*(asyncio.wait_for(w.ready, 60) for w in workers))
            # Logged in once every worker is up: the 48 hours are the workers' to fill.
            for principal in principals:
                await login(endpoint, store, sim.oauth.issue_code(enl_uid=principal))
            began = clock.now()
            end = began + HOURS_48
            started_real = time.monotonic()
            for w in workers:
                await _go(w, end)
            at_end = asyncio.ensure_future(_at(clock, end, lambda: dict(sim.oauth.refreshes)))
            # Started now, not with the others: they would slow the first ones' start.
            standby = [await _spawn(cfg, figures) for _ in range(min(kills, STANDBY))]
            # The kills' moments: seeded, anywhere in the run but its last tenth (so that a
            # replacement has time to call before the end).
            moments = sorted(rng.uniform(0.1, 0.9) * real_seconds for _ in range(kills))
            for moment in moments:
                await asyncio.sleep(max(0.0, started_real + moment - time.monotonic()))
                victim = rng.randrange(len(workers))
                dead = workers[victim]
                if clock.now() >= end or dead.proc.returncode is not None:
                    break  # too late to kill: the test sees fewer kills than asked
                dead.proc.kill()  # SIGKILL
                await dead.proc.wait()
                await dead.reader
                figures.kills += 1
                dead.tally()
                if dead.refreshing:
                    figures.window_kills.append(f"kill {figures.kills}: {sorted(dead.refreshing)}")
                workers[victim] = standby.pop(0)
                await _go(workers[victim], end)
                if len(standby) + figures.kills < kills:
                    standby.append(await _spawn(cfg, figures))
                # Right after the kill, for every principal: a working refresh token in
                # the store, and a fresh manager's call on it answered. In the background:
                # a lock the victim held lives on for its TTL, and the simulator serves 400
                # callers in this loop; the next kill keeps its moment.
                for principal in dead.refreshing:
                    unexplained_kills.setdefault(principal, set()).add(figures.kills)
                for principal in principals:
                    checks.append(
                        asyncio.ensure_future(
                            _after_kill(
                                sim,
                                store,
                                endpoint,
                                clock,
                                server.base_url,
                                principal,
                                figures,
                                figures.kills,
                                unexplained_kills.setdefault(principal, set()),
                            )
                        )
                    )
            for w in workers:
                await asyncio.wait_for(w.proc.wait(), real_seconds + 60)
                await w.reader
                assert w.proc.stderr is not None
                err = (await w.proc.stderr.read()).decode()
                if w.proc.returncode != 0 or w.done is None:
                    figures.worker_failures.append(f"exit {w.proc.returncode}: {err[-1500:]}")
                else:
                    figures.finished_workers += 1
                w.tally()
            figures.run_real = time.monotonic() - started_real
            figures.check_calls = len(checks)
            figures.failed_check_calls = sum(not ok for ok in await asyncio.gather(*checks))
            figures.simulated_hours = (end - began) / 3600
            figures.ended_hours = (clock.now() - began) / 3600
            # Counted at the simulator: its counters route, and the OAuth server's table.
            async with sim_session() as http, http.get(server.root_url + COUNTERS) as resp:
                figures.counted = await resp.json()
            # The 48 hours' refreshes: read at their end. Calls queued before the end (in
            # a worker's scheduler, behind 100 callers) ask for tokens after it: their
            # refreshes are reported apart.
            counted_at_end = await at_end
            figures.refreshes = {p: counted_at_end.get(p, 0) for p in principals}
            figures.refreshes_final = {p: sim.oauth.refreshes[p] for p in principals}
            figures.refused = sim.oauth.token_requests["refused"]
            # At the end: each stored refresh token works, proved by refreshing with it
            # (a fresh manager) and calling with the new access token.
            for principal in principals:
                figures.final_ok[principal] = await _alive_in_store(
                    sim, store, principal
                ) and await _called(
                    sim, store, endpoint, clock, server.base_url, principal, refresh=True
                )
        finally:
            for task in checks:
                task.cancel()
            for w in [*workers, *standby]:
                if w.proc.returncode is None:
                    w.proc.kill()
                    await w.proc.wait()
                w.reader.cancel()
            await store.close()
    return figures


async def _at(clock: WallScaledClock, when: float, read: Callable[[], T]) -> T:
    """``read()`` once ``clock`` reaches ``when``."""
    wall = clock.start + (when - clock.start) / clock.scale
    # A millisecond over: the clock's reading at wake-up is past ``when``, never short.
    await asyncio.sleep(max(0.0, wall - time.time()) + 0.001)
    return read()


#: The simulator's counters route.
COUNTERS = "/_simulator/counters"


def sim_session() -> Any:
    """An aiohttp session (imported here: the worker does not need it at import)."""
    import aiohttp

    return aiohttp.ClientSession()


async def _after_kill(
    sim: Any,
    store: RedisTokenStore,
    endpoint: TokenEndpoint,
    clock: WallScaledClock,
    base_url: str,
    principal: str,
    figures: RunFigures,
    kill: int,
    window_kills: set[int],
) -> bool:
    """The check after kill number ``kill``, for one principal: a lost pair is counted,
    then restored by a new login so that the run goes on; then whether a fresh manager's
    call is answered.

    A lost pair is explained by a kill in ``window_kills`` (the kills so far whose victim
    had this principal's refresh in flight), each explaining one. Not only this check's
    own kill: a check waits for the principal's lock, and the next kill's victim may hold
    it, and lose the pair, before this check gets it (two kills 0.14 s apart did). A kill's
    explanation ends with its own check: after it, the store held a working pair."""
    try:
        async with store.lock(principal):
            stored = await store.load(principal)
            if stored is None or not _alive(sim, stored.refresh_token):
                figures.lost_pairs += 1
                if window_kills:
                    window_kills.remove(min(window_kills))
                else:
                    figures.unexplained.append(f"kill {kill}: {principal}")
                # The new login's set is saved under the same hold of the lock: the check
                # after the next kill must find it, not the lost pair again.
                fresh = await endpoint.exchange_code(sim.oauth.issue_code(enl_uid=principal))
                await store.save(principal, fresh)
    finally:
        window_kills.discard(kill)
    return await _called(sim, store, endpoint, clock, base_url, principal)


def _alive(sim: Any, refresh_token: str) -> bool:
    # The simulator's own table: what its token endpoint would accept, read without a
    # refresh (a refresh would rotate the token and move the expiries the run counts).
    entry = sim.oauth._refresh.get(refresh_token)
    return bool(
        entry is not None
        and entry.alive
        and entry.client_id == sim.oauth.application.client_id
        and entry.expires_at > sim.clock.now()
    )


async def _alive_in_store(sim: Any, store: RedisTokenStore, principal: str) -> bool:
    """Whether the store holds a refresh token for ``principal`` that the simulator would
    take now. Read under the principal's lock: a worker between the server's rotation and
    its save holds it, and that moment is no loss (unless the worker dies there)."""
    async with store.lock(principal):
        stored = await store.load(principal)
        return stored is not None and _alive(sim, stored.refresh_token)


async def _called(
    sim: Any,
    store: RedisTokenStore,
    endpoint: TokenEndpoint,
    clock: WallScaledClock,
    base_url: str,
    principal: str,
    *,
    refresh: bool = False,
) -> bool:
    """Whether a fresh manager on the store, through a fresh client, gets a model from a
    call (after refreshing with the stored refresh token first, when ``refresh``)."""
    manager = TokenManager(endpoint, store, principal, clock=clock, margin=margin_for(clock.scale))
    try:
        if refresh:
            await manager.refresh_now()
        async with EnlightenV4Client(
            sim.api_key, manager, base_url=base_url, plan=CLIENT_PLAN, clock=clock
        ) as client:
            model = await client.system(sim.fleet.systems[0].system_id)
    except EnlightenError:
        return False
    return isinstance(model, System)


if __name__ == "__main__":
    worker_main(sys.argv[1:])
