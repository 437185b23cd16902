"""Feed markup through parse + normalize, with feedparser's sanitizer and (without an
xml:base) its relative-URI resolution off: nothing unsafe reaches the stored HTML, and
relative links still come out absolute.

feedparser's own passes are off for speed (ingest.parse); these tests hold the promise
that nh3 in ingest.normalize does their job on whole documents, not only on fragments.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from xml.sax.saxutils import escape

import pytest

from ingest.normalize import normalize_entry
from ingest.parse import parse_feed

FEED_URL = "https://news.example/feeds/world.xml"
NOW = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)

HOSTILE = (
    '<p onclick="steal()">Talks resumed in Tehran.<script>alert(1)</script></p>'
    '<p><a href="javascript:alert(2)">a</a> <a href="jav&#x61;script:alert(3)">b</a>'
    ' <a href=" JAVASCRIPT:alert(4)">c</a> <a href="vbscript:x">d</a></p>'
    '<img src="data:image/png;base64,AAAA" alt="inline">'
    '<img src="javascript:alert(5)"><img src="/pics/a.jpg" onerror="alert(6)" alt="ok">'
    '<img src="https://t.example/p.gif" width="1" height="1">'
    '<iframe src="https://evil.example/"></iframe><object data="x.swf"></object>'
    '<embed src="x.swf"><form action="/x"><input name="q"></form>'
    "<style>body{background:url(javascript:alert(7))}</style>"
    '<p style="background:url(https://t.example/x)">styled</p>'
    "<svg><script>alert(8)</script></svg><math><mi>x</mi></math>"
    '<a href="related/1.html">Related</a> <a href="/world/2">Other</a>'
    '<meta http-equiv="refresh" content="0;url=https://evil.example/">'
    '<!-- a comment --><base href="https://evil.example/">'
)

UNSAFE = re.compile(
    r"<script|<style|<iframe|<object|<embed|<form|<input|<svg|<math|<meta|<base|<!--"
    r"|\son[a-z]+=|style=|t\.example/p\.gif"
    # Every URL left is an absolute http(s) or mailto one ("javascript:" inside an https
    # path, where a resolver put an entity-escaped one, is only a path).
    r"|\b(?:href|src|cite|action|data)=\"(?!https?://|mailto:)",
    re.IGNORECASE,
)


def _rss(html: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        "<channel><title>T</title><link>https://news.example/</link>"
        "<item><title>Talks</title><link>https://news.example/world/2025/talks.html</link>"
        "<guid>urn:1</guid>"
        f"<description>{escape(html)}</description>"
        f"<content:encoded>{escape(html)}</content:encoded></item>"
        "</channel></rss>"
    ).encode()


def _atom(html: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://cdn.example/base/">'
        "<title>T</title><id>urn:feed</id><updated>2025-01-09T10:00:00Z</updated>"
        "<entry><title>Talks</title><id>urn:2</id><updated>2025-01-09T10:00:00Z</updated>"
        '<link href="https://news.example/world/2025/talks.html"/>'
        f'<content type="html">{escape(html)}</content></entry></feed>'
    ).encode()


def _content(body: bytes) -> str:
    parsed = parse_feed(body, {"content-type": "application/xml"}, FEED_URL)
    (raw,) = parsed.entries
    entry = normalize_entry(raw, feed_url=FEED_URL, feed_language="en", now=NOW)
    return entry.content_html


@pytest.mark.parametrize("make", [_rss, _atom], ids=["rss", "atom-xml-base"])
def test_nothing_unsafe_reaches_the_stored_html(make) -> None:  # type: ignore[no-untyped-def]
    html = _content(make(HOSTILE))
    assert not UNSAFE.search(html), html
    # What is safe stays: the text, the image with a real source, the links.
    assert "Talks resumed in Tehran." in html
    assert 'alt="ok"' in html
    assert 'rel="noopener noreferrer"' in html


def test_relative_links_in_rss_resolve_against_the_entry_link() -> None:
    html = _content(_rss(HOSTILE))
    assert 'href="https://news.example/world/2025/related/1.html"' in html
    assert 'href="https://news.example/world/2"' in html
    assert 'src="https://news.example/pics/a.jpg"' in html


def test_relative_links_under_xml_base_resolve_against_it() -> None:
    html = _content(_atom(HOSTILE))
    assert 'href="https://cdn.example/base/related/1.html"' in html
    assert 'href="https://cdn.example/world/2"' in html
    assert 'src="https://cdn.example/pics/a.jpg"' in html


def test_a_hostile_xml_base_does_not_make_links_unsafe() -> None:
    body = _atom(HOSTILE).replace(
        b'xml:base="https://cdn.example/base/"', b'xml:base="javascript:alert(9)//"'
    )
    html = _content(body)
    assert not UNSAFE.search(html), html
