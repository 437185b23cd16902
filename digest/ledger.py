"""The delivery ledger: which digest went to whom, and who is sending it now.

One ``deliveries`` row per (subscriber, period end), unique in the database. A sender
*claims* the row (``sending``, with its name and a lease) in a committed transaction
before it opens the SMTP conversation, so two processes, or two hosts on one PostgreSQL,
never send the same digest::

    (no row) --claim--> sending --mark_sent-----> sent
                          |  \\--mark_failed---> failed      (5xx, or out of attempts)
                          |   \\-mark_skipped--> skipped     (nothing to send)
                          \\--mark_retry--> pending --(next_attempt_at)--> claim again
    sending whose lease expired (the sender died) --> claimed again, same Message-ID

While a claim is being sent its owner renews the lease (:func:`renew_claims`, a heartbeat
every third of a lease), and checks it (:func:`confirm`) right before handing the message
to the server: a slow server does not let the claim expire under a live sender, and a
sender whose claim did expire leaves it to whoever holds it now.

How the claim is atomic: a new row is an ``INSERT ... ON CONFLICT DO NOTHING`` (the
unique constraint picks one winner on both engines); taking over an existing row is an
``UPDATE ... WHERE`` its state still allows it, and only a sender whose UPDATE changed
the row goes on. On PostgreSQL the rows are first read ``FOR UPDATE SKIP LOCKED``, so
concurrent senders pass over each other's rows instead of queueing behind them; SQLite
has one writer at a time, which the conditional UPDATE already makes safe.

Every function takes a Session and leaves committing to the caller (the send loop
commits each claim before it talks to the SMTP server). Values returned are frozen
records, never ORM rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from digest.models import Delivery, Subscriber

DeliveryStatus = Literal["pending", "sending", "sent", "failed", "skipped", "missed"]
STATUSES: tuple[DeliveryStatus, ...] = ("pending", "sending", "sent", "failed", "skipped")
#: Rows whose window counts as covered: the next digest starts where the latest one ended.
_COVERING = ("pending", "sending", "sent", "skipped")
#: How far back sent digests' stories are remembered, so a story is not repeated.
STORY_MEMORY = timedelta(days=7)
#: Subscriber ids per IN (...) list: well under SQLite's and PostgreSQL's parameter limits.
_IN_CHUNK = 500


# ---------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """One ledger row, as ``deliveries list`` shows it."""

    id: int
    subscriber_id: int
    email: str
    #: Start of the window the digest covers (aware UTC).
    period_start: datetime
    #: The scheduled send this digest belongs to (aware UTC); with the subscriber, the key.
    period_end: datetime
    status: DeliveryStatus
    message_id: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    claimed_by: str | None
    lease_expires_at: datetime | None
    sent_at: datetime | None
    stories: int


@dataclass(frozen=True, slots=True)
class Claim:
    """A delivery this sender now owns until ``lease_expires_at``."""

    delivery_id: int
    subscriber_id: int
    period_start: datetime
    period_end: datetime
    #: Fixed when the row was first made: a resend carries the same Message-ID.
    message_id: str
    #: This attempt's number, from 1.
    attempt: int
    worker: str
    lease_expires_at: datetime
    #: True when an earlier attempt existed (a retry, or a dead sender's claim taken over).
    resumed: bool


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How temporary failures are retried: exponential backoff, capped, a limited number."""

    max_attempts: int = 5
    base: timedelta = timedelta(seconds=60)
    cap: timedelta = timedelta(hours=1)


# ---------------------------------------------------------------- pure decisions


def next_attempt_at(policy: RetryPolicy, attempts: int, now: datetime) -> datetime | None:
    """When to try again after ``attempts`` tries failed temporarily; None: give up.

    base, 2 x base, 4 x base ... never more than ``cap`` apart.
    """
    if attempts >= policy.max_attempts:
        return None
    delay = min(policy.base * (2 ** max(attempts - 1, 0)), policy.cap)
    return now + delay


def message_id_for(subscriber_id: int, period_end: datetime, domain: str) -> str:
    """The Message-ID of a subscriber's digest for one period: the same on every resend."""
    stamp = period_end.astimezone(UTC).strftime("%Y%m%dT%H%MZ")
    host = "".join(c for c in domain.strip().lower() if c.isalnum() or c in ".-") or "newsdigest"
    return f"<digest.{subscriber_id}.{stamp}@{host}>"


# ---------------------------------------------------------------- claims


