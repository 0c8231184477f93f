"""Fuzzing: mutated spec bodies under every status end in a model or an EnlightenError.

Bodies start from the spec's examples (success and error schemas) and are mutated: keys
dropped, values replaced by nulls, wrong types, huge numbers, unknown enum values and
strings that carry the credentials; extra fields; values wrapped hundreds of levels deep;
then the bytes may be cut short, salted with garbage, made invalid UTF-8 or replaced by
an HTML page or nothing. Every status the service (or a proxy) might answer with is used.

Two paths, each run a few hundred times by default and a few thousand under ``-m soak``:

* ``decode()`` + ``scrub()`` exactly as ``EnlightenClient._call`` runs them;
* the whole client (scheduler, retry policy, protocol) over a transport that hands back
  canned responses.

Each call must return the operation's model (or ``None`` for a 204 where the spec allows
one) or raise an :class:`EnlightenError` subclass, never anything else; the error must
print (``str``, ``repr``, its fields, a traceback) in bounded size, with no run of six or
more characters of the key or user id.
"""

from __future__ import annotations

import asyncio
import copy
import json
import traceback
import typing
import warnings
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import enlighten_async as ea
from enlighten_async.core.transport import Credentials, scrub
from enlighten_async.core.wire import RawResponse, Request
from enlighten_async.v2.protocol import decode

from ..conftest import API_KEY, SPEC_PATH, USER_ID

CREDS = Credentials(API_KEY, USER_ID)
FRAGMENT = 6
SECRET_FRAGMENTS = frozenset(
    s[i : i + FRAGMENT] for s in (API_KEY, USER_ID) for i in range(len(s) - FRAGMENT + 1)
)

with SPEC_PATH.open(encoding="utf-8") as _fh:
    _SCHEMAS: dict[str, Any] = yaml.safe_load(_fh)["components"]["schemas"]
EXAMPLES: dict[str, Any] = {n: s["example"] for n, s in _SCHEMAS.items() if "example" in s}
# The spec gives no example for a 422 body; this one follows its schema.
EXAMPLES.setdefault(
    "UnprocessableEntityError",
    {
        "reason": "422",
        "message": ["Requested date range is invalid for this system"],
        "start_at": 1381474800,
        "end_at": 1381561200,
        "first_interval": 1381474800,
    },
)

#: operation name -> (model, success example)
OPERATIONS: dict[str, tuple[Any, str]] = {
    "energy_lifetime": (ea.EnergyLifetime, "EnergyLifetimeResponse"),
    "envoys": (ea.Envoys, "EnvoysResponse"),
    "systems": (ea.SystemsPage, "SystemsResponse"),
    "inventory": (ea.Inventory, "InventoryResponse"),
    "inverters_summary_by_envoy_or_site": (
        tuple[ea.InvertersSummary, ...],
        "InvertersSummaryByEnvoyOrSiteResponse",
    ),
    "monthly_production": (ea.MonthlyProduction, "MonthlyProductionResponse"),
    "production_meter_readings": (ea.ProductionMeterReadings, "ProductionMeterReadingsResponse"),
    "rgm_stats": (ea.RgmStats, "RgmStatsResponse"),
    "stats": (ea.Stats, "StatsResponse"),
    "consumption_lifetime": (ea.ConsumptionLifetime, "ConsumptionLifetimeResponse"),
    "consumption_stats": (ea.ConsumptionStats, "ConsumptionStatsResponse"),
    "summary": (ea.Summary, "SummaryResponse"),
    "search_system_id": (ea.SearchSystemIdResult, "SearchSystemIdResponse"),
}

#: The operations the spec lets answer 204 (no meter).
NO_CONTENT_OPERATIONS = frozenset({"energy_lifetime", "consumption_lifetime"})

#: The error example the spec pairs with a status.
ERROR_EXAMPLE = {
    400: "ClientError",
    401: "ClientError",
    403: "ClientError",
    404: "NotFoundError",
    409: "ConflictError",
    422: "UnprocessableEntityError",
    429: "ClientError",
}

