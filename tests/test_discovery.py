"""Feed discovery: the pure page reading (tables), then a site URL end to end against a real
local server, through the Fetcher and the `feeds add` command."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from ingest.discovery import (
    FeedLink,
    candidate_urls,
    classify_document,
    declared_feeds,
    looks_like_feed_url,
)
from ingest.errors import FetchError
from ingest.feed_finder import find_feeds
from ingest.fetch import FetchOptions
from newsdigest.cli import main

LOCAL = FetchOptions(allow_private_networks=True, timeout=5, read_timeout=2)
PAGE = "https://outlet.example/news/index.html"

RSS = b"""<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>
<item><guid>1</guid><title>\xd0\x9d\xd0\xbe\xd0\xb2\xd0\xbe\xd1\x81\xd1\x82\xd0\xb8</title>
<link>https://outlet.example/1</link></item></channel></rss>"""
JSON_FEED = json.dumps(
    {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "أخبار",
        "items": [{"id": "1", "url": "https://outlet.example/1", "content_text": "نص"}],
    },
    ensure_ascii=False,
).encode()


def page(head: str) -> bytes:
    return f"<!doctype html><html><head>{head}</head><body><p>Hi</p></body></html>".encode()


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        # Relative links resolve against the page; the best type comes first.
        (
            '<link rel="alternate" type="application/rss+xml" href="/rss.xml" title="Main">'
            '<link rel="alternate" type="application/atom+xml" href="atom">',
            [
                FeedLink("https://outlet.example/news/atom", "application/atom+xml"),
                FeedLink("https://outlet.example/rss.xml", "application/rss+xml", "Main"),
            ],
        ),
        # <base href> changes what relative links resolve against.
        (
            '<base href="https://cdn.example/feeds/"><link rel="alternate" '
            'type="application/feed+json" href="all.json">',
            [FeedLink("https://cdn.example/feeds/all.json", "application/feed+json")],
        ),
        # rel and type are case-insensitive; parameters after the type are ignored.
        (
            '<LINK REL="Alternate feed" TYPE="Application/RSS+XML; charset=utf-8" '
            'HREF="//outlet.example/rss">',
            [FeedLink("https://outlet.example/rss", "application/rss+xml")],
        ),
        # Not feeds: a stylesheet, a translation, an alternate without a feed type,
        # a javascript: URL, a duplicate.
        (
            '<link rel="stylesheet" type="text/css" href="/s.css">'
            '<link rel="alternate" hreflang="ar" href="/ar/">'
            '<link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">'
            '<link rel="alternate" type="application/rss+xml" href="/f">'
            '<link rel="alternate" type="application/rss+xml" href="/f">',
            [FeedLink("https://outlet.example/f", "application/rss+xml")],
        ),
        # A title in Japanese is kept as it is.
        (
            '<meta charset="utf-8"><link rel="alternate" type="application/atom+xml" '
            'href="/a.xml" title="ニュース">',
            [FeedLink("https://outlet.example/a.xml", "application/atom+xml", "ニュース")],
        ),
        ("", []),
    ],
)
def test_declared_feeds(head: str, expected: list[FeedLink]) -> None:
    assert declared_feeds(page(head), PAGE) == expected


def test_declared_feeds_of_nothing_is_empty() -> None:
    assert declared_feeds(b"", PAGE) == []
    assert declared_feeds(b"   ", PAGE) == []


@pytest.mark.parametrize(
    ("body", "content_type", "kind"),
    [
        (RSS, "text/html", "feed"),  # the body decides: servers mislabel feeds
        (b'<feed xmlns="http://www.w3.org/2005/Atom"><title>x</title></feed>', None, "feed"),
        (b'<?xml version="1.0"?><rdf:RDF xmlns:rdf="x"></rdf:RDF>', "text/xml", "feed"),
        (JSON_FEED, "application/json", "feed"),
        (page(""), "text/html; charset=utf-8", "html"),
        (b"<html><body>no doctype</body></html>", None, "html"),
        (b'{"not": "a feed"}', "application/json", "other"),
        (b"\x89PNG\r\n", "image/png", "other"),
    ],
)
def test_classify_document(body: bytes, content_type: str | None, kind: str) -> None:
    assert classify_document(body, content_type) == kind


def test_candidates_are_declared_first_then_common_paths_once() -> None:
    declared = [FeedLink("https://outlet.example/feed", "application/rss+xml")]
    urls = candidate_urls("https://outlet.example/news/", declared)
    assert urls[0] == "https://outlet.example/feed"
    assert urls.count("https://outlet.example/feed") == 1
    assert "https://outlet.example/rss" in urls and "https://outlet.example/feed.json" in urls


@pytest.mark.parametrize(
    ("url", "feed_like"),
    [
        ("https://outlet.example/", False),
        ("https://outlet.example", False),
        ("https://outlet.example/world/article.html", False),
        ("https://outlet.example/feed", True),
        ("https://outlet.example/feed/", True),
        ("https://outlet.example/news/rss.xml", True),
        ("https://outlet.example/feed.json", True),
        ("https://outlet.example/rss/world", True),
    ],
)
def test_looks_like_feed_url(url: str, feed_like: bool) -> None:
    assert looks_like_feed_url(url) is feed_like