def _record(row: Delivery, email: str) -> DeliveryRecord:
    return DeliveryRecord(
        id=row.id,
        subscriber_id=row.subscriber_id,
        email=email,
        period_start=row.period_start,
        period_end=row.period_end,
        status=row.status,  # type: ignore[arg-type]
        message_id=row.message_id,
        attempts=row.attempts,
        last_error=row.last_error,
        next_attempt_at=row.next_attempt_at,
        claimed_by=row.claimed_by,
        lease_expires_at=row.lease_expires_at,
        sent_at=row.sent_at,
        stories=row.stories,
    )


def _insert(session: Session):  # type: ignore[no-untyped-def]
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(Delivery)
    if dialect == "sqlite":
        return sqlite.insert(Delivery)
    raise NotImplementedError(f"the delivery ledger supports SQLite and PostgreSQL, not {dialect}")


def _claimable(now: datetime):  # type: ignore[no-untyped-def]
    """A row another sender may take: a due retry, or a claim whose lease ran out."""
    return or_(
        and_(
            Delivery.status == "pending",
            or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
        ),
        and_(Delivery.status == "sending", Delivery.lease_expires_at < now),
    )


def claim(
    session: Session,
    *,
    subscriber_id: int,
    period_start: datetime,
    period_end: datetime,
    message_id: str,
    worker: str,
    now: datetime,
    lease: timedelta,
) -> Claim | None:
    """Claim the (subscriber, period_end) delivery for ``worker``; None when it is not ours.

    Not ours: another sender holds a live claim, it is already sent, failed or skipped, or
    a retry is not due yet. An existing row keeps its window and Message-ID.
    """
    expires = now + lease
    inserted = session.execute(
        _insert(session)
        .values(
            subscriber_id=subscriber_id,
            period_start=period_start,
            period_end=period_end,
            status="sending",
            message_id=message_id,
            attempts=1,
            claimed_by=worker,
            lease_expires_at=expires,
            story_ids=[],
            stories=0,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["subscriber_id", "period_end"])
        .returning(Delivery.id)
    ).scalar_one_or_none()
    if inserted is not None:
        return Claim(
            inserted,
            subscriber_id,
            period_start,
            period_end,
            message_id,
            1,
            worker,
            expires,
            resumed=False,
        )
    row_id = session.execute(
        select(Delivery.id)
        .where(Delivery.subscriber_id == subscriber_id, Delivery.period_end == period_end)
        .where(_claimable(now))
        .with_for_update(skip_locked=True)
    ).scalar_one_or_none()
    if row_id is None:
        return None
    return _take(session, row_id, worker=worker, now=now, lease=lease)