STATUSES = st.one_of(
    st.just(200),  # a third or so of the cases: the success path, mutated
    st.sampled_from([204, 301, 400, 401, 403, 404, 409, 409, 422, 429]),
    st.sampled_from([500, 502, 503, 504, 599]),
    st.integers(min_value=100, max_value=599),
)

ODD_STRINGS = [
    "",
    " 12 ",
    "-3",
    "1.5",
    "normal",
    "comm",
    "a_status_not_in_the_spec",
    "2026-10-01T00:00:00Z",
    "2026-10-01",
    "not a date",
    "9" * 5000,
    "\u00e9\u2603\U0001f600",
    "\x00",
    f"GET /api/v2/systems?key={API_KEY}&user_id={USER_ID}",
    f"echo {API_KEY[:10]}",
    f"{USER_ID[2:]} was here",
    "<html>" * 100,
]

ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([0, -1, 2**31, 2**63, 2**64 + 1, 10**30, -(10**30), 253402300800]),
    st.floats(),
    st.sampled_from(ODD_STRINGS),
    st.text(max_size=30),
    st.lists(st.integers(min_value=-5, max_value=5), max_size=4),
    st.dictionaries(
        st.sampled_from(["a", "status", "end_at", "reason"]), st.integers(), max_size=3
    ),
)


def _paths(value: Any, prefix: tuple[Any, ...] = (), depth: int = 0) -> list[tuple[Any, ...]]:
    """Where a mutation may land: every key and the first few items, a few levels down."""
    out = [prefix]
    if depth >= 5:
        return out
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key), depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value[:3]):
            out += _paths(item, (*prefix, i), depth + 1)
    return out


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


def _set(root: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    _get(root, path[:-1])[path[-1]] = new
    return root


SECRET_STRINGS = st.sampled_from(
    [
        f"GET /api/v2/systems/1/stats?key={API_KEY}&user_id={USER_ID}",
        f"echo {API_KEY[:10]}",
        f"{USER_ID[2:]} was here",
        API_KEY,
        USER_ID,
        f"{API_KEY[4:10]}",
        f"k={API_KEY.upper()}",
    ]
)
#: The fields the error classes read, where a mutation is most telling.
ERROR_FIELDS = ["message", "errorMessages", "reason", "errorCode", "period", "period_end", "start"]


class _Wraps:
    """Values to be written nested ``depth`` levels deep, which ``json.dumps`` cannot write
    (it recurses): each stands in the body as a token, replaced in the serialized text."""

    def __init__(self) -> None:
        self.items: dict[str, tuple[int, Any, bool]] = {}

    def add(self, depth: int, value: Any, lists: bool) -> str:
        token = f"@@wrap{len(self.items)}@@"
        self.items[token] = (depth, value, lists)
        return token

    def render(self, text: str) -> str:
        for _ in range(3):  # a wrap inside a wrap
            for token, (depth, value, lists) in self.items.items():
                quoted = json.dumps(token)
                if quoted in text:
                    inner = json.dumps(value)
                    opened, closed = ("[", "]") if lists else ('{"a":', "}")
                    text = text.replace(quoted, opened * depth + inner + closed * depth)
        return text


@st.composite
def _mutated(draw: st.DrawFn, body: Any) -> tuple[Any, _Wraps]:
    body = copy.deepcopy(body)
    wraps = _Wraps()
    kinds = ["drop", "replace", "replace", "extra", "wrap", "wrap", "grow", "secret", "field"]
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3]))):
        path = draw(st.sampled_from(_paths(body)))
        kind = draw(st.sampled_from(kinds))
        target = _get(body, path)
        if kind == "drop" and path:
            parent = _get(body, path[:-1])
            if isinstance(parent, dict):
                del parent[path[-1]]
            elif isinstance(parent, list):
                parent.pop(path[-1])
        elif kind == "replace":
            body = _set(body, path, draw(ODD_VALUES))
        elif kind == "extra" and isinstance(target, dict):
            key = draw(st.sampled_from(["extra", "x" * 300, "", "meta", "__class__"]))
            target[key] = draw(ODD_VALUES)
        elif kind == "wrap":
            depth = draw(st.sampled_from([1, 2, 40, 500, 1000, 1100]))
            body = _set(body, path, wraps.add(depth, target, draw(st.booleans())))
        elif kind == "grow" and isinstance(target, list) and target:
            body = _set(body, path, target * draw(st.sampled_from([2, 50, 400])))
        elif kind == "secret":
            secret = draw(SECRET_STRINGS)
            body = _set(body, path, draw(st.sampled_from([secret, [secret], {"url": secret}])))
        elif kind == "field" and isinstance(body, dict):
            value = draw(
                st.one_of(SECRET_STRINGS, st.lists(SECRET_STRINGS, max_size=3), ODD_VALUES)
            )
            if draw(st.booleans()):
                value = wraps.add(draw(st.sampled_from([3, 500, 1000])), value, draw(st.booleans()))
            body[draw(st.sampled_from(ERROR_FIELDS))] = value
    return body, wraps


