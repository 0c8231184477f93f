"""Following ``next`` tokens, lazily."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Protocol, TypeVar

__all__ = ["Page", "paginate"]

T_co = TypeVar("T_co", covariant=True)
T = TypeVar("T")


class Page(Protocol[T_co]):
    """A page of results with the token of the next page."""

    @property
    def next(self) -> str | None: ...

    def items(self) -> Iterable[T_co]: ...


async def paginate(
    fetch: Callable[[str | None], Awaitable[Page[T]]], first: str | None = None
) -> AsyncIterator[T]:
    """Yield every item, page after page, asking for a page only when the caller wants more.

    Stops when a page has no ``next`` token, or repeats the token it was asked with (a
    server bug that would otherwise loop forever).
    """
    token = first
    while True:
        page = await fetch(token)
        for item in page.items():
            yield item
        if not page.next or page.next == token:
            return
        token = page.next
