"""The defects the corpus test found, each pinned by a small document (no ../shared needed).

- an entry without a title failed its whole feed's store (articles.title is NOT NULL);
- a document declaring entities in UTF-16 or UTF-32 slipped past the entity refusal;
- one element with 200,000 attributes kept feedparser busy for hours (its attribute lookup
  is linear, so n attributes cost n^2);
- 100,000 tiny nested elements took feedparser 10 s, and 100,000 nested <div>s in escaped
  HTML took nh3 minutes (its tree builder's scope checks walk the open elements);
- an empty body was "not a feed document" rather than an empty one.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy.orm import Session

from ingest import store
from ingest.errors import FeedParseError
from ingest.fetch import FetchOptions
from ingest.normalize.html import MAX_NESTING, html_to_text, sanitize_html
from ingest.parse import MAX_ATTRIBUTES, MAX_MARKUP, parse_feed
from ingest.pipeline import Pipeline, PipelineOptions
from newsdigest.db import open_database

NOW = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)
URL = "https://outlet.example/feed"


def rss(items: str, doctype: str = "", encoding: str = "utf-8") -> str:
    return (
        f'<?xml version="1.0" encoding="{encoding}"?>\n{doctype}<rss version="2.0">'
        f"<channel><title>Outlet</title><link>https://outlet.example/</link>{items}"
        "</channel></rss>"
    )


def test_an_untitled_entry_is_stored_beside_a_titled_one(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/feed").respond_with_data(
        rss(
            "<item><guid>a</guid><description>Без заголовка, только текст.</description></item>"
            "<item><guid>b</guid><title>Заголовок</title><description>Текст.</description></item>"
        ).encode(),
        content_type="application/rss+xml",
    )
    engine = open_database(f"sqlite:///{tmp_path / 'untitled.db'}")
    try:
        with Session(engine) as session, session.begin():
            store.add_feed(session, httpserver.url_for("/feed"), now=NOW)
        options = PipelineOptions(fetch=FetchOptions(allow_private_networks=True))
        pipeline = Pipeline(engine, options, clock=lambda: NOW)
        report = asyncio.run(pipeline.run(pipeline.due_feeds(all_feeds=True)))
        with Session(engine) as session:
            titles = sorted(a.title or "" for a in store.list_articles(session))
    finally:
        engine.dispose()
    assert [(o.status, o.new, o.error) for o in report.outcomes] == [("ok", 2, None)]
    assert titles == ["", "Заголовок"]


BILLION_LAUGHS = '<!DOCTYPE rss [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;">]>\n'


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_entity_declarations_are_refused_in_any_unicode_encoding(encoding: str) -> None:
    name = encoding.split("-le")[0].split("-be")[0]
    body = rss("<item><guid>x</guid><title>&lol1;</title></item>", BILLION_LAUGHS, name)
    with pytest.raises(FeedParseError, match="declares XML entities"):
        parse_feed(body.encode(encoding), {}, URL)


def _attributes(n: int) -> str:
    return " ".join(f'a{i}="{i}"' for i in range(n))


def test_an_element_with_too_many_attributes_is_refused() -> None:
    crowded = rss(f'<item><guid>x</guid><x:a xmlns:x="urn:x" {_attributes(5000)}/></item>')
    with pytest.raises(FeedParseError, match=f"more than {MAX_ATTRIBUTES} attributes"):
        parse_feed(crowded.encode(), {}, URL)
    # Long attribute values (a long URL with many "=") are not attributes.
    link = "https://outlet.example/a?" + "&".join(f"p{i}=v" for i in range(2 * MAX_ATTRIBUTES))
    fine = rss(
        f'<item><guid>x</guid><enclosure url="{link}" type="audio/mpeg" length="1"/>'
        f'<x:a xmlns:x="urn:x" {_attributes(50)}/></item>'
    )
    assert len(parse_feed(fine.encode(), {}, URL).entries) == 1


@pytest.mark.parametrize(
    "inner",
    [
        "<x:n>" * (MAX_MARKUP // 2 + 1) + "</x:n>" * (MAX_MARKUP // 2 + 1),
        "&lt;div&gt;" * (MAX_MARKUP + 1),
    ],
    ids=["nested-elements", "escaped-html"],
)
def test_a_document_with_too_much_markup_is_refused(inner: str) -> None:
    body = rss(f'<item><guid>x</guid><x:deep xmlns:x="urn:x">{inner}</x:deep></item>')
    with pytest.raises(FeedParseError, match="tags of markup"):
        parse_feed(body.encode(), {}, URL)


def test_html_nested_too_deep_is_flattened_to_its_text() -> None:
    depth = 50_000
    deep = "<div>" * depth + "<b>глубоко</b> &amp; deep" + "</div>" * depth
    cleaned = sanitize_html(deep)
    assert "<div>" not in cleaned and "глубоко" in cleaned and "&amp; deep" in cleaned
    assert html_to_text(deep) == "глубоко & deep"
    # Nesting within the limit keeps its markup; unclosed paragraphs are not nesting.
    shallow = "<div>" * (MAX_NESTING - 1) + "<b>x</b>" + "</div>" * (MAX_NESTING - 1)
    assert "<b>x</b>" in sanitize_html(shallow)
    paragraphs = "<p>абзац" * (MAX_NESTING * 2) + "<br>" * MAX_NESTING
    assert sanitize_html(paragraphs).count("<p>") == MAX_NESTING * 2


@pytest.mark.parametrize("body", [b"", b"   \n\t", b"\xef\xbb\xbf \n\r\n  "])
def test_an_empty_document_is_named_empty(body: bytes) -> None:
    with pytest.raises(FeedParseError, match="empty document"):
        parse_feed(body, {"content-type": "application/rss+xml"}, URL)