@st.composite
def _raw_bodies(draw: st.DrawFn, body: Any, wraps: _Wraps) -> bytes:
    """The body's bytes: JSON, or JSON gone wrong, or not JSON at all."""
    kind = draw(
        st.sampled_from(
            ["json"] * 10 + ["cut", "salted", "utf8", "bom", "html", "empty", "binary", "scalar"]
        )
    )
    if kind == "html":
        return f"<html><body>error for /x?key={API_KEY}&user_id={USER_ID}</body></html>".encode()
    if kind == "empty":
        return b""
    if kind == "binary":
        return draw(st.binary(max_size=300))
    if kind == "scalar":
        return json.dumps(draw(ODD_VALUES)).encode()
    # json.dumps, not orjson: it writes integers of any size and NaN/Infinity tokens.
    data = wraps.render(json.dumps(body)).encode()
    if kind == "cut" and data:
        return data[: draw(st.integers(min_value=0, max_value=len(data) - 1))]
    if kind == "salted":
        at = draw(st.integers(min_value=0, max_value=len(data)))
        return data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    if kind == "utf8":
        return data.replace(b'"', b'"\xff', 1)
    if kind == "bom":
        return b"\xef\xbb\xbf" + data
    return data


DATES = st.sampled_from(
    [
        None,
        "Wed, 25 Nov 2026 04:00:00 GMT",
        "not a date",
        "",
        "Wed, 25 Nov 99999 04:00:00 GMT",
        "x" * 10_000,
    ]
)


@st.composite
def cases(draw: st.DrawFn) -> tuple[str, Any, RawResponse]:
    """``(operation, model, raw response)``."""
    operation = draw(st.sampled_from(sorted(OPERATIONS)))
    model, success = OPERATIONS[operation]
    status = draw(STATUSES)
    name = "ServerError" if status >= 500 else ERROR_EXAMPLE.get(status, success)
    if draw(st.integers(min_value=0, max_value=9)) == 0:  # now and then, any example at all
        name = draw(st.sampled_from(sorted(EXAMPLES)))
    body, wraps = draw(_mutated(EXAMPLES[name]))
    data = draw(_raw_bodies(body, wraps))
    date = draw(DATES)
    headers = {"Content-Type": "application/json"} if date is None else {"Date": date}
    return operation, model, RawResponse(status, headers, data, redact=CREDS.redact)


def _check_result(operation: str, model: Any, raw: RawResponse, result: Any) -> None:
    event("returned a model" if result is not None else "returned None")
    if result is None:
        assert raw.status == 204 and operation in NO_CONTENT_OPERATIONS
    elif typing.get_origin(model) is tuple:
        item = typing.get_args(model)[0]
        assert isinstance(result, tuple) and all(isinstance(r, item) for r in result)
    else:
        assert isinstance(result, model), (type(result), model)


