"""The v4 simulator's OAuth 2.0 server: applications, principals, codes and tokens.

What it models (NOTES.md "Base URL and credentials"):

- ``GET /oauth/authorize?response_type=code&client_id=...&redirect_uri=...&state=...``
  approves at once (no login page: the simulator's owners always agree) and redirects
  (302) to ``redirect_uri`` with ``code`` and ``state``. Without a ``redirect_uri`` it
  redirects to the default one, ``/oauth/redirect_uri``, a page that shows the code. A
  simulator-only ``enl_uid`` parameter picks which principal authorizes (default: the
  first).
- ``POST /oauth/token`` with ``Authorization: Basic base64(client_id:client_secret)`` and
  ``grant_type=authorization_code`` (``code``, ``redirect_uri``) or ``refresh_token``
  (``refresh_token``), as query parameters or a form body. Codes are single-use; a
  refresh returns a new refresh token and, when ``old_refresh_dies``, kills the old one.
  Lives are simulated seconds on the simulator's clock (``expires_in`` says them).
- Refusals follow RFC 6749 section 5.2 (what the service sends is not documented): 401
  ``invalid_client``; 400 ``invalid_grant``, ``invalid_request``,
  ``unsupported_grant_type``. The ``password`` grant (partner installers) is not served.

Tokens are random (``secrets``), never logged, and never in a repr.
"""

from __future__ import annotations

import base64
import binascii
import html
import logging
import secrets
import uuid
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aiohttp import web

from ...core.clock import Clock
from .. import solar
from ..routing import json_response
from .options import V4Options

__all__ = [
    "AUTHORIZE_PATH",
    "REDIRECT_PATH",
    "TOKEN_PATH",
    "AccessGrant",
    "Application",
    "OAuthServer",
]

log = logging.getLogger("enlighten_async.simulator")

AUTHORIZE_PATH = "/oauth/authorize"
TOKEN_PATH = "/oauth/token"
#: The default redirect URI's path: a page that shows the code (the service's
#: ``https://api.enphaseenergy.com/oauth/redirect_uri``).
REDIRECT_PATH = "/oauth/redirect_uri"
#: The service's own default redirect URI, taken as this simulator's.
SERVICE_REDIRECT_URI = "https://api.enphaseenergy.com/oauth/redirect_uri"


@dataclass(frozen=True)
class Application:
    """A registered application: its API key, client id and secret (all secrets but the
    name; ``repr`` shows the name only)."""

    name: str
    api_key: str = field(repr=False)
    client_id: str = field(repr=False)
    client_secret: str = field(repr=False)


@dataclass(frozen=True)
class AccessGrant:
    """What an access token stands for: an application's client, a principal, an expiry."""

    client_id: str = field(repr=False)
    enl_uid: str
    expires_at: float


@dataclass
class _Refresh:
    client_id: str
    enl_uid: str
    expires_at: float
    alive: bool = True


@dataclass
class _Code:
    client_id: str
    enl_uid: str
    redirect_uri: str | None
    expires_at: float
    used: bool = False


def _error(status: int, error: str, description: str) -> web.Response:
    return json_response({"error": error, "error_description": description}, status)


