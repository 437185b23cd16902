"""`newsdigest status`: one screen on the service's health, as data and as text."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from digest.models import Delivery
from digest.subscribers import list_subscribers
from digest.window import next_send
from ingest import store
from newsdigest.app import App


@dataclass(frozen=True, slots=True)
class NextDigest:
    email: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Status:
    feeds: store.FeedHealthReport
    next_digests: tuple[NextDigest, ...]
    deliveries_last_day: dict[str, int]
    articles: int


def collect_status(app: App, *, top: int = 10) -> Status:
    """Gather the status from the database; reads only, no secrets."""
    now = app.clock()
    with app.session() as session:
        feeds = store.feed_health(session, now=now, top=top)
        upcoming = sorted(
            (
                NextDigest(s.email, next_send(s.spec.send_at, s.spec.timezone, now, s.spec.weekly))
                for s in list_subscribers(session, statuses=("active",))
            ),
            key=lambda d: (d.at, d.email),
        )
        deliveries = dict(
            session.execute(
                select(Delivery.status, func.count(Delivery.id))
                .where(Delivery.updated_at >= now - timedelta(days=1))
                .group_by(Delivery.status)
            ).all()
        )
        articles = store.count_articles(session)
    return Status(feeds, tuple(upcoming[:top]), deliveries, articles)
