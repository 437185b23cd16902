"""SSRF: every hop of a fetch is checked, and a name is judged by every address it resolves to.

Two local servers play the parts: the outlet at 127.0.0.1 and an internal service at
127.0.0.2 that must never be reached. To let the outlet pass for a public host, these tests
declare the single address 127.0.0.1 public (``public_outlet``); every other address is
judged by the fetcher's real rule. Names resolve through a fake ``socket.getaddrinfo``
(``dns``), the function both the aiohttp resolver and ``check_public_address`` end in, so
the lookups, the checks and the connections are the real code.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

import ingest.fetch
from ingest import store
from ingest.fetch import Fetcher, FetchOptions
from ingest.models import Article, Feed
from ingest.pipeline import Pipeline, PipelineOptions
from ingest.types import FeedRef, FetchResult, FetchStatus

NOW = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)
PUBLIC_STAND_IN = "127.0.0.1"
INTERNAL = "127.0.0.2"
RSS = (
    b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Outlet</title>'
    b"<item><guid>a</guid><title>\xd0\x9d\xd0\xbe\xd0\xb2\xd0\xbe\xd1\x81\xd1\x82\xd0\xb8</title>"
    b"<link>https://outlet.example/a</link></item></channel></rss>"
)
CLIENTS = ("aiohttp", "httpx")


@pytest.fixture
def public_outlet(monkeypatch: pytest.MonkeyPatch) -> None:
    real = ingest.fetch._refused_address

    def judged(address: str) -> str | None:
        return None if address == PUBLIC_STAND_IN else real(address)

    monkeypatch.setattr(ingest.fetch, "_refused_address", judged)


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Names this test answers for (name -> addresses); other names resolve as usual."""
    names: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, family: int = 0, *args: Any, **kw: Any) -> list[Any]:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in names:
            return real(host, port, family, *args, **kw)
        answers = []
        for address in names[name]:
            fam = socket.AF_INET6 if ":" in address else socket.AF_INET
            if family not in (0, socket.AF_UNSPEC, fam):
                continue
            where = (address, int(port or 0))
            sockaddr = where if fam == socket.AF_INET else (*where, 0, 0)
            answers.append((fam, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
        if not answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return answers

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return names


@pytest.fixture
def internal() -> Iterator[HTTPServer]:
    """The service behind the firewall; every test asserts it got no request."""
    server = HTTPServer(host=INTERNAL)
    server.expect_request("/").respond_with_data("internal secret")
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


def fetch(url: str, client: str) -> FetchResult:
    async def go() -> FetchResult:
        options = FetchOptions(client=client, timeout=5, connect_timeout=2)  # type: ignore[arg-type]
        async with Fetcher(options) as fetcher:
            return await fetcher.fetch(FeedRef(id=1, url=url))

    return asyncio.run(go())


TARGETS = [
    ("http://127.0.0.2:{port}/secret", "loopback address 127.0.0.2"),
    ("http://intranet.example:{port}/secret", "loopback address 127.0.0.2"),
    ("http://mixed.example:{port}/secret", "loopback address 127.0.0.2"),
    ("http://169.254.169.254/latest/meta-data/", "link-local address 169.254.169.254"),
    ("http://[::1]:{port}/secret", "loopback address ::1"),
    ("http://[::ffff:127.0.0.2]:{port}/secret", "loopback address"),
    ("http://metadata.example/computeMetadata/v1/", "link-local address 169.254.169.254"),
]


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize(("target", "reason"), TARGETS)
@pytest.mark.usefixtures("public_outlet")
def test_a_redirect_to_a_private_address_is_refused_at_that_hop(
    httpserver: HTTPServer,
    internal: HTTPServer,
    dns: dict[str, list[str]],
    client: str,
    target: str,
    reason: str,
) -> None:
    dns["intranet.example"] = [INTERNAL]
    # One public answer does not make a name safe: any private answer refuses it.
    dns["mixed.example"] = ["93.184.216.34", INTERNAL]
    dns["metadata.example"] = ["169.254.169.254"]
    location = target.format(port=internal.port)
    # Two public hops first: the check runs at every hop, not only the first or the last.
    httpserver.expect_request("/feed").respond_with_data(
        "", status=302, headers={"Location": "/moved"}
    )
    httpserver.expect_request("/moved").respond_with_data(
        "", status=301, headers={"Location": location}
    )
    result = fetch(httpserver.url_for("/feed"), client)
    assert result.status == FetchStatus.FAILED
    assert reason in (result.error or ""), result.error
    assert "refused" in (result.error or "")
    assert [req.path for req, _ in httpserver.log] == ["/feed", "/moved"]
    assert internal.log == []


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.usefixtures("public_outlet")
def test_a_redirect_between_public_hosts_is_followed(
    httpserver: HTTPServer, dns: dict[str, list[str]], client: str
) -> None:
    """The control for the test above: the same chain to a public host ends in the feed."""
    dns["outlet.example"] = [PUBLIC_STAND_IN]
    httpserver.expect_request("/feed").respond_with_data(
        "", status=302, headers={"Location": f"http://outlet.example:{httpserver.port}/moved"}
    )
    httpserver.expect_request("/moved").respond_with_data(RSS)
    result = fetch(httpserver.url_for("/feed"), client)
    assert (result.status, result.error, result.body) == (FetchStatus.OK, None, RSS)


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize(
    "url",
    [
        "http://intranet.example:{port}/",  # a name with a private answer
        "http://mixed.example:{port}/",  # one public and one private answer
        "http://2130706434:{port}/",  # 127.0.0.2 as one decimal number
        "http://0x7f000002:{port}/",  # as hexadecimal
        "http://127.2:{port}/",  # as the short form inet_aton accepts
        "http://0177.0.0.2:{port}/",  # with an octal first byte
    ],
)
def test_a_name_or_notation_resolving_to_a_private_address_is_refused(
    internal: HTTPServer, dns: dict[str, list[str]], client: str, url: str
) -> None:
    dns["intranet.example"] = [INTERNAL]
    dns["mixed.example"] = ["93.184.216.34", INTERNAL]
    result = fetch(url.format(port=internal.port), client)
    assert result.status == FetchStatus.FAILED, result
    assert internal.log == []


@pytest.mark.usefixtures("public_outlet")
def test_the_pipeline_records_the_refusal_and_stores_nothing(
    tmp_path: Any, httpserver: HTTPServer, internal: HTTPServer, dns: dict[str, list[str]]
) -> None:
    from newsdigest.db import open_database

    dns["intranet.example"] = [INTERNAL]
    httpserver.expect_request("/refused").respond_with_data(
        "", status=307, headers={"Location": f"http://intranet.example:{internal.port}/"}
    )
    httpserver.expect_request("/fine").respond_with_data(RSS)
    engine: Engine = open_database(f"sqlite:///{tmp_path / 'ssrf.db'}")
    try:
        with Session(engine) as session, session.begin():
            refused = store.add_feed(session, httpserver.url_for("/refused"), now=NOW).id
            fine = store.add_feed(session, httpserver.url_for("/fine"), now=NOW).id
        pipeline = Pipeline(engine, PipelineOptions(fetch=FetchOptions()), clock=lambda: NOW)
        report = asyncio.run(pipeline.run(pipeline.due_feeds(all_feeds=True)))
        assert {o.feed_id: o.new for o in report.outcomes} == {refused: 0, fine: 1}
        with Session(engine) as session:
            error = session.get(Feed, refused).last_error  # type: ignore[union-attr]
            by_feed = dict(
                session.execute(
                    select(Article.feed_id, func.count(Article.id)).group_by(Article.feed_id)
                ).all()
            )
    finally:
        engine.dispose()
    assert error is not None and "refused: intranet.example resolves to loopback" in error
    assert "allow_private_networks" in error
    assert by_feed == {fine: 1}
    assert internal.log == []
