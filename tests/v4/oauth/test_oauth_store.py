"""The token stores: a file per principal or per application (atomic, 0600 in 0700), and
Redis; the lock each holds per principal."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from enlighten_async.v4.oauth import (
    FileTokenStore,
    MemoryTokenStore,
    RedisTokenStore,
    TokenFormatError,
    TokenSet,
    TokenStore,
    TokenStoreLockTimeout,
)
from enlighten_async.v4.oauth.store import Layout
from tests.support.token_server import CLIENT_ID


def _tokens(principal: str = "4242", n: int = 1) -> TokenSet:
    return TokenSet(
        access_token=f"at-access-{n}-xxxxxxxx",
        refresh_token=f"rt-refresh-{n}-yyyyyyyy",
        expires_at=datetime(2030, 1, 1, tzinfo=timezone.utc),
        principal=principal,
        scope="read",
    )


@pytest.fixture(params=["principal", "application"])
def file_store(request: pytest.FixtureRequest, tmp_path: Path) -> FileTokenStore:
    layout: Layout = request.param
    return FileTokenStore(tmp_path / "tokens", application=CLIENT_ID, layout=layout)


@pytest.fixture
async def redis_store(
    redis_url: str, request: pytest.FixtureRequest
) -> AsyncIterator[RedisTokenStore]:
    store = RedisTokenStore(redis_url, application=f"{CLIENT_ID}-{request.node.name}")
    yield store
    await store.close()


async def _contract(store: TokenStore) -> None:
    assert isinstance(store, TokenStore)
    assert await store.load("4242") is None
    assert await store.principals() == []
    await store.save("4242", _tokens())
    await store.save("7", _tokens("7"))
    assert await store.load("4242") == _tokens()
    await store.save("4242", _tokens(n=2))
    assert await store.load("4242") == _tokens(n=2)
    assert await store.load("7") == _tokens("7")
    assert await store.principals() == ["4242", "7"]
    with pytest.raises(ValueError):
        await store.save("7", _tokens("4242"))
    with pytest.raises(ValueError):
        await store.load("../x")


async def _lock_excludes(one: TokenStore, two: TokenStore) -> None:
    order: list[str] = []

    async def hold(store: TokenStore, name: str) -> None:
        async with store.lock("4242"):
            order.append(f"{name} in")
            await asyncio.sleep(0.1)
            order.append(f"{name} out")

    await asyncio.gather(hold(one, "a"), hold(two, "b"))
    assert order in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])
    # Another principal's lock is not this one's.
    async with one.lock("4242"), two.lock("7"):
        pass


async def test_file_store_contract(file_store: FileTokenStore) -> None:
    await _contract(file_store)


async def test_memory_store_contract() -> None:
    await _contract(MemoryTokenStore())


async def test_memory_lock_excludes_and_repr_shows_no_token() -> None:
    store = MemoryTokenStore()
    await _lock_excludes(store, store)
    await store.save("4242", _tokens())
    assert repr(store) == "MemoryTokenStore(principals=1)"
    assert "access" not in repr(store) and "refresh" not in repr(store)


def test_a_memory_store_serves_a_second_event_loop() -> None:
    store = MemoryTokenStore()

    async def use() -> None:
        async with store.lock("4242"):
            await store.save("4242", _tokens())

    asyncio.run(use())
    asyncio.run(use())  # the first loop's asyncio lock is not reused


async def test_file_modes(file_store: FileTokenStore) -> None:
    await file_store.save("4242", _tokens())
    assert stat.S_IMODE(file_store.directory.stat().st_mode) == 0o700
    path = file_store.path("4242")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    async with file_store.lock("4242"):
        pass
    for entry in file_store.directory.iterdir():
        assert stat.S_IMODE(entry.stat().st_mode) == 0o600, entry.name
    assert "tokens-" in path.name and CLIENT_ID not in path.name


async def test_file_replace_is_atomic(
    file_store: FileTokenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await file_store.save("4242", _tokens())
    path = file_store.path("4242")
    inode = path.stat().st_ino
    await file_store.save("4242", _tokens(n=2))
    assert path.stat().st_ino != inode, "written in place, not replaced"

    # A crash before the rename leaves the old file whole and no temporary file behind.
    def crash(src: object, dst: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk gone"):
        await file_store.save("4242", _tokens(n=3))
    monkeypatch.undo()
    assert await file_store.load("4242") == _tokens(n=2)
    assert [p.name for p in file_store.directory.iterdir() if p.name.endswith(".tmp")] == []


async def test_file_fsyncs_before_rename(
    file_store: FileTokenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append("fsync")
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        calls.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    await file_store.save("4242", _tokens())
    assert calls == ["fsync", "replace", "fsync"]  # the file, the rename, the directory


async def test_a_damaged_file_is_refused(file_store: FileTokenStore) -> None:
    await file_store.save("4242", _tokens())
    file_store.path("4242").write_bytes(b'{"tokens": {"access_token": 1}')
    with pytest.raises(TokenFormatError):
        await file_store.load("4242")


async def test_file_lock_excludes_another_store(file_store: FileTokenStore) -> None:
    # A second store object opens its own descriptor: flock excludes it as it would
    # another process.
    other = FileTokenStore(file_store.directory, application=CLIENT_ID, layout=file_store.layout)
    await _lock_excludes(file_store, other)


async def test_file_lock_times_out(tmp_path: Path) -> None:
    one = FileTokenStore(tmp_path, application=CLIENT_ID)
    two = FileTokenStore(tmp_path, application=CLIENT_ID, lock_timeout=0.2)
    async with one.lock("4242"):
        with pytest.raises(TokenStoreLockTimeout):
            async with two.lock("4242"):
                pass


async def test_applications_are_apart(tmp_path: Path) -> None:
    one = FileTokenStore(tmp_path, application="app-one")
    two = FileTokenStore(tmp_path, application="app-two")
    await one.save("4242", _tokens())
    assert await two.load("4242") is None and await two.principals() == []


async def test_redis_store_contract(redis_store: RedisTokenStore) -> None:
    await _contract(redis_store)


async def test_redis_lock_excludes_another_store(
    redis_store: RedisTokenStore, redis_url: str, request: pytest.FixtureRequest
) -> None:
    other = RedisTokenStore(redis_url, application=f"{CLIENT_ID}-{request.node.name}")
    try:
        await _lock_excludes(redis_store, other)
    finally:
        await other.close()


async def test_redis_lock_release_checks_its_token(redis_url: str) -> None:
    one = RedisTokenStore(redis_url, application="ttl-app", lock_ttl=0.1)
    two = RedisTokenStore(redis_url, application="ttl-app", lock_timeout=5)
    try:
        async with one.lock("4242"):
            await asyncio.sleep(0.2)  # one's lock expired under it
            async with two.lock("4242"):
                pass
        # one's release found two's token gone already; now two takes it and one's stale
        # release (replayed by hand) must not free it.
        async with two.lock("4242"):
            key = two._lock_prefix + "4242"
            assert await two._redis.exists(key) == 1
            assert await one._release(keys=[key], args=["not-the-holder"]) == 0
            assert await two._redis.exists(key) == 1
    finally:
        await one.close()
        await two.close()


async def test_redis_keys_carry_no_client_id(redis_store: RedisTokenStore) -> None:
    await redis_store.save("4242", _tokens())
    assert CLIENT_ID not in redis_store.tokens_key
    assert redis_store.tokens_key.startswith("enlighten_async:oauth:")


def test_a_store_serves_a_second_event_loop(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path, application=CLIENT_ID, layout="application")

    async def contend() -> None:
        async def hold() -> None:
            async with store.lock("4242"):
                await asyncio.sleep(0.01)

        await asyncio.gather(
            hold(), hold(), store.save("4242", _tokens()), store.save("7", _tokens("7"))
        )

    asyncio.run(contend())
    asyncio.run(contend())  # the asyncio locks of the first loop are not reused
    assert asyncio.run(store.principals()) == ["4242", "7"]
