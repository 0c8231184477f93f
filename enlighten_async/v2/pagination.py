"""Following ``next`` tokens, lazily, and never round in circles.

The server is not trusted to end the chain: a token it already sent (A -> B -> A), a token
that is not a string or is absurdly long, or more pages than any account can have, each
end the walk with :class:`ResponseFormatError` instead of an endless stream of requests.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Protocol, TypeVar

from enlighten_async.core.exceptions import ResponseFormatError

__all__ = ["MAX_PAGES", "MAX_TOKEN_LENGTH", "Page", "paginate"]

T_co = TypeVar("T_co", covariant=True)
T = TypeVar("T")

#: The most pages one walk follows: ten million systems at ``limit=1000``, a million at
#: the default 100. A server that keeps sending fresh tokens past it is broken.
MAX_PAGES = 10_000
#: The longest token followed (the spec's example is 18 characters); it goes into a URL.
MAX_TOKEN_LENGTH = 2048


class Page(Protocol[T_co]):
    """A page of results with the token of the next page."""

    @property
    def next(self) -> object: ...

    def items(self) -> Iterable[T_co]: ...


def _digest(token: str) -> bytes:
    # 16 bytes a token, whatever its length: the memory of a walk stays small.
    return hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=16).digest()


async def paginate(
    fetch: Callable[[str | None], Awaitable[Page[T]]],
    first: str | None = None,
    *,
    operation: str = "systems",
    max_pages: int = MAX_PAGES,
) -> AsyncIterator[T]:
    """Yield every item, page after page, asking for a page only when the caller wants more.

    Stops when a page has no ``next`` token (absent, ``null`` or empty). Every page is one
    ``fetch``, so it passes the scheduler like any other request. Raises
    :class:`ResponseFormatError`, after yielding the items of the page that carried it,
    for a token seen before in this walk (``first`` included), a token that is not a
    string or is longer than :data:`MAX_TOKEN_LENGTH`, and a ``next`` on page
    ``max_pages``.
    """
    seen: set[bytes] = set() if first is None else {_digest(first)}
    token = first
    pages = 0
    while True:
        page = await fetch(token)
        pages += 1
        for item in page.items():
            yield item
        nxt = page.next
        if nxt is None or nxt == "":
            return
        if not isinstance(nxt, str):
            raise _broken(operation, pages, f"its next token is a {type(nxt).__name__}")
        if len(nxt) > MAX_TOKEN_LENGTH:
            raise _broken(operation, pages, f"its next token is {len(nxt)} characters long")
        digest = _digest(nxt)
        if digest in seen:
            raise _broken(operation, pages, "its next token repeats an earlier one (a cycle)")
        if pages >= max_pages:
            raise _broken(operation, pages, f"the server sent more than {max_pages} pages")
        seen.add(digest)
        token = nxt


def _broken(operation: str, pages: int, why: str) -> ResponseFormatError:
    # The token itself stays out of the message: it is the server's text, of any size.
    return ResponseFormatError(
        f"{operation}: pagination stopped after page {pages}: {why}",
        operation=operation,
        status=200,
        details=(why,),
    )
