"""Where token sets live between runs and between processes: a directory, or Redis.

A :class:`TokenStore` keeps one :class:`~enlighten_async.v4.oauth.tokens.TokenSet` per
principal (the authorizing user, ``enl_uid``) of one application, and a lock per
principal that every process sharing the store honours: the token manager takes it around
a refresh and reads the store again once it holds it, so one refresh serves all of them.

The store is the one place a token may be written. :class:`FileTokenStore` writes each
file whole and atomically (a temporary file in the same directory, ``fsync``,
``os.replace``, then ``fsync`` of the directory), mode 0600 in a directory made 0700, so
a crash at any point leaves the old set or the new one, never a torn file.
:class:`RedisTokenStore` keeps the sets in one Redis hash per application.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import secrets
import stat
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import orjson

from enlighten_async.core.args import redis_url_arg, url_shown
from enlighten_async.v4.oauth.tokens import TokenFormatError, TokenSet, check_principal

if TYPE_CHECKING:
    import redis.asyncio

__all__ = [
    "LOCK_POLL",
    "LOCK_TIMEOUT",
    "LOCK_TTL",
    "MAX_STORE_BYTES",
    "FileTokenStore",
    "MemoryTokenStore",
    "RedisTokenStore",
    "TokenStore",
    "TokenStoreLockTimeout",
    "application_digest",
]

log = logging.getLogger("enlighten_async.v4.oauth")

#: Seconds (real time) a process waits for a principal's lock before it gives up: longer
#: than a holder may hold it (:data:`LOCK_TTL`).
LOCK_TIMEOUT = 180.0
#: Seconds between two tries of a lock another process holds.
LOCK_POLL = 0.02
#: Seconds a Redis lock lives if its holder dies without releasing it; longer than a
#: refresh may take: 3 tries (``REFRESH_ATTEMPTS``) of at most 30 s (``TOKEN_TIMEOUT``)
#: with 2 and 4 s between them, and the save, is about 100 s. A holder that outlives it
#: anyway is safe too: the manager re-reads the store after a refused refresh and takes a
#: newer set it finds there.
LOCK_TTL = 150.0
#: The most bytes a store file (or a Redis value) may hold: a principal's set is about
#: 2 KB, an application's file about 2 KB per principal.
MAX_STORE_BYTES = 16 * 1024 * 1024

Layout = Literal["principal", "application"]


class TokenStoreLockTimeout(TimeoutError):
    """A principal's lock was held by someone else for longer than the store waits."""


@runtime_checkable
class TokenStore(Protocol):
    """One application's token sets, by principal, with a lock per principal."""

    async def load(self, principal: str) -> TokenSet | None:
        """The principal's stored set, or ``None`` if none is stored."""
        ...

    async def save(self, principal: str, tokens: TokenSet) -> None:
        """Store ``tokens`` as the principal's set, durably, replacing the old one whole."""
        ...

    async def principals(self) -> list[str]:
        """The principals that have a stored set, sorted."""
        ...

    def lock(self, principal: str) -> AbstractAsyncContextManager[None]:
        """Hold the principal's lock, across every process sharing the store."""
        ...


def application_digest(application: str) -> str:
    """The name an application's files and keys carry: a digest of its id (the OAuth
    client id), 16 hex digits, so that no odd character of it reaches a path or a key."""
    if not isinstance(application, str) or not application:
        raise ValueError("application must be a non-empty string (the OAuth client id)")
    return hashlib.sha256(application.encode("utf-8")).hexdigest()[:16]


def _checked(principal: str, tokens: TokenSet) -> None:
    check_principal(principal)
    if not isinstance(tokens, TokenSet):
        raise TypeError("tokens must be a TokenSet")
    if tokens.principal != principal:
        raise ValueError("the token set belongs to another principal")