# ---------------------------------------------------------------- against a real server


def test_a_page_declaring_a_relative_feed_finds_it(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/").respond_with_data(
        page('<link rel="alternate" type="application/rss+xml" href="news/rss" title="Новости">'),
        content_type="text/html",
    )
    httpserver.expect_request("/news/rss").respond_with_data(RSS, content_type="text/xml")
    found = asyncio.run(find_feeds(httpserver.url_for("/"), LOCAL))
    assert found.given_is_feed is False
    assert found.feeds[0] == httpserver.url_for("/news/rss")
    assert found.declared[0].title == "Новости"


def test_without_declared_feeds_the_common_paths_are_tried(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/").respond_with_data(page(""), content_type="text/html")
    httpserver.expect_request("/feed.json").respond_with_data(
        JSON_FEED, content_type="application/feed+json"
    )
    httpserver.expect_request("/index.xml").respond_with_data(RSS, content_type="text/xml")
    # /feed answers with an HTML page: it is not a feed and is not offered.
    httpserver.expect_request("/feed").respond_with_data(page(""), content_type="text/html")
    found = asyncio.run(find_feeds(httpserver.url_for("/"), LOCAL))
    assert found.feeds == (httpserver.url_for("/feed.json"), httpserver.url_for("/index.xml"))


def test_a_feed_url_is_its_own_answer(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/latest").respond_with_data(RSS, content_type="text/html")
    found = asyncio.run(find_feeds(httpserver.url_for("/latest"), LOCAL))
    assert (found.given_is_feed, found.feeds) == (True, (httpserver.url_for("/latest"),))


def test_a_page_with_no_feed_names_what_was_tried(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/").respond_with_data(page(""), content_type="text/html")
    with pytest.raises(FetchError, match=r"no feed found for .* \(tried .*/feed, .*/rss"):
        asyncio.run(find_feeds(httpserver.url_for("/"), LOCAL))


def test_discovery_keeps_the_ssrf_rule(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/").respond_with_data(page(""), content_type="text/html")
    found = asyncio.run(find_feeds(httpserver.url_for("/"), FetchOptions()))
    assert found.feeds == ()
    assert "loopback address 127.0.0.1" in (found.unreadable or "")
    assert len(httpserver.log) == 0


def test_feeds_add_with_a_site_url_follows_the_best_feed(
    tmp_path: Path, httpserver: HTTPServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"database: 'sqlite:///{tmp_path / 'db.sqlite'}'\n"
        "fetch:\n  allow_private_networks: true\n  timeout: 5\n",
        encoding="utf-8",
    )
    httpserver.expect_request("/").respond_with_data(
        page(
            '<link rel="alternate" type="application/rss+xml" href="/rss.xml">'
            '<link rel="alternate" type="application/atom+xml" href="/atom.xml">'
        ),
        content_type="text/html",
    )
    httpserver.expect_request("/rss.xml").respond_with_data(RSS, content_type="text/xml")
    httpserver.expect_request("/atom.xml").respond_with_data(
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>A</title></feed>',
        content_type="application/atom+xml",
    )
    site = httpserver.url_for("/")
    assert main(["--config", str(config), "feeds", "add", site, "--list"]) == 0
    listing = capsys.readouterr().out
    assert f"1. {httpserver.url_for('/atom.xml')}" in listing
    assert f"2. {httpserver.url_for('/rss.xml')}" in listing
    assert main(["--config", str(config), "feeds", "add", site, "--pick", "2"]) == 0
    assert main(["--config", str(config), "feeds", "add", site]) == 0
    assert main(["--config", str(config), "feeds", "list", "--json"]) == 0
    followed = [json.loads(line)["url"] for line in capsys.readouterr().out.splitlines()[-2:]]
    assert followed == [httpserver.url_for("/rss.xml"), httpserver.url_for("/atom.xml")]
    assert main(["--config", str(config), "feeds", "add", site, "--pick", "9"]) == 2


@pytest.mark.parametrize(
    ("body", "content_type", "title"),
    [
        # The header's charset wins; windows-1251 is common on Russian-language sites.
        (
            '<html><head><link rel="alternate" type="application/rss+xml" href="/r" '
            'title="Новости"></head></html>'.encode("cp1251"),
            "text/html; charset=windows-1251",
            "Новости",
        ),
        # Without one, the page's own <meta charset>.
        (
            '<html><head><meta charset="shift_jis"><link rel="alternate" '
            'type="application/rss+xml" href="/r" title="ニュース"></head></html>'.encode(
                "shift_jis"
            ),
            "text/html",
            "ニュース",
        ),
    ],
)
def test_the_declared_charset_is_used(body: bytes, content_type: str, title: str) -> None:
    assert declared_feeds(body, PAGE, content_type)[0].title == title