class OAuthServer:
    """The token endpoint, the authorize page and the token tables of one simulator.

    ``applications[0]`` is the simulator's own (its API key is the simulator's);
    :meth:`add_application` registers another (for a key-client mismatch).
    """

    def __init__(self, clock: Clock, options: V4Options, api_key: str, seed: int) -> None:
        self.clock = clock
        self.options = options
        self._seed = seed
        self.applications: list[Application] = []
        self.add_application("default", api_key=api_key)
        #: The owners who authorize the applications (``enl_uid``), fixed by the seed.
        self.principals: tuple[str, ...] = tuple(
            str(1_000_000 + solar.stable_int("enl_uid", seed, i) % 9_000_000)
            for i in range(options.principals)
        )
        self._access: dict[str, AccessGrant] = {}
        self._refresh: dict[str, _Refresh] = {}
        self._codes: dict[str, _Code] = {}
        #: Refreshes served per principal (``enl_uid``).
        self.refreshes: Counter[str] = Counter()
        #: Token requests by outcome: ``authorization_code``, ``refresh_token``, ``refused``.
        self.token_requests: Counter[str] = Counter()

    def __repr__(self) -> str:
        return (
            f"OAuthServer(applications={len(self.applications)}, principals={len(self.principals)})"
        )

    # -- registry -------------------------------------------------------------------------

    def add_application(self, name: str, api_key: str | None = None) -> Application:
        """Register an application (its key, client id and secret derived from the seed and
        ``name`` unless ``api_key`` is given) and return it."""
        n = len(self.applications)
        app = Application(
            name=name,
            api_key=api_key or f"sim4{solar.stable_int('v4key', self._seed, n):016x}",
            client_id=f"{solar.stable_int('client', self._seed, n):016x}"
            f"{solar.stable_int('client2', self._seed, n):016x}",
            client_secret=f"{solar.stable_int('secret', self._seed, n):016x}"
            f"{solar.stable_int('secret2', self._seed, n):016x}",
        )
        self.applications.append(app)
        return app

    @property
    def application(self) -> Application:
        """The simulator's own application."""
        return self.applications[0]

    def application_for_key(self, api_key: str | None) -> Application | None:
        """The application whose API key is ``api_key``."""
        return next((a for a in self.applications if a.api_key == api_key), None)

    def _client(self, client_id: str) -> Application | None:
        return next((a for a in self.applications if a.client_id == client_id), None)

    # -- codes and tokens -----------------------------------------------------------------

    def issue_code(
        self,
        client_id: str | None = None,
        enl_uid: str | None = None,
        redirect_uri: str | None = None,
    ) -> str:
        """A fresh single-use authorization code: ``enl_uid`` (default the first principal)
        authorizes ``client_id`` (default the simulator's application)."""
        client = client_id or self.application.client_id
        if self._client(client) is None:
            raise ValueError("unknown client id")
        uid = enl_uid or self.principals[0]
        if uid not in self.principals:
            raise ValueError(f"unknown principal {uid!r}; known: {', '.join(self.principals)}")
        code = secrets.token_urlsafe(12)
        self._codes[code] = _Code(
            client, uid, redirect_uri, self.clock.now() + self.options.code_seconds
        )
        return code

    def revoke(self, enl_uid: str) -> int:
        """The owner ``enl_uid`` revokes every application's access: each of its access
        and refresh tokens dies at once (a call answers 401, a refresh is refused) until
        it authorizes again. How many tokens died."""
        if enl_uid not in self.principals:
            raise ValueError(f"unknown principal {enl_uid!r}; known: {', '.join(self.principals)}")
        access = [t for t, g in self._access.items() if g.enl_uid == enl_uid]
        for token in access:
            del self._access[token]
        refresh = [r for r in self._refresh.values() if r.enl_uid == enl_uid and r.alive]
        for entry in refresh:
            entry.alive = False
        return len(access) + len(refresh)

    def access(self, token: str, now: float) -> AccessGrant | None:
        """The grant of a live access token, or ``None`` (unknown or expired)."""
        grant = self._access.get(token)
        if grant is None or grant.expires_at <= now:
            return None
        return grant

    def _issue(self, app: Application, enl_uid: str, now: float) -> dict[str, object]:
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        opts = self.options
        self._access[access] = AccessGrant(app.client_id, enl_uid, now + opts.access_seconds)
        self._refresh[refresh] = _Refresh(app.client_id, enl_uid, now + opts.refresh_seconds)
        self._prune(now)
        return {
            "access_token": access,
            "token_type": "bearer",
            "refresh_token": refresh,
            "expires_in": int(opts.access_seconds),
            "scope": "read write",
            "enl_uid": enl_uid,
            "enl_cid": str(solar.stable_int("enl_cid", self._seed, enl_uid) % 10_000_000),
            "enl_password_last_changed": "1700000000",
            "is_internal_app": False,
            "app_type": "partner" if app.name == "partner" else "system",
            "jti": str(uuid.uuid4()),
        }

    def _prune(self, now: float) -> None:
        # Expired entries can never be used again; drop them now and then so that a long
        # run does not grow the tables.
        if len(self._access) + len(self._refresh) + len(self._codes) < 4096:
            return
        self._access = {k: g for k, g in self._access.items() if g.expires_at > now}
        self._refresh = {k: r for k, r in self._refresh.items() if r.alive and r.expires_at > now}
        self._codes = {k: c for k, c in self._codes.items() if not c.used and c.expires_at > now}

    def grant(self, code: str) -> dict[str, object]:
        """Exchange ``code`` for tokens without HTTP (for tests); raises ``ValueError`` for
        a code that is unknown, used or expired."""
        entry = self._codes.get(code)
        now = self.clock.now()
        if entry is None or entry.used or entry.expires_at <= now:
            raise ValueError("invalid authorization code")
        app = self._client(entry.client_id)
        assert app is not None
        entry.used = True
        self.token_requests["authorization_code"] += 1
        return self._issue(app, entry.enl_uid, now)

    # -- the endpoints --------------------------------------------------------------------

    async def token(self, request: web.Request) -> web.Response:
        """``POST /oauth/token``."""
        form = dict(request.query)
        if request.can_read_body:
            # A form body may carry the parameters instead (the docs show query ones).
            form.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        app = self._basic(request.headers.get("Authorization", ""))
        if app is None:
            self.token_requests["refused"] += 1
            return _error(401, "invalid_client", "Bad client credentials")
        now = self.clock.now()
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            answer = self._exchange(app, form, now)
        elif grant_type == "refresh_token":
            answer = self._rotate(app, form, now)
        else:
            answer = _error(400, "unsupported_grant_type", "Unsupported grant type")
        if answer.status != 200:
            self.token_requests["refused"] += 1
        return answer

    def _basic(self, header: str) -> Application | None:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        client_id, _, secret = decoded.partition(":")
        app = self._client(client_id)
        if app is None or not secrets.compare_digest(app.client_secret, secret):
            return None
        return app

    def _exchange(self, app: Application, form: dict[str, str], now: float) -> web.Response:
        code = form.get("code")
        if not code:
            return _error(400, "invalid_request", "Missing code")
        entry = self._codes.get(code)
        if (
            entry is None
            or entry.used
            or entry.expires_at <= now
            or entry.client_id != app.client_id
        ):
            return _error(400, "invalid_grant", "Invalid authorization code")
        # A code given for an explicit redirect URI is redeemed with the same one.
        if entry.redirect_uri is not None and form.get("redirect_uri") != entry.redirect_uri:
            return _error(400, "invalid_grant", "Redirect URI mismatch")
        entry.used = True
        self.token_requests["authorization_code"] += 1
        return json_response(self._issue(app, entry.enl_uid, now))

    def _rotate(self, app: Application, form: dict[str, str], now: float) -> web.Response:
        token = form.get("refresh_token")
        if not token:
            return _error(400, "invalid_request", "Missing refresh_token")
        entry = self._refresh.get(token)
        if entry is None or not entry.alive or entry.client_id != app.client_id:
            return _error(400, "invalid_grant", "Invalid refresh token")
        if entry.expires_at <= now:
            return _error(400, "invalid_grant", "Invalid refresh token (expired)")
        if self.options.old_refresh_dies:
            entry.alive = False
        self.refreshes[entry.enl_uid] += 1
        self.token_requests["refresh_token"] += 1
        log.debug("refresh for principal %s", entry.enl_uid)
        return json_response(self._issue(app, entry.enl_uid, now))

    async def authorize(self, request: web.Request) -> web.StreamResponse:
        """``GET /oauth/authorize``: approve and redirect with a code."""
        q = request.query
        if q.get("response_type") != "code":
            return _error(400, "unsupported_response_type", "response_type must be code")
        client_id = q.get("client_id", "")
        if self._client(client_id) is None:
            return _error(400, "invalid_client", "Unknown client id")
        uid = q.get("enl_uid") or self.principals[0]
        if uid not in self.principals:
            return _error(400, "invalid_request", "Unknown user")
        redirect = q.get("redirect_uri")
        default = redirect in (None, "", SERVICE_REDIRECT_URI) or (
            urlsplit(redirect or "").path == REDIRECT_PATH
            and urlsplit(redirect or "").netloc == request.host
        )
        code = self.issue_code(client_id, uid, None if default else redirect)
        params = {"code": code, **({"state": q["state"]} if "state" in q else {})}
        if default:
            target = f"{REDIRECT_PATH}?{urlencode(params)}"
        else:
            assert redirect is not None
            parts = urlsplit(redirect)
            query = urlencode([*parse_qsl(parts.query), *params.items()])
            target = urlunsplit(parts._replace(query=query))
        raise web.HTTPFound(target)

    async def redirect_page(self, request: web.Request) -> web.Response:
        """``GET /oauth/redirect_uri``: the default redirect's page, showing the code."""
        code = html.escape(request.query.get("code", ""))
        text = (
            "<!DOCTYPE html><html><head><title>Authorization code</title></head><body>"
            "<h1>Authorization code</h1><p>Copy this code into your application:</p>"
            f'<pre id="code">{code}</pre></body></html>'
        )
        return web.Response(text=text, content_type="text/html")
