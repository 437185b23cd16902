"""Fetch rounds end to end: encodings, JSON Feed, batched writes, and the farm's faults."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ingest import store
from ingest.fetch import FetchOptions
from ingest.models import Article
from ingest.pipeline import Pipeline, PipelineOptions, RoundReport

NOW = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)


def follow(engine: Engine, *urls: str) -> list[int]:
    with Session(engine) as session, session.begin():
        return [store.add_feed(session, u, now=NOW).id for u in urls]


def run_round(engine: Engine, fetch: FetchOptions | None = None, **options: int) -> RoundReport:
    pipeline = Pipeline(
        engine,
        PipelineOptions(
            fetch=fetch or FetchOptions(allow_private_networks=True, timeout=5, read_timeout=2),
            **options,  # type: ignore[arg-type]
        ),
        clock=lambda: NOW,
    )
    return asyncio.run(pipeline.run(pipeline.due_feeds(all_feeds=True)))


def titles(engine: Engine) -> set[str]:
    with Session(engine) as session:
        return {a.title for a in store.list_articles(session)}


def test_a_wrong_declared_encoding_still_stores_readable_text(
    engine: Engine, httpserver: HTTPServer
) -> None:
    # Declared UTF-8 (header and XML), bytes are windows-1252: the farm's bad_encoding.
    body = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Z</title>'
        "<item><guid>1</guid><title>Grève à São Paulo, Zürich et Kraków</title>"
        "<link>https://news.example/1</link><description>Élection</description></item>"
        "</channel></rss>"
    ).encode("cp1252", errors="replace")
    httpserver.expect_request("/feed").respond_with_data(
        body, content_type="application/rss+xml; charset=utf-8"
    )
    follow(engine, httpserver.url_for("/feed"))
    report = run_round(engine)
    assert report.failed == ()
    (title,) = titles(engine)
    assert title.startswith("Grève à São Paulo, Zürich et Krak")  # ó is not in cp1252


def test_a_json_feed_goes_through_the_pipeline(engine: Engine, httpserver: HTTPServer) -> None:
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "ニュース",
        "items": [
            {
                "id": "a-1",
                "url": "https://news.example/jp/1",
                "title": "東京で新しい駅が開業",
                "content_html": "<p>本日、東京で新しい駅が開業しました。</p>",
                "date_published": "2025-01-10T08:00:00+09:00",
            },
            {"id": "a-2", "url": "/jp/2", "title": "大阪の天気", "content_text": "晴れ"},
        ],
    }
    httpserver.expect_request("/feed.json").respond_with_data(
        json.dumps(feed, ensure_ascii=False).encode(), content_type="application/feed+json"
    )
    (feed_id,) = follow(engine, httpserver.url_for("/feed.json"))
    report = run_round(engine)
    assert (report.new_articles, report.failed) == (2, ())
    with Session(engine) as session:
        stored = {a.title: a for a in store.list_articles(session)}
        info = store.get_feed(session, feed_id)
    assert stored["東京で新しい駅が開業"].published == datetime(2025, 1, 9, 23, 0, tzinfo=UTC)
    # A relative link resolves against the feed's URL.
    assert stored["大阪の天気"].url == httpserver.url_for("/jp/2")
    assert info.title == "ニュース"


def rss(i: int) -> bytes:
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>F{i}</title>'
        f"<item><guid>{i}</guid><title>Story {i}</title><link>https://news.example/{i}</link>"
        "<description>Text.</description></item></channel></rss>"
    ).encode()


@pytest.mark.parametrize("batch_feeds", [1, 3, 500])
def test_batched_writes_store_every_feed(
    engine: Engine, httpserver: HTTPServer, batch_feeds: int
) -> None:
    for i in range(12):
        httpserver.expect_request(f"/f{i}").respond_with_data(rss(i), headers={"ETag": f'"{i}"'})
    httpserver.expect_request("/down").respond_with_data("", status=500)
    ids = follow(engine, *(httpserver.url_for(f"/f{i}") for i in range(12)))
    (down,) = follow(engine, httpserver.url_for("/down"))
    first = run_round(engine, batch_feeds=batch_feeds)
    assert first.new_articles == 12
    assert [o.feed_id for o in first.failed] == [down]
    with Session(engine) as session:
        feeds = {f.id: f for f in store.list_feeds(session)}
    assert all(feeds[i].last_status == "ok" and feeds[i].interval_seconds for i in ids)
    assert feeds[down].error_count == 1
    second = run_round(engine, batch_feeds=batch_feeds)
    assert second.count("not_modified") == 12


# ---------------------------------------------------------------- the farm's faults

EXPECTED_REASON = {
    "http500": r"HTTP 500",
    "http429": r"HTTP 429 .*retry after",
    "gone410": r"HTTP 410",
    "slow": r"timeout|longer than",
    "oversized": r"larger than .* bytes",
    "gzip_bomb": r"larger than .* \(after decompression\)",
    "billion_laughs": r"declares XML entities",
    "xxe": r"declares XML entities",
}


@pytest.mark.shared
def test_a_farm_with_faults_gives_each_failure_its_reason_and_stores_the_rest(
    engine: Engine, tmp_path: Path
) -> None:
    from tests.farm import run_farm  # skips with a reason when ../shared is absent

    args = ["--feeds", "33", "--faults", "--fault-fraction", "0.34", "--hosts", "3"]
    args += ["--slow-seconds", "8", "--oversize-mb", "12", "--bomb-mb", "64"]
    with run_farm(tmp_path, *args) as farm:
        with urllib.request.urlopen(f"{farm}/faults", timeout=10) as response:
            faults = {int(i): kind for i, kind in json.loads(response.read()).items()}
        ids = follow(engine, *(f"{farm}/feeds/{i}.xml" for i in range(33)))
        report = run_round(
            engine, FetchOptions(allow_private_networks=True, timeout=4, read_timeout=3)
        )
    assert set(faults.values()) >= set(EXPECTED_REASON) | {"redirect301", "bad_encoding"}
    outcomes = {ids.index(o.feed_id): o for o in report.outcomes}
    for i, outcome in outcomes.items():
        kind = faults.get(i)
        if kind in EXPECTED_REASON:
            assert re.search(EXPECTED_REASON[kind], outcome.error or ""), (kind, outcome)
        elif kind == "malformed":
            assert outcome.error is None or "malformed" in outcome.error, outcome
        else:  # healthy, moved, or mis-encoded: stored
            assert (outcome.error, outcome.new > 0) == (None, True), (kind, outcome)
    with Session(engine) as session:
        feeds = {f.id: f for f in store.list_feeds(session)}
        leaked = session.scalar(
            select(func.count(Article.id)).where(Article.content_text.contains("root:"))
        )
    assert leaked == 0
    moved = [i for i, kind in faults.items() if kind == "redirect301"]
    assert all(feeds[ids[i]].url.endswith(f"/moved/{i}.xml") for i in moved)
    gone = [i for i, kind in faults.items() if kind == "gone410"]
    assert all(feeds[ids[i]].gone for i in gone)
