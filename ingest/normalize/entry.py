"""One parsed entry -> one normalized, storable entry (:func:`normalize_entry`)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from ingest.normalize.dates import (
    DEFAULT_MAX_SKEW,
    DateFlag,
    normalize_dates,
)
from ingest.normalize.errors import InvalidURLError
from ingest.normalize.html import MAX_HTML_CHARS, html_to_text, sanitize_html
from ingest.normalize.keys import KeyPolicy, entry_key, key_with_date_flags
from ingest.normalize.language import detect_language, normalize_language_tag
from ingest.normalize.text import cap, one_line, scrub
from ingest.normalize.urls import canonical_url
from ingest.types import ParsedEntry


@dataclass(frozen=True, slots=True)
class NormalizeSettings:
    """Limits and options of :func:`normalize_entry`; the defaults suit news feeds.

    Usage::

        settings = NormalizeSettings(extra_tracking_params=("src", "cmp"))
        normalized = normalize_entry(entry, feed_url=url, feed_language=None, now=now,
                                     settings=settings)
    """

    #: Query parameters removed from links, on top of ``urls.TRACKING_PARAMS``.
    extra_tracking_params: tuple[str, ...] = ()
    max_title_chars: int = 1000
    max_summary_chars: int = 2000
    max_author_chars: int = 300
    max_categories: int = 50
    max_category_chars: int = 200
    #: A longer guid is replaced by ``sha256:<hex>`` of itself (and a note says so).
    max_guid_chars: int = 512
    max_skew: timedelta = DEFAULT_MAX_SKEW


DEFAULT_SETTINGS = NormalizeSettings()


@dataclass(frozen=True, slots=True)
class NormalizedEntry:
    """An entry ready to be keyed, de-duplicated and stored. Every string is storable
    (no control characters, no lone surrogates) and bounded.
    """

    #: Canonical link (see ``canonical_url``); None when missing or unusable.
    url: str | None
    #: Plain text on one line, at most ``max_title_chars``; None when there is none.
    title: str | None
    #: Plain text of the feed's summary, else the start of ``content_text``.
    summary_text: str
    #: Sanitized HTML of the content (the summary when the feed gives no content).
    content_html: str
    #: Plain text of ``content_html``: the fullest text we have, for dedupe and search.
    content_text: str
    author: str | None
    #: UTC; always set (see ``date_flags`` for fallbacks and clamping).
    published: datetime
    updated: datetime | None
    date_flags: tuple[DateFlag, ...]
    #: BCP 47 tag, declared or detected; None when unknown.
    language: str | None
    categories: tuple[str, ...]
    #: The feed's guid, stripped; ``sha256:<hex>`` when it was too long; None if absent.
    guid: str | None
    #: sha256 hex of title + text: a change means the entry was edited.
    content_hash: str
    #: What was capped, replaced or dropped, one human-readable line each, for the logs.
    notes: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The entry's key under the default policy (guid, else link, else hash)."""
        return entry_key(self.guid, self.url, self.content_hash)

    def key_for(self, policy: KeyPolicy) -> str:
        """The entry's key under the feed's ``policy`` (see ``keys.key_for_policy``); only a
        date the feed gave, and kept, is stable from one fetch to the next."""
        return key_with_date_flags(
            policy,
            guid=self.guid,
            link=self.url,
            published=self.published,
            date_flags=self.date_flags,
            content_hash=self.content_hash,
        )


_MARKUP = re.compile(r"<[a-zA-Z/!]|&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);")


def content_hash(title: str | None, text: str) -> str:
    """sha256 hex of the title and the text: what an edit of an entry changes."""
    payload = f"{title or ''}\n{text}".encode("utf-8", "surrogatepass")
    return hashlib.sha256(payload).hexdigest()


def normalize_entry(
    entry: ParsedEntry,
    *,
    feed_url: str,
    feed_language: str | None,
    now: datetime,
    first_seen: datetime | None = None,
    settings: NormalizeSettings = DEFAULT_SETTINGS,
) -> NormalizedEntry:
    """Normalize one parsed entry.

    ``feed_url`` resolves relative links; ``feed_language`` is used when the entry does
    not declare one; ``first_seen`` (default ``now``) dates an entry that has no date.
    Bad content never raises: an unusable link becomes None, oversized fields are capped,
    markup is sanitized, and each such repair is listed in ``notes``.
    """
    notes: list[str] = []

    guid = _clean_guid(entry.guid, settings.max_guid_chars, notes)

    url: str | None = None
    if entry.link and entry.link.strip():
        try:
            url = canonical_url(scrub(entry.link), feed_url, settings.extra_tracking_params)
        except InvalidURLError as exc:
            notes.append(f"link dropped: {exc}")

    title = _clean_title(entry.title, settings.max_title_chars)

    raw_html = entry.content_html or entry.summary_html or ""
    if len(raw_html) > MAX_HTML_CHARS:
        notes.append(f"content was {len(raw_html)} characters; kept the first {MAX_HTML_CHARS}")
    content_html = sanitize_html(raw_html, base_url=url or feed_url)
    content_text = html_to_text(content_html)
    if entry.summary_html and entry.content_html:
        summary_text = cap(html_to_text(entry.summary_html), settings.max_summary_chars)
    else:
        summary_text = cap(content_text, settings.max_summary_chars)

    dates = normalize_dates(
        entry.published,
        entry.updated,
        first_seen if first_seen is not None else now,
        now=now,
        max_skew=settings.max_skew,
    )

    author = one_line(entry.author, settings.max_author_chars) if entry.author else ""
    declared = normalize_language_tag(entry.language) or normalize_language_tag(feed_language)
    language = detect_language(f"{title or ''}\n{content_text}", declared)

    return NormalizedEntry(
        url=url,
        title=title,
        summary_text=summary_text,
        content_html=content_html,
        content_text=content_text,
        author=author or None,
        published=dates.published,
        updated=dates.updated,
        date_flags=dates.flags,
        language=language,
        categories=_clean_categories(entry.categories, settings),
        guid=guid,
        content_hash=content_hash(title, content_text),
        notes=tuple(notes),
    )


def _clean_guid(raw: str | None, max_chars: int, notes: list[str]) -> str | None:
    if raw is None:
        return None
    guid = scrub(raw).strip()
    if not guid:
        return None
    if len(guid) > max_chars:
        digest = hashlib.sha256(guid.encode("utf-8")).hexdigest()
        notes.append(f"guid was {len(guid)} characters; replaced by its sha256")
        return f"sha256:{digest}"
    return guid


def _clean_title(raw: str | None, max_chars: int) -> str | None:
    if not raw:
        return None
    # Cap before parsing: a title is one line; anything past a few KB is junk.
    text = raw[: max_chars * 8]
    if _MARKUP.search(text):
        text = html_to_text(text)
    return one_line(text, max_chars) or None


def _clean_categories(raw: tuple[str, ...], settings: NormalizeSettings) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for category in raw:
        if not isinstance(category, str):
            continue
        clean = one_line(category, settings.max_category_chars)
        if clean:
            seen.setdefault(clean, None)
        if len(seen) >= settings.max_categories:
            break
    return tuple(seen)
