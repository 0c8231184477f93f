"""The only module that calls aiohttp's client.

It adds the credentials to the query, sends, reads the whole body, and turns every
aiohttp failure into a :class:`TransportError` whose text has the key and user id
redacted. aiohttp's exceptions carry the full URL (and so the key): they are never
chained, logged or re-raised as they are.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from collections.abc import AsyncGenerator, Mapping
from datetime import date, datetime
from enum import Enum
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit

import aiohttp
from aiohttp import http_exceptions
from aiohttp.http_exceptions import ContentEncodingError, HttpProcessingError
from yarl import URL

from enlighten_async._exceptions import (
    ClientClosedError,
    EnlightenError,
    EventLoopError,
    RateLimitError,
    ResponseFormatError,
    TransportError,
)
from enlighten_async._protocol import (
    MASK,
    MAX_ERROR_DEPTH,
    MAX_ERROR_ITEMS,
    RawResponse,
    Request,
    clip,
    is_secret_field,
    prune,
    server_time,
)

__all__ = ["Credentials", "Transport", "log_exchange", "redact", "scrub"]

#: One DEBUG line per request (see :func:`log_exchange`); nothing else logs here.
log = logging.getLogger("enlighten_async.transport")

# Where a secret stands, it is masked whatever its length: these three patterns find
# those places. Each keeps the name (and any quote) and masks the value only, so the rest
# of the message reads as it did.
#: A ``key``/``api_key``/``user_id`` query value, also inside a percent-encoded URL (a
#: proxy's ``?next=%2Fx%3Fkey%3D...``); the value ends where the parameter does.
_QUERY_SECRET = re.compile(
    r"((?:^|[?&;\s]|%26|%3F)(?:api_key|key|user_id)(?:=|%3D))((?:(?!%26)[^&;\s'\"<>)#])*)",
    re.IGNORECASE,
)
#: A field or header named for a credential: ``"key": "..."`` (JSON), ``'user_id': 1``
#: (a repr), ``X-Api-Key: ...``, ``Authorization: Bearer ...``. The name must start a
#: word, so ``monkey=`` or ``passkey:`` are not taken for it.
_FIELD_SECRET = re.compile(
    r"""((?<![\w-])(["']?)(?:x-api-key|api[_-]?key|key|user[_-]?id|authorization)\2"""
    r"""[ \t]*[:=][ \t]*(?:(?:bearer|basic|token)[ \t]+)?)"""
    r"""("(?:[^"\\\n]|\\.)*"|'[^'\n]*'|[^\s,;&)}\]<>'"]+)""",
    re.IGNORECASE,
)
#: A URL's userinfo (``http://user:password@host``): always a credential. The scheme's
#: length is capped so that a long run of ``a.a.a...`` costs linear time, not quadratic.
_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]{0,31}://)[^\s/?#@\[\]'\"<>]*@", re.IGNORECASE)

#: The shortest secret that is masked in free text too (not only where it stands), and
#: the shortest run of its characters masked there: a page that echoes the key cut short
#: (at byte 40 of a message, byte 200 of a prefix) keeps a run of its first characters,
#: and any run this long is masked, not only the whole secret. A shorter secret ("1",
#: "abc") cannot be told from ordinary text (the 1 in "HTTP 401" or in 127.0.0.1): masking
#: it everywhere would mangle every message, so it is masked only where it stands.
MIN_FRAGMENT = 6
#: Decoding failures of a body: aiohttp 3.12+ also has a decompression size limit.
_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    ContentEncodingError,
    *(getattr(http_exceptions, n) for n in ("DecompressSizeError",) if hasattr(http_exceptions, n)),
)
#: Value types that hold no text and are kept as they are when an error is scrubbed.
_PLAIN = (int, float, bool, type(None), datetime, date, Enum)
#: A query name or value made of RFC 3986 unreserved characters only: every quoter (yarl's
#: included) leaves it as it is, so it goes into the URL without yarl quoting it again.
_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]*").fullmatch
#: How many parsed ``base_url + path`` a transport keeps (one per system and operation).
MAX_CACHED_PATHS = 4096


