"""A principal's access token, always valid: refreshed ahead of expiry, once, saved first.

:class:`TokenManager` is the :class:`TokenSource` the v4 client asks before each call.
Its rules:

- **Ahead of expiry.** An access token that expires within :data:`REFRESH_MARGIN` (five
  minutes of the manager's clock) is refreshed before it is handed out, so that a call
  queued behind the scheduler still carries a live token when it goes.
- **Single-flight in the process.** However many callers find the token due at once, one
  refresh runs (one asyncio task per manager); the others wait for its result. A caller
  cancelled while waiting does not cancel the refresh.
- **Single-flight across processes.** The refresh runs under the store's lock for the
  principal (``flock`` or a Redis lock), and the store is read again once the lock is
  held: if another process refreshed meanwhile, its set is used and no request is sent.
- **Saved before used.** The new set (with the rotated refresh token: the old one dies) is
  saved to the store before the new access token is handed to anyone. A crash after the
  refresh and before the save loses the new set, but no call ever used a token the store
  cannot renew.
- **A 401.** :meth:`TokenManager.after_unauthorized` refreshes once (single-flight)
  unless a newer token than the rejected one is already at hand.
- **Refused.** A refresh token the endpoint refuses raises
  :class:`~enlighten_async.core.exceptions.ReauthorizationRequired` with the authorize
  URL, unless the store by then holds a newer set (someone else rotated it), which is
  then used. A refresh token refused as ``invalid_grant`` (spent, expired or revoked) is
  never sent again by this manager, and its set is not used again: each later call reads
  the store (a new login's set is taken at once) and raises the same error without a
  request, so that a backfill's thousand spans of a revoked owner send neither a
  thousand refused refreshes nor a thousand calls that answer 401. Retryable failures (5xx,
  dropped connections) are tried :data:`REFRESH_ATTEMPTS` times.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import datetime, timedelta, timezone
from typing import Protocol, runtime_checkable

from enlighten_async.core.clock import Clock
from enlighten_async.core.exceptions import EnlightenError, ReauthorizationRequired
from enlighten_async.core.retry import is_retryable
from enlighten_async.v4.oauth.exchange import TokenEndpoint
from enlighten_async.v4.oauth.store import TokenStore
from enlighten_async.v4.oauth.tokens import TokenSet, check_principal

__all__ = [
    "REFRESH_ATTEMPTS",
    "REFRESH_BACKOFF",
    "REFRESH_MARGIN",
    "TokenManager",
    "TokenSource",
    "login",
]

log = logging.getLogger("enlighten_async.v4.oauth")

#: How long before its expiry an access token is refreshed: 5 minutes of the manager's
#: clock. Longer than a call waits in the scheduler's queue at a free plan's 10 a minute
#: with a few callers ahead, and long enough for a refresh to finish (with its retries)
#: before the old token dies; short beside a token's day of life (0.3 % of it).
REFRESH_MARGIN = timedelta(minutes=5)
#: How many times a refresh is tried when it fails in a retryable way (5xx, transport).
REFRESH_ATTEMPTS = 3
#: Seconds (of the manager's clock) before the first retry of a refresh; doubled after.
REFRESH_BACKOFF = 2.0


@runtime_checkable
class TokenSource(Protocol):
    """Where the v4 client gets the bearer token of each call."""

    async def access_token(self) -> str:
        """A valid access token: refreshed ahead of expiry, single-flight."""
        ...

    async def after_unauthorized(self, rejected: str) -> str:
        """The token to retry a call with after the server answered 401 to ``rejected``:
        refreshed once (single-flight), unless a newer token than ``rejected`` is at hand."""
        ...


class TokenManager:
    """A :class:`TokenSource` for one principal of one application.

    ``endpoint`` refreshes, ``store`` keeps the sets (and the lock shared with other
    processes), ``principal`` is the authorizing user's id (``enl_uid``). ``clock``
    (default: the endpoint's) decides when a token is due; give the simulator's
    ``ScaledClock`` to compress token lifetimes. ``margin`` is :data:`REFRESH_MARGIN`.

    ``refreshes`` counts the refresh requests this manager sent.
    """

    def __init__(
        self,
        endpoint: TokenEndpoint,
        store: TokenStore,
        principal: str,
        *,
        clock: Clock | None = None,
        margin: timedelta = REFRESH_MARGIN,
    ) -> None:
        self.endpoint = endpoint
        self.store = store
        self.principal = check_principal(principal)
        self.clock: Clock = clock if clock is not None else endpoint.clock
        if margin < timedelta(0):
            raise ValueError("margin must not be negative")
        self.margin = margin
        self.refreshes = 0
        self._tokens: TokenSet | None = None
        #: A refreshed set the store would not take (the old refresh token is spent): kept
        #: here, not handed out, and saved first by the next refresh of this manager.
        self._unsaved: TokenSet | None = None
        self._flight: asyncio.Task[TokenSet] | None = None
        #: The last refused refresh token (its digest, never the token) and the error.
        self._refused: tuple[str, ReauthorizationRequired] | None = None

    def __repr__(self) -> str:
        return f"TokenManager(principal={self.principal!r}, store={self.store!r})"

    __str__ = __repr__

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), timezone.utc)

    def _due(self, tokens: TokenSet) -> bool:
        margin = self.margin
        if tokens.issued_at is not None:
            # A token that lives less than twice the margin is refreshed at half its life,
            # not at once: else every call would refresh.
            margin = min(margin, (tokens.expires_at - tokens.issued_at) / 2)
        return tokens.expires_within(self._now(), margin)

    async def access_token(self) -> str:
        """A valid access token (see the module's rules)."""
        tokens = self._tokens
        if tokens is None or self._due(tokens):
            tokens = await self._join(None if tokens is None else tokens.access_token, False)
        return tokens.access_token

    async def after_unauthorized(self, rejected: str) -> str:
        """The token to retry with after a 401 to ``rejected`` (see the module's rules)."""
        tokens = self._tokens
        if tokens is not None and tokens.access_token != rejected and not self._due(tokens):
            return tokens.access_token
        # A flight already under way (for expiry) may hand back the rejected token: it
        # did not know of the 401. Then one forced refresh follows.
        tokens = await self._join(rejected, True)
        if tokens.access_token == rejected:
            tokens = await self._join(rejected, True)
        return tokens.access_token

    async def refresh_now(self) -> TokenSet:
        """Refresh now, whatever the expiry (``auth refresh``); single-flight as ever, and a
        set another process refreshed meanwhile counts as this refresh."""
        current = self._tokens or await self.store.load(self.principal)
        return await self._join(None if current is None else current.access_token, True)

    async def current(self) -> TokenSet | None:
        """The stored set, as it is (not refreshed): for showing expiry times."""
        return await self.store.load(self.principal)

    async def _join(self, stale: str | None, force: bool) -> TokenSet:
        flight = self._flight
        # A flight of a loop that ended (a second asyncio.run) will never land here.
        if flight is None or flight.get_loop() is not asyncio.get_running_loop():
            flight = self._flight = asyncio.ensure_future(self._renew(stale, force))
            flight.add_done_callback(self._landed)
        # Shielded: one caller's cancellation must not cancel the refresh of the others.
        return await asyncio.shield(flight)

    def _landed(self, flight: asyncio.Task[TokenSet]) -> None:
        if self._flight is flight:
            self._flight = None
        if not flight.cancelled():
            flight.exception()  # retrieved: no "never retrieved" warning if all left

    def _usable(self, tokens: TokenSet, stale: str | None, force: bool) -> bool:
        if self._due(tokens) or self._refused_set(tokens):
            return False
        return not force or tokens.access_token != stale

    def _refused_set(self, tokens: TokenSet) -> bool:
        """Whether ``tokens`` is the set whose refresh token the endpoint refused: dead as a
        whole (the owner revoked the application: its access token answers 401 too)."""
        refused = self._refused
        return refused is not None and refused[0] == _digest(tokens.refresh_token)

    async def _renew(self, stale: str | None, force: bool) -> TokenSet:
        principal = self.principal
        # A read without the lock first: a set another process refreshed is taken at the
        # cost of a read, without queueing for the lock.
        current = await self.store.load(principal)
        if self._unsaved is None and current is not None and self._usable(current, stale, force):
            self._tokens = current
            return current
        async with self.store.lock(principal):
            current = await self.store.load(principal)  # again, now that no one else writes
            unsaved, self._unsaved = self._unsaved, None
            if unsaved is not None and (
                current is None or current.refresh_token != unsaved.refresh_token
            ):
                await self._save(unsaved)  # the set the last refresh could not save
                current = unsaved
            if current is None:
                raise ReauthorizationRequired(
                    f"no token set is stored for principal {principal}: the system owner "
                    "must authorize this application (then log in with the code)",
                    operation="oauth_token",
                    authorize_url=self.endpoint.authorize_url(),
                    principal=principal,
                )
            if self._usable(current, stale, force):
                log.debug("principal %s: using the set another holder refreshed", principal)
                self._tokens = current
                return current
            if self._refused is not None and self._refused_set(current):
                raise _again(self._refused[1])  # refused before: not sent again
            new, sent = await self._refresh(current)
            if sent:
                # Saved before anyone gets it: the old refresh token is dead now, and the
                # store must hold the one that works before any call can succeed on it.
                await self._save(new)
                log.info(
                    "principal %s: tokens refreshed; the access token is valid until %s",
                    principal,
                    new.expires_at.isoformat(timespec="seconds"),
                )
            self._tokens = new
            return new

    async def _back_off(self, what: str, exc: BaseException, delay: float) -> float:
        """Say that ``what`` failed and wait ``delay`` clock seconds; the next delay."""
        log.warning(
            "principal %s: %s (%s), retrying in %g s",
            self.principal,
            what,
            type(exc).__name__,
            delay,
        )
        await self.clock.sleep(delay)
        return delay * 2

    async def _save(self, tokens: TokenSet) -> None:
        """Save ``tokens`` (tried :data:`REFRESH_ATTEMPTS` times); if the store will not take
        them, keep them for the next refresh to save, and raise."""
        delay = REFRESH_BACKOFF
        for attempt in range(1, REFRESH_ATTEMPTS + 1):
            try:
                await self.store.save(self.principal, tokens)
                return
            except asyncio.CancelledError:
                self._unsaved = tokens
                raise
            except Exception as exc:
                if attempt == REFRESH_ATTEMPTS:
                    self._unsaved = tokens
                    raise
                delay = await self._back_off("the token store did not take the set", exc, delay)

    async def _refresh(self, current: TokenSet) -> tuple[TokenSet, bool]:
        """The new set and whether it came from the endpoint (``False``: from the store)."""
        delay = REFRESH_BACKOFF
        for attempt in range(1, REFRESH_ATTEMPTS + 1):
            try:
                self.refreshes += 1
                new = await self.endpoint.refresh(current.refresh_token)
            except ReauthorizationRequired as exc:
                # Someone who did not wait for the lock (or whose lock expired under it) may
                # have rotated the refresh token: a newer stored set is not a refusal.
                again = await self.store.load(self.principal)
                if again is not None and again.refresh_token != current.refresh_token:
                    log.warning(
                        "principal %s: the refresh token was rotated by another holder; "
                        "using its set",
                        self.principal,
                    )
                    return again, False
                error = ReauthorizationRequired(
                    f"principal {self.principal}: {exc.message_text}",
                    operation=exc.operation,
                    status=exc.status,
                    authorize_url=exc.authorize_url,
                    principal=self.principal,
                )
                if exc.body.get("error") == "invalid_grant":
                    # The endpoint's word that the token is dead (RFC 6749, 5.2): remembered,
                    # and the set with it. A refusal without it (a proxy's 403 page) may
                    # be passing: the token is tried again next time.
                    self._refused = (_digest(current.refresh_token), error)
                    self._tokens = None
                raise _again(error) from None
            except EnlightenError as exc:
                if attempt == REFRESH_ATTEMPTS or not is_retryable(exc):
                    raise
                delay = await self._back_off("refresh failed", exc, delay)
                continue
            if new.principal != self.principal:
                raise ReauthorizationRequired(
                    f"principal {self.principal}: the token endpoint answered with another "
                    "user's tokens",
                    operation="oauth_token",
                    authorize_url=self.endpoint.authorize_url(),
                    principal=self.principal,
                )
            return new, True
        raise AssertionError("unreachable")  # pragma: no cover


def _digest(token: str) -> str:
    """What the manager keeps of a refused refresh token: enough to know it again."""
    return hashlib.sha256(token.encode()).hexdigest()


def _again(error: ReauthorizationRequired) -> ReauthorizationRequired:
    """A new exception like ``error`` (each raise gets its own traceback)."""
    return ReauthorizationRequired(
        error.message_text,
        operation=error.operation,
        status=error.status,
        authorize_url=error.authorize_url,
        principal=error.principal,
    )


async def login(
    endpoint: TokenEndpoint, store: TokenStore, code: str, *, redirect_uri: str | None = None
) -> TokenSet:
    """Exchange an authorization ``code`` for a principal's first set and save it; the
    principal is the set's ``principal`` (``enl_uid``). A refused code raises
    :class:`~enlighten_async.core.exceptions.ReauthorizationRequired`."""
    tokens = await endpoint.exchange_code(code, redirect_uri=redirect_uri)
    async with store.lock(tokens.principal):
        await store.save(tokens.principal, tokens)
    log.info("principal %s: logged in; tokens saved", tokens.principal)
    return tokens
