"""A fetch round end to end against a real local server, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from ingest import round_state, store
from ingest.fetch import FetchOptions
from ingest.models import Article, Feed
from ingest.pipeline import Pipeline, PipelineOptions, RoundReport

NOW = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)


def rss(*items: tuple[str, str, str]) -> bytes:
    body = "".join(
        f"<item><guid>{guid}</guid><title>{title}</title><link>https://news.example/{guid}</link>"
        f"<description>{text}</description><pubDate>Fri, 10 Jan 2025 08:00:00 GMT</pubDate></item>"
        for guid, title, text in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Example</title>'
        f"<link>https://news.example/</link>{body}</channel></rss>"
    ).encode()


def follow(engine: Engine, *urls: str) -> list[int]:
    with Session(engine) as session, session.begin():
        outlet = store.ensure_outlet(session, "Example News", now=NOW, country="FR")
        return [store.add_feed(session, u, now=NOW, outlet_id=outlet.id).id for u in urls]


def run_round(engine: Engine, *, all_feeds: bool = True, workers: int = 0) -> RoundReport:
    options = PipelineOptions(
        fetch=FetchOptions(allow_private_networks=True, timeout=5, read_timeout=2),
        parse_workers=workers,
        pool_threshold=1,
    )
    pipeline = Pipeline(engine, options, clock=lambda: NOW)
    return asyncio.run(pipeline.run(pipeline.due_feeds(all_feeds=all_feeds)))


def article_count(engine: Engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count(Article.id))) or 0


def test_second_fetch_is_all_304_and_stores_nothing_twice(
    engine: Engine, httpserver: HTTPServer
) -> None:
    body = rss(("a", "First", "One."), ("b", "Second", "Two."))
    httpserver.expect_request("/feed", headers={"If-None-Match": '"v1"'}).respond_with_data(
        "", status=304
    )
    httpserver.expect_request("/feed").respond_with_data(
        body, headers={"ETag": '"v1"', "Content-Type": "application/rss+xml"}
    )
    follow(engine, httpserver.url_for("/feed"))

    first = run_round(engine)
    assert (first.count("ok"), first.new_articles, first.failed) == (1, 2, ())
    second = run_round(engine)
    assert (second.count("not_modified"), second.new_articles) == (1, 0)
    assert article_count(engine) == 2
    statuses = [resp.status_code for _, resp in httpserver.log]
    assert statuses == [200, 304]


def test_a_changed_feed_adds_new_entries_and_updates_edited_ones(
    engine: Engine, httpserver: HTTPServer
) -> None:
    url = httpserver.url_for("/feed")
    follow(engine, url)
    httpserver.expect_oneshot_request("/feed").respond_with_data(
        rss(("a", "First", "One."), ("b", "Second", "Two."))
    )
    httpserver.expect_oneshot_request("/feed").respond_with_data(
        rss(("a", "First", "One, corrected."), ("b", "Second", "Two."), ("c", "Third", "3."))
    )
    run_round(engine)
    second = run_round(engine)
    assert second.outcomes[0].new == 1
    assert second.outcomes[0].updated == 1
    assert article_count(engine) == 3
    with Session(engine) as session:
        articles = {a.title: a for a in store.list_articles(session)}
    assert articles["First"].summary == "One, corrected."
    assert articles["First"].updated == NOW
    assert articles["First"].outlet == "Example News"


def test_each_failing_feed_gets_its_reason_and_the_others_are_stored(
    engine: Engine, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/good").respond_with_data(rss(("a", "Good", "Fine.")))
    httpserver.expect_request("/missing").respond_with_data("nope", status=404)
    httpserver.expect_request("/broken").respond_with_data(b"<rss><channel><item><title>x &")
    httpserver.expect_request("/page").respond_with_data(
        "<!doctype html><html><body>Hello</body></html>", content_type="text/html"
    )
    httpserver.expect_request("/gone").respond_with_data("", status=410)
    urls = [httpserver.url_for(p) for p in ("/good", "/missing", "/broken", "/page", "/gone")]
    ids = follow(engine, *urls)

    report = run_round(engine)
    reasons = {o.feed_id: o.error for o in report.outcomes}
    assert reasons[ids[0]] is None
    assert reasons[ids[1]] == "HTTP 404 NOT FOUND"
    assert re.fullmatch(
        r"malformed XML at line \d+, column \d+: unclosed token", reasons[ids[2]] or ""
    )
    assert reasons[ids[3]] == "not a feed: the URL returned an HTML page"
    assert reasons[ids[4]] is not None and "410" in reasons[ids[4]]
    assert article_count(engine) == 1

    with Session(engine) as session:
        feeds = {f.id: f for f in store.list_feeds(session)}
    assert feeds[ids[1]].last_error == "HTTP 404 NOT FOUND"
    assert feeds[ids[1]].error_count == 1
    assert feeds[ids[1]].failing_since == NOW
    assert feeds[ids[4]].gone is True
    assert feeds[ids[0]].error_count == 0

    # A gone feed is not fetched again until it is enabled.
    with engine.connect() as conn:
        due = {ref.id for ref in round_state.feed_refs(conn, now=NOW, due_only=False)}
    assert ids[4] not in due


def test_a_permanent_redirect_moves_the_stored_url(engine: Engine, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/old").respond_with_data(
        "", status=308, headers={"Location": "/new"}
    )
    httpserver.expect_request("/new").respond_with_data(rss(("a", "Moved", "Here.")))
    (feed_id,) = follow(engine, httpserver.url_for("/old"))
    run_round(engine)
    with Session(engine) as session:
        feed = store.get_feed(session, feed_id)
    assert feed.url == httpserver.url_for("/new")
    assert feed.url_history == (httpserver.url_for("/old"),)


def test_parsing_in_a_process_pool_stores_the_same(engine: Engine, httpserver: HTTPServer) -> None:
    for i in range(3):
        httpserver.expect_request(f"/f{i}").respond_with_data(
            rss((f"{i}-a", f"Title {i}", "Text."), (f"{i}-b", f"Other {i}", "More."))
        )
    follow(engine, *(httpserver.url_for(f"/f{i}") for i in range(3)))
    report = run_round(engine, workers=2)
    assert report.new_articles == 6
    assert article_count(engine) == 6


def test_only_due_feeds_are_fetched(engine: Engine, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/feed").respond_with_data(rss(("a", "A", "a")))
    follow(engine, httpserver.url_for("/feed"))
    run_round(engine, all_feeds=False)
    assert len(run_round(engine, all_feeds=False).outcomes) == 0  # next due in an hour
    assert len(run_round(engine, all_feeds=True).outcomes) == 1


def test_errors_back_off_and_one_success_resets(engine: Engine, httpserver: HTTPServer) -> None:
    (feed_id,) = follow(engine, httpserver.url_for("/flaky"))
    httpserver.expect_request("/flaky").respond_with_data("down", status=500)
    due = []
    for _ in range(3):
        run_round(engine)
        with Session(engine) as session:
            feed = store.get_feed(session, feed_id)
        assert feed.next_due_at is not None
        due.append(feed.next_due_at - NOW)
    assert feed.error_count == 3
    assert feed.failing_since == NOW
    assert due[0] < due[1] < due[2]  # exponential, with jitter
    httpserver.clear()
    httpserver.expect_request("/flaky").respond_with_data(rss(("a", "Back", "Up.")))
    run_round(engine)
    with Session(engine) as session:
        feed = store.get_feed(session, feed_id)
    assert (feed.error_count, feed.failing_since, feed.last_error) == (0, None, None)


def test_a_feeds_own_ttl_still_holds_after_a_304_and_after_an_error(
    engine: Engine, httpserver: HTTPServer
) -> None:
    """The hints live in the body, which a 304 and a failed fetch do not bring."""
    body = rss(("a", "First", "One.")).replace(b"<channel>", b"<channel><ttl>180</ttl>")
    httpserver.expect_ordered_request("/feed").respond_with_data(
        body, headers={"ETag": '"v1"', "Content-Type": "application/rss+xml"}
    )
    httpserver.expect_ordered_request("/feed").respond_with_data("", status=304)
    httpserver.expect_ordered_request("/feed").respond_with_data("down", status=500)
    (feed_id,) = follow(engine, httpserver.url_for("/feed"))
    waits = []
    for _ in range(3):
        run_round(engine)
        with Session(engine) as session:
            feed = store.get_feed(session, feed_id)
        assert feed.next_due_at is not None
        waits.append(feed.next_due_at - NOW)
    # Never sooner than the three hours the feed asks for (the default interval is 1 h).
    assert all(wait >= timedelta(hours=3) for wait in waits), waits


def test_a_304_decides_from_the_stored_rhythm_without_reading_the_feeds_entries(
    engine: Engine, httpserver: HTTPServer
) -> None:
    items = "".join(
        f"<item><guid>r{n}</guid><title>T{n}</title><link>https://news.example/r{n}</link>"
        f"<pubDate>Fri, 10 Jan 2025 {10 + n // 3:02d}:{(n % 3) * 20:02d}:00 GMT</pubDate></item>"
        for n in range(6)
    )  # one entry every twenty minutes, the newest at 11:40
    body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>R</title>{items}'
    httpserver.expect_ordered_request("/feed").respond_with_data(
        body + "</channel></rss>", headers={"ETag": '"v1"'}, content_type="application/rss+xml"
    )
    httpserver.expect_ordered_request("/feed").respond_with_data("", status=304)
    (feed_id,) = follow(engine, httpserver.url_for("/feed"))
    run_round(engine)
    with Session(engine) as session:
        feed = session.get(Feed, feed_id)
        assert feed is not None
        assert (feed.rhythm_gaps, feed.rhythm_median_seconds) == (5, 1200.0)
        first = store.get_feed(session, feed_id).next_due_at
    # The entries go (as if pruned): a 304 that read them would fall back to the default
    # hour; from the stored rhythm it still sees a feed publishing every twenty minutes.
    with Session(engine) as session, session.begin():
        session.execute(delete(Article).where(Article.feed_id == feed_id))
    run_round(engine)
    with Session(engine) as session:
        second = store.get_feed(session, feed_id).next_due_at
    assert first is not None and second is not None
    assert second - NOW == first - NOW < timedelta(minutes=30)


def test_retry_after_is_never_fetched_earlier(engine: Engine, httpserver: HTTPServer) -> None:
    (feed_id,) = follow(engine, httpserver.url_for("/busy"))
    # Within fetch.max_retry_after_hours (24 h), from the fetcher's clock (the real one).
    asked = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=20)
    httpserver.expect_request("/busy").respond_with_data(
        "", status=429, headers={"Retry-After": format_datetime(asked, usegmt=True)}
    )
    report = run_round(engine)
    assert report.outcomes[0].error is not None and "429" in report.outcomes[0].error
    with Session(engine) as session:
        feed = store.get_feed(session, feed_id)
    assert feed.next_due_at == asked
    with engine.connect() as conn:
        assert round_state.feed_refs(conn, now=asked - timedelta(minutes=1)) == []


def rss_items(items: list[tuple[str, str]]) -> bytes:
    body = "".join(
        f"<item><guid>{guid}</guid><title>{link}</title><link>https://news.example/{link}</link>"
        f"<description>Text of {link}.</description></item>"
        for guid, link in items
    )
    return f'<rss version="2.0"><channel><title>x</title>{body}</channel></rss>'.encode()


def test_a_feed_repeating_one_guid_is_keyed_by_link(engine: Engine, httpserver: HTTPServer) -> None:
    (feed_id,) = follow(engine, httpserver.url_for("/same-guid"))
    httpserver.expect_request("/same-guid").respond_with_data(
        rss_items([("always-the-same", f"story-{i}") for i in range(10)])
    )
    report = run_round(engine)
    assert report.new_articles == 10  # none lost behind the repeated guid
    assert run_round(engine).new_articles == 0
    with Session(engine) as session:
        assert store.get_feed(session, feed_id).key_policy == "link"


def test_a_feed_minting_new_guids_each_fetch_stores_nothing_twice(
    engine: Engine, httpserver: HTTPServer
) -> None:
    (feed_id,) = follow(engine, httpserver.url_for("/fresh-guids"))
    for fetch in range(3):
        httpserver.expect_oneshot_request("/fresh-guids").respond_with_data(
            rss_items([(f"{fetch}-{i}", f"story-{i}") for i in range(10)])
        )
    assert run_round(engine).new_articles == 10
    # The second fetch sees the same links under new guids: the feed is re-keyed by link.
    assert run_round(engine).new_articles == 0
    assert run_round(engine).new_articles == 0
    assert article_count(engine) == 10
    with Session(engine) as session:
        assert store.get_feed(session, feed_id).key_policy == "link"


def test_a_feed_that_cannot_be_stored_says_so_and_the_others_are_stored(
    engine: Engine, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    httpserver.expect_request("/good").respond_with_data(rss(("a", "Good", "Fine.")))
    httpserver.expect_request("/bad").respond_with_data(rss(("b", "Bad", "Boom.")))
    good, bad = follow(engine, httpserver.url_for("/good"), httpserver.url_for("/bad"))
    real = store.save_feeds

    def failing(session, feeds, **kwargs):  # type: ignore[no-untyped-def]
        if any(f.feed_id == bad for f in feeds):  # a database refusing this feed's rows
            raise RuntimeError("simulated storage failure")
        return real(session, feeds, **kwargs)

    monkeypatch.setattr(store, "save_feeds", failing)
    report = run_round(engine)
    outcomes = {o.feed_id: o for o in report.outcomes}
    assert outcomes[good].new == 1 and outcomes[good].error is None
    assert outcomes[bad].status == "store_error"
    with Session(engine) as session:
        feed = store.get_feed(session, bad)
    assert feed.last_status == "store_error"
    assert feed.last_error is not None and "cannot store" in feed.last_error
    assert feed.error_count == 1
    assert article_count(engine) == 1
