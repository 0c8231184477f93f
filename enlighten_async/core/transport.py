"""How a request reaches a server: the :class:`Transport` seam, the aiohttp transport every
client uses by default, and :class:`MockTransport` for tests. The only module that calls
aiohttp's client.

:class:`AiohttpTransport` adds the credentials to the query (:attr:`Credentials.pairs`:
v2's key and user id, or v4's key alone) and a request's OAuth token as ``Authorization:
Bearer <token>`` (``Request.bearer``), sends, reads the body, and turns every aiohttp
failure into a :class:`TransportError` whose text has the key, the user id and the token
redacted (so has every error built from the body: the response's ``redact`` masks all
three). aiohttp's exceptions carry the full URL (and so the key): they are never
chained, logged or re-raised as they are. :class:`MockTransport` answers from a function
instead, and maps its failures, closing and body caps the same way.

The body is read as it arrives, never more than :data:`MAX_WIRE_BYTES` from the socket
and :data:`MAX_BODY_BYTES` once decompressed; past either the read stops and the call
ends in :class:`ResponseFormatError`. Decompression is done here, not by aiohttp
(``auto_decompress=False``), in steps of :data:`INFLATE_STEP` output bytes with the event
loop run between them: a gzip bomb costs at most the cap in memory and a fraction of a
millisecond of the loop at a time.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import re
import time
import zlib
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from datetime import date, datetime
from enum import Enum
from typing import Any, Protocol, TypeAlias, runtime_checkable
from urllib.parse import quote, quote_plus, urlsplit

import aiohttp
import attrs
from aiohttp import http_exceptions
from aiohttp.http_exceptions import ContentEncodingError, HttpProcessingError
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from enlighten_async.core.exceptions import (
    ClientClosedError,
    EnlightenError,
    EventLoopError,
    RateLimitError,
    ResponseFormatError,
    TransportError,
)
from enlighten_async.core.wire import (
    MASK,
    MAX_ERROR_DEPTH,
    MAX_ERROR_ITEMS,
    RawResponse,
    Redactor,
    Request,
    clip,
    is_secret_field,
    prune,
    server_time,
)

__all__ = [
    "AiohttpTransport",
    "Credentials",
    "Handler",
    "MockTransport",
    "Transport",
    "log_exchange",
    "redact",
    "scrub",
]

#: One DEBUG line per request (see :func:`log_exchange`); nothing else logs here.
log = logging.getLogger("enlighten_async.transport")

# Where a secret stands, it is masked whatever its length: these three patterns find
# those places. Each keeps the name (and any quote) and masks the value only, so the rest
# of the message reads as it did.
#: A ``key``/``api_key``/``user_id`` query value (or a database URL's ``password``), also
#: inside a percent-encoded URL (a proxy's ``?next=%2Fx%3Fkey%3D...``); the value ends
#: where the parameter does.
_QUERY_SECRET = re.compile(
    r"((?:^|[?&;\s]|%26|%3F)(?:api_key|key|user_id|password)(?:=|%3D))"
    r"((?:(?!%26)[^&;\s'\"<>)#])*)",
    re.IGNORECASE,
)
#: A field or header named for a credential: ``"key": "..."`` (JSON), ``'user_id': 1``
#: (a repr), ``X-Api-Key: ...``, ``Authorization: Bearer ...``, ``password=...`` (a
#: database's connection settings). The name must start a
#: word, so ``monkey=`` or ``passkey:`` are not taken for it.
_FIELD_SECRET = re.compile(
    r"""((?<![\w-])(["']?)(?:x-api-key|api[_-]?key|key|user[_-]?id|password|authorization)\2"""
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

#: The most bytes one body may hold once decompressed (8 MiB). The largest real answer is
#: ``rgm_stats`` with per-channel ``meter_intervals``: the simulator's system 67 (two
#: meters, three channels) answers 153,615 bytes for a week, about 57 bytes per interval
#: item (top-level or per channel), and 657,813 bytes for the 30 days of its month. The
#: spec's longest span is one month: 31 days and a DST hour are 2,980 intervals per
#: channel, so 8 MiB holds a month of about 43 channel streams at 64 bytes an item, 13
#: times the simulator's month (55 times its week). The limit bounds what the parser may
#: be handed too: ``orjson`` turns a hostile body into up to about 36 times its size in
#: objects (``[{},{},...]``), which an API version's decoder (v2's ``MAX_INTERVALS``)
#: then refuses before parsing.
MAX_BODY_BYTES = 8 * 1024 * 1024
#: The most bytes read from the socket for one body, compressed or not (after the chunked
#: framing is removed). As large as :data:`MAX_BODY_BYTES`, since an uncompressed body is
#: the same size on the wire; it is what stops an endless compressed stream that
#: decompresses to little (empty gzip blocks, one after another).
MAX_WIRE_BYTES = MAX_BODY_BYTES
#: Decompressed bytes made per step (64 KiB, about 0.1 ms of zlib); the event loop runs
#: between steps, so a bomb never holds it.
INFLATE_STEP = 64 * 1024
#: The most gzip members one body may concatenate (servers send one); each costs a new
#: decompressor, so a stream of tiny members is refused rather than paid for.
MAX_GZIP_MEMBERS = 16
#: What the client asks for: the encodings it decodes itself (aiohttp would add ``br`` or
#: ``zstd`` when their packages are installed; it no longer decodes bodies here).
ACCEPT_ENCODING = "gzip, deflate"


class Credentials:
    """The credentials every request carries in its query. Its repr and str never show them.

    ``Credentials(api_key, user_id)`` is API v2's pair, sent as ``key=...&user_id=...``;
    :meth:`api_key_only` is API v4's ``key=...`` alone (its user is named by the OAuth
    access token a request carries as ``Request.bearer``). :attr:`pairs` is what the
    transport adds to the query, in that order.
    """

    __slots__ = ("api_key", "pairs", "query", "user_id")

    #: The API key (sent as ``key``).
    api_key: str
    #: The user id (v2's ``user_id``); ``None`` for credentials that send none.
    user_id: str | None
    #: The ``(name, value)`` pairs added to every request's query.
    pairs: tuple[tuple[str, str], ...]
    #: :attr:`pairs` quoted once by yarl, as aiohttp quotes the query of each request (the
    #: transport adds it to every URL it builds itself); ``None`` if yarl cannot quote them
    #: (a lone surrogate): then aiohttp fails each request as before.
    query: str | None

    def __init__(self, api_key: str, user_id: str) -> None:
        _check_secret(api_key, "api_key")
        _check_secret(user_id, "user_id")
        self._set(api_key, user_id, (("key", api_key), ("user_id", user_id)))

    @classmethod
    def api_key_only(cls, api_key: str) -> Credentials:
        """Credentials that send ``key=<api_key>`` alone (API v4); ``user_id`` is ``None``."""
        _check_secret(api_key, "api_key")
        creds = cls.__new__(cls)
        creds._set(api_key, None, (("key", api_key),))
        return creds

    def _set(self, api_key: str, user_id: str | None, pairs: tuple[tuple[str, str], ...]) -> None:
        self.api_key = api_key
        self.user_id = user_id
        self.pairs = pairs
        try:
            self.query = URL("http://localhost/").extend_query(pairs).raw_query_string
        except (ValueError, TypeError):
            self.query = None

    def __repr__(self) -> str:
        if self.user_id is None:
            return "Credentials(api_key='***')"
        return "Credentials(api_key='***', user_id='***')"

    __str__ = __repr__

    def _secrets(self) -> tuple[str, ...]:
        return (self.api_key,) if self.user_id is None else (self.api_key, self.user_id)

    def redact(self, text: str) -> str:
        """``text`` with the credentials masked as :func:`redact` does: where they stand
        always, and anywhere (any run of 6+ of their characters) if 6+ characters long."""
        return redact(text, self._secrets())

    def redactor(self, bearer: str | None = None) -> Redactor:
        """What masks these credentials and, when given, a request's ``bearer`` token (as
        :meth:`redact` masks the key: where it stands and anywhere)."""
        if not bearer:
            return self.redact
        return functools.partial(redact, secrets=(*self._secrets(), bearer))


def _check_secret(value: object, name: str) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string")


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` with its credentials masked: where they stand always, elsewhere if long.

    Where a credential stands it is masked whatever it is: a ``key``, ``api_key``,
    ``user_id`` or ``password`` query value (plain or percent-encoded), a URL's userinfo,
    a field or header named for a credential (``"user_id": 1``, ``X-Api-Key: ...``,
    ``Authorization: Bearer ...``, ``password=...``).

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


def _scrub_value(value: Any, red: Redactor) -> Any:
    """``value`` with every text in it redacted, as a bounded copy."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, str):
        return red(value)
    if isinstance(value, (bytes, list, tuple, dict, Mapping)):
        # Already pruned by the protocol; these bounds only stop a value set some other way.
        return prune(
            value,
            red,
            max_depth=MAX_ERROR_DEPTH * 2,
            max_items=MAX_ERROR_ITEMS * 4,
            mask_fields=True,
        )
    # An object of some other type, added later: shown as its redacted repr if that differs.
    text = repr(value)
    masked = red(text)
    return value if masked == text else masked


def scrub(exc: EnlightenError, creds: Credentials, bearer: str | None = None) -> EnlightenError:
    """Redact ``creds`` (and the request's ``bearer`` token, when given) from ``exc``'s
    args and every field, in place.

    Every attribute of the error is walked (bounded), not a list of known ones, so a field
    added later cannot carry a secret out. Chained exceptions are scrubbed too if they are
    ours, and dropped if not and their text holds a secret.
    """
    _scrub_exception(exc, creds.redactor(bearer), hops=4)
    return exc


def _scrub_exception(exc: BaseException, red: Redactor, hops: int) -> None:
    exc.args = tuple(_scrub_value(a, red) for a in exc.args)
    for name, value in list(vars(exc).items()):
        # An attribute named for a credential is masked whole, as a body field is.
        setattr(exc, name, MASK if is_secret_field(name) else _scrub_value(value, red))
    for link in ("__cause__", "__context__"):
        other = getattr(exc, link)
        if other is None:
            continue
        if isinstance(other, EnlightenError) and hops > 0:
            _scrub_exception(other, red, hops - 1)
        else:
            text = f"{other!r} {other}"
            if hops <= 0 or red(text) != text:
                setattr(exc, link, None)
                exc.__suppress_context__ = True


@runtime_checkable
class Transport(Protocol):
    """What a client needs from a transport: send one request, get its raw answer, close.

    A transport adds what the service asks of every request (the credentials, the base
    URL), sends it once and returns the status, the headers and the whole body, never
    more than ``MAX_BODY_BYTES`` of it. It raises :class:`TransportError` when no full
    answer came (a timeout, a dropped connection), and :class:`ClientClosedError` once
    closed. Retries, pacing and decoding are the client's: a transport sends once.

    The client uses an aiohttp transport unless it is given one (``transport=``);
    :class:`MockTransport` answers from a function, for tests.
    """

    @property
    def base_url(self) -> str:
        """The URL that requests' paths are relative to (shown in reprs and log lines)."""
        ...

    async def send(self, request: Request[object]) -> RawResponse:
        """Send ``request`` once and return its answer, whatever its status."""
        ...

    async def close(self) -> None:
        """Release what the transport holds; later sends raise :class:`ClientClosedError`."""
        ...


class _Sender:
    """What the transports here share: the closed flag, and the sends in flight that
    :meth:`_shut` cancels, so that each of them ends in :class:`ClientClosedError`."""

    def __init__(self) -> None:
        self._closed = False
        #: The tasks inside send() now, and those of them close() cancelled.
        self._sending: set[asyncio.Task[Any]] = set()
        self._cut_short: set[asyncio.Task[Any]] = set()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called: every later send raises at once."""
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise ClientClosedError("the client is closed: make a new one to send again")

    def _shut(self) -> None:
        """Mark the transport closed and cancel each send in flight (see :meth:`send`)."""
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
        raise NotImplementedError


class AiohttpTransport(_Sender):
    """Sends a :class:`Request` with aiohttp and returns a :class:`RawResponse`.

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
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self._credentials = credentials
        self._session = session
        self._owns_session = session is None
        self._timeout = timeout
        self._limit = limit
        self._session_loop: asyncio.AbstractEventLoop | None = None
        self._keeper: AsyncGenerator[None, None] | None = None
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

    async def _get_session(self) -> aiohttp.ClientSession:
        self._check_open()
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
        self._shut()
        keeper, self._keeper = self._keeper, None
        if keeper is not None and self._session_loop is asyncio.get_running_loop():
            await keeper.aclose()  # closes the session
        elif self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()

    async def _send(self, request: Request[object]) -> RawResponse:
        creds = self._credentials
        url: URL | str | None = self._url(request)
        params: list[tuple[str, str]] | None = None
        if url is None:
            params = [*request.params, *creds.pairs]
            url = self.base_url + request.path
        headers = {"Accept-Encoding": ACCEPT_ENCODING}
        bearer = request.bearer
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        # Every text of this exchange is masked of the key, the user id and the token.
        red = creds.redactor(bearer)
        op = request.operation
        # The error is raised after the try block, not in an except clause: there it would
        # keep the aiohttp exception (whose text holds the URL, so the key) as __context__.
        error: EnlightenError
        session = await self._get_session()
        try:
            async with session.get(
                url,
                params=params,
                timeout=self._timeout,
                allow_redirects=False,
                # The body is decompressed by _read_body, in bounded steps, under the cap.
                auto_decompress=False,
                headers=headers,
            ) as resp:
                try:
                    body = await _read_body(resp)
                except _BodyRefused as refused:
                    # Whatever is left of the body is not read: the connection is dropped,
                    # not returned to the pool with a gigabyte still to come.
                    resp.close()
                    error = refused.error(op, resp.status, resp.headers, red)
                except aiohttp.ClientPayloadError as exc:
                    if not _undecodable(exc):
                        raise
                    error = _undecodable_error(op, resp.status, resp.headers, red)
                else:
                    return RawResponse(resp.status, resp.headers, body, redact=red)
        except (asyncio.TimeoutError, TimeoutError) as exc:
            error = _failure(op, exc, red, closed=False)  # timed out, closed or not
        except (aiohttp.ClientError, OSError, ValueError, RuntimeError) as exc:
            if _undecodable(exc):  # an encoding aiohttp cannot decode at all (br, zstd)
                error = _undecodable_error(op, None, {}, red)
            else:
                # ClientError covers the usual failures; OSError/ValueError are rare low-level
                # ones aiohttp lets through (a bad base URL), RuntimeError a closed session.
                error = _failure(op, exc, red, closed=self._closed)
        raise error


#: A :class:`MockTransport`'s handler: it takes the request and returns its answer,
#: from a plain function or a coroutine function.
Handler: TypeAlias = Callable[[Request[Any]], RawResponse | Awaitable[RawResponse]]
#: What a handler raises for a failure of the network; :class:`MockTransport` maps it
#: as :class:`AiohttpTransport` maps aiohttp's (``TimeoutError`` is an ``OSError`` too).
_NETWORK_ERRORS = (aiohttp.ClientError, OSError, asyncio.TimeoutError)
#: A mock's redactor: credentials where they stand (``key=``, ``"user_id": ...``, a URL's
#: userinfo); it knows no secret's value, so free text is left as it is.
_redact_where_they_stand: Redactor = functools.partial(redact, secrets=())


class MockTransport(_Sender):
    """A transport that answers from a function, not the network: for tests.

    ``handler`` takes the :class:`Request` the client built (its operation, path, query
    and ``bearer`` token, if any; the query's credentials are the real transport's to add,
    so they are not in it) and
    returns a :class:`RawResponse`, from a plain function or a coroutine function::

        def handler(request: Request[Any]) -> RawResponse:
            assert request.path == "/systems/67/summary"
            return RawResponse(200, {"Content-Type": "application/json"}, body)

        client = EnlightenClient(api_key="...", user_id="...", transport=MockTransport(handler))

    What comes back is treated as the aiohttp transport treats an answer: headers read
    case-insensitively, a body over ``MAX_BODY_BYTES`` refused with the same typed error.
    A handler raises what the network would (``TimeoutError``, ``ConnectionResetError``,
    an ``aiohttp.ClientError``) to get the :class:`TransportError` it becomes, or an
    :class:`EnlightenError` to have it raised as it is. After :meth:`close`, every send
    raises :class:`ClientClosedError`, and so do the sends still waiting on the handler.
    """

    def __init__(self, handler: Handler, *, base_url: str = "https://mock.invalid") -> None:
        super().__init__()
        if not callable(handler):
            raise TypeError(f"handler must be callable, got {type(handler).__name__}")
        self.handler = handler
        self.base_url = base_url.rstrip("/")

    def __repr__(self) -> str:
        return f"MockTransport({self.handler!r})"

    async def close(self) -> None:
        """Mark the transport closed; later sends, and those in flight, raise
        :class:`ClientClosedError`."""
        self._shut()

    async def _send(self, request: Request[object]) -> RawResponse:
        self._check_open()
        op = request.operation
        # As in AiohttpTransport._send: raised after the try block, with no context.
        error: EnlightenError
        # A mock knows no key, but it sees the request's token: masked as the real one is.
        bearer = request.bearer
        red = functools.partial(redact, secrets=(bearer,)) if bearer else _redact_where_they_stand
        try:
            answer = self.handler(request)
            if inspect.isawaitable(answer):
                answer = await answer
        except _NETWORK_ERRORS as exc:
            error = _failure(op, exc, red, closed=self._closed)
        else:
            if not isinstance(answer, RawResponse):
                raise TypeError(
                    f"the handler of {op} returned {type(answer).__name__}, not a RawResponse"
                )
            headers = answer.headers
            if not isinstance(headers, CIMultiDictProxy):
                headers = CIMultiDictProxy(CIMultiDict(headers))
            if len(answer.body) <= MAX_BODY_BYTES:
                return attrs.evolve(answer, headers=headers, redact=answer.redact or red)
            error = _too_large_error(op, answer.status, headers, f"of {len(answer.body):,} bytes")
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


@functools.lru_cache(maxsize=16)
def _base_path(base_url: str) -> str:
    """The base URL's path (``/api/v2``): a log line shows it, never the host's query."""
    return urlsplit(base_url).path


def log_exchange(
    transport: Transport, request: Request[object], outcome: object, started: float, attempt: int
) -> None:
    """Log one request at DEBUG on ``enlighten_async.transport``.

    ``GET /api/v2/systems/67/stats -> 200 in 12.3 ms (stats, attempt 1)``: the path
    without its query (which holds the key and user id), the status (or the failure's
    type), the milliseconds since ``started`` (``time.perf_counter()``) and the attempt.
    Callers check ``log.isEnabledFor(logging.DEBUG)`` first, so that it costs nothing off.
    """
    path = _base_path(transport.base_url) + request.path.partition("?")[0]
    millis = (time.perf_counter() - started) * 1000.0
    log.debug(
        "GET %s -> %s in %.1f ms (%s, attempt %d)",
        path,
        outcome,
        millis,
        request.operation,
        attempt,
    )


def _failure(op: str, exc: BaseException, red: Redactor, *, closed: bool) -> EnlightenError:
    """The error for a send that got no full answer, ``exc`` being what the network (or
    aiohttp) raised: a :class:`TransportError` with the text redacted, and no chain."""
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return TransportError(f"{op}: timed out", operation=op, cause="TimeoutError")
    if closed:  # close() cut it short: not a failure worth a retry
        return ClientClosedError(f"{op}: the client was closed while it was sent")
    text = red(f"{type(exc).__name__}: {exc}")
    return TransportError(f"{op}: {text}", operation=op, cause=type(exc).__name__)


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
    op: str, status: int | None, headers: Mapping[str, str], red: Redactor
) -> EnlightenError:
    encoding = clip(headers.get("Content-Encoding", ""), red, 40) or "unknown"
    where = f"HTTP {status}" if status is not None else "the response"
    return _refused_body(
        f"{op}: {where} with a body that cannot be decoded (Content-Encoding: {encoding!r})",
        op,
        status,
        headers,
        f"the body is not valid {encoding} (Content-Encoding) @ $",
    )


def _too_large_error(op: str, status: int, headers: Mapping[str, str], why: str) -> EnlightenError:
    return _refused_body(
        f"{op}: HTTP {status} with a body {why}; "
        f"the client reads at most {MAX_BODY_BYTES:,} bytes of one",
        op,
        status,
        headers,
        f"the body is larger than the client's limit of {MAX_BODY_BYTES:,} bytes @ $",
    )


def _refused_body(
    message: str, op: str, status: int | None, headers: Mapping[str, str], detail: str
) -> EnlightenError:
    """The error for a body the client will not read: a 409 is still a quota answer,
    whatever its body (held with the conflict backoff); anything else is a
    ``ResponseFormatError`` with ``details``, so not retried: another identical request
    would get the same bytes."""
    if status == 409:
        return RateLimitError(message, operation=op, body={}, server_time=server_time(headers))
    return ResponseFormatError(message, operation=op, status=status, details=(detail,))


class _BodyRefused(Exception):
    """A body not read to its end: too large (``why`` says how), or not in its encoding.

    Raised and caught inside :meth:`Transport.send` only; it holds no text from the server.
    """

    def __init__(self, why: str, *, undecodable: bool = False) -> None:
        super().__init__(why)
        self.why = why
        self.undecodable = undecodable

    def error(
        self, op: str, status: int, headers: Mapping[str, str], red: Redactor
    ) -> EnlightenError:
        """The typed error the call ends with."""
        if self.undecodable:
            return _undecodable_error(op, status, headers, red)
        return _too_large_error(op, status, headers, self.why)


def _over_body_limit() -> _BodyRefused:
    return _BodyRefused(f"of more than {MAX_BODY_BYTES:,} bytes decompressed")


class _Inflater:
    """Undoes ``gzip`` or ``deflate`` a step of :data:`INFLATE_STEP` bytes at a time.

    Each step's output is counted against :data:`MAX_BODY_BYTES` as it is made, and the
    loop runs between steps (``asyncio.sleep(0)``): a 4 MB gzip bomb (4 GB of zeros) is
    refused after 8 MiB of output, in 128 steps of about 0.1 ms each.
    """

    __slots__ = ("_d", "_gzip", "_members", "_more")

    def __init__(self, gzip: bool) -> None:
        self._gzip = gzip
        # gzip's decompressor is known now; deflate's is chosen at the first byte.
        self._d: Any = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzip else None
        self._members = 1
        #: zlib stopped at the step's size: it may hold more output for no more input.
        self._more = False

    @classmethod
    def for_encoding(cls, encoding: str) -> _Inflater | None:
        """The inflater for a ``Content-Encoding`` value (``None``: not encoded)."""
        if encoding in ("", "identity"):
            return None
        if encoding in ("gzip", "x-gzip"):
            return cls(gzip=True)
        if encoding == "deflate":
            return cls(gzip=False)
        # br, zstd, a list of encodings: not asked for (ACCEPT_ENCODING), not undone.
        raise _BodyRefused("in an encoding not asked for", undecodable=True)

    async def feed(self, data: bytes, parts: list[bytes], size: int) -> int:
        """Inflate ``data`` into ``parts``; return the decompressed size so far.

        Raises :class:`_BodyRefused` past :data:`MAX_BODY_BYTES` or on bytes that are not
        in the encoding.
        """
        if self._d is None:
            # HTTP's deflate is zlib-wrapped (RFC 1950), but some servers send raw deflate
            # (RFC 1951); aiohttp takes both, told apart by the first byte, and so do we.
            wbits = zlib.MAX_WBITS if data[0] & 0x0F == 8 else -zlib.MAX_WBITS
            self._d = zlib.decompressobj(wbits)
        pending = data
        while pending or self._more:
            d = self._d
            if d.eof:
                if not self._gzip:
                    return size  # zlib ignores what follows a deflate stream's end
                # gzip allows members one after another (RFC 1952): each is decoded alike.
                self._members += 1
                if self._members > MAX_GZIP_MEMBERS:
                    raise _BodyRefused(
                        f"of more than {MAX_GZIP_MEMBERS} gzip members", undecodable=True
                    )
                d = self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                out = d.decompress(pending, INFLATE_STEP)
            except zlib.error:
                raise _BodyRefused("not in its encoding", undecodable=True) from None
            if d.eof:
                pending = d.unused_data
                self._more = False
            else:
                pending = d.unconsumed_tail
                self._more = len(out) == INFLATE_STEP
            if out:
                size += len(out)
                if size > MAX_BODY_BYTES:
                    raise _over_body_limit()
                parts.append(out)
                # Let the loop run between steps: a bomb is many steps, never one block.
                await asyncio.sleep(0)
        return size

    def finish(self) -> None:
        """Raise :class:`_BodyRefused` if the body ended inside a compressed stream."""
        if self._d is None or not self._d.eof:
            raise _BodyRefused("cut inside its compressed stream", undecodable=True)


async def _read_body(resp: aiohttp.ClientResponse) -> bytes:
    """The whole body, decompressed, read as it arrives and checked against the caps.

    Raises :class:`_BodyRefused` as soon as the ``Content-Length``, the bytes read from the
    socket (:data:`MAX_WIRE_BYTES`) or the bytes decompressed (:data:`MAX_BODY_BYTES`)
    pass their cap; at most one socket read or one :data:`INFLATE_STEP` is held past it.
    """
    length = resp.content_length
    if length is not None and length > MAX_WIRE_BYTES:
        raise _BodyRefused(f"of {length:,} bytes (its Content-Length)")
    inflater = _Inflater.for_encoding(resp.headers.get("Content-Encoding", "").strip().lower())
    parts: list[bytes] = []
    wire = 0
    size = 0
    content = resp.content
    while True:
        chunk = await content.readany()
        if not chunk:
            break
        wire += len(chunk)
        if wire > MAX_WIRE_BYTES:
            raise _BodyRefused(f"of more than {MAX_WIRE_BYTES:,} bytes on the wire")
        if inflater is None:
            parts.append(chunk)
        else:
            size = await inflater.feed(chunk, parts, size)
    if inflater is not None and wire:
        inflater.finish()
    return parts[0] if len(parts) == 1 else b"".join(parts)
