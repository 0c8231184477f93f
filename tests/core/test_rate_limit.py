"""The version-neutral rate-limit signal (:mod:`enlighten_async.core.rate_limit`): what a
:class:`~enlighten_async.RateLimitError` carries for the scheduler and the ledgers, and how
API v2's protocol builds it from a 409 body."""

from __future__ import annotations

import copy
import json
import pickle
from datetime import datetime, timezone

import pytest

import enlighten_async as ea
from enlighten_async.core.rate_limit import RateLimitSignal
from enlighten_async.core.wire import RawResponse
from enlighten_async.v2.protocol import error_for

START = datetime(2027, 3, 1, 12, 0, tzinfo=timezone.utc)
END = datetime(2027, 3, 1, 12, 1, tzinfo=timezone.utc)


def test_an_error_made_with_a_signal_shows_its_fields() -> None:
    signal = RateLimitSignal(period="minute", period_start=START, period_end=END, limit=10)
    err = ea.RateLimitError("spent", operation="stats", signal=signal)
    assert err.signal is signal
    assert (err.period, err.period_start, err.period_end, err.limit) == ("minute", START, END, 10)


def test_an_error_made_with_fields_makes_its_signal() -> None:
    err = ea.RateLimitError("spent", period="minute", period_end=END, limit=10)
    assert err.signal == RateLimitSignal(period="minute", period_end=END, limit=10)
    assert ea.RateLimitError("spent").signal == RateLimitSignal()


def test_a_signal_and_its_fields_beside_it_are_refused() -> None:
    with pytest.raises(TypeError, match="limit"):
        ea.RateLimitError("spent", signal=RateLimitSignal(), limit=10)


def test_the_signal_survives_a_copy_and_a_pickle() -> None:
    err = ea.RateLimitError("spent", signal=RateLimitSignal(period="month", limit=5))
    for again in (copy.copy(err), pickle.loads(pickle.dumps(err))):
        assert isinstance(again, ea.RateLimitError)
        assert again.signal == err.signal and again.limit == 5


def test_v2_decodes_a_409_body_into_the_signal() -> None:
    body = {"reason": "409", "message": ["Usage limit exceeded for plan Watt"],
            "period": "minute", "limit": 10,
            "period_start": int(START.timestamp()), "period_end": int(END.timestamp())}  # fmt: skip
    err = error_for("stats", RawResponse(409, {}, json.dumps(body).encode()))
    assert isinstance(err, ea.RateLimitError)
    assert err.signal == RateLimitSignal(
        period="minute", period_start=START, period_end=END, limit=10
    )
    assert err.body["period"] == "minute"  # the body stays what the server sent


@pytest.mark.parametrize(
    "raw", [b"<html>busy</html>", b"[1, 2]", b'{"period": [], "period_end": "soon"}']
)
def test_an_unreadable_409_signals_no_window(raw: bytes) -> None:
    err = error_for("stats", RawResponse(409, {}, raw))
    assert isinstance(err, ea.RateLimitError)
    assert err.signal.period_start is None and err.signal.period_end is None
    assert err.signal.limit is None
