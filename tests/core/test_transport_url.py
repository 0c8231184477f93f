"""The transport's own URLs are the ones aiohttp would build from ``base_url + path`` and
the query (``AiohttpTransport._url``, the per-call shortcut), and it leaves aiohttp to build any
URL it cannot vouch for."""

from __future__ import annotations

import aiohttp
import pytest
from yarl import URL

from enlighten_async.core import transport as transport_module
from enlighten_async.core.transport import AiohttpTransport, Credentials
from enlighten_async.core.wire import Params, Request

BASES = (
    "http://127.0.0.1:8080/api/v2",
    "https://api.enphaseenergy.com/api/v2/",
    "http://localhost",
    "http://[::1]:99/x%20y/ü",
    "https://bücher.example/api",
    "http://example.com:80/api",
)
CREDENTIALS = (
    ("k" * 32, "u" * 10),
    ("a b+c&d=%e/é;#?", "12~3"),
    ("key-._~", "4d6a51330a=="),
)
PLAIN: tuple[tuple[str, Params], ...] = (
    ("/systems/67/stats", (("start_at", "1700000000"), ("end_at", "1700003600"))),
    ("/systems", ()),
    ("/systems/search_system_id", (("serial_num", "ab~c-1._"),)),
    ("/systems/67/summary", (("summary_date", "2026-12-04"),)),
    ("/a b/é", (("x", ""),)),
)
#: Names or values that need quoting: the shortcut must leave these to aiohttp.
QUOTED: tuple[tuple[str, Params], ...] = (
    ("/systems", (("status[]", "normal"),)),
    ("/systems", (("system_name", "My House"),)),
    ("/systems", (("reference", "a&b=c"),)),
    ("/systems", (("installer", "é"),)),
    ("/systems", (("next", "abc%20"),)),
)


def _transport(base: str, key: str, user: str) -> AiohttpTransport:
    return AiohttpTransport(base, Credentials(key, user), timeout=aiohttp.ClientTimeout(total=1))


def _what_aiohttp_builds(transport: AiohttpTransport, request: Request[object]) -> URL:
    # ClientSession._build_url parses the string; ClientRequest extends it with params.
    creds = transport._credentials.pairs  # key and user_id, in that order
    return URL(transport.base_url + request.path).extend_query([*request.params, *creds])


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize(("key", "user"), CREDENTIALS)
def test_the_url_is_the_one_aiohttp_builds(base: str, key: str, user: str) -> None:
    transport = _transport(base, key, user)
    for path, params in PLAIN * 2:  # the second time from the parsed-path cache
        request: Request[object] = Request("op", path, params, object)
        got = transport._url(request)
        want = _what_aiohttp_builds(transport, request)
        assert got is not None
        assert str(got) == str(want)
        assert got.raw_path_qs == want.raw_path_qs
        assert (got.scheme, got.raw_host, got.port) == (want.scheme, want.raw_host, want.port)
        assert got == want


@pytest.mark.parametrize(("path", "params"), QUOTED)
def test_a_query_that_needs_quoting_is_left_to_aiohttp(path: str, params: Params) -> None:
    transport = _transport(BASES[0], "key", "user")
    assert transport._url(Request("op", path, params, object)) is None


def test_a_path_that_brings_its_own_query_is_left_to_aiohttp() -> None:
    transport = _transport(BASES[0], "key", "user")
    assert transport._url(Request("op", "/systems?x=1", (), object)) is None
    assert transport._url(Request("op", "/systems#top", (), object)) is None


def test_the_parsed_paths_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport_module, "MAX_CACHED_PATHS", 3)
    transport = _transport(BASES[0], "key", "user")
    for system_id in range(1, 11):
        request: Request[object] = Request("op", f"/systems/{system_id}/stats", (), object)
        assert transport._url(request) == _what_aiohttp_builds(transport, request)
        assert len(transport._paths) <= 3


def test_the_credentials_query_never_shows() -> None:
    creds = Credentials("k3y-SECRET", "u5er-SECRET")
    assert creds.query == "key=k3y-SECRET&user_id=u5er-SECRET"
    assert "SECRET" not in repr(creds) and "SECRET" not in str(creds)