def _check_error(exc: ea.EnlightenError) -> None:
    event(f"raised {type(exc).__name__}")  # --hypothesis-show-statistics shows the mix
    parts = [str(exc), repr(exc), repr(exc.args), repr(vars(exc))]
    parts += traceback.format_exception(type(exc), exc, exc.__traceback__)
    blob = "\n".join(parts)
    assert len(blob) < 300_000
    leaked = [f for f in SECRET_FRAGMENTS if f in blob]
    assert not leaked, (leaked, blob[:2000])


def _request(operation: str, model: Any) -> Request[Any]:
    if operation in NO_CONTENT_OPERATIONS:
        return Request.allowing_no_content(operation, "/x", (), model)
    return Request(operation, "/x", (), model)


def _decode_case(case: tuple[str, Any, RawResponse]) -> None:
    operation, model, raw = case
    # Exactly what EnlightenClient._call does with an answer.
    try:
        result = decode(_request(operation, model), raw)
    except ea.EnlightenError as exc:
        scrub(exc, CREDS)
        _check_error(exc)
        return
    _check_result(operation, model, raw, result)


#: One canned call per operation, with valid arguments.
CALLS: dict[str, Callable[[ea.EnlightenClient], Coroutine[Any, Any, Any]]] = {
    "energy_lifetime": lambda c: c.energy_lifetime(1),
    "envoys": lambda c: c.envoys(1),
    "inventory": lambda c: c.inventory(1),
    "inverters_summary_by_envoy_or_site": lambda c: c.inverters_summary_by_envoy_or_site(1),
    "monthly_production": lambda c: c.monthly_production(1, start_date="2024-01-01"),
    "production_meter_readings": lambda c: c.production_meter_readings(1),
    "rgm_stats": lambda c: c.rgm_stats(1),
    "stats": lambda c: c.stats(1),
    "consumption_lifetime": lambda c: c.consumption_lifetime(1),
    "consumption_stats": lambda c: c.consumption_stats(1),
    "summary": lambda c: c.summary(1),
    "search_system_id": lambda c: c.search_system_id("SER123"),
}


def _client_case(case: tuple[str, Any, RawResponse]) -> None:
    operation, model, raw = case
    if operation not in CALLS:  # systems() pages; its body is covered by the decode path
        return

    async def send(request: Any) -> RawResponse:
        return raw

    async def call() -> None:
        client = ea.EnlightenClient(
            API_KEY,
            USER_ID,
            retry=ea.RetryPolicy(attempts=2, initial_delay=0, max_delay=0, jitter=0),
            transport=ea.MockTransport(send),
        )
        fast = client.with_options(max_wait=0)  # a 409 is held, not waited out here
        try:
            with warnings.catch_warnings():  # monthly_production is deprecated, and says so
                warnings.simplefilter("ignore", DeprecationWarning)
                result = await CALLS[operation](fast)
        except ea.EnlightenError as exc:
            _check_error(exc)
            return
        finally:
            await client.close()
        _check_result(operation, model, raw, result)

    asyncio.run(call())


_COMMON: dict[str, Any] = {
    "deadline": None,
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
}


@settings(max_examples=400, **_COMMON)
@given(cases())
def test_fuzz_decode(case: tuple[str, Any, RawResponse]) -> None:
    _decode_case(case)


@settings(max_examples=150, **_COMMON)
@given(cases())
def test_fuzz_client(case: tuple[str, Any, RawResponse]) -> None:
    _client_case(case)


@pytest.mark.soak
@settings(max_examples=5000, **_COMMON)
@given(cases())
def test_fuzz_decode_soak(case: tuple[str, Any, RawResponse]) -> None:
    _decode_case(case)


@pytest.mark.soak
@settings(max_examples=2000, **_COMMON)
@given(cases())
def test_fuzz_client_soak(case: tuple[str, Any, RawResponse]) -> None:
    _client_case(case)
