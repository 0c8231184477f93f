"""TokenManager against a loopback token server: ahead-of-expiry refresh on a manual
clock, single-flight (100 callers, 4 processes on a file store and on Redis), the rotated
refresh token saved before use, 401s, refusals, retries, and no secret in the logs."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from enlighten_async.core.exceptions import ReauthorizationRequired
from enlighten_async.v4.oauth import (
    REFRESH_MARGIN,
    FileTokenStore,
    RedisTokenStore,
    TokenEndpoint,
    TokenManager,
    TokenSet,
    TokenSource,
    login,
)
from enlighten_async.v4.oauth.store import TokenStore
from tests.support.loopback import serving
from tests.support.token_server import (
    CLIENT_ID,
    CLIENT_SECRET,
    PRINCIPAL,
    ManualClock,
    TokenServer,
    WallScaledClock,
    leaked,
)

LIFETIME = 3600.0
ROOT = Path(__file__).resolve().parents[3]


class Setup:
    """A token server, an endpoint and a file store sharing one manual clock."""

    def __init__(self, server: TokenServer, base: str, clock: ManualClock, store: FileTokenStore):
        self.server, self.base, self.clock, self.store = server, base, clock, store
        self.endpoint = TokenEndpoint(CLIENT_ID, CLIENT_SECRET, base_url=base, clock=clock)

    def manager(self) -> TokenManager:
        return TokenManager(self.endpoint, self.store, PRINCIPAL)

    async def use(self, session: aiohttp.ClientSession, token: str) -> int:
        async with session.get(
            f"{self.base}/api/v4/use", headers={"Authorization": f"Bearer {token}"}
        ) as resp:
            return resp.status


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    clock = ManualClock()
    store = FileTokenStore(tmp_path / "tokens", application=CLIENT_ID)

    async def persisted(principal: str, refresh: str) -> bool:
        stored = await store.load(principal)
        return stored is not None and stored.refresh_token == refresh

    server = TokenServer(clock, access_lifetime=LIFETIME, persisted=persisted)
    async with serving(server.app()) as base:
        made = Setup(server, base, clock, store)
        await login(made.endpoint, store, server.issue_code())
        yield made


def test_the_margin_is_named_and_five_minutes() -> None:
    assert timedelta(minutes=5) == REFRESH_MARGIN


async def test_a_manager_is_a_token_source(setup: Setup) -> None:
    assert isinstance(setup.manager(), TokenSource)


async def test_refresh_ahead_of_the_margin(setup: Setup) -> None:
    manager = setup.manager()
    first = await manager.access_token()
    setup.clock.advance(LIFETIME - REFRESH_MARGIN.total_seconds() - 1)
    assert await manager.access_token() == first
    assert setup.server.refreshes == 0
    setup.clock.advance(2)  # now inside the margin, still before expiry
    second = await manager.access_token()
    assert second != first and setup.server.refreshes == 1
    assert await manager.access_token() == second and setup.server.refreshes == 1


async def test_a_token_shorter_lived_than_twice_the_margin_is_refreshed_at_half_its_life(
    setup: Setup,
) -> None:
    setup.server.access_lifetime = 240.0  # 4 minutes: inside the 5-minute margin at once
    manager = setup.manager()
    first = await manager.refresh_now()
    assert setup.server.refreshes == 1
    # Not due again at once (that would refresh on every call), but at half its life.
    assert await manager.access_token() == first.access_token
    setup.clock.advance(119)
    assert await manager.access_token() == first.access_token
    assert setup.server.refreshes == 1
    setup.clock.advance(2)
    assert await manager.access_token() != first.access_token
    assert setup.server.refreshes == 2


@pytest.mark.parametrize("failures", [1, 3])
async def test_a_refreshed_set_the_store_will_not_take_is_not_lost(
    setup: Setup, monkeypatch: pytest.MonkeyPatch, failures: int
) -> None:
    manager = setup.manager()
    first = await manager.access_token()
    setup.clock.advance(LIFETIME)
    real_save, left = setup.store.save, failures

    async def save(principal: str, tokens: TokenSet) -> None:
        nonlocal left
        if left:
            left -= 1
            raise OSError("disk full")
        await real_save(principal, tokens)

    monkeypatch.setattr(setup.store, "save", save)
    if failures < 3:  # retried: the set is saved, then handed out
        token = await manager.access_token()
    else:  # every try failed: not handed out (not saved), kept for the next refresh
        with pytest.raises(OSError):
            await manager.access_token()
        token = await manager.access_token()  # saves the kept set: no second refresh
    assert token != first and setup.server.refreshes == 1
    stored = await setup.store.load(PRINCIPAL)
    assert stored is not None and stored.access_token == token
    assert setup.server.live_refresh_token(stored.refresh_token)


async def test_100_concurrent_callers_make_one_refresh(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager = setup.manager()
    await manager.access_token()
    setup.clock.advance(LIFETIME)
    setup.server.delay = 0.05  # the refresh is in flight while they all ask
    # One flight in the process: one store read and one lock for all 100 (the store's
    # lock alone would also give one refresh, at 100 reads and 100 locks).
    loads = locks = 0
    real_load, real_lock = setup.store.load, setup.store.lock

    async def load(principal: str) -> TokenSet | None:
        nonlocal loads
        loads += 1
        return await real_load(principal)

    def lock(principal: str) -> AbstractAsyncContextManager[None]:
        nonlocal locks
        locks += 1
        return real_lock(principal)

    monkeypatch.setattr(setup.store, "load", load)
    monkeypatch.setattr(setup.store, "lock", lock)
    tokens = await asyncio.gather(*(manager.access_token() for _ in range(100)))
    assert len(set(tokens)) == 1
    assert setup.server.refreshes == 1 and manager.refreshes == 1
    assert (loads, locks) == (2, 1)  # before the lock and under it


async def test_managers_of_one_store_refresh_once(setup: Setup) -> None:
    # Two managers (as two processes would): the second finds the refreshed set under
    # the lock and sends nothing.
    one, two = setup.manager(), setup.manager()
    await asyncio.gather(one.access_token(), two.access_token())
    setup.clock.advance(LIFETIME)
    setup.server.delay = 0.05
    a, b = await asyncio.gather(one.access_token(), two.access_token())
    assert a == b and setup.server.refreshes == 1 and setup.server.refused == 0


async def test_the_rotated_refresh_token_is_saved_before_use(setup: Setup) -> None:
    manager = setup.manager()
    async with aiohttp.ClientSession() as session:
        for _ in range(5):
            tokens = await asyncio.gather(*(manager.access_token() for _ in range(10)))
            statuses = await asyncio.gather(*(setup.use(session, t) for t in tokens))
            assert set(statuses) == {200}
            setup.clock.advance(LIFETIME)
    assert setup.server.refreshes == 4
    assert setup.server.persist_checks == 5
    assert setup.server.unpersisted_uses == 0
    stored = await setup.store.load(PRINCIPAL)
    assert stored is not None and setup.server.live_refresh_token(stored.refresh_token)


async def test_after_unauthorized_refreshes_once(setup: Setup) -> None:
    manager = setup.manager()
    rejected = await manager.access_token()
    setup.server.delay = 0.05
    fresh = await asyncio.gather(*(manager.after_unauthorized(rejected) for _ in range(100)))
    assert len(set(fresh)) == 1 and fresh[0] != rejected
    assert setup.server.refreshes == 1
    # A late 401 to the old token: the new one is at hand, no refresh.
    assert await manager.after_unauthorized(rejected) == fresh[0]
    assert setup.server.refreshes == 1


async def test_after_unauthorized_takes_a_newer_stored_token(setup: Setup) -> None:
    one, two = setup.manager(), setup.manager()
    rejected = await one.access_token()
    assert await two.access_token() == rejected
    newer = await two.after_unauthorized(rejected)
    assert setup.server.refreshes == 1
    assert await one.after_unauthorized(rejected) == newer
    assert setup.server.refreshes == 1 and setup.server.refused == 0


async def test_a_refused_refresh_raises_reauthorization_required(setup: Setup) -> None:
    manager = setup.manager()
    await manager.access_token()
    setup.clock.advance(LIFETIME)
    setup.server.refuse = True
    with pytest.raises(ReauthorizationRequired) as caught:
        await manager.access_token()
    error = caught.value
    assert error.principal == PRINCIPAL
    assert error.authorize_url == setup.endpoint.authorize_url()
    assert "response_type=code" in error.authorize_url and f"client_id={CLIENT_ID}" in (
        error.authorize_url
    )
    assert leaked(f"{error} {error!r} {vars(error)!r}", setup.server.secrets) == []


async def test_a_refused_refresh_token_is_not_sent_again(setup: Setup) -> None:
    manager = setup.manager()
    await manager.access_token()
    setup.clock.advance(LIFETIME)
    setup.server.refuse = True
    for _ in range(50):  # a backfill's spans of a revoked owner, one after another
        with pytest.raises(ReauthorizationRequired) as caught:
            await manager.access_token()
    assert caught.value.principal == PRINCIPAL and caught.value.authorize_url
    assert setup.server.refused == 1 and manager.refreshes == 1
    assert leaked(f"{manager!r} {vars(manager)!r}", setup.server.secrets) == []
    # the owner authorizes again: the new login's set is taken from the store at once
    setup.server.refuse = False
    await login(setup.endpoint, setup.store, setup.server.issue_code())
    stored = await setup.store.load(PRINCIPAL)
    assert stored is not None and await manager.access_token() == stored.access_token
    assert setup.server.refused == 1


async def test_a_refusal_without_invalid_grant_is_tried_again(setup: Setup) -> None:
    manager = setup.manager()
    await manager.access_token()
    setup.clock.advance(LIFETIME)
    setup.server.fail_with = [403]  # a proxy's 403 page, no OAuth error: maybe passing
    with pytest.raises(ReauthorizationRequired):
        await manager.access_token()
    stored = await setup.store.load(PRINCIPAL)
    assert stored is not None and setup.server.live_refresh_token(stored.refresh_token)
    await manager.access_token()  # sent again, and refreshed
    assert setup.server.refreshes == 1 and manager.refreshes == 2


async def test_no_stored_set_raises_reauthorization_required(setup: Setup) -> None:
    manager = TokenManager(setup.endpoint, setup.store, "999")
    with pytest.raises(ReauthorizationRequired) as caught:
        await manager.access_token()
    assert caught.value.principal == "999" and caught.value.authorize_url


async def test_a_5xx_is_retried(setup: Setup) -> None:
    manager = setup.manager()
    first = await manager.access_token()
    setup.clock.advance(LIFETIME)
    setup.server.fail_with = [503, 502]
    assert await manager.access_token() != first
    assert manager.refreshes == 3 and setup.server.refreshes == 1


async def test_a_cancelled_caller_does_not_cancel_the_refresh(setup: Setup) -> None:
    manager = setup.manager()
    await manager.access_token()
    setup.clock.advance(LIFETIME)
    setup.server.delay = 0.2
    first = asyncio.ensure_future(manager.access_token())
    await asyncio.sleep(0.05)
    others = asyncio.gather(*(manager.access_token() for _ in range(5)))
    first.cancel()
    tokens = await others
    assert len(set(tokens)) == 1 and setup.server.refreshes == 1
    assert first.cancelled()


async def test_no_secret_reaches_the_log_at_debug(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    manager = setup.manager()
    second = TokenManager(setup.endpoint, setup.store, "5150")
    await login(setup.endpoint, setup.store, setup.server.issue_code("5150"))
    rejected = await manager.access_token()
    await manager.after_unauthorized(rejected)
    await second.access_token()
    setup.clock.advance(LIFETIME)
    setup.server.fail_with = [503]
    await manager.access_token()
    setup.server.refuse = True
    with pytest.raises(ReauthorizationRequired) as caught:
        await second.access_token()
    logged = "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text}" for r in caplog.records)
    assert "refreshed" in logged
    shown = " ".join(
        [
            logged,
            repr(manager),
            str(manager),
            repr(setup.store),
            repr(setup.endpoint),
            str(caught.value),
            repr(caught.value),
            repr(vars(caught.value)),
        ]
        + [repr(t) for t in [await setup.store.load(PRINCIPAL), await setup.store.load("5150")]]
    )
    assert leaked(shown, setup.server.secrets) == []


#: The cross-process runs: a simulated second lasts 1/SCALE real seconds; an access token
#: lives LONG simulated seconds and is refreshed REFRESH_MARGIN before its end.
SCALE = 150.0
LONG = 900.0
RUN_SECONDS = 8.0


# Four processes for 8 s each: with the soaks. The default suite runs four processes on one
# Redis token store through the client in tests/test_v4_tokens.py.
@pytest.mark.soak
@pytest.mark.parametrize("kind", ["file", "redis"])
async def test_four_processes_refresh_once_per_expiry(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    clock = WallScaledClock(time.time(), SCALE)
    store: TokenStore
    if kind == "redis":
        redis_url: str = request.getfixturevalue("redis_url")
        store = RedisTokenStore(redis_url, application=CLIENT_ID)
        await store._redis.delete(store.tokens_key)
        where = f"redis:{redis_url}"
    else:
        store = FileTokenStore(tmp_path / "tokens", application=CLIENT_ID)
        where = f"file:{tmp_path / 'tokens'}"

    async def persisted(principal: str, refresh: str) -> bool:
        stored = await store.load(principal)
        return stored is not None and stored.refresh_token == refresh

    server = TokenServer(clock, access_lifetime=LONG, persisted=persisted)
    server.delay = 0.1  # a refresh is in flight long enough for every process to want one
    try:
        async with serving(server.app()) as base:
            endpoint = TokenEndpoint(CLIENT_ID, CLIENT_SECRET, base_url=base, clock=clock)
            await login(endpoint, store, server.issue_code())
            started = clock.now()
            children = [
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "tests.support.oauth_child",
                    base,
                    where,
                    str(clock.start),
                    str(SCALE),
                    str(RUN_SECONDS),
                    cwd=ROOT,
                    env=dict(os.environ),
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                )
                for _ in range(4)
            ]
            outputs = await asyncio.wait_for(
                asyncio.gather(*(child.communicate() for child in children)), 90
            )
            ended = clock.now()
            stored = await store.load(PRINCIPAL)
    finally:
        if isinstance(store, RedisTokenStore):
            await store.close()
    reports = []
    for child, (out, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err.decode()[-2000:]
        reports.append(json.loads(out.decode().strip().splitlines()[-1]))
    assert [r["errors"] for r in reports] == [[]] * 4
    assert all(r["calls"] > 0 for r in reports)
    # One refresh per expiry: none refused (a second refresh with a rotated token would
    # be), and never two within less than a token's life minus the margin.
    assert server.refused == 0
    assert sum(r["refreshes"] for r in reports) == server.refreshes
    period = LONG - REFRESH_MARGIN.total_seconds()
    gaps = [b - a for a, b in zip(server.refresh_times, server.refresh_times[1:], strict=False)]
    assert all(gap > period * 0.8 for gap in gaps), (gaps, period)
    assert 1 <= server.refreshes <= (ended - started) / period + 1
    # No 401 reached a call, and every new token was in the store before its first use.
    assert server.unauthorized == 0
    assert server.unpersisted_uses == 0 and server.persist_checks >= server.refreshes
    assert stored is not None and server.live_refresh_token(stored.refresh_token)
