"""The wire, version-neutral: a request, a raw response, and the bounds on what an error
keeps of one.

Every API version builds :class:`Request` objects and decodes :class:`RawResponse` objects;
a transport sends the one and returns the other. Nothing here touches a socket or knows
an API version's bodies.

Every byte of a response is treated as hostile. An error keeps a bounded copy of what it
read (:func:`prune`: a few levels, a few hundred values, strings cut short), so a body
nested 1,000 deep or 20 MB long costs bounded time and memory and no ``RecursionError``.
When the transport hands over its redactor with the response, text is redacted *before*
it is cut short (:func:`clip`, :func:`body_prefix`), so a secret straddling a cut leaves
no prefix of itself behind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from attrs import field, frozen

from enlighten_async.core.clock import http_date

__all__ = [
    "BODY_PREFIX_BYTES",
    "MASK",
    "MAX_ERROR_DEPTH",
    "MAX_ERROR_ITEMS",
    "MAX_ERROR_TEXT",
    "MESSAGE_PREFIX_BYTES",
    "Params",
    "REDACT_MARGIN",
    "RawResponse",
    "Redactor",
    "Request",
    "SECRET_FIELDS",
    "TRUNCATED",
    "body_prefix",
    "clip",
    "is_secret_field",
    "prune",
    "server_time",
]

M = TypeVar("M")
#: Covariant: a ``Request[Summary]`` is a ``Request[Summary | None]``.
T_co = TypeVar("T_co", covariant=True)
#: A request's query: ``(name, value)`` pairs, in order, without the credentials.
Params = tuple[tuple[str, str], ...]

#: How many bytes of an unreadable body an error keeps.
BODY_PREFIX_BYTES = 200
#: How many bytes of an unreadable body the error's message quotes.
MESSAGE_PREFIX_BYTES = 40
#: How deep an error keeps a JSON body; deeper values become :data:`TRUNCATED`. The API's
#: error bodies are one or two levels deep.
MAX_ERROR_DEPTH = 8
#: How many values (keys, strings, numbers, containers) an error keeps from a body.
MAX_ERROR_ITEMS = 500
#: How many characters of one string, or of the message, an error keeps.
MAX_ERROR_TEXT = 1000
#: Extra characters redacted past a cut, so that a secret (up to this long in any of its
#: encoded forms) that straddles the cut is masked whole before the cut is made.
REDACT_MARGIN = 512
#: What stands for the part of a value an error did not keep.
TRUNCATED = "…"
#: Masks the credentials in a text (the transport's, see ``Credentials.redact``).
Redactor = Callable[[str], str]
#: What stands for a masked credential.
MASK = "***"
#: Names of body fields that hold a credential when a server echoes one (compared in
#: lower case, ``-`` read as ``_``). Their value is masked whatever it is, as a ``key=``
#: query value is: a short user id ("1") is masked there, though not in free text.
SECRET_FIELDS = frozenset(
    {"key", "api_key", "apikey", "x_api_key", "user_id", "userid", "authorization"}
)


def is_secret_field(name: object) -> bool:
    """Whether a field (or header) of this name holds a credential (see :data:`SECRET_FIELDS`)."""
    return isinstance(name, str) and name.lower().replace("-", "_") in SECRET_FIELDS


@frozen
class Request(Generic[T_co]):
    """One API call: the operation's name, its path below the base URL, its query, and
    the model its answer is decoded into (``T_co``).

    ``params`` never holds the credentials: the transport adds them when it sends. Build a
    request whose answer may be ``204 No Content`` with :meth:`allowing_no_content`: its
    type then says the result may be ``None``.
    """

    operation: str
    path: str
    params: Params
    model: type[T_co]
    #: What a ``204 No Content`` gives, as a one-item tuple (``(None,)``: the spec's "no
    #: meter" answer); empty where a 204 is an error. A tuple rather than a flag, so that
    #: the result's type stays exact.
    no_content: tuple[T_co] | tuple[()] = ()
    #: The OAuth access token the transport sends as ``Authorization: Bearer ...`` (API
    #: v4); ``None`` for an API without one. Set at send time, never shown in a repr, and
    #: not part of a request's identity.
    bearer: str | None = field(default=None, repr=False, eq=False)

    @staticmethod
    def allowing_no_content(
        operation: str, path: str, params: Params, model: type[M]
    ) -> Request[M | None]:
        """A request whose ``204 No Content`` answer decodes to ``None``."""
        return Request(operation, path, params, model, (None,))


@frozen
class RawResponse:
    """What came back: status, headers and the whole body.

    ``redact``, when the transport sets it, masks the credentials in any text taken from
    the body; errors built from this response use it before they cut text short.
    """

    status: int
    headers: Mapping[str, str]
    body: bytes
    redact: Redactor | None = field(default=None, repr=False, eq=False)


def _identity(text: str) -> str:
    return text


def clip(text: str, redact: Redactor | None = None, limit: int = MAX_ERROR_TEXT) -> str:
    """``text`` redacted, then cut to ``limit`` characters (marked with :data:`TRUNCATED`).

    Only ``limit + REDACT_MARGIN`` characters are redacted: a 20 MB string costs no more
    than a short one.
    """
    red = redact or _identity
    if len(text) <= limit:
        return red(text)
    return red(text[: limit + REDACT_MARGIN])[:limit] + TRUNCATED


def prune(
    value: Any,
    text: Callable[[str], str] = clip,
    *,
    max_depth: int = MAX_ERROR_DEPTH,
    max_items: int = MAX_ERROR_ITEMS,
    mask_fields: bool = False,
) -> Any:
    """A bounded copy of a JSON-like ``value``, each string passed through ``text``.

    Containers nested deeper than ``max_depth`` become :data:`TRUNCATED`; after
    ``max_items`` values the rest of each container is dropped, and a :data:`TRUNCATED`
    item (or key) marks the cut. Dicts (any mapping) stay dicts, lists lists, tuples
    tuples; bytes are read as latin-1. The walk's recursion is bounded by ``max_depth``.
    With ``mask_fields``, the value of a field named for a credential (``user_id``,
    ``key``: :func:`is_secret_field`) becomes :data:`MASK`, whatever it was.
    """
    budget = max_items

    def walk(v: Any, depth: int) -> Any:
        nonlocal budget
        budget -= 1
        if isinstance(v, str):
            return text(v)
        if isinstance(v, bytes):
            return text(v.decode("latin-1")).encode("latin-1", "replace")
        if isinstance(v, Mapping):
            if depth >= max_depth:
                return TRUNCATED
            out: dict[Any, Any] = {}
            for key, item in v.items():
                if budget <= 0:
                    out[TRUNCATED] = TRUNCATED
                    break
                if mask_fields and is_secret_field(key):
                    budget -= 1  # the value is not walked, but counts as one
                    out[walk(key, depth + 1)] = MASK
                    continue
                out[walk(key, depth + 1)] = walk(item, depth + 1)
            return out
        if isinstance(v, (list, tuple)):
            if depth >= max_depth:
                return TRUNCATED
            items: list[Any] = []
            for item in v:
                if budget <= 0:
                    items.append(TRUNCATED)
                    break
                items.append(walk(item, depth + 1))
            return items if isinstance(v, list) else tuple(items)
        return v

    return walk(value, 0)


def body_prefix(raw: RawResponse, limit: int = BODY_PREFIX_BYTES) -> bytes:
    """The first ``limit`` bytes of the body, redacted before the cut."""
    head = raw.body[: limit + REDACT_MARGIN]
    if raw.redact is not None and head:
        # latin-1 maps every byte to one character and back: the cut stays a byte count.
        head = raw.redact(head.decode("latin-1")).encode("latin-1", "replace")
    return head[:limit]


def server_time(headers: Mapping[str, str]) -> float | None:
    """The server's clock from its ``Date`` header (``Wed, 25 Nov 2026 05:29:13 GMT``), in
    epoch seconds; ``None`` if absent or unreadable."""
    return http_date(headers.get("Date"))
