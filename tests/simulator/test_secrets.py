"""The key and the user id never show up in logs, error pages or reprs."""

from __future__ import annotations

import logging

import pytest

from enlighten_async.simulator import Simulator

from .conftest import KEY, USER, Api


async def test_access_log_hides_query(
    api: Api, simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="enlighten_async.simulator"):
        await api.get("/systems/67/stats", {"start_at": 1})
        await api.get("/systems", key="not-the-key")
        await api.get("/nope")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "/api/v2/systems/67/stats" in text and " 200 " in text
    for secret in (KEY, USER, "not-the-key"):
        assert secret not in text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_error_bodies_do_not_echo_secrets(api: Api) -> None:
    for r in (
        await api.get("/systems", key=KEY + "x"),
        await api.get("/systems/67/stats", {"start_at": "x" + KEY}),
        await api.get("/systems/1/summary"),
        await api.get("/systems/unknown"),
    ):
        assert KEY not in r.text and USER not in r.text


def test_repr_hides_secrets(simulator: Simulator) -> None:
    assert KEY not in repr(simulator) and USER not in repr(simulator)
    assert KEY not in str(simulator.counters.to_dict())
