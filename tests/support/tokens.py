"""A fake :class:`~enlighten_async.v4.client.TokenSource` for the v4 client's tests: hands
out ``token-1``, and on each ``after_unauthorized`` of the current token moves to the next
one, counting the calls."""

from __future__ import annotations


class FakeTokens:
    """Tokens ``<prefix>-1``, ``<prefix>-2``, ...; a refresh makes the next one current."""

    def __init__(self, prefix: str = "tk9f8e7d6c5b4a") -> None:
        self.prefix = prefix
        self.number = 1
        self.access_calls = 0
        self.refreshes: list[str] = []

    @property
    def current(self) -> str:
        """The token handed out now."""
        return f"{self.prefix}-{self.number}"

    async def access_token(self) -> str:
        """The current token."""
        self.access_calls += 1
        return self.current

    async def after_unauthorized(self, rejected: str) -> str:
        """Move to the next token unless ``rejected`` is already stale (single-flight)."""
        self.refreshes.append(rejected)
        if rejected == self.current:
            self.number += 1
        return self.current

    def __repr__(self) -> str:
        return "FakeTokens(***)"
