"""The only module that calls aiohttp's client.

It adds the credentials to the query, sends, reads the whole body, and turns every
aiohttp failure into a :class:`TransportError` whose text has the key and user id
redacted. aiohttp's exceptions carry the full URL (and so the key): they are never
chained, logged or re-raised as they are.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any
from urllib.parse import quote, quote_plus

import aiohttp

from enlighten_async._exceptions import (
    APIError,
    EnlightenError,
    ResponseFormatError,
    TransportError,
)
from enlighten_async._protocol import RawResponse, Request

__all__ = ["Credentials", "Transport", "redact", "scrub"]

log = logging.getLogger("enlighten_async")

_QUERY_SECRET = re.compile(r"((?:^|[?&;\s])(?:key|user_id)=)[^&;\s'\")]*", re.IGNORECASE)


class Credentials:
    """The API key and user id. Its repr and str never show them."""

    __slots__ = ("api_key", "user_id")

    def __init__(self, api_key: str, user_id: str) -> None:
        if not isinstance(api_key, str) or not api_key:
            raise ValueError("api_key must be a non-empty string")
        if not isinstance(user_id, str) or not user_id:
            raise ValueError("user_id must be a non-empty string")
        self.api_key = api_key
        self.user_id = user_id

    def __repr__(self) -> str:
        return "Credentials(api_key='***', user_id='***')"

    __str__ = __repr__

    def redact(self, text: str) -> str:
        """``text`` with both secrets (plain or URL-encoded) and any ``key=`` value masked."""
        return redact(text, (self.api_key, self.user_id))


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Mask ``key=...`` and ``user_id=...`` query values and every given secret in ``text``."""
    text = _QUERY_SECRET.sub(r"\1***", text)
    for secret in secrets:
        if secret:
            for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
                text = text.replace(form, "***")
    return text


def _scrub_value(value: Any, creds: Credentials) -> Any:
    if isinstance(value, str):
        return creds.redact(value)
    if isinstance(value, dict):
        return {k: _scrub_value(v, creds) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_scrub_value(v, creds) for v in value)
    return value


def scrub(exc: EnlightenError, creds: Credentials) -> EnlightenError:
    """Redact ``creds`` from ``exc``'s message, args and response fields, in place."""
    exc.args = tuple(_scrub_value(a, creds) for a in exc.args)
    exc.message_text = creds.redact(exc.message_text)
    if isinstance(exc, APIError):
        exc.body = _scrub_value(dict(exc.body), creds)
        exc.reason = None if exc.reason is None else creds.redact(exc.reason)
        exc.messages = tuple(creds.redact(m) for m in exc.messages)
    if isinstance(exc, ResponseFormatError) and exc.body_prefix:
        text = exc.body_prefix.decode("latin-1")
        exc.body_prefix = creds.redact(text).encode("latin-1")
    return exc


class Transport:
    """Sends a :class:`Request` and returns a :class:`RawResponse`.

    Owns its ``aiohttp.ClientSession`` unless one is passed in; a session passed in is
    used and left open. ``limit`` caps connections (the scheduler's in-flight cap agrees).
    """

    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: aiohttp.ClientTimeout,
        limit: int = 10,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._credentials = credentials
        self._session = session
        self._owns_session = session is None
        self._timeout = timeout
        self._limit = limit
        self._session_loop: asyncio.AbstractEventLoop | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._owns_session and (
            self._session is None or self._session.closed or self._session_loop is not loop
        ):
            # A session belongs to the loop it was made in: a client used again from a new
            # loop (a second asyncio.run) gets a new one rather than a closed-loop error.
            # The old one's loop is gone; detach() marks it closed without needing it.
            if self._session is not None and not self._session.closed:
                self._session.detach()
            connector = aiohttp.TCPConnector(limit=self._limit, limit_per_host=self._limit)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
            self._session_loop = loop
        assert self._session is not None
        return self._session

    async def close(self) -> None:
        """Close the session if this transport made it."""
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()

    def scrub(self, exc: EnlightenError) -> EnlightenError:
        """Mask the credentials in everything ``exc`` carries from a response.

        The service has no reason to echo the key, but a proxy's error page may echo the
        URL; the error's message, args, body and body prefix are redacted in place.
        """
        return scrub(exc, self._credentials)

    async def send(self, request: Request) -> RawResponse:
        """Send ``request`` once; raise :class:`TransportError` if no full answer came."""
        creds = self._credentials
        params = [*request.params, ("key", creds.api_key), ("user_id", creds.user_id)]
        url = self.base_url + request.path
        op = request.operation
        # The error is raised after the try block, not in an except clause: there it would
        # keep the aiohttp exception (whose text holds the URL, so the key) as __context__.
        error: TransportError
        try:
            async with self._get_session().get(
                url, params=params, timeout=self._timeout, allow_redirects=False
            ) as resp:
                body = await resp.read()
                return RawResponse(resp.status, resp.headers, body)
        except (asyncio.TimeoutError, TimeoutError):
            error = TransportError(f"{op}: timed out", operation=op, cause="TimeoutError")
        except (aiohttp.ClientError, OSError, ValueError, RuntimeError) as exc:
            # ClientError covers the usual failures; OSError/ValueError are rare low-level
            # ones aiohttp lets through (a bad base URL), RuntimeError a closed session.
            text = creds.redact(f"{type(exc).__name__}: {exc}")
            error = TransportError(f"{op}: {text}", operation=op, cause=type(exc).__name__)
        raise error
