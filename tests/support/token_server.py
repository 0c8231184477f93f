"""A small OAuth 2.0 token server on loopback, for the v4 OAuth tests, and clocks for them.

:class:`TokenServer` answers ``POST /oauth/token`` as NOTES describes Enphase's: Basic
auth with the client id and secret, single-use authorization codes, refresh with rotation
(the old refresh token dies, unless told otherwise), and a switch to refuse refreshes. It
also answers ``GET /api/v4/use``: a stand-in for an API call, which checks the bearer
token, and on each access token's first use asks ``persisted`` whether the store already
holds the refresh token issued with it (the "saved before used" rule).

It counts what the tests assert: refreshes, refused refreshes, uses, 401s, uses before
the store held the new refresh token, and the clock time of each refresh.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from enlighten_async.core.clock import Clock
from enlighten_async.v4.oauth import DEFAULT_REDIRECT_URI

CLIENT_ID = "client-4d1c9e"
CLIENT_SECRET = "cl1ent-SECRET-9d8e7f6a"
PRINCIPAL = "4242"

#: Asked on an access token's first use: does the store hold this principal's refresh
#: token (the one issued with the access token)?
Persisted = Callable[[str, str], Awaitable[bool]]


class ManualClock:
    """A clock that moves only when told (``advance``); ``sleep`` advances it at once."""

    scale = 1.0

    def __init__(self, now: float = 1_780_000_000.0) -> None:
        self.t = now

    def now(self) -> float:
        """The time set."""
        return self.t

    def advance(self, seconds: float) -> None:
        """Move the clock on."""
        self.t += seconds

    async def sleep(self, seconds: float) -> None:
        """Advance, without waiting."""
        self.t += max(0.0, seconds)


class WallScaledClock:
    """A compressed clock that processes agree on: ``start + (time.time() - start) *
    scale``, read from the wall (a ``ScaledClock`` starts from each process's own loop)."""

    def __init__(self, start: float, scale: float) -> None:
        self.start = start
        self.scale = scale

    def now(self) -> float:
        """Compressed epoch seconds."""
        return self.start + (time.time() - self.start) * self.scale

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds / scale`` of real time."""
        await asyncio.sleep(max(0.0, seconds) / self.scale)


class TokenServer:
    """The token endpoint and a bearer-checked API call; see the module."""

    def __init__(
        self,
        clock: Clock | ManualClock | WallScaledClock,
        *,
        access_lifetime: float = 86_393.0,
        rotate_kills_old: bool = True,
        persisted: Persisted | None = None,
    ) -> None:
        self.clock = clock
        self.access_lifetime = access_lifetime
        self.rotate_kills_old = rotate_kills_old
        self.persisted = persisted
        self.refuse = False
        #: Status to answer the next N token requests with (5xx tests), then normal.
        self.fail_with: list[int] = []
        #: A body to answer a refresh with instead of tokens (hostile-body tests).
        self.refresh_body: tuple[int, bytes] | None = None
        #: Real seconds a refresh takes (to catch callers while one is in flight).
        self.delay = 0.0
        self.refreshes = 0
        self.refused = 0
        self.exchanges = 0
        self.uses = 0
        self.unauthorized = 0
        self.unpersisted_uses = 0
        self.persist_checks = 0
        self.refresh_times: list[float] = []
        self.codes: dict[str, tuple[str, str]] = {}
        self.refresh_tokens: dict[str, str] = {}
        self.access: dict[str, tuple[str, float, str]] = {}
        self._used: set[str] = set()
        #: Every secret this server issued or knows: the tests grep for them.
        self.secrets: list[str] = [CLIENT_SECRET]

    # -- set-up

    def issue_code(
        self, principal: str = PRINCIPAL, redirect_uri: str = DEFAULT_REDIRECT_URI
    ) -> str:
        """A single-use authorization code for ``principal``."""
        code = "code-" + secrets.token_urlsafe(12)
        self.codes[code] = (principal, redirect_uri)
        self.secrets.append(code)
        return code

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application()
        app.router.add_post("/oauth/token", self._token)
        app.router.add_get("/api/v4/use", self._use)
        return app

    def live_refresh_token(self, token: str) -> bool:
        """Whether ``token`` would be accepted for a refresh now."""
        return token in self.refresh_tokens

    # -- handlers

    def _issue(self, principal: str) -> dict[str, Any]:
        access = "at-" + secrets.token_urlsafe(24)
        refresh = "rt-" + secrets.token_urlsafe(24)
        self.secrets += [access, refresh]
        self.refresh_tokens[refresh] = principal
        self.access[access] = (principal, self.clock.now() + self.access_lifetime, refresh)
        return {
            "access_token": access,
            "token_type": "bearer",
            "refresh_token": refresh,
            "expires_in": self.access_lifetime,
            "scope": "read write",
            "enl_uid": principal,
            "enl_cid": "5",
            "enl_password_last_changed": "1639429277",
            "is_internal_app": False,
            "app_type": "partner",
            "jti": secrets.token_hex(8),
        }

    async def _token(self, request: web.Request) -> web.Response:
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return web.json_response({"error": "invalid_client"}, status=401)
        if self.fail_with:
            return web.Response(status=self.fail_with.pop(0), text="<html>busy</html>")
        form = await request.post()
        grant = form.get("grant_type")
        if grant == "authorization_code":
            code = str(form.get("code", ""))
            found = self.codes.pop(code, None)  # single use
            if found is None or found[1] != form.get("redirect_uri"):
                return web.json_response(
                    {"error": "invalid_grant", "error_description": f"Invalid code {code}"},
                    status=400,
                )
            self.exchanges += 1
            return web.json_response(self._issue(found[0]))
        if grant == "refresh_token":
            token = str(form.get("refresh_token", ""))
            principal = self.refresh_tokens.get(token)
            if self.refuse or principal is None:
                self.refused += 1
                return web.json_response(
                    {
                        "error": "invalid_grant",
                        "error_description": f"Invalid refresh token: {token}",
                    },
                    status=400,
                )
            if self.refresh_body is not None:
                status, body = self.refresh_body
                return web.Response(status=status, body=body, content_type="application/json")
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.rotate_kills_old:
                self.refresh_tokens.pop(token, None)
            self.refreshes += 1
            self.refresh_times.append(self.clock.now())
            return web.json_response(self._issue(principal))
        return web.json_response({"error": "unsupported_grant_type"}, status=400)

    async def _use(self, request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ")
        found = self.access.get(token)
        if found is None or found[1] <= self.clock.now():
            self.unauthorized += 1
            return web.json_response(
                {"message": "Not Authorized", "details": "User is not authorized", "code": 401},
                status=401,
            )
        principal, _, refresh = found
        if token not in self._used:
            self._used.add(token)
            if self.persisted is not None:
                self.persist_checks += 1
                if not await self.persisted(principal, refresh):
                    self.unpersisted_uses += 1
        self.uses += 1
        return web.json_response({"ok": True})


def basic_for(client_id: str, client_secret: str) -> str:
    """The ``Authorization`` header of a token request."""
    return "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()


def fragments(secret: str, size: int = 6) -> list[str]:
    """Every ``size``-character run of ``secret``."""
    return [secret[i : i + size] for i in range(len(secret) - size + 1)]


def leaked(text: str, known: list[str]) -> list[str]:
    """The 6-character fragments of ``known`` secrets found in ``text``."""
    return [f for s in known for f in fragments(s) if f in text]