class Credentials:
    """The API key and user id. Its repr and str never show them."""

    __slots__ = ("api_key", "query", "user_id")

    def __init__(self, api_key: str, user_id: str) -> None:
        if not isinstance(api_key, str) or not api_key:
            raise ValueError("api_key must be a non-empty string")
        if not isinstance(user_id, str) or not user_id:
            raise ValueError("user_id must be a non-empty string")
        self.api_key = api_key
        self.user_id = user_id
        #: ``key=...&user_id=...`` quoted once by yarl, as aiohttp quotes the query of each
        #: request (the transport adds it to every URL it builds itself); ``None`` if yarl
        #: cannot quote them (a lone surrogate): then aiohttp fails each request as before.
        self.query: str | None
        try:
            self.query = (
                URL("http://localhost/")
                .extend_query((("key", api_key), ("user_id", user_id)))
                .raw_query_string
            )
        except (ValueError, TypeError):
            self.query = None

    def __repr__(self) -> str:
        return "Credentials(api_key='***', user_id='***')"

    __str__ = __repr__

    def redact(self, text: str) -> str:
        """``text`` with the credentials masked as :func:`redact` does: where they stand
        always, and anywhere (any run of 6+ of their characters) if 6+ characters long."""
        return redact(text, (self.api_key, self.user_id))


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` with its credentials masked: where they stand always, elsewhere if long.

    Where a credential stands it is masked whatever it is: a ``key``, ``api_key`` or
    ``user_id`` query value (plain or percent-encoded), a URL's userinfo, a field or
    header named for a credential (``"user_id": 1``, ``X-Api-Key: ...``,
    ``Authorization: Bearer ...``).

    A secret of :data:`MIN_FRAGMENT` or more characters is also masked anywhere else, in
    its plain and URL-encoded forms, in any case, and so is every run of
    :data:`MIN_FRAGMENT` or more of its characters: a secret cut short still goes. A
    shorter secret is left in the rest of the text, which it would otherwise mangle.
    """
    text = _QUERY_SECRET.sub(rf"\1{MASK}", text)
    text = _FIELD_SECRET.sub(_mask_field, text)
    text = _USERINFO.sub(rf"\1{MASK}@", text)
    pattern = _fragments(tuple(s for s in secrets if len(s) >= MIN_FRAGMENT))
    if pattern is None:
        return text
    spans: list[list[int]] = []
    # The pattern is a lookahead: it finds every position where a fragment starts, the
    # overlapping ones too, and the runs they cover are merged into one mask each.
    for match in pattern.finditer(text):
        start = match.start()
        end = start + len(match.group(1))
        if spans and start <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end])
    if not spans:
        return text
    parts: list[str] = []
    done = 0
    for start, end in spans:
        parts += [text[done:start], MASK]
        done = end
    parts.append(text[done:])
    return "".join(parts)


def _mask_field(match: re.Match[str]) -> str:
    """The field's name as it was, and its value masked inside any quotes it had."""
    value = match.group(3)
    quote_char = value[0] if value[0] in "\"'" else ""
    return f"{match.group(1)}{quote_char}{MASK}{quote_char}"


@functools.lru_cache(maxsize=8)
def _fragments(secrets: tuple[str, ...]) -> re.Pattern[str] | None:
    """A pattern finding where any :data:`MIN_FRAGMENT`-long run of a secret's forms starts."""
    pieces: set[str] = set()
    for secret in secrets:
        forms = {
            secret,
            quote(secret, safe=""),
            quote_plus(secret),
            secret.replace("/", "\\/"),  # as JSON may escape it
            secret.encode("utf-8").decode("latin-1"),  # UTF-8 bytes read as latin-1
        }
        for form in forms:
            if len(form) <= MIN_FRAGMENT:
                pieces.add(form)
            else:
                last = len(form) - MIN_FRAGMENT
                pieces.update(form[i : i + MIN_FRAGMENT] for i in range(last + 1))
    if not pieces:
        return None
    # Longest first: where a short whole secret and a fragment start at the same place,
    # the longer span is the one masked.
    alternatives = "|".join(re.escape(p) for p in sorted(pieces, key=len, reverse=True))
    return re.compile(f"(?=({alternatives}))", re.IGNORECASE)


def _scrub_value(value: Any, creds: Credentials) -> Any:
    """``value`` with every text in it redacted, as a bounded copy."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, str):
        return creds.redact(value)
    if isinstance(value, (bytes, list, tuple, dict, Mapping)):
        # Already pruned by the protocol; these bounds only stop a value set some other way.
        return prune(
            value,
            creds.redact,
            max_depth=MAX_ERROR_DEPTH * 2,
            max_items=MAX_ERROR_ITEMS * 4,
            mask_fields=True,
        )
    # An object of some other kind, added later: shown as its redacted repr if that differs.
    text = repr(value)
    masked = creds.redact(text)
    return value if masked == text else masked


def scrub(exc: EnlightenError, creds: Credentials) -> EnlightenError:
    """Redact ``creds`` from ``exc``'s args and every field, in place.

    Every attribute of the error is walked (bounded), not a list of known ones, so a field
    added later cannot carry a secret out. Chained exceptions are scrubbed too if they are
    ours, and dropped if not and their text holds a secret.
    """
    _scrub_exception(exc, creds, hops=4)
    return exc


def _scrub_exception(exc: BaseException, creds: Credentials, hops: int) -> None:
    exc.args = tuple(_scrub_value(a, creds) for a in exc.args)
    for name, value in list(vars(exc).items()):
        # An attribute named for a credential is masked whole, as a body field is.
        setattr(exc, name, MASK if is_secret_field(name) else _scrub_value(value, creds))
    for link in ("__cause__", "__context__"):
        other = getattr(exc, link)
        if other is None:
            continue
        if isinstance(other, EnlightenError) and hops > 0:
            _scrub_exception(other, creds, hops - 1)
        else:
            text = f"{other!r} {other}"
            if hops <= 0 or creds.redact(text) != text:
                setattr(exc, link, None)
                exc.__suppress_context__ = True


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
        #: The base URL's path (``/api/v2``): a log line shows it, never the host's query.
        self.base_path = urlsplit(self.base_url).path
        self._credentials = credentials
        self._session = session
        self._owns_session = session is None
        self._timeout = timeout
        self._limit = limit
        self._session_loop: asyncio.AbstractEventLoop | None = None
        self._keeper: AsyncGenerator[None, None] | None = None
        self._closed = False
        #: The tasks inside send() now, and those of them close() cancelled.
        self._sending: set[asyncio.Task[Any]] = set()
        self._cut_short: set[asyncio.Task[Any]] = set()
        self._paths: dict[str, URL] = {}

    def _url(self, request: Request[object]) -> URL | None:
        """The request's whole URL, ready for aiohttp (``encoded=True``: not quoted again).

        The same URL aiohttp builds from ``base_url + path`` and the query, for a fraction
        of the CPU: the path is parsed once per path, the credentials quoted once, and the
        request's own query (epochs, dates, ids) joined as it is. ``None`` when a name or
        value needs quoting, or the URL does not parse: then aiohttp builds it as before.
        """
        credentials = self._credentials.query
        if credentials is None:
            return None
        query: list[str] = []
        for name, value in request.params:
            # Two strings are unreserved each exactly when they are together: one match.
            if not (type(name) is str and type(value) is str and _UNRESERVED(name + value)):
                return None
            query.append(f"{name}={value}")
        query.append(credentials)
        path = request.path
        base = self._paths.get(path)
        if base is None:
            try:
                base = URL(self.base_url + path)
            except (ValueError, TypeError):
                return None  # aiohttp raises it, and send() maps it as it always did
            if base.raw_query_string or base.raw_fragment or not base.absolute:
                return None
            if len(self._paths) >= MAX_CACHED_PATHS:
                self._paths.clear()
            self._paths[path] = base
        return URL.build(
            scheme=base.scheme,
            authority=base.raw_authority,
            path=base.raw_path,
            query_string="&".join(query),
            encoded=True,
        )

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called: every later send raises at once."""
        return self._closed

    async def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise ClientClosedError("the client is closed: make a new one to send again")
        session = self._session
        if not self._owns_session:
            assert session is not None
            return session
        loop = asyncio.get_running_loop()
        if session is not None and not session.closed:
            if self._session_loop is loop:
                return session
            if self._session_loop is not None and not self._session_loop.is_closed():
                raise EventLoopError(
                    "this client's session lives in another event loop, which is still "
                    "running: use one client per event loop"
                )
            # Its loop ended without closing it (a loop run by hand, not asyncio.run):
            # nothing can close its sockets now; detach() marks it closed.
            session.detach()
        # A session belongs to the loop it was made in: a client used again from a new
        # loop (a second asyncio.run) gets a new one rather than a closed-loop error.
        connector = aiohttp.TCPConnector(limit=self._limit, limit_per_host=self._limit)
        session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        keeper = _close_when_the_loop_ends(session)
        # Run to its yield (no suspension): the loop now knows the generator, and
        # asyncio.run's shutdown_asyncgens() closes the session before the loop closes.
        await keeper.asend(None)
        self._session, self._session_loop, self._keeper = session, loop, keeper
        return session

    async def close(self) -> None:
        """Close the session if this transport made it; later sends raise
        :class:`ClientClosedError`, and so do the ones in flight (instead of a retry)."""
        self._closed = True
        # aiohttp does not always wake a request whose connection the session's close
        # shuts (with a total timeout it waits for the timeout): cancel each send in
        # flight instead, which send() turns into ClientClosedError. Each of these tasks
        # is suspended inside send(), so the cancellation lands there and nowhere else.
        loop = asyncio.get_running_loop()
        for task in self._sending:
            if task.get_loop() is loop and task is not asyncio.current_task():
                self._cut_short.add(task)
                task.cancel()
        keeper, self._keeper = self._keeper, None
        if keeper is not None and self._session_loop is asyncio.get_running_loop():
            await keeper.aclose()  # closes the session
        elif self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()

    def scrub(self, exc: EnlightenError) -> EnlightenError:
        """Mask the credentials in everything ``exc`` carries from a response.

        The service has no reason to echo the key, but a proxy's error page may echo the
        URL; the error's message, args, body and body prefix are redacted in place.
        """
        return scrub(exc, self._credentials)

    async def send(self, request: Request[object]) -> RawResponse:
        """Send ``request`` once; raise :class:`TransportError` if no full answer came,
        :class:`ClientClosedError` if the client was closed before the answer did."""
        task = asyncio.current_task()
        if task is None:
            return await self._send(request)
        self._sending.add(task)
        try:
            return await self._send(request)
        except asyncio.CancelledError:
            if task in self._cut_short:
                self._cut_short.discard(task)
                if not _uncancel(task):  # close()'s alone: a caller's came too otherwise
                    raise ClientClosedError(
                        f"{request.operation}: the client was closed while it was sent"
                    ) from None
            raise
        finally:
            self._sending.discard(task)
            if task in self._cut_short:  # the cancellation was spent inside, not raised
                self._cut_short.discard(task)
                _uncancel(task)

    async def _send(self, request: Request[object]) -> RawResponse:
        creds = self._credentials
        url: URL | str | None = self._url(request)
        params: list[tuple[str, str]] | None = None
        if url is None:
            params = [*request.params, ("key", creds.api_key), ("user_id", creds.user_id)]
            url = self.base_url + request.path
        op = request.operation
        # The error is raised after the try block, not in an except clause: there it would
        # keep the aiohttp exception (whose text holds the URL, so the key) as __context__.
        error: EnlightenError
        session = await self._get_session()
        try:
            async with session.get(
                url, params=params, timeout=self._timeout, allow_redirects=False
            ) as resp:
                try:
                    body = await resp.read()
                except aiohttp.ClientPayloadError as exc:
                    if not _undecodable(exc):
                        raise
                    error = _undecodable_error(op, resp.status, resp.headers, creds)
                else:
                    return RawResponse(resp.status, resp.headers, body, redact=creds.redact)
        except (asyncio.TimeoutError, TimeoutError):
            error = TransportError(f"{op}: timed out", operation=op, cause="TimeoutError")
        except (aiohttp.ClientError, OSError, ValueError, RuntimeError) as exc:
            if _undecodable(exc):  # an encoding aiohttp cannot decode at all (br, zstd)
                error = _undecodable_error(op, None, {}, creds)
            elif self._closed:  # close() cut it short: not a failure worth a retry
                error = ClientClosedError(f"{op}: the client was closed while it was sent")
            else:
                # ClientError covers the usual failures; OSError/ValueError are rare low-level
                # ones aiohttp lets through (a bad base URL), RuntimeError a closed session.
                text = creds.redact(f"{type(exc).__name__}: {exc}")
                error = TransportError(f"{op}: {text}", operation=op, cause=type(exc).__name__)
        raise error


def _uncancel(task: asyncio.Task[Any]) -> int:
    """Take back one cancellation of ``task``; how many remain (Python 3.11+ counts them;
    3.10 does not, and a caught cancellation leaves nothing behind there)."""
    uncancel = getattr(task, "uncancel", None)
    return int(uncancel()) if uncancel is not None else 0


async def _close_when_the_loop_ends(
    session: aiohttp.ClientSession,
) -> AsyncGenerator[None, None]:
    """Hold ``session`` until closed: by :meth:`Transport.close`, or by the loop's
    ``shutdown_asyncgens()`` (``asyncio.run`` calls it), so that a client left open
    when ``asyncio.run`` returns leaves no connector or socket behind."""
    try:
        yield
    finally:
        await session.close()


def log_exchange(
    transport: Transport, request: Request[object], outcome: object, started: float, attempt: int
) -> None:
    """Log one request at DEBUG on ``enlighten_async.transport``.

    ``GET /api/v2/systems/67/stats -> 200 in 12.3 ms (stats, attempt 1)``: the path
    without its query (which holds the key and user id), the status (or the failure's
    kind), the milliseconds since ``started`` (``time.perf_counter()``) and the attempt.
    Callers check ``log.isEnabledFor(logging.DEBUG)`` first, so that it costs nothing off.
    """
    path = transport.base_path + request.path.partition("?")[0]
    millis = (time.perf_counter() - started) * 1000.0
    log.debug(
        "GET %s -> %s in %.1f ms (%s, attempt %d)",
        path,
        outcome,
        millis,
        request.operation,
        attempt,
    )


def _undecodable(exc: BaseException) -> bool:
    """Whether aiohttp failed because the body's ``Content-Encoding`` could not be undone.

    A gzip or deflate header over bytes that are not gzip or deflate is a bad body, not a
    dropped connection: the same request would get the same bytes again.
    """
    seen: BaseException | None = exc
    for _ in range(4):  # the chain is short; never follow it far
        if seen is None:
            return False
        if isinstance(seen, _DECODE_ERRORS):
            return True
        if isinstance(seen, HttpProcessingError) and "content-encoding" in str(seen).lower():
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _undecodable_error(
    op: str, status: int | None, headers: Mapping[str, str], creds: Credentials
) -> EnlightenError:
    encoding = clip(headers.get("Content-Encoding", ""), creds.redact, 40) or "unknown"
    where = f"HTTP {status}" if status is not None else "the response"
    message = f"{op}: {where} with a body that cannot be decoded (Content-Encoding: {encoding!r})"
    if status == 409:
        # Still a quota answer, whatever its body: held with the conflict backoff.
        return RateLimitError(message, operation=op, body={}, server_time=server_time(headers))
    return ResponseFormatError(
        message,
        operation=op,
        status=status,
        # Not a body cut short: another identical request would get the same bytes.
        details=(f"the body is not valid {encoding} (Content-Encoding) @ $",),
    )
