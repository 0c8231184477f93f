"""The hostile faults: what a client sees for each, and that all are off
by default (the demo, the tests and the benchmarks must never meet one unasked)."""

from __future__ import annotations

import argparse
import gzip
import json
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import pytest

from enlighten_async.core.transport import MAX_BODY_BYTES, MAX_WIRE_BYTES
from enlighten_async.simulator import (
    FAULT_NAMES,
    Faults,
    Fleet,
    Plan,
    Simulator,
    SimulatorServer,
    cli,
    embedded,
)
from enlighten_async.simulator.faults import (
    BOMB_BYTES,
    DATE_FAULTS,
    DATE_LIE_SECONDS,
    FAR_CONFLICT_SECONDS,
    HOSTILE_FAULTS,
    OVERSIZE_BYTES,
    PROBABILITIES,
)

from .conftest import FIXED_NOW, KEY, USER, Api, FakeClock

DAY = 86400
# A day of system 67 (Los Angeles, production meter and consumption meter) two days ago.
START = int(FIXED_NOW) // DAY * DAY - 2 * DAY
SPAN = {"start_at": START, "end_at": START + DAY}


def test_every_hostile_kind_is_off_by_default() -> None:
    faults = Faults()
    assert not faults.hostile
    assert all(getattr(faults, PROBABILITIES[kind]) == 0.0 for kind in HOSTILE_FAULTS)
    assert [faults.pick("stats", 0) for _ in range(1000)] == [None] * 1000
    assert [faults.pick_date("stats") for _ in range(1000)] == [None] * 1000
    assert set(HOSTILE_FAULTS) <= set(FAULT_NAMES)
    # Nor does the `simulate` program turn one on unless its flag is given.
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    assert not cli._simulator(parser.parse_args([])).faults.hostile
    assert not Simulator().faults.hostile


async def test_the_embedded_simulator_serves_no_hostile_fault() -> None:
    async with embedded(systems=2) as sim:
        assert not sim.simulator.faults.hostile


async def test_a_seeded_run_of_the_ordinary_kinds_is_what_it_was() -> None:
    # The hostile faults are drawn after the others and only when on: a seed gives the
    # ordinary faults it gave before they existed, with or without a Date fault drawn too.
    def draws(faults: Faults) -> list[str | None]:
        return [faults.pick("stats", 0) for _ in range(200)]

    plain = draws(Faults(p_503=0.2, p_500=0.1, seed=3))
    assert plain == draws(Faults(p_503=0.2, p_500=0.1, seed=3, p_409_far_second=0.0))
    assert "503" in plain and "500" in plain


async def _raw_get(
    sim_server: SimulatorServer, path: str, **params: Any
) -> tuple[aiohttp.ClientResponse, bytes]:
    query = {"key": KEY, "user_id": USER, **{k: str(v) for k, v in params.items()}}
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        async with session.get(sim_server.base_url + path, params=query) as resp:
            return resp, await resp.read()


async def test_oversize_is_the_answer_padded_and_sent_without_a_length(
    simulator: Simulator, sim_server: SimulatorServer
) -> None:
    resp, honest = await _raw_get(sim_server, "/systems/67/stats", **SPAN)
    simulator.faults.oversize_bytes = 300_000
    simulator.faults.schedule("stats", ["oversize"])
    resp, body = await _raw_get(sim_server, "/systems/67/stats", **SPAN)
    assert resp.status == 200 and resp.content_length is None  # chunked: no size up front
    assert resp.headers["Transfer-Encoding"] == "chunked"
    assert len(body) >= 300_000 and body.startswith(honest)
    assert json.loads(body) == json.loads(honest)  # JSON still: only its size is wrong
    assert simulator.counters.faults == {"oversize": 1}


async def test_a_gzip_bomb_is_small_and_inflates_past_its_size(
    simulator: Simulator, sim_server: SimulatorServer
) -> None:
    simulator.faults.bomb_bytes = 4 * 1024 * 1024
    simulator.faults.schedule("stats", ["gzip_bomb"])
    resp, body = await _raw_get(sim_server, "/systems/67/stats", **SPAN)
    assert resp.status == 200 and resp.headers["Content-Encoding"] == "gzip"
    assert len(body) < 10_000
    assert gzip.decompress(body) == b" " * (4 * 1024 * 1024)
    assert simulator.counters.faults == {"gzip_bomb": 1}


def test_the_default_sizes_are_past_the_clients_cap() -> None:
    # An oversize body must pass the client's cap on the wire, a bomb its cap once
    # decompressed: else the soak would meet neither cap.
    assert OVERSIZE_BYTES > MAX_WIRE_BYTES and OVERSIZE_BYTES > MAX_BODY_BYTES
    assert BOMB_BYTES > MAX_BODY_BYTES
    assert Faults().oversize_bytes == OVERSIZE_BYTES and Faults().bomb_bytes == BOMB_BYTES


