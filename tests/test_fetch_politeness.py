"""Politeness: limits per registrable domain, pacing, and a 429 slowing its whole outlet."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ingest import round_state, store
from ingest.fetch import Fetcher, FetchOptions
from ingest.pipeline import Pipeline, PipelineOptions
from ingest.politeness import DomainGate, domain_key
from ingest.types import FeedRef, FetchResult, FetchStatus

RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
<item><guid>1</guid><title>One</title><link>https://example.org/1</link></item>
</channel></rss>"""


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("https://feeds.example.com/rss", "example.com"),
        ("https://www.example.com/atom.xml", "example.com"),
        ("https://EXAMPLE.com./feed", "example.com"),
        ("https://feeds.bbci.co.uk/news/rss.xml", "bbci.co.uk"),
        ("https://www.theguardian.com/world/rss", "theguardian.com"),
        ("https://www3.nhk.or.jp/rss/news/cat0.xml", "nhk.or.jp"),  # or.jp is a public suffix
        ("https://новости.рф/rss", "новости.рф"),
        ("https://xn--h1aaridg.xn--p1ai/rss", "xn--h1aaridg.xn--p1ai"),
        ("http://127.0.0.5:8080/feeds/1.xml", "127.0.0.5"),  # loopback hosts key by IP
        ("http://[::1]/feed", "::1"),
        ("http://localhost:8000/feed", "localhost"),
    ],
)
def test_domain_key(url: str, key: str) -> None:
    assert domain_key(url) == key


def test_subdomains_of_one_outlet_share_one_limit() -> None:
    active = peak = 0

    async def request(gate: DomainGate, url: str) -> None:
        nonlocal active, peak
        async with gate.slot(url):
            active += 1
            peak = max(peak, active)
            await asyncio.sleep(0.01)
            active -= 1

    async def run() -> None:
        gate = DomainGate(per_domain=2)
        urls = [f"https://{sub}.example.com/{i}" for i in range(4) for sub in ("feeds", "www")]
        await asyncio.gather(*(request(gate, u) for u in urls))

    asyncio.run(run())
    assert peak == 2


def test_pacing_reserves_spaced_start_times() -> None:
    """With a minimum delay, each request to a domain starts `delay` after the previous
    one (read from the gate's clock, so the test does not depend on the machine's speed)."""
    now = [100.0]
    starts: list[float] = []

    async def run() -> None:
        gate = DomainGate(per_domain=4, min_delay=0.0, slowed_delay=2.0, clock=lambda: now[0])
        gate.slow_down("https://a.example.com/x")
        assert gate.is_slowed("https://b.example.com/y")
        assert not gate.is_slowed("https://other.example.org/")
        for _ in range(3):
            async with gate.slot("https://b.example.com/y"):
                starts.append(gate._domains["example.com"].next_start)

    asyncio.run(run())
    assert starts == [102.0, 104.0, 106.0]


def test_a_429_slows_every_feed_of_that_domain(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/busy").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "120"}
    )
    httpserver.expect_request("/f").respond_with_data(RSS)
    options = FetchOptions(allow_private_networks=True, per_host=1, slowed_delay_ms=20)

    async def run() -> tuple[list[FetchResult], bool, bool]:
        async with Fetcher(options) as fetcher:
            before = fetcher.gate.is_slowed(httpserver.url_for("/f"))
            first = await fetcher.fetch(FeedRef(id=0, url=httpserver.url_for("/busy")))
            others = [
                r
                async for r in fetcher.fetch_many(
                    FeedRef(id=i, url=httpserver.url_for(f"/f?i={i}")) for i in range(1, 4)
                )
            ]
            return [first, *others], before, fetcher.gate.is_slowed(httpserver.url_for("/f"))

    results, before, after = asyncio.run(run())
    assert (before, after) == (False, True)
    assert results[0].status == FetchStatus.RETRY_LATER
    assert all(r.status == FetchStatus.OK for r in results[1:])  # slowed, not dropped


def test_the_next_round_starts_with_the_domain_slowed(
    engine: Engine, httpserver: HTTPServer
) -> None:
    now = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)
    httpserver.expect_request("/busy").respond_with_data(
        "", status=429, headers={"Retry-After": "3600"}
    )
    with Session(engine) as session, session.begin():
        store.add_feed(session, httpserver.url_for("/busy"), now=now)
    pipeline = Pipeline(
        engine,
        PipelineOptions(fetch=FetchOptions(allow_private_networks=True, timeout=5)),
        clock=lambda: now,
    )
    asyncio.run(pipeline.run(pipeline.due_feeds(all_feeds=True)))
    with engine.connect() as conn:
        facts = round_state.round_facts(conn, [], now=now)
    assert facts.slowed_urls == (httpserver.url_for("/busy"),)
    _outlets, slowed = pipeline._round_facts([])
    assert {domain_key(url) for url in slowed} == {domain_key(httpserver.url_for("/"))}
