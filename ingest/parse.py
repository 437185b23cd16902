"""Feed documents -> :class:`ParsedFeed`. Bytes and headers in, values out: no URL is fetched.

RSS 0.9x/1.0/2.0 and Atom go through feedparser; JSON Feed through ``ingest.jsonfeed``.
feedparser's own HTML sanitizer is off: every piece of markup is sanitized later with nh3
(``ingest.normalize``), which is faster and stricter, and nothing reaches storage without it.
Its relative-URI resolution inside markup is off too, unless the document declares an
``xml:base`` (whose scope only feedparser sees): nh3 resolves relative ``href``/``src``
against the entry's own link (else the feed's URL) while it sanitizes, as for JSON Feed.
Together the two passes took about a quarter of feedparser's time on news feeds (they
re-parse every piece of embedded HTML in Python). Links of the feed and its entries
(``<link>``, ``<guid isPermaLink>``) are still resolved by feedparser, always.
"""

from __future__ import annotations

import calendar
import re
import xml.sax
from datetime import UTC, datetime
from typing import Any

import feedparser

from ingest.charsets import recode_to_utf8
from ingest.errors import FeedParseError
from ingest.known_items import split_xml
from ingest.types import ParsedEntry, ParsedFeed

# A feed that declares its own entities asks the parser to expand them: the "billion
# laughs" and XXE attacks live there, and no legitimate news feed needs it.
_ENTITY_DECLARATION = re.compile(rb"<!ENTITY", re.IGNORECASE)
# feedparser looks attributes up by qualified name with a linear search
# (xml.sax AttributesNSImpl.getValueByQName), so one element with n attributes costs n^2:
# 200,000 attributes keep a worker busy for hours. No feed element needs more than a few.
MAX_ATTRIBUTES = 256
# A start tag long enough to hold MAX_ATTRIBUTES attributes (each at least `a="" `);
# only those are counted, so the scan stays one cheap pass over the body.
_LONG_START_TAG = re.compile(rb"<[A-Za-z_][^<>]{1000,}")
_ATTRIBUTE = re.compile(rb"""=\s*["']""")
# feedparser spends about 50 us of Python on each element, and on each tag of escaped HTML
# whose relative URLs it resolves: 1 MB of tiny nested elements takes 10 s. The largest
# real feed of the test corpus (a 1.6 MB podcast, 730 items) has 20,000 of both together.
MAX_MARKUP = 100_000
_XML_BASE = re.compile(rb"xml:base\s*=")
_HTML_START = re.compile(rb"^\s*(<!doctype html|<html)", re.IGNORECASE)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _date(struct: Any) -> datetime | None:
    if not struct:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(struct), UTC)
    except (OverflowError, ValueError, TypeError, OSError):
        return None


def _content(entry: Any) -> str | None:
    parts = entry.get("content") or []
    html = [p.get("value", "") for p in parts if "html" in (p.get("type") or "")]
    values = html or [p.get("value", "") for p in parts]
    joined = "\n".join(v for v in values if v)
    return joined or None


def _int(value: Any) -> int | None:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


def _describe_xml_error(problem: xml.sax.SAXException) -> str:
    if isinstance(problem, xml.sax.SAXParseException):
        where = f" at line {problem.getLineNumber()}, column {problem.getColumnNumber()}"
        return f"malformed XML{where}: {problem.getMessage()}"[:300]
    return f"malformed XML: {problem.getMessage()}"[:300]


def _entry(entry: Any) -> ParsedEntry:
    summary = entry.get("summary")
    content = _content(entry)
    if content is not None and summary is not None and summary.strip() == content.strip():
        summary = None  # feedparser copies content into summary when there is no summary
    categories = tuple(
        term for term in (_text(t.get("term")) for t in entry.get("tags") or []) if term
    )
    return ParsedEntry(
        guid=_text(entry.get("id")),
        link=_text(entry.get("link")),
        title=_text(entry.get("title")),
        summary_html=summary,
        content_html=content,
        author=_text(entry.get("author")),
        published=_date(entry.get("published_parsed")),
        # dict.get: feedparser maps a missing updated_parsed to published_parsed, with a warning.
        updated=_date(dict.get(entry, "updated_parsed")),
        categories=categories,
        language=_text(entry.get("language")),
    )


