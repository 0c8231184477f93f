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
from urllib.parse import quote, quote_plus

import aiohttp

from enlighten_async._exceptions import TransportError
from enlighten_async._protocol import RawResponse, Request

__all__ = ["Credentials", "Transport", "redact"]

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

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or (self._owns_session and self._session.closed):
            connector = aiohttp.TCPConnector(limit=self._limit, limit_per_host=self._limit)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        """Close the session if this transport made it."""
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()

    async def send(self, request: Request) -> RawResponse:
        """Send ``request`` once; raise :class:`TransportError` if no full answer came."""
        creds = self._credentials
        params = [*request.params, ("key", creds.api_key), ("user_id", creds.user_id)]
        url = self.base_url + request.path
        try:
            async with self._get_session().get(
                url, params=params, timeout=self._timeout, allow_redirects=False
            ) as resp:
                body = await resp.read()
                return RawResponse(resp.status, resp.headers, body)
        except (asyncio.TimeoutError, TimeoutError):
            raise TransportError(
                f"{request.operation}: timed out", operation=request.operation, cause="TimeoutError"
            ) from None
        except aiohttp.ClientError as exc:
            text = creds.redact(f"{type(exc).__name__}: {exc}")
            raise TransportError(
                f"{request.operation}: {text}",
                operation=request.operation,
                cause=type(exc).__name__,
            ) from None
        except (OSError, ValueError) as exc:
            # Rare low-level failures aiohttp lets through (e.g. a bad base URL).
            text = creds.redact(f"{type(exc).__name__}: {exc}")
            raise TransportError(
                f"{request.operation}: {text}",
                operation=request.operation,
                cause=type(exc).__name__,
            ) from None
