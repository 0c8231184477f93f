"""The OAuth 2.0 token endpoint: one POST, written here with aiohttp.

``POST {base}/oauth/token`` with ``Authorization: Basic base64(client_id:client_secret)``
and a form body: ``grant_type=authorization_code`` (+ ``code``, ``redirect_uri``) or
``grant_type=refresh_token`` (+ ``refresh_token``). The answer is read bounded
(:data:`~enlighten_async.v4.oauth.tokens.MAX_TOKEN_BODY_BYTES`) and checked field by
field (:func:`~enlighten_async.v4.oauth.tokens.parse_token_response`).

Why no OAuth library: the exchange is one POST, and what is hard here is not the POST but
what surrounds it: single-flight in a process and across processes, the rotated refresh
token saved before the access token is used, a refused refresh told apart from a failed
one, and no secret in any message. Those live in :mod:`.manager` and :mod:`.store`.
authlib (the best kept) has async clients for httpx, not for aiohttp, and its
auto-refresh hands the new token to the caller and calls ``update_token`` to save it per
session: neither single-flight across callers and processes nor ordered "save, then
use". aiohttp-oauthlib is a thin, little-kept wrapper of oauthlib. Either would add a
dependency for the part that is easy.

The errors, by what a caller can do about them:

- the endpoint refused the grant (400/401/403, ``invalid_grant`` or anything but a client
  error): :class:`~enlighten_async.core.exceptions.ReauthorizationRequired`, carrying the
  URL where the owner authorizes again;
- it refused the client id or secret (``invalid_client``, ``unauthorized_client``,
  ``unsupported_grant_type``): :class:`~enlighten_async.core.exceptions.AuthError`;
- 5xx: :class:`~enlighten_async.core.exceptions.ServerError`, a dropped connection or a
  timeout: :class:`~enlighten_async.core.exceptions.TransportError` (both retryable,
  :func:`enlighten_async.core.retry.is_retryable`); 429:
  :class:`~enlighten_async.core.exceptions.RateLimitError`; a 200 whose body is not a
  token set: :class:`~enlighten_async.core.exceptions.ResponseFormatError`.

No message, ``args`` or field of these errors holds the client secret, the code or a
token: the texts are built from fixed words and the server's ``error`` code (kept only if
it is a short word), and the server's ``error_description`` is redacted with every secret
of the exchange before it is cut short. aiohttp's exceptions, which carry the request, are
never chained.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import orjson

from enlighten_async.core.clock import Clock, SystemClock
from enlighten_async.core.exceptions import (
    APIError,
    AuthError,
    EnlightenError,
    RateLimitError,
    ReauthorizationRequired,
    ResponseFormatError,
    ServerError,
    TransportError,
)
from enlighten_async.core.transport import redact
from enlighten_async.core.wire import clip
from enlighten_async.v4.oauth.tokens import (
    MAX_TOKEN_BODY_BYTES,
    TokenFormatError,
    TokenSet,
    parse_token_response,
)

__all__ = [
    "CLIENT_ERRORS",
    "DEFAULT_REDIRECT_URI",
    "OAUTH_BASE_URL",
    "TOKEN_TIMEOUT",
    "TokenEndpoint",
    "authorize_url",
    "code_from_redirect",
]

log = logging.getLogger("enlighten_async.v4.oauth")

#: Where Enphase's OAuth endpoints live (``/oauth/authorize``, ``/oauth/token``); the API
#: itself is below ``/api/v4``.
OAUTH_BASE_URL = "https://api.enphaseenergy.com"
#: Enphase's own redirect page, which shows the code for the owner to copy.
DEFAULT_REDIRECT_URI = "https://api.enphaseenergy.com/oauth/redirect_uri"
#: Seconds one token request may take in all (connect, send, read), real time.
TOKEN_TIMEOUT = 30.0
#: OAuth ``error`` codes that say the client (id, secret, grant type) is wrong, not the
#: grant: authorizing again would not help.
CLIENT_ERRORS = frozenset({"invalid_client", "unauthorized_client", "unsupported_grant_type"})
#: An OAuth ``error`` code worth quoting: a short word (RFC 6749 5.2 uses these).
_ERROR_CODE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
#: How much of the server's ``error_description`` a message keeps.
MAX_DESCRIPTION = 200


def authorize_url(
    client_id: str,
    redirect_uri: str = DEFAULT_REDIRECT_URI,
    state: str | None = None,
    *,
    base_url: str = OAUTH_BASE_URL,
) -> str:
    """The page where a system owner grants this application access:
    ``{base_url}/oauth/authorize?response_type=code&client_id=...&redirect_uri=...``
    (and ``&state=...`` when given, which the redirect echoes back)."""
    if not isinstance(client_id, str) or not client_id:
        raise ValueError("client_id must be a non-empty string")
    if not isinstance(redirect_uri, str) or not redirect_uri:
        raise ValueError("redirect_uri must be a non-empty string")
    query = [("response_type", "code"), ("client_id", client_id), ("redirect_uri", redirect_uri)]
    if state is not None:
        query.append(("state", state))
    return f"{base_url.rstrip('/')}/oauth/authorize?{urlencode(query)}"


def code_from_redirect(pasted: str, *, state: str | None = None) -> str:
    """The authorization code in what the owner pasted: the code itself, or the whole
    redirect URL (``...?code=...&state=...``). With ``state``, a URL must carry the same
    ``state``. ``ValueError`` (naming no value) when there is no code, or an error came
    back instead (``?error=access_denied``)."""
    text = pasted.strip()
    if not text:
        raise ValueError("nothing was pasted")
    if "://" not in text and "?" not in text:
        return text
    query = parse_qs(urlsplit(text).query, max_num_fields=32)
    error = query.get("error", [None])[0]
    if error is not None:
        shown = error if _ERROR_CODE.fullmatch(error) else "an error"
        raise ValueError(f"the authorization was not granted ({shown})")
    if state is not None and query.get("state", [None])[0] != state:
        raise ValueError("the redirect's state is not the one sent: start again")
    codes = query.get("code", [])
    if len(codes) != 1 or not codes[0]:
        raise ValueError("the redirect URL holds no code")
    return codes[0]


class TokenEndpoint:
    """An application's token endpoint: its client id and secret, and the two grants.

    ``base_url`` is where ``/oauth/token`` lives (:data:`OAUTH_BASE_URL`, or a simulator's
    root); ``clock`` turns ``expires_in`` into ``expires_at`` (give the client's clock, so
    a compressed clock compresses token lifetimes too). ``session`` is used if given and
    left open; otherwise each request opens and closes its own (a token request comes
    once a day per principal, not worth a pooled connection).

    Its repr shows the client id only.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        redirect_uri: str = DEFAULT_REDIRECT_URI,
        base_url: str = OAUTH_BASE_URL,
        clock: Clock | None = None,
        session: aiohttp.ClientSession | None = None,
        timeout: float = TOKEN_TIMEOUT,
    ) -> None:
        for name, value in (("client_id", client_id), ("client_secret", client_secret)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty string")
        self.client_id = client_id
        self._client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.base_url = base_url.rstrip("/")
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        # Enphase: base64 of "client_id:client_secret" as they are (not form-encoded first).
        pair = f"{client_id}:{client_secret}".encode()
        self._basic = "Basic " + base64.b64encode(pair).decode("ascii")

    def __repr__(self) -> str:
        return f"TokenEndpoint(client_id={self.client_id!r}, base_url={self.base_url!r})"

    __str__ = __repr__

    @property
    def token_url(self) -> str:
        """``{base_url}/oauth/token``."""
        return f"{self.base_url}/oauth/token"

    def authorize_url(self, state: str | None = None) -> str:
        """This application's authorize page (:func:`authorize_url`)."""
        return authorize_url(self.client_id, self.redirect_uri, state, base_url=self.base_url)

    async def exchange_code(self, code: str, *, redirect_uri: str | None = None) -> TokenSet:
        """The first token set of a principal, for the ``code`` its owner's authorization
        gave (single-use). A refused code raises :class:`ReauthorizationRequired`."""
        if not isinstance(code, str) or not code:
            raise ValueError("code must be a non-empty string")
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri or self.redirect_uri,
        }
        return await self._post(form, secret=code)

    async def refresh(self, refresh_token: str) -> TokenSet:
        """A new token set for ``refresh_token`` (which then dies, if the server rotates).
        A refused refresh token raises :class:`ReauthorizationRequired`."""
        if not isinstance(refresh_token, str) or not refresh_token:
            raise ValueError("refresh_token must be a non-empty string")
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        return await self._post(form, secret=refresh_token)

    async def _post(self, form: Mapping[str, str], *, secret: str) -> TokenSet:
        grant = form["grant_type"]
        # The Basic value too: base64 of "client_id:secret" is the secret in another form.
        secrets = (self._client_secret, secret, self._basic.removeprefix("Basic "))
        started = time.monotonic()
        # Raised after the try block, so that no aiohttp exception (which holds the request,
        # its headers included) rides along as __context__.
        error: EnlightenError
        try:
            if self._session is not None:
                status, body = await self._send(self._session, form)
            else:
                async with aiohttp.ClientSession(timeout=self._timeout) as session:
                    status, body = await self._send(session, form)
        except _Refused as refused:
            error = ResponseFormatError(
                f"token endpoint ({grant}): the answer is {refused.why}",
                operation="oauth_token",
                status=refused.status,
            )
        except (asyncio.TimeoutError, TimeoutError) as exc:
            error = TransportError(
                f"token endpoint ({grant}): no answer within {self._timeout.total:g} s",
                operation="oauth_token",
                cause=type(exc).__name__,
            )
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            error = TransportError(
                f"token endpoint ({grant}): the request failed ({type(exc).__name__})",
                operation="oauth_token",
                cause=type(exc).__name__,
            )
        else:
            log.debug(
                "token endpoint: grant_type=%s -> %d (%d bytes) in %.3f s",
                grant,
                status,
                len(body),
                time.monotonic() - started,
            )
            if status == 200:
                try:
                    return parse_token_response(body, now=self.clock.now())
                except TokenFormatError as exc:
                    error = ResponseFormatError(
                        f"token endpoint ({grant}): the answer is not a token set: {exc}",
                        operation="oauth_token",
                        status=status,
                        details=(str(exc),),
                    )
            else:
                error = self._refusal(grant, status, body, secrets)
        log.debug("token endpoint: grant_type=%s failed: %s", grant, type(error).__name__)
        raise error

    async def _send(
        self, session: aiohttp.ClientSession, form: Mapping[str, str]
    ) -> tuple[int, bytes]:
        async with session.post(
            self.token_url,
            data=dict(form),
            headers={
                "Authorization": self._basic,
                "Accept": "application/json",
                # A token answer is small: ask for it plain, and refuse it compressed.
                "Accept-Encoding": "identity",
            },
            timeout=self._timeout,
            allow_redirects=False,
            auto_decompress=False,
        ) as resp:
            encoding = resp.headers.get("Content-Encoding", "identity").strip().lower()
            if encoding not in ("", "identity"):
                resp.close()
                raise _Refused(resp.status, f"compressed ({clip(encoding, limit=20)})")
            length = resp.content_length
            if length is not None and length > MAX_TOKEN_BODY_BYTES:
                resp.close()
                raise _Refused(resp.status, f"of {length:,} bytes (its Content-Length)")
            parts: list[bytes] = []
            size = 0
            while True:
                chunk = await resp.content.readany()
                if not chunk:
                    break
                size += len(chunk)
                if size > MAX_TOKEN_BODY_BYTES:
                    resp.close()
                    raise _Refused(resp.status, f"longer than {MAX_TOKEN_BODY_BYTES:,} bytes")
                parts.append(chunk)
            return resp.status, b"".join(parts)

    def _refusal(
        self, grant: str, status: int, body: bytes, secrets: tuple[str, ...]
    ) -> EnlightenError:
        code, description = _oauth_error(body, secrets)
        said = f" ({code}{': ' + description if description else ''})" if code else ""
        where = f"token endpoint ({grant}): HTTP {status}{said}"
        kept: dict[str, Any] = {"error": code} if code else {}
        if status == 429:
            return RateLimitError(
                f"{where}: too many token requests",
                operation="oauth_token",
                status=status,
                body=kept,
            )
        if status >= 500:
            return ServerError(where, operation="oauth_token", status=status, body=kept)
        if status in (400, 401, 403):
            if code in CLIENT_ERRORS:
                return AuthError(
                    f"{where}: the token endpoint refused the client id or secret; check "
                    "the application's credentials",
                    operation="oauth_token",
                    status=status,
                    body=kept,
                )
            what = "authorization code" if grant == "authorization_code" else "refresh token"
            return ReauthorizationRequired(
                f"{where}: the {what} was refused; the system owner must authorize this "
                "application again",
                operation="oauth_token",
                status=status,
                body=kept,
                authorize_url=self.authorize_url(),
            )
        return APIError(where, operation="oauth_token", status=status, body=kept)


class _Refused(Exception):
    """A body refused before it was read whole."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status
        self.why = why


def _oauth_error(body: bytes, secrets: tuple[str, ...]) -> tuple[str | None, str | None]:
    """The ``error`` code (when it is a short word) and the ``error_description``
    (redacted with ``secrets``, then cut short) of an OAuth error body, if it is one."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    code = data.get("error")
    if not isinstance(code, str) or _ERROR_CODE.fullmatch(code) is None:
        code = None
    description = data.get("error_description")
    if not isinstance(description, str) or not description:
        return code, None
    red = lambda text: redact(text, secrets)  # noqa: E731
    return code, clip(description, red, limit=MAX_DESCRIPTION)
