"""The delivery ledger on SQLite and PostgreSQL: claims, leases, retries, bounces, races."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from digest import ledger
from digest.ledger import RetryPolicy
from digest.models import Delivery, Subscriber

T0 = datetime(2025, 1, 10, 4, 0, tzinfo=UTC)
LEASE = timedelta(minutes=10)


def add_subscriber(engine: Engine, email: str, status: str = "active") -> int:
    with Session(engine) as session, session.begin():
        row = Subscriber(
            email=email,
            name="",
            status=status,
            source="cli",
            bounce_count=0,
            regions=[],
            countries=[],
            topics=[],
            outlets=[],
            keywords=[],
            exclude_keywords=[],
            created_at=T0 - timedelta(days=30),
            updated_at=T0 - timedelta(days=30),
        )
        session.add(row)
        session.flush()
        return row.id


def claim(
    engine: Engine, sid: int, end: datetime = T0, *, worker: str = "w1", now: datetime = T0
) -> ledger.Claim | None:
    with Session(engine) as session, session.begin():
        return ledger.claim(
            session,
            subscriber_id=sid,
            period_start=end - timedelta(days=1),
            period_end=end,
            message_id=ledger.message_id_for(sid, end, "example.org"),
            worker=worker,
            now=now,
            lease=LEASE,
        )


def status_of(engine: Engine, sid: int, end: datetime = T0) -> ledger.DeliveryRecord:
    with Session(engine) as session:
        record = ledger.find(session, sid, end)
    assert record is not None
    return record


# ---------------------------------------------------------------- pure decisions


@pytest.mark.parametrize(
    ("attempts", "delay"),
    [(1, timedelta(seconds=60)), (2, timedelta(seconds=120)), (3, timedelta(seconds=240)),
     (4, timedelta(seconds=300)), (5, None), (9, None)],
)  # fmt: skip
def test_backoff_doubles_up_to_the_cap_then_gives_up(
    attempts: int, delay: timedelta | None
) -> None:
    policy = RetryPolicy(max_attempts=5, base=timedelta(seconds=60), cap=timedelta(seconds=300))
    expected = None if delay is None else T0 + delay
    assert ledger.next_attempt_at(policy, attempts, T0) == expected


def test_message_id_is_deterministic_per_subscriber_and_period() -> None:
    a = ledger.message_id_for(7, T0, "Example.ORG")
    assert a == ledger.message_id_for(7, T0.astimezone(), "example.org")
    assert a == "<digest.7.20250110T0400Z@example.org>"
    assert a != ledger.message_id_for(8, T0, "example.org")
    assert a != ledger.message_id_for(7, T0 + timedelta(days=1), "example.org")
    # Nothing from the domain can break out of the header.
    assert "\n" not in ledger.message_id_for(7, T0, "evil.org>\r\nBcc: x@y")


# ---------------------------------------------------------------- claims


def test_a_period_is_claimed_once(engine: Engine) -> None:
    sid = add_subscriber(engine, "a@example.org")
    first = claim(engine, sid, worker="w1")
    assert first is not None and first.attempt == 1 and not first.resumed
    assert claim(engine, sid, worker="w2") is None  # live claim of w1
    assert status_of(engine, sid).status == "sending"
    with Session(engine) as session, session.begin():
        assert ledger.mark_sent(session, first, now=T0, story_ids=[3, 1, 3])
    assert claim(engine, sid, worker="w2", now=T0 + timedelta(days=2)) is None  # sent is final
    record = status_of(engine, sid)
    assert (record.status, record.stories, record.sent_at) == ("sent", 2, T0)
    # The next period is a new row.
    assert claim(engine, sid, T0 + timedelta(days=1)) is not None


def test_a_retry_is_claimed_when_due_with_the_same_message_id(engine: Engine) -> None:
    sid = add_subscriber(engine, "a@example.org")
    first = claim(engine, sid)
    assert first is not None
    with Session(engine) as session, session.begin():
        ledger.mark_retry(
            session, first, now=T0, error="451 try later", retry_at=T0 + timedelta(minutes=1)
        )
    assert claim(engine, sid, worker="w2", now=T0 + timedelta(seconds=59)) is None
    again = claim(engine, sid, worker="w2", now=T0 + timedelta(minutes=1))
    assert again is not None
    assert (again.attempt, again.message_id, again.resumed) == (2, first.message_id, True)


def test_a_dead_senders_claim_is_taken_over_after_its_lease(engine: Engine) -> None:
    sid = add_subscriber(engine, "a@example.org")
    dead = claim(engine, sid, worker="dead")
    assert dead is not None
    assert claim(engine, sid, worker="w2", now=T0 + LEASE - timedelta(seconds=1)) is None
    taken = claim(engine, sid, worker="w2", now=T0 + LEASE + timedelta(seconds=1))
    assert taken is not None and taken.message_id == dead.message_id and taken.attempt == 2
    # The dead sender comes back to life: its late update is refused, the row stays w2's.
    with Session(engine) as session, session.begin():
        assert not ledger.mark_sent(session, dead, now=T0 + LEASE)
    assert status_of(engine, sid).claimed_by == "w2"


def test_claim_due_retries_oldest_first_skipping_inactive(engine: Engine) -> None:
    a = add_subscriber(engine, "a@example.org")
    b = add_subscriber(engine, "b@example.org")
    paused = add_subscriber(engine, "p@example.org")
    later = T0 + timedelta(days=1)
    for sid, end in ((a, later), (b, T0), (paused, T0)):
        c = claim(engine, sid, end)
        assert c is not None
        with Session(engine) as session, session.begin():
            ledger.mark_retry(session, c, now=T0, error="421", retry_at=T0)
    with Session(engine) as session, session.begin():
        session.execute(
            Subscriber.__table__.update().where(Subscriber.id == paused).values(status="paused")
        )
    with Session(engine) as session, session.begin():
        claims = ledger.claim_due_retries(session, worker="w9", now=T0, lease=LEASE, max_attempts=5)
    assert [(c.subscriber_id, c.period_end) for c in claims] == [(b, T0), (a, later)]
    assert all(c.attempt == 2 for c in claims)


def test_a_stale_claim_out_of_attempts_is_failed(engine: Engine) -> None:
    sid = add_subscriber(engine, "a@example.org")
    assert claim(engine, sid) is not None
    with Session(engine) as session, session.begin():
        claims = ledger.claim_due_retries(
            session, worker="w2", now=T0 + LEASE * 2, lease=LEASE, max_attempts=1
        )
    assert claims == []
    record = status_of(engine, sid)
    assert record.status == "failed" and "gave up" in (record.last_error or "")


def test_only_one_of_many_concurrent_claims_wins(engine: Engine) -> None:
    sids = [add_subscriber(engine, f"r{i}@example.org") for i in range(5)]
    won: list[tuple[int, str]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def worker(name: str) -> None:
        try:
            barrier.wait()
            for sid in sids:
                if claim(engine, sid, worker=name) is not None:
                    won.append((sid, name))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(sid for sid, _ in won) == sids  # each period claimed exactly once
    with Session(engine) as session:
        assert session.scalar(select(Delivery.id).where(Delivery.status != "sending")) is None


# ---------------------------------------------------------------- windows, stories, bounces


def test_covered_until_skips_failed_periods(engine: Engine) -> None:
    sid = add_subscriber(engine, "a@example.org")
    day = timedelta(days=1)
    outcomes = [(T0, "sent"), (T0 + day, "skipped"), (T0 + 2 * day, "failed")]
    for end, outcome in outcomes:
        c = claim(engine, sid, end)
        assert c is not None
        with Session(engine) as session, session.begin():
            if outcome == "sent":
                ledger.mark_sent(session, c, now=end, story_ids=[11, 12])
            elif outcome == "skipped":
                ledger.mark_skipped(session, c, now=end, reason="nothing matched")
            else:
                ledger.mark_failed(session, c, now=end, error="550")
    with Session(engine) as session:
        # The failed digest's stories roll into the next one: its window starts after the skip.
        assert ledger.covered_until(session, sid, T0 + 3 * day) == T0 + day
        assert ledger.covered_until(session, sid, T0) is None
        assert ledger.delivered_story_ids(session, sid, T0 - day) == {11, 12}
        assert ledger.delivered_story_ids(session, sid, T0 + day) == frozenset()
        assert [r.status for r in ledger.list_deliveries(session)] == [
            "failed",
            "skipped",
            "sent",
        ]
        assert [r.status for r in ledger.list_deliveries(session, status="sent")] == ["sent"]
        assert ledger.list_deliveries(session, email="A@EXAMPLE.ORG")[0].email == "a@example.org"


def test_bounces_in_a_row_mark_the_subscriber_bouncing(engine: Engine) -> None:
    sid = add_subscriber(engine, "a@example.org")
    with Session(engine) as session, session.begin():
        assert not ledger.record_bounce(session, sid, limit=2, now=T0)
        ledger.reset_bounces(session, sid, now=T0)  # a success in between
        assert not ledger.record_bounce(session, sid, limit=2, now=T0)
        assert ledger.record_bounce(session, sid, limit=2, now=T0)
        assert session.get(Subscriber, sid).status == "bouncing"  # type: ignore[union-attr]


def test_pause_subscriber(engine: Engine) -> None:
    sid = add_subscriber(engine, "a@example.org")
    with Session(engine) as session, session.begin():
        assert ledger.pause_subscriber(session, sid, now=T0)
        assert not ledger.pause_subscriber(session, sid + 100, now=T0)
        assert ledger.subscriber_email(session, sid) == "a@example.org"
        assert session.get(Subscriber, sid).status == "paused"  # type: ignore[union-attr]
