"""The named, frozen values handed from one ingest stage to the next.

fetch -> :class:`FetchResult` -> parse -> :class:`ParsedFeed` (of :class:`ParsedEntry`)
-> store. Each stage takes these values and returns new ones; none of them holds a
connection, a session or an ORM row.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class FetchStatus(enum.StrEnum):
    """What one fetch of one feed came to."""

    OK = "ok"  # 200 with a body to parse
    NOT_MODIFIED = "not_modified"  # 304, or a body identical to the last one
    GONE = "gone"  # 410: not fetched again until re-enabled
    RETRY_LATER = "retry_later"  # 429/503: the server asked us to wait
    FAILED = "failed"  # anything else: network error, 4xx/5xx, limits


@dataclass(frozen=True, slots=True)
class FeedRef:
    """A stored feed as the fetcher needs it: where, and the validators to send."""

    id: int
    url: str
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    #: Hashes of the items of the last body stored (``ingest.known_items``).
    item_hashes: bytes | None = None


@dataclass(frozen=True, slots=True)
class FetchResult:
    """The outcome of one HTTP fetch of one feed; no parsing has happened yet."""

    feed: FeedRef
    status: FetchStatus
    http_status: int | None = None
    #: The URL the body finally came from (after redirects).
    final_url: str | None = None
    #: Set when a permanent redirect (301/308) moved the feed.
    permanent_url: str | None = None
    body: bytes | None = None
    #: Response headers, lower-cased names.
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    #: One line a user can act on, set when status is FAILED/GONE/RETRY_LATER.
    error: str | None = None
    #: For RETRY_LATER: not before this instant (UTC).
    retry_after: datetime | None = None
    elapsed_s: float = 0.0


@dataclass(frozen=True, slots=True)
class ParsedEntry:
    """One entry of a feed, as the parser read it; not yet normalized.

    Dates are timezone-aware UTC or None. ``content_html`` and ``summary_html`` are the
    feed's markup, unsanitized: the normalizer sanitizes them before storage.
    """

    guid: str | None
    link: str | None
    title: str | None
    summary_html: str | None = None
    content_html: str | None = None
    author: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    categories: tuple[str, ...] = ()
    language: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A parsed feed document.

    ``ttl_minutes``, ``update_period`` and ``update_frequency`` are the feed's own hints
    about how often to poll it (RSS ``<ttl>``, ``sy:updatePeriod``/``sy:updateFrequency``).
    """

    title: str | None
    link: str | None
    language: str | None
    entries: tuple[ParsedEntry, ...]
    version: str = ""
    ttl_minutes: int | None = None
    update_period: str | None = None
    update_frequency: int | None = None
    #: A non-fatal problem the parser noticed (feedparser's bozo), for the logs.
    warning: str | None = None
    #: Hashes of every item of the document (``ingest.known_items``), kept for the next
    #: fetch; None when the document could not be cut into items. Bookkeeping, not
    #: content: two parses of one feed compare equal whatever these say.
    item_hashes: bytes | None = field(default=None, compare=False)
    #: Items left unparsed because the last stored body had them (not in ``entries``).
    known_items: int = field(default=0, compare=False)
