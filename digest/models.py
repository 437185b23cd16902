"""The tables digest owns: subscribers and the delivery ledger.

They hang from ingest's declarative base (one Alembic history for the whole schema).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ingest.orm import Base, UTCDateTime


class Subscriber(Base):
    """Who receives a digest, when, and of what. Empty filters mean everything."""

    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    #: Local time of the send, "HH:MM".
    send_at: Mapped[str] = mapped_column(String(5), default="07:00")
    #: None: daily; 0..6 (Monday..Sunday): weekly on that day.
    weekly: Mapped[int | None] = mapped_column(Integer)
    regions: Mapped[list[str]] = mapped_column(JSON, default=list)
    countries: Mapped[list[str]] = mapped_column(JSON, default=list)
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    outlets: Mapped[list[str]] = mapped_column(JSON, default=list)
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    exclude_keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: Section grouping ("region", "topic" or "outlet"); None: the configured default.
    group_by: Mapped[str | None] = mapped_column(String(10))
    #: "active", "paused" (by the user or an unsubscribe) or "bouncing".
    status: Mapped[str] = mapped_column(String(20), default="active")
    #: "config" (from config.yaml) or "cli" (added with `subscribers add`).
    source: Mapped[str] = mapped_column(String(20), default="cli")
    bounce_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Delivery(Base):
    """The ledger: one row per (subscriber, period), so a digest goes out once.

    pending -> sending -> sent, or failed. The row is claimed before the SMTP
    conversation; ``message_id`` is fixed at claim time, so a resend after a crash
    carries the same Message-ID.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("subscriber_id", "period_end"),
        Index("ix_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    period_start: Mapped[datetime] = mapped_column(UTCDateTime())
    period_end: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(20), default="pending")
    message_id: Mapped[str] = mapped_column(String(300))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The stories this digest showed, so the next one does not repeat them.
    story_ids: Mapped[Any] = mapped_column(JSON, default=list)
    stories: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
