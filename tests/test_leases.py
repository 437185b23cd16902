"""Feed leases: several daemons claim disjoint batches; a dead daemon's leases expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ingest import round_state, store
from ingest.round_state import FetchRecord
from ingest.types import FetchResult, FetchStatus

NOW = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)


def add_feeds(engine: Engine, n: int) -> list[int]:
    with Session(engine) as session, session.begin():
        return [store.add_feed(session, f"https://f{i}.example/rss", now=NOW).id for i in range(n)]


def claim(engine: Engine, owner: str, now: datetime = NOW, limit: int = 100) -> set[int]:
    with Session(engine) as session, session.begin():
        claimed = store.claim_due_feeds(session, owner=owner, now=now, lease=LEASE, limit=limit)
    return {c.ref.id for c in claimed}


def test_a_claimed_feed_is_not_claimed_again_until_its_lease_expires(engine: Engine) -> None:
    ids = set(add_feeds(engine, 5))
    assert claim(engine, "a", limit=3) | claim(engine, "b") == ids
    assert claim(engine, "c") == set()
    assert claim(engine, "c", now=NOW + LEASE + timedelta(seconds=1)) == ids  # both died


def test_recording_a_fetch_ends_the_lease(engine: Engine) -> None:
    (feed_id,) = add_feeds(engine, 1)
    assert claim(engine, "a") == {feed_id}
    with Session(engine) as session, session.begin():
        conn = session.connection()
        ref = round_state.feed_refs(conn, now=NOW, due_only=False)[0]
        result = FetchResult(feed=ref, status=FetchStatus.NOT_MODIFIED, http_status=304)
        round_state.record_fetches(
            conn,
            [FetchRecord(result, next_due_at=NOW, interval_seconds=3600, error=None)],
            now=NOW,
        )
        assert store.count_leases(session, now=NOW) == {}
    assert claim(engine, "b") == {feed_id}


def test_released_leases_are_claimable_at_once(engine: Engine) -> None:
    ids = set(add_feeds(engine, 3))
    assert claim(engine, "a") == ids
    with Session(engine) as session, session.begin():
        assert store.count_leases(session, now=NOW) == {"a": 3}
        assert store.release_leases(session, owner="a") == 3
    assert claim(engine, "b") == ids


def test_concurrent_claims_on_postgres_skip_each_others_rows(postgres_url: str) -> None:
    from newsdigest.db import open_database

    engine = open_database(postgres_url)
    ids = set(add_feeds(engine, 10))
    first = Session(engine)
    try:
        first.begin()
        held = {
            c.ref.id for c in store.claim_due_feeds(first, owner="a", now=NOW, lease=LEASE, limit=4)
        }
        # While the first claim is not yet committed, a second daemon gets the others
        # instead of waiting for the locked rows.
        assert claim(engine, "b") == ids - held
        first.commit()
    finally:
        first.close()
        engine.dispose()
    assert len(held) == 4


@pytest.mark.parametrize("limit", [1, 7])
def test_claims_take_the_most_overdue_first(engine: Engine, limit: int) -> None:
    ids = add_feeds(engine, 8)
    with Session(engine) as session, session.begin():
        for offset, feed_id in enumerate(reversed(ids)):
            store.set_feed_enabled(session, feed_id, True, now=NOW - timedelta(minutes=offset))
        claimed = store.claim_due_feeds(session, owner="a", now=NOW, lease=LEASE, limit=limit)
    assert [c.ref.id for c in claimed] == ids[:limit]
    assert all(c.due_at is not None and c.due_at <= NOW for c in claimed)


def test_a_heartbeat_keeps_live_leases_and_not_expired_ones(engine: Engine) -> None:
    ids = add_feeds(engine, 2)
    assert claim(engine, "a", limit=1) == {ids[0]}
    with Session(engine) as session, session.begin():
        later = NOW + timedelta(minutes=4)
        assert store.renew_leases(session, owner="a", now=later, lease=LEASE) == 1
    assert claim(engine, "b", now=NOW + timedelta(minutes=6)) == {ids[1]}  # a's is still held
    with Session(engine) as session, session.begin():
        too_late = NOW + timedelta(minutes=20)
        assert store.renew_leases(session, owner="a", now=too_late, lease=LEASE) == 0
