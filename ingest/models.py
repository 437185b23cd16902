"""The tables ingest owns: outlets, feeds, articles, stories, tags.

Only the store (``ingest.store``) touches these classes; everything outside it receives
the frozen values of ``ingest.records``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ingest.orm import Base, UTCDateTime

# PostgreSQL can index a varchar up to ~2,700 bytes; URLs longer than this are rare junk
# and the normalizer caps them.
URL_LENGTH = 2048


class Outlet(Base):
    __tablename__ = "outlets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    homepage: Mapped[str | None] = mapped_column(String(URL_LENGTH))
    country: Mapped[str | None] = mapped_column(String(2))
    language: Mapped[str | None] = mapped_column(String(35))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: Fetch every article's page for its full text (config: outlets[].full_text).
    full_text: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


#: Few feeds have it set at a time, and rounds look up the domains a server slowed down
#: on every batch.
_RETRY_SET = text("retry_after_at IS NOT NULL")


class Feed(Base):
    __tablename__ = "feeds"
    __table_args__ = (
        Index(
            "ix_feeds_retry_after_at",
            "retry_after_at",
            postgresql_where=_RETRY_SET,
            sqlite_where=_RETRY_SET,
        ),
        # No index on next_due_at or lease_owner: every fetch changes both, and an
        # indexed column changed makes PostgreSQL write the row anew (no HOT update)
        # with an entry in every index (migration 0014). Feeds keep room on their pages
        # for the versions a fetch writes.
        {"postgresql_with": {"fillfactor": 40}},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    outlet_id: Mapped[int | None] = mapped_column(
        ForeignKey("outlets.id", ondelete="SET NULL"), index=True
    )
    url: Mapped[str] = mapped_column(String(URL_LENGTH), unique=True)
    #: Earlier URLs of this feed, oldest first, kept when a 301/308 moved it.
    url_history: Mapped[list[str]] = mapped_column(JSON, default=list)
    title: Mapped[str | None] = mapped_column(Text)
    site_url: Mapped[str | None] = mapped_column(String(URL_LENGTH))
    language: Mapped[str | None] = mapped_column(String(35))
    #: OPML folder path, e.g. "Middle East" or "News/Africa".
    category: Mapped[str | None] = mapped_column(String(500))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    gone: Mapped[bool] = mapped_column(Boolean, default=False)
    # Validators for conditional GET, and the last body's hash for servers with neither.
    etag: Mapped[str | None] = mapped_column(String(1024))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    body_hash: Mapped[str | None] = mapped_column(String(100))
    #: Hashes of the items in the last body stored (8 bytes each, ingest.known_items): a
    #: changed body parses only the items that are new or edited.
    item_hashes: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: The last body's own polling hints (RSS <ttl>, sy:updatePeriod/sy:updateFrequency),
    #: for the schedule when a fetch brings no body (a 304, an error).
    ttl_minutes: Mapped[int | None] = mapped_column(Integer)
    update_period: Mapped[str | None] = mapped_column(String(20))
    update_frequency: Mapped[int | None] = mapped_column(Integer)
    #: The rhythm of the feed's recent entries (ingest.schedule.EntryRhythm), refreshed when
    #: a fetch stores or edits entries; NULL gaps: never summed up yet.
    rhythm_gaps: Mapped[int | None] = mapped_column(Integer)
    rhythm_median_seconds: Mapped[float | None] = mapped_column(Float)
    rhythm_newest_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: How entries of this feed are keyed: "guid", "link" or "link+date".
    key_policy: Mapped[str] = mapped_column(String(16), default="guid")
    # Health.
    last_status: Mapped[str | None] = mapped_column(String(20))
    last_http_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_new_entry_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Schedule: the next due time lives here, not in a timer.
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    interval_seconds: Mapped[int | None] = mapped_column(Integer)
    retry_after_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Leases for several daemons sharing one PostgreSQL.
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Story(Base):
    """Articles that report the same story (one article, republications, near-copies)."""

    __tablename__ = "stories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    representative_id: Mapped[int | None] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer, default=1)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Article(Base):
    __tablename__ = "articles"
    __table_args__ = (
        UniqueConstraint("feed_id", "entry_key"),
        Index("ix_articles_first_seen_at", "first_seen_at"),
        Index("ix_articles_published_at", "published_at"),
        # Each feed's newest entries, read by every fetch round (ingest.round_state).
        Index("ix_articles_feed_published", "feed_id", "published_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"))
    outlet_id: Mapped[int | None] = mapped_column(
        ForeignKey("outlets.id", ondelete="SET NULL"), index=True
    )
    story_id: Mapped[int | None] = mapped_column(
        ForeignKey("stories.id", ondelete="SET NULL"), index=True
    )
    #: Identity within the feed: "g:" guid, "l:" canonical link or "h:" content hash.
    entry_key: Mapped[str] = mapped_column(String(600))
    guid: Mapped[str | None] = mapped_column(String(URL_LENGTH))
    url: Mapped[str | None] = mapped_column(String(URL_LENGTH), index=True)
    title: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    content_html: Mapped[str] = mapped_column(Text, default="")
    content_text: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str | None] = mapped_column(String(500))
    language: Mapped[str | None] = mapped_column(String(35))
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    date_flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    content_hash: Mapped[str] = mapped_column(String(100))
    #: Normalized-text fingerprint: the same value means the same text (ingest.dedupe).
    fingerprint: Mapped[str | None] = mapped_column(String(100), index=True)
    #: MinHash signature (ingest.dedupe.signature_to_bytes), to verify LSH candidates.
    signature: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: The article's full text, not only the feed's teaser (a story's representative).
    is_full: Mapped[bool] = mapped_column(Boolean, default=False)


class Tag(Base):
    """A country, region or topic an article is substantially about, with its evidence."""

    __tablename__ = "tags"
    __table_args__ = (Index("ix_tags_kind_value", "kind", "value"),)

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str] = mapped_column(String(100), primary_key=True)
    score: Mapped[float] = mapped_column(Float, default=0.0)
    evidence: Mapped[Any] = mapped_column(JSON, default=list)


class MinHashBand(Base):
    """One LSH band of an article's MinHash signature, for near-duplicate lookup in SQL."""

    __tablename__ = "minhash_bands"
    __table_args__ = (Index("ix_minhash_bands_band_hash", "band", "hash"),)

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    band: Mapped[int] = mapped_column(Integer, primary_key=True)
    hash: Mapped[int] = mapped_column(BigInteger)


class EntryTombstone(Base):
    """A pruned article's (feed, key): the feed may still list it; it is not stored again."""

    __tablename__ = "entry_tombstones"

    feed_id: Mapped[int] = mapped_column(
        ForeignKey("feeds.id", ondelete="CASCADE"), primary_key=True
    )
    entry_key: Mapped[str] = mapped_column(String(600), primary_key=True)
    pruned_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class ArticleFullText(Base):
    """The last attempt to fetch an article's page for its full text (ingest.fulltext)."""

    __tablename__ = "article_fulltext"

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    #: "extracted", "kept_summary" (extraction looked wrong), "retry" or "failed".
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    tried_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: Why the feed's text was kept, one line.
    reason: Mapped[str | None] = mapped_column(Text)
