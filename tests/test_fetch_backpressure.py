"""A round holds a bounded number of bodies: fetching waits for parsing and storing.

A cold round of 10,000 feeds used to start every request at once and keep every body and
every parsed entry until the single writer got to it (1.4 GB). Now the fetcher has a
window of feeds in progress, refilled only as results are taken, and the pipeline stops
taking results while too many bodies wait to be stored.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from pytest_httpserver import HTTPServer
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ingest import store
from ingest.fetch import Fetcher, FetchOptions, interleave_by_domain
from ingest.models import Article
from ingest.pipeline import Pipeline, PipelineOptions
from ingest.types import FeedRef

NOW = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)


def rss(n: int) -> bytes:
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {n}</title>'
        f'<item><guid isPermaLink="false">{n}-1</guid><title>Story {n}</title>'
        f"<link>https://news.example/{n}/1</link></item></channel></rss>"
    ).encode()


def test_feeds_are_taken_round_robin_over_their_domains() -> None:
    urls = [
        "https://news-a.com/1",
        "https://feeds.news-a.com/2",  # the same outlet as news-a.com
        "https://www.news-a.com/3",
        "https://news-b.org/1",
        "https://news-c.co.uk/1",
        "https://news-b.org/2",
    ]
    feeds = [FeedRef(i, url) for i, url in enumerate(urls)]
    assert [f.url for f in interleave_by_domain(feeds)] == [
        "https://news-a.com/1",
        "https://news-b.org/1",
        "https://news-c.co.uk/1",
        "https://feeds.news-a.com/2",
        "https://news-b.org/2",
        "https://www.news-a.com/3",
    ]
    assert interleave_by_domain([]) == []


def test_a_caller_that_stops_taking_results_stops_the_fetching(httpserver: HTTPServer) -> None:
    for n in range(20):
        httpserver.expect_request(f"/f{n}").respond_with_data(rss(n))
    feeds = [FeedRef(n, httpserver.url_for(f"/f{n}")) for n in range(20)]
    options = FetchOptions(allow_private_networks=True, per_host=20, concurrency=20)

    async def run() -> tuple[int, int]:
        async with Fetcher(options) as fetcher:
            results = fetcher.fetch_many(feeds, window=3)
            await anext(results)
            await asyncio.sleep(1.0)  # a caller busy elsewhere: nothing is taken
            paused = len(httpserver.log)
            rest = [r async for r in results]
            return paused, 1 + len(rest)

    paused, total = asyncio.run(run())
    # Three in the window, refilled by one when the first result was taken.
    assert paused == 4
    assert total == 20 and len(httpserver.log) == 20


def test_a_round_with_room_for_one_body_stores_every_feed(
    engine: Engine, httpserver: HTTPServer
) -> None:
    for n in range(30):
        httpserver.expect_request(f"/f{n}").respond_with_data(
            rss(n), content_type="application/rss+xml"
        )
    with Session(engine) as session, session.begin():
        for n in range(30):
            store.add_feed(session, httpserver.url_for(f"/f{n}"), now=NOW)
    pipeline = Pipeline(
        engine,
        PipelineOptions(
            fetch=FetchOptions(allow_private_networks=True, timeout=5),
            max_unstored_bodies=1,
            parse_workers=2,
            pool_threshold=1,
        ),
        clock=lambda: NOW,
    )
    report = asyncio.run(pipeline.run(pipeline.due_feeds(all_feeds=True)))
    assert report.failed == () and report.new_articles == 30
    with Session(engine) as session:
        assert session.scalar(select(func.count(Article.id))) == 30
