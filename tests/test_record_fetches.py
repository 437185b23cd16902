"""A plain 304 is recorded by a short UPDATE; it must leave a feed as the full one would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from ingest import round_state, store
from ingest.models import Feed
from ingest.round_state import FetchRecord
from ingest.schedule import EntryRhythm
from ingest.types import FeedRef, FetchResult, FetchStatus

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
EARLIER = NOW - timedelta(days=2)

#: Feeds as a round may find them: new, failing, slowed, leased, with hints and validators.
STATES: list[dict[str, Any]] = [
    {},
    {
        "error_count": 3,
        "failing_since": EARLIER,
        "last_error": "connection refused",
        "last_status": "failed",
        "last_success_at": EARLIER - timedelta(days=1),
    },
    {"retry_after_at": NOW + timedelta(hours=1), "last_status": "retry_later"},
    {"lease_owner": "host-1", "lease_expires_at": NOW + timedelta(minutes=5)},
    {
        "etag": '"abc"',
        "last_modified": "Wed, 25 Nov 2026 10:00:00 GMT",
        "body_hash": "0" * 64,
        "item_hashes": b"\x01" * 16,
        "rhythm_gaps": 5,
        "rhythm_median_seconds": 3600.0,
        "rhythm_newest_at": EARLIER,
        "ttl_minutes": 60,
        "update_period": "hourly",
        "update_frequency": 2,
        "title": "",
        "last_new_entry_at": EARLIER,
    },
]


def _row(session: Session, feed_id: int) -> dict[str, Any]:
    feed = session.get(Feed, feed_id)
    assert feed is not None
    values = {c.key: getattr(feed, c.key) for c in Feed.__table__.columns}
    del values["id"], values["url"]
    return values


@pytest.mark.parametrize("state", STATES)
def test_a_plain_304_is_recorded_as_the_full_update_records_it(
    engine: Engine, state: dict[str, Any]
) -> None:
    with Session(engine) as session, session.begin():
        short = store.add_feed(session, "https://a.example/rss", now=EARLIER).id
        full = store.add_feed(session, "https://b.example/rss", now=EARLIER).id
        if state:
            session.execute(update(Feed).where(Feed.id.in_([short, full])).values(**state))
    records = {
        feed_id: FetchRecord(
            FetchResult(FeedRef(feed_id, url), FetchStatus.NOT_MODIFIED, http_status=304),
            next_due_at=NOW + timedelta(minutes=45),
            interval_seconds=2700,
            error=None,
        )
        for feed_id, url in ((short, "https://a.example/rss"), (full, "https://b.example/rss"))
    }
    assert round_state._is_plain_304(records[short])
    with Session(engine) as session, session.begin():
        conn = session.connection()
        round_state.record_fetches(conn, [records[short]], now=NOW)
        conn.execute(round_state._RECORD, [round_state._params(records[full], NOW)])
    with Session(engine) as session:
        assert _row(session, short) == _row(session, full)
        assert _row(session, short)["last_fetched_at"] == NOW


def test_a_304_with_more_to_record_takes_the_full_update(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        feed_id = store.add_feed(session, "https://a.example/rss", now=EARLIER).id
    result = FetchResult(
        FeedRef(feed_id, "https://a.example/rss"), FetchStatus.NOT_MODIFIED, http_status=304
    )
    rhythm = EntryRhythm(gaps=4, median_gap=timedelta(hours=2), newest=EARLIER)
    record = FetchRecord(result, NOW, 3600, None, rhythm=rhythm)
    assert not round_state._is_plain_304(record)
    with Session(engine) as session, session.begin():
        round_state.record_fetches(session.connection(), [record], now=NOW)
    with Session(engine) as session:
        stored = session.execute(
            select(Feed.rhythm_gaps, Feed.rhythm_median_seconds).where(Feed.id == feed_id)
        ).one()
    assert tuple(stored) == (4, 7200.0)
