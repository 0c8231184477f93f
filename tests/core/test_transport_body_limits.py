"""Bodies too large to read: each ends in a typed error, memory flat.

A hostile ``aiohttp.web`` server on loopback, in this process, answers ``rgm_stats`` by
system id: a 2 GB body, an endless chunked one, a 4 MB gzip bomb, 10 million valid
intervals, and more. The client runs in a child process (``tests/support/body_limit_child.py``)
whose address space is capped 256 MiB above what it uses after a warm-up call: a client
that reads a whole 2 GB body there ends in ``MemoryError`` (or a crash), not in the
typed error. The child also reports its peak resident set and the longest time its event
loop went without running a ticker task.

Then, without a child, the cap on intervals: a body under the byte cap holding more
intervals (or arrays) than :data:`~enlighten_async.v2.protocol.MAX_INTERVALS` is refused
before it is parsed.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import struct
import sys
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

import enlighten_async as ea
from enlighten_async.core import transport as _transport
from enlighten_async.core.wire import RawResponse, Request
from enlighten_async.v2 import protocol as _protocol
from enlighten_async.v2.protocol import decode
from tests.conftest import API_KEY, USER_ID
from tests.support.body_limit_child import WARM_UP
from tests.support.loopback import serving

ROOT = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024
GB = 2 * 1024 * MIB  # the "2 GB body"
#: A run of JSON whitespace, written again and again for the large bodies.
BLANKS = b" " * MIB
#: How much the child's peak resident set may grow over the call: a capped read holds at
#: most the 8 MiB body, a socket read and a decompression step.
FLAT_KB = 48 * 1024
#: The most CPU the child's loop may spend without running its ticker (1 ms period): a
#: regression guard only (a 64 KiB decompression step takes about 0.15 ms). CPU time,
#: because on a loaded machine the wall-clock gap also counts time the process waited
#: for a core; that gap gets only a loose bound, :data:`MAX_WALL_GAP`.
MAX_GAP = 0.1
MAX_WALL_GAP = 1.0
#: Valid ``rgm_stats`` intervals past the cap (and its room for other objects), in a body
#: under the byte cap.
OVER_CAP = _protocol.MAX_INTERVALS + _protocol.OTHER_CONTAINERS + 100

Handler = Callable[[web.Request], Coroutine[Any, Any, web.StreamResponse]]


def _meta() -> dict[str, Any]:
    return {
        "status": "normal",
        "last_report_at": 1_700_000_000,
        "last_energy_at": 1_700_000_000,
        "operational_at": 1_600_000_000,
    }


def _head(system_id: int) -> bytes:
    """An ``rgm_stats`` body up to its ``intervals`` list, left open."""
    head = orjson.dumps({"system_id": system_id, "total_devices": 1, "meta": _meta()})
    return head[:-1] + b',"intervals":['


def _interval(i: int) -> bytes:
    return b'{"end_at":%d,"wh_del":1,"devices_reporting":1}' % (1_700_000_900 + 900 * i)


def _intervals_body(system_id: int, count: int) -> bytes:
    return _head(system_id) + b",".join(map(_interval, range(count))) + b"]}"


@functools.cache
def gzip_bomb(mebibytes: int = 4096) -> bytes:
    """A valid gzip stream of ``mebibytes`` MiB of zeros: 4 GiB in about 4 MB.

    Made without compressing 4 GiB: after a full flush, each further MiB of zeros
    compresses to the same bytes, so one such block is repeated; the trailer's CRC is
    computed over the zeros (about a second).
    """
    zeros = bytes(MIB)
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    first = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    again = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    final_block = packer.flush(zlib.Z_FINISH)[:-8]  # the trailer is made below
    crc = 0
    for _ in range(mebibytes):
        crc = zlib.crc32(zeros, crc)
    size = (mebibytes * MIB) & 0xFFFFFFFF
    return first + again * (mebibytes - 1) + final_block + struct.pack("<II", crc, size)


async def _write_until_gone(resp: web.StreamResponse, chunks: Any) -> None:
    """Write each chunk until the client hangs up (it is meant to)."""
    try:
        for chunk in chunks:
            await resp.write(chunk)
        await resp.write_eof()
    except (OSError, RuntimeError):  # the client reset the connection
        pass


def _forever(chunk: bytes) -> Any:
    while True:
        yield chunk


async def _tiny(request: web.Request, system_id: int) -> web.StreamResponse:
    body = orjson.dumps(
        {
            "system_id": system_id,
            "total_devices": 0,
            "meta": _meta(),
            "intervals": [],
            "meter_intervals": [],
        }
    )
    return web.Response(body=body, content_type="application/json")


async def _two_gb(request: web.Request, status: int = 200) -> web.StreamResponse:
    resp = web.StreamResponse(status=status, headers={"Content-Type": "application/json"})
    resp.content_length = GB
    await resp.prepare(request)
    await _write_until_gone(resp, (BLANKS for _ in range(GB // MIB)))
    return resp


async def _endless(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    await _write_until_gone(resp, _forever(BLANKS))
    return resp


async def _bomb(request: web.Request) -> web.StreamResponse:
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    return web.Response(body=gzip_bomb(), headers=headers)


async def _ten_million(request: web.Request) -> web.StreamResponse:
    """10 million valid intervals (about 560 MB), chunked: no Content-Length to refuse."""
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    per_chunk = 20_000

    def chunks() -> Any:
        yield _head(4)
        for start in range(0, 10_000_000, per_chunk):
            lead = b"" if start == 0 else b","
            yield lead + b",".join(map(_interval, range(start, start + per_chunk)))
        yield b"]}"

    await _write_until_gone(resp, chunks())
    return resp


async def _endless_empty_gzip(request: web.Request) -> web.StreamResponse:
    """A gzip stream that never ends and decompresses to nothing: empty stored blocks."""
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    resp = web.StreamResponse(headers=headers)
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    start = packer.compress(b"") + packer.flush(zlib.Z_FULL_FLUSH)  # the gzip header
    # A stored block holding nothing, not the last (RFC 1951): 5 bytes that inflate to none.
    empty = b"\x00\x00\x00\xff\xff"
    await _write_until_gone(resp, itertools.chain([start], _forever(empty * 50_000)))
    return resp


async def _over_cap(request: web.Request) -> web.StreamResponse:
    """Valid intervals past MAX_INTERVALS, in fewer bytes than MAX_BODY_BYTES."""
    body = _intervals_body(7, OVER_CAP)
    assert len(body) < _transport.MAX_BODY_BYTES
    return web.Response(body=body, content_type="application/json")


#: system id -> (what the server sends, its handler, the error the call must end in)
CASES: dict[int, tuple[str, Handler, type[ea.EnlightenError]]] = {
    1: ("2 GB body (Content-Length)", _two_gb, ea.ResponseFormatError),
    2: ("endless chunked body", _endless, ea.ResponseFormatError),
    3: ("4 MB gzip bomb (4 GiB of zeros)", _bomb, ea.ResponseFormatError),
    4: ("10 million valid intervals, chunked", _ten_million, ea.ResponseFormatError),
    5: ("endless gzip stream of empty blocks", _endless_empty_gzip, ea.ResponseFormatError),
    6: ("409 with a 2 GB body", functools.partial(_two_gb, status=409), ea.RateLimitError),
    7: (f"{OVER_CAP:,} valid intervals under the byte cap", _over_cap, ea.ResponseFormatError),
}


@pytest.fixture
async def hostile_server() -> AsyncIterator[str]:
    """Serves ``rgm_stats`` per system id: ``WARM_UP`` a small valid answer, the others
    ``CASES``."""

    async def handle(request: web.Request) -> web.StreamResponse:
        system_id = int(request.match_info["sid"])
        if system_id == WARM_UP:
            return await _tiny(request, system_id)
        return await CASES[system_id][1](request)

    app = web.Application()
    app.router.add_get("/api/v2/systems/{sid}/rgm_stats", handle)
    async with serving(app, handler_cancellation=True) as url:
        yield f"{url}/api/v2"


async def _run_child(base_url: str, system_id: int) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.body_limit_child",
        base_url,
        str(system_id),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 100)
    tail = err.decode(errors="replace")[-2000:]
    assert proc.returncode == 0, f"the child exited {proc.returncode}: {tail}"
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("system_id", sorted(CASES), ids=[CASES[k][0] for k in sorted(CASES)])
async def test_a_body_past_the_caps_is_a_typed_error_with_flat_memory(
    hostile_server: str, system_id: int
) -> None:
    if system_id == 3:
        await asyncio.to_thread(gzip_bomb)  # built before the child's clock starts
    result = await _run_child(hostile_server, system_id)
    expected = CASES[system_id][2]
    assert result["error"] == expected.__name__, result
    grown = result["hwm_kb"] - result["rss_before_kb"]
    assert grown < FLAT_KB, f"peak resident set grew {grown:,} kB: {result}"
    assert result["max_cpu_gap"] < MAX_GAP, result
    assert result["max_gap"] < MAX_WALL_GAP, result
    message = result["message"]
    assert API_KEY not in message and USER_ID not in message and "key=" not in message


def _decode_peak(body: bytes) -> tuple[BaseException | None, int]:
    """What ``decode`` raises for an ``rgm_stats`` 200 with ``body``, and the bytes it
    allocated at its peak (tracemalloc)."""
    raw = RawResponse(200, {}, body)
    request = Request("rgm_stats", "/systems/7/rgm_stats", (), ea.RgmStats)
    tracemalloc.start()
    try:
        decode(request, raw)
    except ea.EnlightenError as exc:
        return exc, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return None, 0


def test_more_intervals_than_the_cap_are_refused_before_parsing() -> None:
    body = _intervals_body(7, OVER_CAP)
    assert _protocol.SCAN_ABOVE_BYTES < len(body) < _transport.MAX_BODY_BYTES
    exc, peak = _decode_peak(body)
    assert isinstance(exc, ea.ResponseFormatError), exc
    assert f"{_protocol.MAX_INTERVALS:,} intervals" in str(exc)
    assert exc.details  # not retried: the same body would come again
    assert peak < 2 * MIB, f"decode allocated {peak:,} bytes: the body was parsed"


def test_a_body_of_empty_arrays_cannot_stand_in_for_intervals() -> None:
    # 2.7 million [] in 8 MB: orjson would build 2.7 million lists (about 270 MB).
    count = (_transport.MAX_BODY_BYTES - 1000) // 3
    body = _head(7) + b",".join([b"[]"] * count) + b"]}"
    assert len(body) <= _transport.MAX_BODY_BYTES
    exc, peak = _decode_peak(body)
    assert isinstance(exc, ea.ResponseFormatError), exc
    assert peak < 2 * MIB, f"decode allocated {peak:,} bytes: the body was parsed"


def test_no_body_under_the_scan_threshold_can_hold_more_intervals_than_the_cap() -> None:
    # The count of brackets is skipped for bodies up to SCAN_ABOVE_BYTES: none of them
    # can hold MAX_INTERVALS intervals, each at least {"end_at":0}, long.
    shortest = len(b'{"end_at":0},')
    assert _protocol.SCAN_ABOVE_BYTES // shortest < _protocol.MAX_INTERVALS
