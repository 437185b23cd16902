"""JSON Feed 1.0/1.1 into the ParsedFeed model: fields, types, dates, refusals, the corpus."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ingest.errors import FeedParseError
from ingest.jsonfeed import looks_like_json_feed, parse_json_feed
from ingest.types import ParsedEntry, ParsedFeed

URL = "https://outlet.example/feeds/main.json"
V11 = "https://jsonfeed.org/version/1.1"
V10 = "https://jsonfeed.org/version/1"
SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"


def feed(items: list[Any], **top: Any) -> bytes:
    return json.dumps({"version": V11, "items": items, **top}).encode()


def one(item: dict[str, Any], **top: Any) -> ParsedEntry:
    parsed = parse_json_feed(feed([item], **top), URL)
    assert len(parsed.entries) == 1
    return parsed.entries[0]


def test_a_full_1_1_document() -> None:
    body = feed(
        [
            {
                "id": "https://outlet.example/2025/01/pm-visit",
                "url": "https://outlet.example/2025/01/pm-visit.html",
                "external_url": "https://elsewhere.example/original",
                "title": "Iraqi Prime Minister visits Tehran",
                "content_html": "<p>The visit <b>began</b> on Wednesday.</p>",
                "content_text": "ignored when content_html is present",
                "summary": "Talks on security & trade.",
                "date_published": "2025-01-08T10:30:00+03:30",
                "date_modified": "2025-01-08T12:00:00Z",
                "authors": [{"name": "Staff reporter", "url": "https://outlet.example/staff"}],
                "tags": ["Middle East", "diplomacy", "diplomacy"],
                "language": "en-GB",
            }
        ],
        title="Outlet — World",
        home_page_url="https://outlet.example/",
        language="en",
    )
    assert parse_json_feed(body, URL) == ParsedFeed(
        title="Outlet — World",
        link="https://outlet.example/",
        language="en",
        version="json11",
        entries=(
            ParsedEntry(
                guid="https://outlet.example/2025/01/pm-visit",
                link="https://outlet.example/2025/01/pm-visit.html",
                title="Iraqi Prime Minister visits Tehran",
                summary_html="<p>Talks on security &amp; trade.</p>",
                content_html="<p>The visit <b>began</b> on Wednesday.</p>",
                author="Staff reporter",
                published=datetime(2025, 1, 8, 7, 0, tzinfo=UTC),
                updated=datetime(2025, 1, 8, 12, 0, tzinfo=UTC),
                categories=("Middle East", "diplomacy"),
                language="en-GB",
            ),
        ),
    )


def test_a_1_0_document_with_author_and_external_url() -> None:
    body = json.dumps(
        {
            "version": "http://jsonfeed.org/version/1/",  # http and a trailing slash occur
            "title": "Linkblog",
            "author": {"name": "Feed Author"},
            "items": [{"id": 7, "external_url": "https://elsewhere.example/a", "title": "A"}],
        }
    ).encode()
    parsed = parse_json_feed(body, URL)
    assert parsed.version == "json1"
    entry = parsed.entries[0]
    assert (entry.guid, entry.link, entry.author) == (
        "7",
        "https://elsewhere.example/a",
        "Feed Author",
    )


def test_non_latin_scripts_survive() -> None:
    body = feed(
        [
            {
                "id": "ar-1",
                "title": "رئيس الوزراء العراقي يزور طهران",
                "content_text": "زيارة رسمية",
                "tags": ["الشرق الأوسط", "外交"],
                "language": "ar",
            }
        ],
        title="أخبار",
        language="ar",
    )
    parsed = parse_json_feed(body, URL)
    entry = parsed.entries[0]
    assert parsed.title == "أخبار"
    assert entry.title == "رئيس الوزراء العراقي يزور طهران"
    assert entry.content_html == "<p>زيارة رسمية</p>"
    assert entry.categories == ("الشرق الأوسط", "外交")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("one line", "<p>one line</p>"),
        ("<script>alert(1)</script> & co", "<p>&lt;script&gt;alert(1)&lt;/script&gt; &amp; co</p>"),
        ("first\nsecond", "<p>first<br>\nsecond</p>"),
        ("para one\n\n  \npara two", "<p>para one</p><p>para two</p>"),
    ],
)
def test_content_text_becomes_escaped_html(text: str, expected: str) -> None:
    assert one({"id": "1", "content_text": text}).content_html == expected


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"url": "https://a.example/x"}, "https://a.example/x"),
        ({"url": "/2025/story"}, "https://outlet.example/2025/story"),
        ({"url": "story.html"}, "https://outlet.example/feeds/story.html"),
        ({"url": 42, "external_url": "https://b.example/"}, "https://b.example/"),
        ({"url": "", "external_url": "https://b.example/"}, "https://b.example/"),
        ({"url": ["x"]}, None),
        ({"url": "http://[::1"}, None),  # malformed: dropped, not stored unresolvable
    ],
)
def test_links(item: dict[str, Any], expected: str | None) -> None:
    assert one({"id": "1", **item}).link == expected


def test_relative_urls_ignore_a_hostile_feed_url() -> None:
    entry = one({"id": "1", "url": "x"}, feed_url="javascript:alert(1)//")
    assert entry.link == "https://outlet.example/feeds/x"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("abc", "abc"),
        ("  padded  ", "padded"),
        (12, "12"),
        (3.5, "3.5"),
        (True, None),
        ({"o": 1}, None),
        ([1], None),
        ("", None),
        (None, None),
    ],
)
def test_ids_are_strings_or_coerced_numbers(value: Any, expected: str | None) -> None:
    parsed = parse_json_feed(feed([{"id": value, "title": "t"}]), URL)
    assert parsed.entries[0].guid == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-01-08T10:30:00Z", datetime(2025, 1, 8, 10, 30, tzinfo=UTC)),
        ("2025-01-08T10:30:00-05:00", datetime(2025, 1, 8, 15, 30, tzinfo=UTC)),
        ("2020-01-04T01:00:00+0100", datetime(2020, 1, 4, 0, 0, tzinfo=UTC)),
        ("2025-01-08T10:30:00.123456789Z", datetime(2025, 1, 8, 10, 30, 0, 123456, tzinfo=UTC)),
        ("2025-01-08T10:30:00", datetime(2025, 1, 8, 10, 30, tzinfo=UTC)),  # no zone: UTC
        ("2025-01-08", datetime(2025, 1, 8, tzinfo=UTC)),
        ("Wed, 08 Jan 2025 10:30:00 GMT", datetime(2025, 1, 8, 10, 30, tzinfo=UTC)),
        ("Wed, 08 Jan 2025 10:30:00 +0200", datetime(2025, 1, 8, 8, 30, tzinfo=UTC)),
        ("Fri, 31 Dec 9999 23:59:59 GMT", datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),
        ("0001-01-01T00:00:00+01:00", None),  # before datetime.min in UTC
        ("Sat, 01 Jan 10000 00:00:00 GMT", None),
        ("Mon, 01 Jan 99999999999 00:00:00 GMT", None),
        ("2025-02-30T00:00:00Z", None),
        ("2016-12-31T23:59:60Z", None),
        ("yesterday", None),
        ("٢٠٢٥-٠١-٠٨", None),
        ("2025-01-08T10:30:00Z" + " " * 100 + "x", None),
        (1736332200, None),
        ({"date": "2025-01-08"}, None),
        (["2025-01-08"], None),
        (None, None),
    ],
)
def test_dates(value: Any, expected: datetime | None) -> None:
    entry = one({"id": "1", "date_published": value, "date_modified": value})
    assert entry.published == expected
    assert entry.updated == expected


@pytest.mark.parametrize(
    ("item", "top", "expected"),
    [
        ({}, {}, None),
        ({"authors": [{"name": "A"}, {"name": "B"}]}, {}, "A, B"),
        ({"authors": [{"name": "A"}], "author": {"name": "Legacy"}}, {}, "A"),
        ({"author": {"name": "Legacy"}}, {"authors": [{"name": "Feed"}]}, "Legacy"),
        ({}, {"authors": [{"name": "Feed"}]}, "Feed"),
        ({}, {"author": {"name": "Feed legacy"}}, "Feed legacy"),
        ({"authors": ["not a dict", {"name": "Jane"}]}, {}, "Jane"),
        ({"authors": [{"name": []}, {"url": "mailto:x@example.com"}]}, {}, None),
        ({"authors": "not a list", "author": "not a dict"}, {}, None),
        ({"authors": []}, {"authors": {"not": "a list"}}, None),
    ],
)
def test_authors(item: dict[str, Any], top: dict[str, Any], expected: str | None) -> None:
    assert one({"id": "1", **item}, **top).author == expected


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (["a", "b"], ("a", "b")),
        (["a", 1, None, ["x"], " ", "b", "a"], ("a", "b")),
        ("not-a-list", ()),
        ({"a": 1}, ()),
    ],
)
def test_tags(tags: Any, expected: tuple[str, ...]) -> None:
    assert one({"id": "1", "tags": tags}).categories == expected


def test_wrong_types_in_every_field_are_skipped() -> None:
    item = {
        "id": "2",
        "title": 1000,
        "content_text": ["not a string"],
        "content_html": True,
        "summary": {"x": 1},
        "url": 1.2,
        "language": True,
    }
    assert one(item, title=["x"], home_page_url={"x": 1}, language={}) == ParsedEntry(
        guid="2", link=None, title=None
    )


def test_unusable_items_are_skipped_and_counted() -> None:
    items: list[Any] = [None, "string-item", 5, [], {"id": {"o": 1}}, {}, {"id": "ok"}]
    parsed = parse_json_feed(feed(items), URL)
    assert [e.guid for e in parsed.entries] == ["ok"]
    assert parsed.warning == "skipped 6 of 7 JSON Feed items with no usable fields"


def test_strings_are_made_storable() -> None:
    body = (
        b'{"version": "' + V11.encode() + b'", "title": "a\\u0000b", '
        b'"items": [{"id": "\\ud800", "title": "x\\udfffy"}]}'
    )
    parsed = parse_json_feed(body, URL)
    assert parsed.title == "a\ufffdb"
    assert parsed.entries[0].guid == "\ufffd"
    assert parsed.entries[0].title == "x\ufffdy"
    for text in (parsed.title, parsed.entries[0].guid, parsed.entries[0].title):
        assert text is not None
        text.encode("utf-8")  # would raise for a lone surrogate


def test_huge_numbers_and_duplicate_keys() -> None:
    body = (
        b'{"version": "' + V11.encode() + b'", "title": "first", "title": "last", '
        b'"_big": 1e999999, "_bigint": ' + b"9" * 10_000 + b', "items": [{"id": 1e999999, '
        b'"title": "t"}, {"id": ' + b"7" * 5000 + b', "title": "u"}]}'
    )
    parsed = parse_json_feed(body, URL)
    assert parsed.title == "last"
    assert [e.guid for e in parsed.entries] == [None, None]


def test_a_huge_string_is_kept_whole() -> None:
    guid = "g" * 2_000_000
    assert one({"id": guid}).guid == guid


@pytest.mark.parametrize(
    "body",
    [
        b'\xef\xbb\xbf{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": "1"}]}',
        '{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": "1"}]}'.encode("utf-16"),
        b'{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": "1\xff"}]}',
        b'{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": "1\tx"}]}',
    ],
    ids=["utf-8 BOM", "utf-16", "invalid utf-8 byte", "raw control character"],
)
def test_encodings(body: bytes) -> None:
    guid = parse_json_feed(body, URL).entries[0].guid
    assert guid is not None and guid.startswith("1")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "invalid JSON Feed: Expecting value"),
        (b"   \n", "invalid JSON Feed: Expecting value"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": [', "invalid JSON Feed"),
        (b"[1, 2]", "not a JSON Feed: the document is a JSON list"),
        (b'"text"', "not a JSON Feed: the document is a JSON str"),
        (b'{"items": []}', "not a JSON Feed: the JSON object has no 'version'"),
        (b'{"version": 1.1, "items": []}', "no 'version'"),
        (b'{"rss": {"channel": {}}}', "no 'version'"),
        (b'{"version": "https://jsonfeed.org/version/2", "items": []}', "unsupported JSON Feed"),
        (b'{"version": "https://example.com/version/1", "items": []}', "unsupported JSON Feed"),
        (b'{"version": "https://jsonfeed.org/version/1.1"}', "'items' is missing or not a list"),
        (
            b'{"version": "https://jsonfeed.org/version/1.1", "items": {"id": "1"}}',
            "'items' is missing or not a list",
        ),
        (
            b'{"version": "https://jsonfeed.org/version/1.1", "items": [], "x": NaN}',
            "NaN is not a JSON value",
        ),
        (
            b'{"version": "https://jsonfeed.org/version/1.1", "items": [], "x": -Infinity}',
            "-Infinity is not a JSON value",
        ),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": [' + b"[" * 100_000, "deep"),
        (b"<rss version='2.0'></rss>", "invalid JSON Feed"),
    ],
)
def test_refusals_are_one_line_feed_parse_errors(body: bytes, reason: str) -> None:
    with pytest.raises(FeedParseError) as caught:
        parse_json_feed(body, URL)
    message = str(caught.value)
    assert reason in message or (reason == "deep" and "nested too deeply" in message)
    assert "\n" not in message and len(message) <= 300
    assert caught.value.url == URL


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b'{"version": "https://jsonfeed.org/version/1.1"}', None, True),
        (b'\xef\xbb\xbf\n  {"items": []}', "text/xml", True),  # the body wins over a label
        (b"[]", "application/feed+json; charset=utf-8", True),
        (b"", "application/json", True),
        (b"", "Application/Feed+JSON", True),
        (b"<?xml version='1.0'?><rss/>", "application/feed+json", False),
        (b"  <feed xmlns='http://www.w3.org/2005/Atom'/>", None, False),
        (b"", "application/rss+xml", False),
        (b"", None, False),
        (b"plain text", "text/plain", False),
    ],
)
def test_looks_like_json_feed(body: bytes, content_type: str | None, expected: bool) -> None:
    assert looks_like_json_feed(body, content_type) is expected


# --- the shared corpus ----------------------------------------------------------------


def corpus_files() -> list[Any]:
    root = SHARED / "corpus"
    files = sorted((root / "jsonfeed").rglob("*.json")) + sorted((root / "hostile").glob("*.json"))
    if not files:
        return [pytest.param(None, id="absent")]
    return [pytest.param(p, id=str(p.relative_to(root))) for p in files]


#: Files the corpus README says are not (valid) JSON Feeds.
REFUSED = {"ScriptingNews.json", "allthis-partial.json", "unknown.json", "json-hostile-values.json"}


@pytest.mark.shared
@pytest.mark.parametrize("path", corpus_files())
def test_corpus_documents_parse_or_raise_feed_parse_error(path: Path | None) -> None:
    if path is None:
        pytest.skip("../shared is not present (it is in CI)")
    body = path.read_bytes()
    assert looks_like_json_feed(body, None)
    if path.name in REFUSED:
        with pytest.raises(FeedParseError):
            parse_json_feed(body, URL)
        return
    parsed = parse_json_feed(body, URL)
    assert parsed.version in {"json1", "json11"}
    for entry in parsed.entries:
        for date in (entry.published, entry.updated):
            assert date is None or date.utcoffset() is not None


@pytest.mark.shared
@pytest.mark.parametrize(
    ("name", "count", "title"),
    [
        ("rsparser/rose.json", 84, "Rosemary Orchard"),
        ("rsparser/3960.json", 20, "fboës - Der Blog | Startseite"),
        ("lemon24-reader/10.json", 0, None),
    ],
)
def test_corpus_counts(name: str, count: int, title: str | None) -> None:
    path = SHARED / "corpus" / "jsonfeed" / name
    if not path.exists():
        pytest.skip("../shared is not present (it is in CI)")
    parsed = parse_json_feed(path.read_bytes(), URL)
    assert (len(parsed.entries), parsed.title) == (count, title)
