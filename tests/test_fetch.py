"""The fetcher against a real local HTTP server (pytest-httpserver): every path is a reason."""

from __future__ import annotations

import asyncio
import gzip
import re
import socket
import time
import zlib
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from ingest.errors import FetchError
from ingest.fetch import Fetcher, FetchOptions, _decoded, check_public_address
from ingest.types import FeedRef, FetchResult, FetchStatus

RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
<item><guid>1</guid><title>One</title><link>https://example.org/1</link></item>
</channel></rss>"""

LOCAL = FetchOptions(allow_private_networks=True, timeout=5, read_timeout=2, connect_timeout=2)


def fetch(url: str, options: FetchOptions = LOCAL, **ref: str) -> FetchResult:
    async def run() -> FetchResult:
        async with Fetcher(options) as fetcher:
            return await fetcher.fetch(FeedRef(id=1, url=url, **ref))

    return asyncio.run(run())


def test_ok_returns_body_validators_and_hash(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/feed").respond_with_data(
        RSS, headers={"ETag": '"v1"', "Last-Modified": "Fri, 10 Jan 2025 10:00:00 GMT"}
    )
    result = fetch(httpserver.url_for("/feed"))
    assert result.status == FetchStatus.OK
    assert result.body == RSS
    assert result.etag == '"v1"'
    assert result.last_modified == "Fri, 10 Jan 2025 10:00:00 GMT"
    assert result.body_hash and result.body_hash.startswith("sha256:")


def test_user_agent_names_the_project(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/feed").respond_with_data(RSS)
    fetch(httpserver.url_for("/feed"))
    request, _ = httpserver.log[0]
    assert request.headers["User-Agent"].startswith("newsdigest/")
    assert "gzip" in request.headers["Accept-Encoding"]


def test_conditional_get_sends_the_stored_validators(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        "/feed",
        headers={"If-None-Match": '"v1"', "If-Modified-Since": "Fri, 10 Jan 2025 10:00:00 GMT"},
    ).respond_with_data("", status=304)
    result = fetch(
        httpserver.url_for("/feed"), etag='"v1"', last_modified="Fri, 10 Jan 2025 10:00:00 GMT"
    )
    assert result.status == FetchStatus.NOT_MODIFIED
    assert result.http_status == 304


def test_an_unchanged_body_without_validators_is_not_modified(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/feed").respond_with_data(RSS)
    first = fetch(httpserver.url_for("/feed"))
    assert first.body_hash is not None
    second = fetch(httpserver.url_for("/feed"), body_hash=first.body_hash)
    assert second.status == FetchStatus.NOT_MODIFIED
    assert second.body is None


def test_gzip_is_decoded(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/feed").respond_with_data(
        gzip.compress(RSS), headers={"Content-Encoding": "gzip"}
    )
    assert fetch(httpserver.url_for("/feed")).body == RSS


@pytest.mark.parametrize(
    ("status", "expected", "reason"),
    [
        (404, FetchStatus.FAILED, "HTTP 404 NOT FOUND"),
        (500, FetchStatus.FAILED, "HTTP 500 INTERNAL SERVER ERROR"),
        (410, FetchStatus.GONE, "HTTP 410 Gone"),
    ],
)
def test_http_errors_become_reasons(
    httpserver: HTTPServer, status: int, expected: FetchStatus, reason: str
) -> None:
    httpserver.expect_request("/feed").respond_with_data("no", status=status)
    result = fetch(httpserver.url_for("/feed"))
    assert result.status == expected
    assert result.error is not None and result.error.upper().startswith(reason.upper())


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_seconds_is_honoured(httpserver: HTTPServer, status: int) -> None:
    httpserver.expect_request("/feed").respond_with_data(
        "slow down", status=status, headers={"Retry-After": "120"}
    )
    before = time.time()
    result = fetch(httpserver.url_for("/feed"))
    assert result.status == FetchStatus.RETRY_LATER
    assert result.retry_after is not None
    assert 115 <= result.retry_after.timestamp() - before <= 125


def test_retry_after_http_date_is_honoured(httpserver: HTTPServer) -> None:
    asked = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=3)
    httpserver.expect_request("/feed").respond_with_data(
        "", status=429, headers={"Retry-After": format_datetime(asked, usegmt=True)}
    )
    result = fetch(httpserver.url_for("/feed"))
    assert result.retry_after == asked


def test_a_retry_after_years_ahead_is_cut_to_the_limit(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/feed").respond_with_data(
        "", status=429, headers={"Retry-After": "Wed, 21 Oct 2037 07:28:00 GMT"}
    )
    before = datetime.now(UTC)
    result = fetch(httpserver.url_for("/feed"), replace(LOCAL, max_retry_after=timedelta(hours=5)))
    after = datetime.now(UTC)
    assert result.retry_after is not None
    assert before + timedelta(hours=5) <= result.retry_after <= after + timedelta(hours=5)
    assert result.error is not None and "capped" in result.error and "2037-10-21" in result.error


def test_permanent_redirect_reports_the_new_url(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/old").respond_with_data(
        "", status=301, headers={"Location": "/new"}
    )
    httpserver.expect_request("/new").respond_with_data(RSS)
    result = fetch(httpserver.url_for("/old"))
    assert result.status == FetchStatus.OK
    assert result.permanent_url == httpserver.url_for("/new")


@pytest.mark.parametrize("status", [302, 303, 307])
def test_temporary_redirect_keeps_the_url(httpserver: HTTPServer, status: int) -> None:
    httpserver.expect_request("/old").respond_with_data(
        "", status=status, headers={"Location": "/new"}
    )
    httpserver.expect_request("/new").respond_with_data(RSS)
    result = fetch(httpserver.url_for("/old"))
    assert result.status == FetchStatus.OK
    assert result.permanent_url is None
    assert result.final_url == httpserver.url_for("/new")


def test_a_redirect_loop_is_an_error(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/a").respond_with_data("", status=302, headers={"Location": "/b"})
    httpserver.expect_request("/b").respond_with_data("", status=302, headers={"Location": "/a"})
    result = fetch(httpserver.url_for("/a"))
    assert result.status == FetchStatus.FAILED
    assert "redirect loop" in (result.error or "")


def test_too_many_redirects_is_an_error(httpserver: HTTPServer) -> None:
    for i in range(8):
        httpserver.expect_request(f"/r{i}").respond_with_data(
            "", status=302, headers={"Location": f"/r{i + 1}"}
        )
    result = fetch(httpserver.url_for("/r0"))
    assert result.error == "more than 5 redirects"


def test_a_body_over_the_limit_stops_while_streaming(httpserver: HTTPServer) -> None:
    def chunks():
        for _ in range(1000):
            yield b"x" * 65536  # 64 MB if read to the end

    httpserver.expect_request("/big").respond_with_response(Response(chunks()))
    options = FetchOptions(allow_private_networks=True, max_body_bytes=1024 * 1024)
    result = fetch(httpserver.url_for("/big"), options)
    assert result.status == FetchStatus.FAILED
    assert "larger than 1,048,576 bytes" in (result.error or "")


def test_a_gzip_bomb_stops_at_the_limit(httpserver: HTTPServer) -> None:
    bomb = gzip.compress(b"<" * (200 * 1024 * 1024), compresslevel=9)  # 200 MB -> ~200 KB
    httpserver.expect_request("/bomb").respond_with_data(bomb, headers={"Content-Encoding": "gzip"})
    options = FetchOptions(allow_private_networks=True, max_body_bytes=2 * 1024 * 1024)
    result = fetch(httpserver.url_for("/bomb"), options)
    assert result.status == FetchStatus.FAILED
    assert "after decompression" in (result.error or "")


def test_a_slow_server_times_out(httpserver: HTTPServer) -> None:
    def slow(_request: Request) -> Response:
        time.sleep(3)
        return Response(RSS)

    httpserver.expect_request("/slow").respond_with_handler(slow)
    options = FetchOptions(allow_private_networks=True, timeout=1, read_timeout=0.5)
    result = fetch(httpserver.url_for("/slow"), options)
    assert result.status == FetchStatus.FAILED
    assert "timeout" in (result.error or "") or "longer than" in (result.error or "")


def test_a_refused_connection_is_a_reason() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        result = fetch(f"http://127.0.0.1:{port}/feed")
    assert result.status == FetchStatus.FAILED
    assert (result.error or "").startswith("cannot connect")


def test_private_addresses_are_refused_by_default(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/feed").respond_with_data(RSS)
    result = fetch(httpserver.url_for("/feed"), FetchOptions())
    assert result.status == FetchStatus.FAILED
    assert "loopback address 127.0.0.1" in (result.error or "")
    assert "allow_private_networks" in (result.error or "")
    assert len(httpserver.log) == 0


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://10.1.2.3/feed", "private address 10.1.2.3"),
        ("http://169.254.169.254/latest/meta-data", "link-local address 169.254.169.254"),
        ("http://[::1]/feed", "loopback address ::1"),
        ("http://[::ffff:192.168.0.1]/feed", "private address ::ffff:c0a8:1"),
        ("http://224.0.0.1/feed", "multicast address 224.0.0.1"),
        ("http://localhost/feed", "loopback address"),
    ],
)
def test_non_public_addresses_are_named(url: str, message: str) -> None:

    with pytest.raises(FetchError, match=re.escape(message)):
        asyncio.run(check_public_address(url))


def test_per_host_limit_holds_requests_to_one_host(httpserver: HTTPServer) -> None:
    active = 0
    peak = 0
    import threading

    lock = threading.Lock()

    def handler(_request: Request) -> Response:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.1)
        with lock:
            active -= 1
        return Response(RSS)

    httpserver.expect_request("/f").respond_with_handler(handler)
    feeds = [FeedRef(id=i, url=httpserver.url_for(f"/f?i={i}")) for i in range(8)]

    async def run() -> list[FetchResult]:
        async with Fetcher(FetchOptions(allow_private_networks=True, per_host=2)) as fetcher:
            return [r async for r in fetcher.fetch_many(feeds)]

    results = asyncio.run(run())
    assert all(r.status == FetchStatus.OK for r in results)
    assert peak <= 2


CLIENTS = ["aiohttp", "httpx"]


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS], ids=["zlib", "raw"])
def test_deflate_is_decoded_with_either_client(
    httpserver: HTTPServer, client: str, wbits: int
) -> None:
    packer = zlib.compressobj(wbits=wbits)
    body = packer.compress(RSS) + packer.flush()
    httpserver.expect_request("/feed").respond_with_data(
        body, headers={"Content-Encoding": "deflate"}
    )
    options = replace(LOCAL, client=client)  # type: ignore[arg-type]
    assert fetch(httpserver.url_for("/feed"), options).body == RSS


def test_an_encoding_we_did_not_ask_for_is_a_reason(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/feed").respond_with_data(
        b"\x0b\x02", headers={"Content-Encoding": "br"}
    )
    result = fetch(httpserver.url_for("/feed"))
    assert result.status == FetchStatus.FAILED
    assert "unsupported Content-Encoding 'br'" in (result.error or "")


def test_inflating_never_goes_far_past_the_limit() -> None:
    # 64 MB of zeros in ~64 KB of gzip, sent as one chunk: decoding must stop near the
    # limit instead of inflating the whole chunk first.
    bomb = gzip.compress(bytes(64 * 1024 * 1024), compresslevel=9)
    limit = 1024 * 1024

    async def chunks() -> AsyncIterator[bytes]:
        yield bomb

    async def total() -> int:
        produced = 0
        async for piece in _decoded(chunks(), "gzip", limit, "http://x/feed"):
            assert len(piece) <= limit + 1
            produced += len(piece)
        return produced

    assert asyncio.run(total()) == limit + 1