@pytest.mark.parametrize(
    ("kind", "period", "length"),
    [("409_far_second", "second", 1), ("409_far_minute", "minute", 60)],
)
async def test_a_far_409_contradicts_its_period_and_is_not_counted(
    kind: str, period: str, length: int
) -> None:
    clock = FakeClock()
    sim = Simulator(
        fleet=Fleet(2, seed=3, anchor=FIXED_NOW),
        plan=Plan.parse("20/minute"),
        clock=clock,
        api_key=KEY,
        user_id=USER,
    )
    sim.faults.schedule("systems", [kind])
    async with SimulatorServer(sim) as server, aiohttp.ClientSession() as session:
        r = await Api(session, server.base_url).get("/systems")
    now = int(FIXED_NOW)
    assert r.status == 409
    assert r.body["period"] == period and r.body["limit"] == 20
    assert r.body["period_start"] == now // length * length
    assert r.body["period_end"] == now + FAR_CONFLICT_SECONDS  # ten years, not a period
    assert sim.counters.faults == {kind: 1}
    assert sim.counters.conflicts == 0  # not the quota's 409
    assert [u["used"] for u in sim.counters.usage] == []  # nothing counted


def _date_of(reply_headers: dict[str, str]) -> float:
    return parsedate_to_datetime(reply_headers["Date"]).timestamp()


async def test_date_faults_lie_by_an_hour_the_epoch_or_in_turn(
    api: Api, simulator: Simulator
) -> None:
    simulator.faults.schedule("systems", ["date_behind", "date_epoch", *["date_flap"] * 3])
    dates = [_date_of((await api.get("/systems")).headers) for _ in range(6)]
    now = FIXED_NOW // 1  # a Date holds whole seconds
    hour = DATE_LIE_SECONDS
    assert dates == [now - hour, 0.0, now + hour, now - hour, now + hour, now]
    assert simulator.counters.faults == {"date_behind": 1, "date_epoch": 1, "date_flap": 3}


async def test_a_date_fault_goes_on_a_409_and_with_another_fault() -> None:
    sim = Simulator(
        fleet=Fleet(2, seed=3, anchor=FIXED_NOW),
        plan=Plan.parse("1/minute"),
        clock=FakeClock(),
        faults=Faults(p_date_epoch=1.0),
        api_key=KEY,
        user_id=USER,
    )
    sim.faults.schedule(None, ["503"])
    async with SimulatorServer(sim) as server, aiohttp.ClientSession() as session:
        api = Api(session, server.base_url)
        first, second = await api.get("/systems"), await api.get("/systems")
    assert (first.status, second.status) == (503, 409)
    assert _date_of(first.headers) == _date_of(second.headers) == 0.0
    assert sim.counters.faults == {"503": 1, "date_epoch": 2}


def test_hostile_probabilities_are_drawn_and_seeded() -> None:
    def run(seed: int) -> list[str | None]:
        every: dict[str, Any] = {PROBABILITIES[k]: 0.05 for k in HOSTILE_FAULTS}
        faults = Faults(**every, seed=seed)
        return [faults.pick("stats", 0) for _ in range(2000)] + [
            faults.pick_date("stats") for _ in range(500)
        ]

    first = run(7)
    assert first == run(7)
    assert set(HOSTILE_FAULTS) <= set(first)
    # A Date fault only ever comes from pick_date, never from pick.
    assert not set(first[:2000]) & set(DATE_FAULTS)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fault-wrong-span", "2"], "error: p_wrong_span is a probability from 0 to 1"),
        (["--fault-409-far-minute", "-1"], "error: p_409_far_minute is a probability"),
        (["--fault-date-flap", "nan"], "error: p_date_flap is a probability from 0 to 1"),
        (["--oversize-bytes", "0"], "error: oversize_bytes must be a whole number of bytes"),
        (["--bomb-bytes", "-5"], "error: bomb_bytes must be a whole number of bytes"),
    ],
)
def test_bad_hostile_options_are_one_line_and_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    assert cli.run(parser.parse_args(["--port", "0", *args])) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


def test_every_hostile_flag_reaches_its_probability() -> None:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    flags: list[str] = []
    for i, kind in enumerate(HOSTILE_FAULTS):
        flags += [f"--fault-{kind.replace('_', '-')}", f"0.0{i + 1}"]
    args = parser.parse_args([*flags, "--oversize-bytes", "123", "--bomb-bytes", "456"])
    faults = cli._simulator(args).faults
    assert [getattr(faults, PROBABILITIES[k]) for k in HOSTILE_FAULTS] == [
        float(f"0.0{i + 1}") for i in range(len(HOSTILE_FAULTS))
    ]
    assert (faults.oversize_bytes, faults.bomb_bytes) == (123, 456)
