"""A changed feed parses only its new and edited items (ingest.known_items).

The cut must be invisible: what feedparser reads of the items that remain is what it reads
of them in the whole document. Every real, hostile and feedparser-suite document of the
corpus is held to that, with every other item known.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from ingest import store
from ingest.errors import FeedParseError
from ingest.fetch import FetchOptions
from ingest.known_items import HASH_SIZE, MAX_ITEMS, split_xml, unpack
from ingest.models import Article, Feed
from ingest.parse import parse_feed
from ingest.pipeline import Pipeline, PipelineOptions, RoundReport
from ingest.types import ParsedFeed
from tests.conftest import SEEDS, shared_path

NOW = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)
RSS_TYPE = {"content-type": "application/rss+xml"}


def rss(*items: str, channel: str = "<title>Outlet</title><ttl>30</ttl>") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        + channel
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def item(n: int, text: str = "Summary") -> str:
    return (
        f'<item><guid isPermaLink="false">g-{n}</guid><title>Title {n} — Zürich</title>'
        f"<link>https://news.example/{n}</link><description><![CDATA[<p>{text} {n}"
        f" &amp; more</p>]]></description><pubDate>Fri, 10 Jan 2025 0{n % 10}:00:00 GMT"
        "</pubDate></item>"
    )


def known_of(parsed: ParsedFeed, indexes: set[int]) -> frozenset[bytes]:
    hashes = parsed.item_hashes or b""
    return frozenset(hashes[i * HASH_SIZE : (i + 1) * HASH_SIZE] for i in indexes)


# ---------------------------------------------------------------- the cut itself


def test_every_item_is_hashed_and_the_known_ones_are_left_out() -> None:
    body = rss(item(1), item(2), item(3))
    whole = parse_feed(body, RSS_TYPE, "https://news.example/feed")
    assert whole.item_hashes is not None and len(whole.item_hashes) == 3 * HASH_SIZE
    assert len(unpack(whole.item_hashes)) == 3

    cut = parse_feed(body, RSS_TYPE, "https://news.example/feed", known_of(whole, {0, 2}))
    assert cut.entries == (whole.entries[1],)
    assert cut.known_items == 2
    assert cut.item_hashes == whole.item_hashes  # the next fetch knows all three
    assert (cut.title, cut.ttl_minutes) == ("Outlet", 30)  # the channel is kept


def test_an_edited_item_hashes_differently_and_is_parsed() -> None:
    before = parse_feed(rss(item(1), item(2)), RSS_TYPE, "https://news.example/feed")
    after_body = rss(item(1), item(2, text="Corrected summary"))
    after = parse_feed(
        after_body, RSS_TYPE, "https://news.example/feed", unpack(before.item_hashes)
    )
    assert [e.guid for e in after.entries] == ["g-2"]
    assert "Corrected summary 2" in (after.entries[0].summary_html or "")


def test_all_items_known_leaves_a_feed_with_no_entries_not_an_error() -> None:
    body = rss(item(1), item(2))
    whole = parse_feed(body, RSS_TYPE, "https://news.example/feed")
    cut = parse_feed(body, RSS_TYPE, "https://news.example/feed", unpack(whole.item_hashes))
    assert cut.entries == () and cut.version == "rss20" and cut.known_items == 2


def test_atom_and_rss_1_entries_are_items_too() -> None:
    atom = (
        b'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        b"<title>A</title><id>urn:a</id>"
        b"<entry><id>urn:1</id><title>One</title><link href='https://a.example/1'/></entry>"
        b"<entry><id>urn:2</id><title>Two</title><link href='https://a.example/2'/></entry>"
        b"</feed>"
    )
    rdf = (
        b'<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
        b' xmlns="http://purl.org/rss/1.0/"><channel rdf:about="https://r.example/"><title>R'
        b"</title></channel><item rdf:about='https://r.example/1'><title>One</title>"
        b"<link>https://r.example/1</link></item><item rdf:about='https://r.example/2'>"
        b"<title>Two</title><link>https://r.example/2</link></item></rdf:RDF>"
    )
    for body in (atom, rdf):
        whole = parse_feed(body, {}, "https://x.example/feed")
        assert len(unpack(whole.item_hashes)) == 2
        cut = parse_feed(body, {}, "https://x.example/feed", known_of(whole, {0}))
        assert [e.title for e in cut.entries] == ["Two"]


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        # Not well-formed: feedparser's lenient parser may still recover entries.
        (rss(item(1), "<item><title>a & b</title></item>"), RSS_TYPE),
        # A DOCTYPE (RSS 0.91's HTML entities): left to feedparser whole.
        (
            b'<?xml version="1.0"?><!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS'
            b' 0.91//EN" "http://my.netscape.com/publish/formats/rss-0.91.dtd"><rss '
            b'version="0.91"><channel><title>T</title><item><title>x</title></item></channel>'
            b"</rss>",
            RSS_TYPE,
        ),
        # Not UTF-8: cutting would re-encode it.
        (
            '<?xml version="1.0" encoding="iso-8859-1"?><rss version="2.0"><channel><title>é'
            "</title><item><title>Grève</title></item></channel></rss>".encode("latin-1"),
            RSS_TYPE,
        ),
        # The HTTP charset disagrees with the document's.
        (rss(item(1)), {"content-type": "application/rss+xml; charset=windows-1251"}),
    ],
)
def test_documents_that_are_not_plainly_cuttable_are_parsed_whole(
    body: bytes, headers: dict[str, str]
) -> None:
    assert split_xml(body, headers, frozenset()) is None
    parsed = parse_feed(body, headers, "https://news.example/feed")
    assert parsed.item_hashes is None and parsed.entries


def test_a_document_with_too_many_items_keeps_no_hashes() -> None:
    body = rss(*(f"<item><guid>{n}</guid></item>" for n in range(MAX_ITEMS + 1)))
    parsed = parse_feed(body, RSS_TYPE, "https://news.example/feed")
    assert parsed.item_hashes is None and len(parsed.entries) == MAX_ITEMS + 1


def test_json_feed_items_are_hashed_whatever_their_key_order() -> None:
    def doc(*items: dict[str, object]) -> bytes:
        return json.dumps(
            {"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": list(items)}
        ).encode()

    one = {"id": "1", "url": "https://j.example/1", "title": "Один"}
    two = {"id": "2", "url": "https://j.example/2", "title": "二"}
    whole = parse_feed(doc(one, two), {}, "https://j.example/feed.json")
    reordered = {"title": "Один", "url": "https://j.example/1", "id": "1"}
    cut = parse_feed(doc(reordered, two), {}, "https://j.example/feed.json", known_of(whole, {0}))
    assert [e.guid for e in cut.entries] == ["2"] and cut.known_items == 1


# ---------------------------------------------------------------- the corpus


def _documents() -> list[Path]:
    roots = [SEEDS / "snapshots"]
    corpus = shared_path("corpus")
    roots += [corpus / "real", corpus / "hostile", corpus / "jsonfeed", corpus / "feedparser"]
    return sorted(p for root in roots for p in root.rglob("*") if p.is_file())


def test_the_cut_is_invisible_on_every_corpus_document() -> None:
    """With every other item known, the items parsed are exactly the rest of the whole."""
    cut_documents = 0
    for path in _documents():
        if path.suffix in {".py", ".tsv", ".md", ".opml"} or path.name == "LICENSE":
            continue
        body = path.read_bytes()
        headers = {"content-type": "application/json"} if path.suffix == ".json" else {}
        try:
            whole = parse_feed(body, headers, "https://corpus.example/feed")
        except FeedParseError:
            continue
        if whole.item_hashes is None or len(whole.entries) < 2:
            continue
        count = len(whole.item_hashes) // HASH_SIZE
        if count != len(whole.entries):  # JSON items that are not objects make no entry
            continue
        known = known_of(whole, set(range(0, count, 2)))
        cut = parse_feed(body, headers, "https://corpus.example/feed", known)
        expected = [e for i, e in enumerate(whole.entries) if i % 2 == 1]
        assert list(cut.entries) == expected, path
        cut_documents += 1
    assert cut_documents >= 50  # the corpus holds hundreds of multi-item feeds


# ---------------------------------------------------------------- through the pipeline


def run_round(engine: Engine) -> RoundReport:
    pipeline = Pipeline(
        engine,
        PipelineOptions(fetch=FetchOptions(allow_private_networks=True, timeout=5)),
        clock=lambda: NOW,
    )
    return asyncio.run(pipeline.run(pipeline.due_feeds(all_feeds=True)))


def stored_hashes(engine: Engine) -> bytes | None:
    with Session(engine) as session:
        return session.scalar(select(Feed.item_hashes))


def test_a_changed_feed_stores_its_new_and_edited_items_and_never_reparses_the_rest(
    engine: Engine, httpserver: HTTPServer
) -> None:
    httpserver.expect_ordered_request("/feed").respond_with_data(
        rss(item(1), item(2), item(3)), content_type="application/rss+xml"
    )
    httpserver.expect_ordered_request("/feed").respond_with_data(
        rss(item(4), item(1), item(2, text="Edited"), item(3)),
        content_type="application/rss+xml",
    )
    httpserver.expect_ordered_request("/feed").respond_with_data(
        "<rss><channel><item>", content_type="application/rss+xml"
    )
    with Session(engine) as session, session.begin():
        store.add_feed(session, httpserver.url_for("/feed"), now=NOW)

    first = run_round(engine)
    assert first.new_articles == 3
    assert len(stored_hashes(engine) or b"") == 3 * HASH_SIZE
    # Make item 1's stored copy look different from its markup: a round that parsed it
    # again would store it as an update. Left out unparsed, it stays as it is.
    with Session(engine) as session, session.begin():
        session.execute(update(Article).where(Article.guid == "g-1").values(content_hash="stale"))

    (outcome,) = run_round(engine).outcomes
    assert (outcome.new, outcome.updated) == (1, 1)  # item 4 new, item 2 edited; 1 and 3 untouched
    with Session(engine) as session:
        rows = dict(session.execute(select(Article.guid, Article.content_hash)).all())
        summary = session.scalar(select(Article.summary).where(Article.guid == "g-2"))
    assert rows["g-1"] == "stale" and "Edited 2" in (summary or "")
    kept = stored_hashes(engine)
    assert kept is not None and len(kept) == 4 * HASH_SIZE

    # A body that fails to parse keeps the hashes of the last one stored.
    (failed,) = run_round(engine).outcomes
    assert failed.error is not None
    assert stored_hashes(engine) == kept
