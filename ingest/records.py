"""What the store hands out: frozen values, never ORM rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class OutletInfo:
    id: int
    name: str
    homepage: str | None
    country: str | None
    language: str | None


@dataclass(frozen=True, slots=True)
class FeedInfo:
    """A followed feed and its health, as ``feeds list`` shows it."""

    id: int
    url: str
    outlet: str | None
    outlet_id: int | None
    title: str | None
    category: str | None
    enabled: bool
    gone: bool
    url_history: tuple[str, ...]
    last_status: str | None
    last_http_status: int | None
    last_error: str | None
    error_count: int
    failing_since: datetime | None
    last_fetched_at: datetime | None
    last_new_entry_at: datetime | None
    next_due_at: datetime | None
    interval_seconds: int | None
    key_policy: str = "guid"


@dataclass(frozen=True, slots=True)
class ArticleInfo:
    """A stored article, as listings and the digest see it."""

    id: int
    feed_id: int
    outlet_id: int | None
    outlet: str | None
    story_id: int | None
    title: str
    url: str | None
    summary: str
    language: str | None
    published: datetime
    first_seen: datetime
    updated: datetime | None
    countries: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    categories: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class SaveStats:
    """What storing one feed's entries did."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    #: Of the new ones, how many joined a story already stored (duplicates, republications).
    joined: int = 0


@dataclass(frozen=True, slots=True)
class StorySource:
    """One article of a story: which outlet carried it, where, and when."""

    article_id: int
    outlet: str | None
    url: str | None
    published: datetime


@dataclass(frozen=True, slots=True)
class StoryInfo:
    """A story: its representative article's headline, its size and its sources."""

    id: int
    title: str
    representative_id: int | None
    size: int
    first_seen: datetime
    sources: tuple[StorySource, ...]