def _take(
    session: Session, row_id: int, *, worker: str, now: datetime, lease: timedelta
) -> Claim | None:
    expires = now + lease
    changed = session.execute(
        update(Delivery)
        .where(Delivery.id == row_id, _claimable(now))
        .values(
            status="sending",
            claimed_by=worker,
            lease_expires_at=expires,
            attempts=Delivery.attempts + 1,
            next_attempt_at=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        return None  # another sender took it between our read and our write
    row = session.execute(select(Delivery).where(Delivery.id == row_id)).scalar_one()
    return Claim(
        row.id,
        row.subscriber_id,
        row.period_start,
        row.period_end,
        row.message_id,
        row.attempts,
        worker,
        expires,
        resumed=True,
    )


def claim_due_retries(
    session: Session,
    *,
    worker: str,
    now: datetime,
    lease: timedelta,
    max_attempts: int,
    limit: int = 100,
    subscriber_id: int | None = None,
) -> list[Claim]:
    """Claim due retries and dead senders' claims, oldest period first.

    A dead sender's claim that already used every attempt is marked failed instead.
    """
    gave_up = update(Delivery).where(
        Delivery.status == "sending",
        Delivery.lease_expires_at < now,
        Delivery.attempts >= max_attempts,
    )
    if subscriber_id is not None:
        gave_up = gave_up.where(Delivery.subscriber_id == subscriber_id)
    session.execute(
        gave_up.values(
            status="failed",
            last_error=f"gave up after {max_attempts} attempts (the sender stopped mid-send)",
            claimed_by=None,
            lease_expires_at=None,
            updated_at=now,
        ).execution_options(synchronize_session=False)
    )
    query = (
        select(Delivery.id)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(_claimable(now), Subscriber.status == "active")
        .order_by(Delivery.period_end, Delivery.id)
        .limit(limit)
        .with_for_update(of=Delivery, skip_locked=True)
    )
    if subscriber_id is not None:
        query = query.where(Delivery.subscriber_id == subscriber_id)
    claims = []
    for row_id in session.execute(query).scalars().all():
        taken = _take(session, row_id, worker=worker, now=now, lease=lease)
        if taken is not None:
            claims.append(taken)
    return claims


def renew_claims(session: Session, *, worker: str, now: datetime, lease: timedelta) -> int:
    """Extend ``worker``'s live claims to ``now + lease``: the heartbeat of a send in progress.

    A slow SMTP server can hold one message longer than a lease, and a group of claims
    waits while the ones before it are sent; renewing every third of a lease keeps them
    ours. Only claims not yet expired are renewed: one that ran out may be another
    sender's by now (the same rule as the feed leases, ``ingest.store.renew_leases``).
    """
    changed = session.execute(
        update(Delivery)
        .where(
            Delivery.status == "sending",
            Delivery.claimed_by == worker,
            Delivery.lease_expires_at >= now,
        )
        .values(lease_expires_at=now + lease)
        .execution_options(synchronize_session=False)
    ).rowcount
    return changed or 0


def _still_owned(claim: Claim) -> tuple[Any, ...]:
    """The row is still this claim's: being sent, by its worker, in the same attempt."""
    return (
        Delivery.id == claim.delivery_id,
        Delivery.status == "sending",
        Delivery.claimed_by == claim.worker,
        Delivery.attempts == claim.attempt,
    )


def confirm(session: Session, claim: Claim, *, now: datetime, lease: timedelta) -> bool:
    """Just before the message goes to the server: is the claim still ours and live?

    True: it is, and its lease now runs to ``now + lease``. False: it expired (taken over
    or about to be); its old owner must not send it, the row's new owner does.
    """
    changed = session.execute(
        update(Delivery)
        .where(*_still_owned(claim), Delivery.lease_expires_at >= now)
        .values(lease_expires_at=now + lease)
        .execution_options(synchronize_session=False)
    ).rowcount
    return changed == 1


def _finish(session: Session, claim: Claim, now: datetime, **values: object) -> bool:
    """Update a claimed row if this sender still owns it; False: the lease was lost."""
    changed = session.execute(
        update(Delivery)
        .where(*_still_owned(claim))
        .values(updated_at=now, **values)
        .execution_options(synchronize_session=False)
    ).rowcount
    return changed == 1


def mark_sent(
    session: Session, claim: Claim, *, now: datetime, story_ids: Iterable[int] = ()
) -> bool:
    """The server accepted the message. False: the lease had run out and was taken over."""
    ids = sorted(set(story_ids))
    return _finish(
        session,
        claim,
        now,
        status="sent",
        sent_at=now,
        last_error=None,
        lease_expires_at=None,
        next_attempt_at=None,
        story_ids=ids,
        stories=len(ids),
    )


def mark_retry(
    session: Session, claim: Claim, *, now: datetime, error: str, retry_at: datetime
) -> bool:
    """A temporary failure: pending again, not before ``retry_at``."""
    return _finish(
        session,
        claim,
        now,
        status="pending",
        last_error=error[:2000],
        next_attempt_at=retry_at,
        lease_expires_at=None,
    )


def mark_failed(session: Session, claim: Claim, *, now: datetime, error: str) -> bool:
    """A permanent failure, or a temporary one that used every attempt."""
    return _finish(
        session,
        claim,
        now,
        status="failed",
        last_error=error[:2000],
        lease_expires_at=None,
        next_attempt_at=None,
    )


def mark_skipped(session: Session, claim: Claim, *, now: datetime, reason: str) -> bool:
    """Nothing to send for this period (an empty digest); the reason is kept."""
    return _finish(
        session,
        claim,
        now,
        status="skipped",
        last_error=reason[:2000],
        lease_expires_at=None,
        next_attempt_at=None,
    )


def mark_missed(session: Session, claim: Claim, *, now: datetime, reason: str) -> bool:
    """The send time passed too long ago (the daemon was down): not sent, not covering.

    A missed period does not count as covered, so its stories roll into the next digest.
    """
    return _finish(
        session,
        claim,
        now,
        status="missed",
        last_error=reason[:2000],
        lease_expires_at=None,
        next_attempt_at=None,
    )


# ---------------------------------------------------------------- reading


def find(session: Session, subscriber_id: int, period_end: datetime) -> DeliveryRecord | None:
    """The ledger row of one subscriber and period, if any."""
    row = session.execute(
        select(Delivery, Subscriber.email)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.subscriber_id == subscriber_id, Delivery.period_end == period_end)
    ).one_or_none()
    return None if row is None else _record(row[0], row[1])


def list_deliveries(
    session: Session,
    *,
    status: DeliveryStatus | None = None,
    email: str | None = None,
    limit: int = 200,
) -> list[DeliveryRecord]:
    """Ledger rows, newest period first."""
    query = select(Delivery, Subscriber.email).join(
        Subscriber, Subscriber.id == Delivery.subscriber_id
    )
    if status is not None:
        query = query.where(Delivery.status == status)
    if email is not None:
        query = query.where(func.lower(Subscriber.email) == email.strip().lower())
    query = query.order_by(Delivery.period_end.desc(), Delivery.id.desc()).limit(limit)
    return [_record(row, mail) for row, mail in session.execute(query).all()]


def covered_until(session: Session, subscriber_id: int, before: datetime) -> datetime | None:
    """The end of the latest period before ``before`` that is sent, skipped or in progress.

    The next digest's window starts there; a failed digest's stories roll into the next.
    """
    return session.execute(
        select(func.max(Delivery.period_end)).where(
            Delivery.subscriber_id == subscriber_id,
            Delivery.period_end < before,
            Delivery.status.in_(_COVERING),
        )
    ).scalar_one_or_none()


def delivered_story_ids(
    session: Session, subscriber_id: int, since: datetime, until: datetime | None = None
) -> frozenset[int]:
    """Stories of this subscriber's digests sent for periods ending in [since, until]."""
    found = delivered_story_ids_of(session, (subscriber_id,), since, until)
    return found.get(subscriber_id, frozenset())


def delivered_story_ids_of(
    session: Session,
    subscriber_ids: Iterable[int],
    since: datetime,
    until: datetime | None = None,
) -> dict[int, frozenset[int]]:
    """:func:`delivered_story_ids` of many subscribers in a few queries (none sent: absent)."""
    ids = sorted(set(subscriber_ids))
    found: dict[int, set[int]] = {}
    for chunk in range(0, len(ids), _IN_CHUNK):
        query = select(Delivery.subscriber_id, Delivery.story_ids).where(
            Delivery.subscriber_id.in_(ids[chunk : chunk + _IN_CHUNK]),
            Delivery.status == "sent",
            Delivery.period_end >= since,
        )
        if until is not None:
            query = query.where(Delivery.period_end <= until)
        for subscriber_id, story_ids in session.execute(query):
            found.setdefault(subscriber_id, set()).update(int(i) for i in story_ids or ())
    return {k: frozenset(v) for k, v in found.items()}


def delivered_before(
    session: Session, subscriber_ids: Iterable[int], start: datetime, end: datetime
) -> dict[int, frozenset[int]]:
    """What a digest of the window [start, end) must not repeat, per subscriber.

    The stories of the digests sent to them for periods that ended by ``start`` (the
    window begins where the last one ended), within :data:`STORY_MEMORY` of ``end``.
    compose() leaves these out unless they grew. `digest send` and `digest build` (and
    preview) both ask here, so a build shows what a send would.
    """
    return delivered_story_ids_of(session, subscriber_ids, end - STORY_MEMORY, start)


# ---------------------------------------------------------------- subscribers
# Listing and validating subscribers is digest/subscribers.py's job; these are the status
# changes delivery makes.


def subscriber_email(session: Session, subscriber_id: int) -> str | None:
    """The email of a subscriber id (to check an unsubscribe token), or None."""
    return session.execute(
        select(Subscriber.email).where(Subscriber.id == subscriber_id)
    ).scalar_one_or_none()


def pause_subscriber(session: Session, subscriber_id: int, *, now: datetime) -> bool:
    """Stop sending to a subscriber (an unsubscribe); False when there is no such subscriber."""
    changed = session.execute(
        update(Subscriber)
        .where(Subscriber.id == subscriber_id)
        .values(status="paused", updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    return changed == 1


def record_bounce(session: Session, subscriber_id: int, *, limit: int, now: datetime) -> bool:
    """Count a permanent refusal; at ``limit`` in a row the subscriber is bouncing (True)."""
    session.execute(
        update(Subscriber)
        .where(Subscriber.id == subscriber_id)
        .values(bounce_count=Subscriber.bounce_count + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    changed = session.execute(
        update(Subscriber)
        .where(
            Subscriber.id == subscriber_id,
            Subscriber.status == "active",
            Subscriber.bounce_count >= limit,
        )
        .values(status="bouncing", updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    return changed == 1


def reset_bounces(session: Session, subscriber_id: int, *, now: datetime) -> None:
    """A delivery went through: the count of refusals in a row starts again."""
    session.execute(
        update(Subscriber)
        .where(Subscriber.id == subscriber_id, Subscriber.bounce_count != 0)
        .values(bounce_count=0, updated_at=now)
        .execution_options(synchronize_session=False)
    )
