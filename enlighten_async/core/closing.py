"""One ``async with`` for the package's resources: opened on entry, closed on exit.

The client, the store and the simulator's server are all used as ``async with x: ...``;
this is that protocol once, so that each of them says only what opening and closing mean.
"""

from __future__ import annotations

from types import TracebackType
from typing import TypeVar

__all__ = ["AsyncResource"]

R = TypeVar("R", bound="AsyncResource")


class AsyncResource:
    """A resource for ``async with``: :meth:`_enter` on entry (nothing by default), then
    :meth:`close` on exit, however the block ended."""

    __slots__ = ()

    async def _enter(self) -> None:
        """What entering the block does before the resource is handed over."""

    async def close(self) -> None:
        """Release what the resource holds; safe to call twice."""
        raise NotImplementedError

    async def __aenter__(self: R) -> R:
        await self._enter()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
