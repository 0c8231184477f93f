"""Shared fixtures: the aioresponses mock (with the aiohttp 3.14 shim) and spec examples."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest.mock import Mock

import aiohttp
import aioresponses.core as aioresponses_core
import pytest
import yaml
from aioresponses import aioresponses

SPEC_PATH = Path(__file__).resolve().parent.parent / "spec" / "enlighten-systems-api-v2.yaml"
API_KEY = "k3y-SECRET-4f9a1c"
USER_ID = "u5er-SECRET-77b2"
BASE = "https://api.enphaseenergy.com/api/v2"


class _CompatResponse(aiohttp.ClientResponse):
    """aioresponses 0.7.9 builds ClientResponse without the ``stream_writer`` that aiohttp
    3.14 requires (aioresponses issue 289). aiohttp only reads ``stream_writer.output_size``
    (the fix proposed upstream in its PR 288), so a stub is enough; on older aiohttp this
    class is not installed at all."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", Mock(output_size=0))
        super().__init__(*args, **kwargs)


_NEEDS_SHIM = "stream_writer" in inspect.signature(aiohttp.ClientResponse.__init__).parameters


@pytest.fixture
def mock_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[aioresponses]:
    """aioresponses, working on aiohttp 3.14 too. Loopback passes through (for simulators)."""
    if _NEEDS_SHIM:
        monkeypatch.setattr(aioresponses_core, "ClientResponse", _CompatResponse)
    with aioresponses(passthrough=["http://127.0.0.1"]) as mocked:
        yield mocked


@pytest.fixture(scope="session")
def spec() -> dict[str, Any]:
    """The API spec, read from the copy in this repository."""
    with SPEC_PATH.open(encoding="utf-8") as fh:
        loaded: dict[str, Any] = yaml.safe_load(fh)
    return loaded


@pytest.fixture(scope="session")
def examples(spec: dict[str, Any]) -> dict[str, Any]:
    """Every schema's ``example``, by schema name."""
    return {
        name: schema["example"]
        for name, schema in spec["components"]["schemas"].items()
        if "example" in schema
    }


@pytest.fixture(autouse=True)
def _own_loop_for_sync_tests(request: pytest.FixtureRequest) -> Iterator[None]:
    """Give sync tests a loop we close ourselves.

    The looptime plugin calls ``policy.get_event_loop()`` around every test; in a sync test
    that creates a loop nobody closes, and when the garbage collector finds it during a
    later async test, its ResourceWarning fails that test (warnings are errors).
    """
    if inspect.iscoroutinefunction(request.function):
        yield
        return
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        yield
    finally:
        asyncio.set_event_loop(None)
        loop.close()