class _ProcessLocks:
    """One asyncio lock per principal: tasks of this process queue here, so that only one
    of them at a time polls the lock shared with other processes.

    An asyncio lock belongs to the loop it first waited in: a store used again from a new
    loop (a second ``asyncio.run``) gets new locks.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._locks: dict[str, asyncio.Lock] = {}

    def get(self, principal: str) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._locks = loop, {}
        lock = self._locks.get(principal)
        if lock is None:
            lock = self._locks[principal] = asyncio.Lock()
        return lock


class MemoryTokenStore:
    """Token sets in this process's memory: for an embedded simulator, a notebook, tests.

    Nothing survives the process and nothing is shared with another one: a principal's
    lock is an asyncio lock (per event loop, as the other stores' in-process locks), enough
    for single-flight among this process's tasks. Its repr counts the principals and shows
    no token.
    """

    def __init__(self) -> None:
        self._sets: dict[str, TokenSet] = {}
        self._process_locks = _ProcessLocks()

    def __repr__(self) -> str:
        return f"MemoryTokenStore(principals={len(self._sets)})"

    async def load(self, principal: str) -> TokenSet | None:
        """The principal's set, or ``None``."""
        return self._sets.get(check_principal(principal))

    async def save(self, principal: str, tokens: TokenSet) -> None:
        """Keep ``tokens`` as the principal's set (a set is immutable: no copy needed)."""
        _checked(principal, tokens)
        self._sets[principal] = tokens

    async def principals(self) -> list[str]:
        """The principals with a stored set, sorted."""
        return sorted(self._sets)

    @contextlib.asynccontextmanager
    async def lock(self, principal: str) -> AsyncIterator[None]:
        """Hold the principal's lock (an asyncio lock: this process is the only holder)."""
        async with self._process_locks.get(check_principal(principal)):
            yield


class FileTokenStore:
    """Token sets in files: one per principal (``layout="principal"``, the default) or one
    per application (``layout="application"``), in ``directory``.

    Files are named by :func:`application_digest` of ``application`` (the client id):
    ``tokens-<digest>.<principal>.json`` or ``tokens-<digest>.json``. Each is written whole
    to a temporary file (mode 0600), ``fsync``-ed and moved over the old one with
    ``os.replace``; the directory is created 0700. A principal's lock is an ``fcntl.flock``
    on ``tokens-<digest>.<principal>.lock``; saving into the application's file takes a
    short lock of its own (``tokens-<digest>.lock``) around its read, change and write.
    POSIX only (``fcntl``).
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        application: str,
        layout: Layout = "principal",
        lock_timeout: float = LOCK_TIMEOUT,
    ) -> None:
        if layout not in ("principal", "application"):
            raise ValueError("layout must be 'principal' or 'application'")
        self.directory = Path(directory)
        self.layout: Layout = layout
        self._prefix = f"tokens-{application_digest(application)}"
        self._lock_timeout = lock_timeout
        self._process_locks = _ProcessLocks()
        self._made = False

    def __repr__(self) -> str:
        return f"FileTokenStore({str(self.directory)!r}, layout={self.layout!r})"

    # -- paths

    def path(self, principal: str | None = None) -> Path:
        """The file holding ``principal``'s set (the application's file in that layout)."""
        if self.layout == "application":
            return self.directory / f"{self._prefix}.json"
        return self.directory / f"{self._prefix}.{check_principal(principal)}.json"

    def _lock_path(self, principal: str) -> Path:
        return self.directory / f"{self._prefix}.{check_principal(principal)}.lock"

    def _make_directory(self) -> None:
        if self._made:
            return
        try:
            self.directory.mkdir(mode=0o700, parents=True)
        except FileExistsError:
            mode = self.directory.stat().st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                log.warning(
                    "token store directory %s is open to other users (mode %o); its files "
                    "are 0600, but 0700 is safer",
                    self.directory,
                    stat.S_IMODE(mode),
                )
        self._made = True

    # -- the protocol

    async def load(self, principal: str) -> TokenSet | None:
        """The principal's set, or ``None``; :class:`TokenFormatError` for a damaged file."""
        check_principal(principal)
        return await asyncio.to_thread(self._load, principal)

    async def save(self, principal: str, tokens: TokenSet) -> None:
        """Write ``tokens`` atomically (see the class)."""
        _checked(principal, tokens)
        if self.layout == "principal":
            await asyncio.to_thread(self._write, self.path(principal), {"tokens": tokens.to_json()})
            return
        # "" is no principal: it names the application file's own lock in this process.
        async with (
            self._process_locks.get(""),
            self._flock(self.directory / f"{self._prefix}.lock"),
        ):
            await asyncio.to_thread(self._save_in_application_file, principal, tokens)

    async def principals(self) -> list[str]:
        """The principals with a stored set, sorted."""
        return await asyncio.to_thread(self._principals)

    @contextlib.asynccontextmanager
    async def lock(self, principal: str) -> AsyncIterator[None]:
        """Hold the principal's lock: an asyncio lock in this process, then ``flock``."""
        path = self._lock_path(principal)
        async with self._process_locks.get(principal), self._flock(path):
            yield

    # -- files

    @contextlib.asynccontextmanager
    async def _flock(self, path: Path) -> AsyncIterator[None]:
        self._make_directory()
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + self._lock_timeout
            while True:
                try:
                    # Non-blocking, polled: a blocking flock would stall the event loop,
                    # and one in a thread would go on to take the lock after a cancel.
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                if time.monotonic() > deadline:
                    raise TokenStoreLockTimeout(
                        f"the lock {path.name} was held for more than {self._lock_timeout:g} s"
                    )
                await asyncio.sleep(LOCK_POLL)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _read(self, path: Path) -> Any:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        with os.fdopen(fd, "rb") as fh:
            raw = fh.read(MAX_STORE_BYTES + 1)
        if len(raw) > MAX_STORE_BYTES:
            raise TokenFormatError(f"{path.name} is longer than {MAX_STORE_BYTES:,} bytes")
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise TokenFormatError(f"{path.name} is not JSON") from None

    def _load(self, principal: str) -> TokenSet | None:
        data = self._read(self.path(principal))
        if data is None:
            return None
        if not isinstance(data, dict):
            raise TokenFormatError("a token store file must hold a JSON object")
        if self.layout == "application":
            sets = data.get("principals")
            if not isinstance(sets, dict):
                raise TokenFormatError("a token store file must hold 'principals'")
            entry = sets.get(principal)
        else:
            entry = data.get("tokens")
        if entry is None:
            return None
        tokens = TokenSet.from_json(entry)
        if tokens.principal != principal:
            raise TokenFormatError("a stored token set is filed under another principal")
        return tokens

    def _save_in_application_file(self, principal: str, tokens: TokenSet) -> None:
        data = self._read(self.path())
        sets = data.get("principals") if isinstance(data, dict) else None
        if not isinstance(sets, dict):
            sets = {}
        sets[principal] = tokens.to_json()
        self._write(self.path(), {"principals": sets})

    def _write(self, path: Path, data: dict[str, Any]) -> None:
        self._make_directory()
        raw = orjson.dumps(data)
        temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            try:
                view = memoryview(raw)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        # The rename is durable only once the directory's entry is on disk too.
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _principals(self) -> list[str]:
        if self.layout == "application":
            data = self._read(self.path())
            sets = data.get("principals") if isinstance(data, dict) else None
            return sorted(p for p in sets if isinstance(p, str)) if isinstance(sets, dict) else []
        found: list[str] = []
        head, tail = f"{self._prefix}.", ".json"
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        for name in names:
            if name.startswith(head) and name.endswith(tail):
                principal = name[len(head) : -len(tail)]
                with contextlib.suppress(TokenFormatError):
                    found.append(check_principal(principal))
        return sorted(found)