def parse_xml_feed(
    body: bytes, headers: dict[str, str], url: str, known: frozenset[bytes] = frozenset()
) -> ParsedFeed:
    """Parse an RSS or Atom document; raise FeedParseError when it is not a feed.

    Items whose hash is in ``known`` (the last stored body's, ``ingest.known_items``) are
    left out before parsing; ``item_hashes`` of the result holds every item's hash.
    """
    # UTF-16 and UTF-32 put NUL bytes between ASCII characters; without them the markup
    # reads as ASCII, so the checks below see "<!ENTITY" in any of those encodings too.
    markup = body.replace(b"\0", b"") if b"\0" in body[:64] else body
    if _ENTITY_DECLARATION.search(markup[:65536]):
        raise FeedParseError(
            "refused: the document declares XML entities (entity expansion is unsafe)", url
        )
    tags = markup.count(b"<") + markup.count(b"&lt;")
    if tags > MAX_MARKUP:
        raise FeedParseError(
            f"refused: {tags:,} tags of markup, more than the {MAX_MARKUP:,} a feed may have", url
        )
    for tag in _LONG_START_TAG.finditer(markup):
        if len(_ATTRIBUTE.findall(tag.group())) > MAX_ATTRIBUTES:
            raise FeedParseError(
                f"refused: an element has more than {MAX_ATTRIBUTES} attributes", url
            )
    # xml:base is rare (some Atom feeds); only then is feedparser's resolution worth its cost.
    resolve = _XML_BASE.search(markup) is not None
    recoded = recode_to_utf8(body, headers)  # says UTF-8, is not: see ingest.charsets
    if recoded is not None:
        body, headers = recoded
    split = split_xml(body, headers, known)
    parsed = feedparser.parse(
        split.body if split else body,
        response_headers={**headers, "content-location": url},
        sanitize_html=False,
        resolve_relative_uris=resolve,
    )
    version = parsed.get("version") or ""
    feed = parsed.get("feed") or {}
    entries = parsed.get("entries") or []
    if not version and not entries:
        if _HTML_START.match(body[:1024]) or "html" in headers.get("content-type", ""):
            raise FeedParseError("not a feed: the URL returned an HTML page", url)
        reason = parsed.get("bozo_exception")
        detail = f": {reason}" if reason else ""
        raise FeedParseError(f"not a feed document{detail}"[:300], url)
    warning = None
    if parsed.get("bozo"):
        problem = parsed.get("bozo_exception")
        usable = any(e.get("id") or e.get("link") for e in entries)
        if isinstance(problem, xml.sax.SAXException) and not usable:
            # The lenient parser kept going, but nothing it recovered can be identified.
            raise FeedParseError(_describe_xml_error(problem), url)
        warning = f"{type(problem).__name__}: {problem}"
    return ParsedFeed(
        title=_text(feed.get("title")),
        link=_text(feed.get("link")),
        language=_text(feed.get("language")),
        entries=tuple(_entry(e) for e in entries),
        version=version,
        ttl_minutes=_int(feed.get("ttl")),
        update_period=_text(feed.get("sy_updateperiod")),
        update_frequency=_int(feed.get("sy_updatefrequency")),
        warning=warning[:300] if warning else None,
        item_hashes=split.hashes if split else None,
        known_items=split.skipped if split else 0,
    )


def parse_feed(
    body: bytes, headers: dict[str, str], url: str, known: frozenset[bytes] = frozenset()
) -> ParsedFeed:
    """Parse any supported feed document (RSS, Atom, JSON Feed), leaving out the items
    whose hash is in ``known`` (see :func:`parse_xml_feed`)."""
    from ingest import jsonfeed  # written alongside; imported late to keep start-up light

    if not body.removeprefix(b"\xef\xbb\xbf").strip():
        raise FeedParseError("empty document: the response had no content", url)
    if jsonfeed.looks_like_json_feed(body, headers.get("content-type")):
        return jsonfeed.parse_json_feed(body, url, known)
    return parse_xml_feed(body, headers, url, known)
