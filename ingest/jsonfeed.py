"""JSON Feed 1.0 and 1.1 -> :class:`ParsedFeed`, the same model feedparser's output becomes.

feedparser 6.0 reads no JSON Feed, so the project does (spec: https://jsonfeed.org/version/1.1).
Bytes in, values out: nothing is fetched. The document as a whole must be a JSON object
with a known ``version`` and an ``items`` list, or :class:`FeedParseError` says why; inside
it every field is type-checked, and a value of the wrong type is skipped (or, for the
ids the spec allows as numbers, coerced), never trusted. Markup is left unsanitized, as
for RSS: ``ingest.normalize`` sanitizes every HTML field before storage.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin

from ingest.errors import FeedParseError
from ingest.known_items import MAX_ITEMS, json_item_hashes, pack
from ingest.types import ParsedEntry, ParsedFeed

#: ``version`` URL suffix -> the version string stored with the feed (feedparser style).
_VERSIONS = {"1": "json1", "1.0": "json1", "1.1": "json11"}
_VERSION_PREFIXES = ("https://jsonfeed.org/version/", "http://jsonfeed.org/version/")

#: Integers longer than this are not ids or sizes anyone means; parsing them would also
#: trip CPython's int-from-str digit limit (a ValueError for a whole document).
_MAX_INT_DIGITS = 40

#: Characters no stored string may contain: lone surrogates cannot be encoded as UTF-8
#: (the database write would fail), and PostgreSQL text refuses NUL.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")

_JSON_CONTENT_TYPES = ("application/feed+json", "application/json", "text/json")


def looks_like_json_feed(body: bytes, content_type: str | None) -> bool:
    """Whether the body should go to the JSON Feed parser rather than feedparser.

    The body decides first, because servers mislabel feeds: markup (``<``) goes to
    feedparser, a JSON object (``{``) comes here whatever the label. Otherwise a JSON
    content type sends it here, so that the error names the right format.
    """
    head = body[:1024].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return False
    if head.startswith(b"{"):
        return True
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return media_type in _JSON_CONTENT_TYPES


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _int_or_none(digits: str) -> int | None:
    return int(digits) if len(digits) <= _MAX_INT_DIGITS else None


def _finite_or_none(digits: str) -> float | None:
    number = float(digits)  # 1e999999 is valid JSON and becomes inf: not a usable value
    return number if math.isfinite(number) else None


def _load(body: bytes, url: str) -> Any:
    try:
        encoding = json.detect_encoding(body)
        # JSON Feed is UTF-8; a few invalid bytes cost a replacement character, not the feed.
        text = body.decode(encoding, errors="replace").lstrip("\ufeff")
        return json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_int=_int_or_none,
            parse_float=_finite_or_none,
            # Raw control characters inside strings are common in hand-made feeds and
            # harmless once parsed; refusing the whole feed for them helps nobody.
            strict=False,
        )
    except RecursionError:
        raise FeedParseError("invalid JSON Feed: the JSON is nested too deeply", url) from None
    except (ValueError, LookupError) as exc:
        # json.JSONDecodeError is a ValueError; the message names line and column.
        raise FeedParseError(f"invalid JSON Feed: {exc}"[:300], url) from None


def _version(document: dict[str, Any], url: str) -> str:
    raw = document.get("version")
    if not isinstance(raw, str):
        raise FeedParseError(
            "not a JSON Feed: the JSON object has no 'version' (https://jsonfeed.org/version/1.1)",
            url,
        )
    value = raw.strip()
    for prefix in _VERSION_PREFIXES:
        if value.startswith(prefix):
            found = _VERSIONS.get(value[len(prefix) :].strip("/"))
            if found is not None:
                return found
    raise FeedParseError(
        f"unsupported JSON Feed version {value[:100]!r}: only 1.0 and 1.1 are read", url
    )


def _clean(value: str) -> str:
    return _UNSTORABLE.sub("\ufffd", value) if _UNSTORABLE.search(value) else value


def _str(value: Any) -> str | None:
    """A stripped, storable string, or None for anything else (numbers, lists, "")."""
    if not isinstance(value, str):
        return None
    text = _clean(value).strip()
    return text or None


def _id(value: Any) -> str | None:
    # JSON Feed 1.0: "If an id is presented as a number ... coerce it to a string."
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return str(value)
    return _str(value)


def _url(value: Any, base: str) -> str | None:
    text = _str(value)
    if text is None:
        return None
    try:
        # Relative URLs are resolved like feedparser resolves RSS links; a malformed URL
        # (an unclosed IPv6 bracket) is dropped rather than stored unresolvable.
        return urljoin(base, text)
    except ValueError:
        return None


def _date(value: Any) -> datetime | None:
    """RFC 3339 (as the spec requires), else RFC 822 as some feeds send; aware UTC."""
    text = _str(value)
    if text is None or len(text) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, OverflowError, IndexError):
            return None
    try:
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _text_to_html(text: str) -> str:
    """Plain text as HTML: escaped, blank lines as paragraphs, newlines as <br>."""
    paragraphs = (p.strip() for p in _PARAGRAPH_BREAK.split(text))
    return "".join("<p>" + html.escape(p).replace("\n", "<br>\n") + "</p>" for p in paragraphs if p)


def _author_names(holder: dict[str, Any]) -> list[str]:
    """Names from 1.1 ``authors`` or, failing that, 1.0 ``author``; non-objects skipped."""
    authors = holder.get("authors")
    candidates: Iterable[Any] = authors if isinstance(authors, list) else []
    names = [n for n in (_str(a.get("name")) for a in candidates if isinstance(a, dict)) if n]
    if not names:
        legacy = holder.get("author")
        if isinstance(legacy, dict) and (name := _str(legacy.get("name"))):
            names = [name]
    return names


def _categories(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    seen: dict[str, None] = {}
    for tag in value:
        text = _str(tag)
        if text is not None:
            seen.setdefault(text, None)
    return tuple(seen)


def _entry(item: dict[str, Any], base: str, feed_authors: list[str]) -> ParsedEntry | None:
    content_html = _str(item.get("content_html"))
    content_text = _str(item.get("content_text"))
    if content_html is None and content_text is not None:
        content_html = _text_to_html(content_text)
    summary = _str(item.get("summary"))
    entry = ParsedEntry(
        guid=_id(item.get("id")),
        link=_url(item.get("url"), base) or _url(item.get("external_url"), base),
        title=_str(item.get("title")),
        # The spec's summary is plain text; the model carries HTML.
        summary_html=_text_to_html(summary) if summary is not None else None,
        content_html=content_html,
        author=", ".join(_author_names(item) or feed_authors) or None,
        published=_date(item.get("date_published")),
        updated=_date(item.get("date_modified")),
        categories=_categories(item.get("tags")),
        language=_str(item.get("language")),
    )
    if not (entry.guid or entry.link or entry.title or entry.content_html or entry.summary_html):
        return None  # nothing to identify or show
    return entry


def parse_json_feed(body: bytes, url: str, known: frozenset[bytes] = frozenset()) -> ParsedFeed:
    """Parse a JSON Feed 1.0/1.1 document fetched from ``url``.

    Items whose hash is in ``known`` (``ingest.known_items``: the last stored body had
    them) are left out; ``item_hashes`` of the result holds every item's hash.

    Raises :class:`FeedParseError` (one line) when the body is not JSON, not an object,
    not a known JSON Feed version, or has no ``items`` list. Items that are not objects,
    or carry nothing usable, are skipped and counted in ``ParsedFeed.warning``.
    """
    document = _load(body, url)
    if not isinstance(document, dict):
        raise FeedParseError(
            f"not a JSON Feed: the document is a JSON {type(document).__name__}, not an object",
            url,
        )
    version = _version(document, url)
    items = document.get("items")
    if not isinstance(items, list):
        raise FeedParseError("invalid JSON Feed: 'items' is missing or not a list", url)

    # Relative URLs resolve against where the body came from, not the document's own
    # feed_url, which a hostile feed could set to a javascript: or file: base.
    base = url
    feed_authors = _author_names(document)
    entries: list[ParsedEntry] = []
    skipped = known_count = 0
    hashes = json_item_hashes(items) if len(items) <= MAX_ITEMS else []
    for index, item in enumerate(items):
        if hashes and hashes[index] in known:
            known_count += 1
            continue
        entry = _entry(item, base, feed_authors) if isinstance(item, dict) else None
        if entry is None:
            skipped += 1
        else:
            entries.append(entry)
    warning = None
    if skipped:
        warning = f"skipped {skipped} of {len(items)} JSON Feed items with no usable fields"
    return ParsedFeed(
        title=_str(document.get("title")),
        link=_url(document.get("home_page_url"), base),
        language=_str(document.get("language")),
        entries=tuple(entries),
        version=version,
        warning=warning,
        item_hashes=pack(hashes),
        known_items=known_count,
    )