#: Releases a Redis lock only if it still holds this holder's token.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""

#: The Redis key prefix of every token store.
KEY_PREFIX = "enlighten_async:oauth"


class RedisTokenStore:
    """Token sets in Redis, shared by every process (and host) of an application.

    ``redis`` is a URL or a ``redis.asyncio.Redis`` client. The sets live in the hash
    ``enlighten_async:oauth:<digest>:tokens`` (one field per principal), where ``<digest>``
    is :func:`application_digest` of ``application`` (the client id). A principal's lock is
    ``...:lock:<principal>``, taken with ``SET NX PX`` (it lives :data:`LOCK_TTL` seconds
    at most) and released by a script only while it still holds this holder's random
    token. Needs the ``redis`` extra.
    """

    def __init__(
        self,
        redis: str | redis.asyncio.Redis,
        *,
        application: str,
        lock_ttl: float = LOCK_TTL,
        lock_timeout: float = LOCK_TIMEOUT,
    ) -> None:
        try:
            import redis.asyncio as aioredis
        except ImportError:  # pragma: no cover - the extra is installed in tests
            raise ImportError(
                "RedisTokenStore needs the redis package: pip install 'enlighten-async[redis]'"
            ) from None
        if isinstance(redis, str):
            url = redis_url_arg(redis, "redis")
            self._redis: aioredis.Redis = aioredis.from_url(url)
            self._shown = url_shown(url)
        elif isinstance(redis, aioredis.Redis):
            self._redis = redis
            self._shown = "a redis client"
        else:
            raise TypeError("redis must be a URL or a redis.asyncio.Redis client")
        prefix = f"{KEY_PREFIX}:{application_digest(application)}"
        self.tokens_key = f"{prefix}:tokens"
        self._lock_prefix = f"{prefix}:lock:"
        self._lock_ttl_ms = max(1, round(lock_ttl * 1000))
        self._lock_timeout = lock_timeout
        self._release = self._redis.register_script(_RELEASE)
        self._process_locks = _ProcessLocks()

    def __repr__(self) -> str:
        return f"RedisTokenStore({self._shown!r})"

    async def close(self) -> None:
        """Close the Redis client's connections."""
        await self._redis.aclose()

    async def load(self, principal: str) -> TokenSet | None:
        """The principal's set, or ``None``; :class:`TokenFormatError` for a damaged value."""
        raw = await self._redis.hget(self.tokens_key, check_principal(principal))
        if raw is None:
            return None
        if len(raw) > MAX_STORE_BYTES:
            raise TokenFormatError(f"a stored token set is longer than {MAX_STORE_BYTES:,} bytes")
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise TokenFormatError("a stored token set is not JSON") from None
        tokens = TokenSet.from_json(data)
        if tokens.principal != principal:
            raise TokenFormatError("a stored token set is filed under another principal")
        return tokens

    async def save(self, principal: str, tokens: TokenSet) -> None:
        """Store ``tokens`` (one ``HSET``: atomic)."""
        _checked(principal, tokens)
        await self._redis.hset(self.tokens_key, principal, orjson.dumps(tokens.to_json()))

    async def principals(self) -> list[str]:
        """The principals with a stored set, sorted."""
        names = await self._redis.hkeys(self.tokens_key)
        found: list[str] = []
        for name in names:
            with contextlib.suppress(TokenFormatError, UnicodeDecodeError):
                text = name.decode() if isinstance(name, bytes) else name
                found.append(check_principal(text))
        return sorted(found)

    @contextlib.asynccontextmanager
    async def lock(self, principal: str) -> AsyncIterator[None]:
        """Hold the principal's lock: an asyncio lock in this process, then Redis's."""
        key = self._lock_prefix + check_principal(principal)
        token = secrets.token_hex(16)
        async with self._process_locks.get(principal):
            deadline = time.monotonic() + self._lock_timeout
            while not await self._redis.set(key, token, nx=True, px=self._lock_ttl_ms):
                if time.monotonic() > deadline:
                    raise TokenStoreLockTimeout(
                        f"the lock of principal {principal} was held for more than "
                        f"{self._lock_timeout:g} s"
                    )
                await asyncio.sleep(LOCK_POLL)
            try:
                yield
            finally:
                # Shielded: a cancelled holder still lets go at once, not after LOCK_TTL.
                await asyncio.shield(self._release(keys=[key], args=[token]))
