"""A fetch round's bookkeeping on the feeds table: a few set-based statements per batch.

Usage::

    with Session(engine) as session, session.begin():
        conn = session.connection()
        facts = round_facts(conn, [f.id for f in feeds], now=now)
        ...
        schedule = schedule_facts(conn, ids, now=now)  # what the schedule needs of each feed
        record_fetches(conn, [FetchRecord(...), ...])   # one executemany

``ingest.store`` writes entries (ORM, de-duplication); this module handles what every fetch
touches, 304s included, with SQLAlchemy Core and no ORM objects: a warm round of 10,000 feeds
is a handful of queries and one ``executemany`` per batch, not 10,000 loaded rows.
It imports neither the normalizer nor the de-duplicator, so a round of 304s never loads them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    Connection,
    Float,
    Integer,
    LargeBinary,
    String,
    Text,
    bindparam,
    case,
    cast,
    func,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.types import UserDefinedType

from ingest.batches import chunks
from ingest.models import Article, Feed, Outlet
from ingest.records import OutletInfo
from ingest.schedule import EntryRhythm, rhythm_of
from ingest.types import FeedRef, FetchResult, FetchStatus

#: How many of a feed's newest entries the schedule looks at.
RECENT_ENTRIES = 20
#: The rhythm of a feed with no entries.
NO_ENTRIES = EntryRhythm(None, 0, None)


def feed_refs(conn: Connection, *, now: datetime, due_only: bool = True) -> list[FeedRef]:
    """The enabled, not-gone feeds to fetch: the due ones, or all of them, by id."""
    query = select(
        Feed.id, Feed.url, Feed.etag, Feed.last_modified, Feed.body_hash, Feed.item_hashes
    ).where(Feed.enabled.is_(True), Feed.gone.is_(False))
    if due_only:
        query = query.where(or_(Feed.next_due_at.is_(None), Feed.next_due_at <= now))
    return [FeedRef(*row) for row in conn.execute(query.order_by(Feed.id))]


@dataclass(frozen=True, slots=True)
class RoundFacts:
    """What a round needs to know before fetching."""

    #: Each feed's outlet (None for a feed that belongs to none).
    outlets: dict[int, OutletInfo | None]
    #: URLs of enabled feeds whose server asked us (429/503 Retry-After) to wait past now.
    slowed_urls: tuple[str, ...]


def round_facts(conn: Connection, feed_ids: Sequence[int], *, now: datetime) -> RoundFacts:
    outlets: dict[int, OutletInfo | None] = {}
    for chunk in chunks(sorted(set(feed_ids))):
        query = (
            select(
                Feed.id, Outlet.id, Outlet.name, Outlet.homepage, Outlet.country, Outlet.language
            )
            .outerjoin(Outlet, Feed.outlet_id == Outlet.id)
            .where(Feed.id.in_(chunk))
        )
        for feed_id, outlet_id, *rest in conn.execute(query):
            outlets[feed_id] = OutletInfo(outlet_id, *rest) if outlet_id is not None else None
    slowed = conn.scalars(
        select(Feed.url).where(Feed.enabled.is_(True), Feed.retry_after_at > now)
    ).all()
    return RoundFacts(outlets=outlets, slowed_urls=tuple(slowed))


@dataclass(frozen=True, slots=True)
class ScheduleFacts:
    """A feed's consecutive errors so far, the rhythm of its recent entries, and the polling
    hints of its last body (for a fetch that brings none: a 304, an error)."""

    error_count: int
    rhythm: EntryRhythm = NO_ENTRIES
    ttl_minutes: int | None = None
    update_period: str | None = None
    update_frequency: int | None = None
    #: The rhythm was summed up anew from the entries (to be stored on the feed).
    rhythm_changed: bool = False


def schedule_facts(
    conn: Connection, feed_ids: Sequence[int], *, now: datetime, refresh: Iterable[int] = ()
) -> dict[int, ScheduleFacts]:
    """What the schedule needs of each feed's past (a removed feed: no errors, no entries).

    The rhythm of a feed's entries is the one stored on the feed, except for the feeds in
    ``refresh`` (this fetch stored or edited entries) and those never summed up: theirs is
    read from their newest entries (:func:`recent_entry_times`) and marked changed.
    """
    rows = _feed_rows(conn, feed_ids)
    stale = set(refresh) | {i for i, row in rows.items() if row.rhythm is None}
    times = recent_entry_times(conn, sorted(stale)) if stale else {}
    facts = {}
    for feed_id in feed_ids:
        row = rows.get(feed_id)
        if row is None:
            facts[feed_id] = ScheduleFacts(0)
            continue
        fresh = feed_id in stale
        rhythm = rhythm_of(times.get(feed_id, ()), now) if fresh else row.rhythm
        facts[feed_id] = ScheduleFacts(
            row.error_count,
            rhythm or NO_ENTRIES,
            row.ttl_minutes,
            row.update_period,
            row.update_frequency,
            rhythm_changed=fresh,
        )
    return facts


@dataclass(frozen=True, slots=True)
class _FeedRow:
    error_count: int
    rhythm: EntryRhythm | None
    ttl_minutes: int | None
    update_period: str | None
    update_frequency: int | None


def _feed_rows(conn: Connection, feed_ids: Sequence[int]) -> dict[int, _FeedRow]:
    """Each feed's error count, stored rhythm and body hints (a removed feed is absent)."""
    found: dict[int, _FeedRow] = {}
    newest = type_coerce(Feed.rhythm_newest_at, _RawDateTime()).label("newest")
    for chunk in chunks(sorted(set(feed_ids))):
        rows = conn.execute(
            select(
                Feed.id,
                Feed.error_count,
                Feed.rhythm_gaps,
                Feed.rhythm_median_seconds,
                newest,
                Feed.ttl_minutes,
                Feed.update_period,
                Feed.update_frequency,
            ).where(Feed.id.in_(chunk))
        )
        for feed_id, errors, gaps, median, newest_at, ttl, period, frequency in rows:
            rhythm = None
            if gaps is not None:
                rhythm = EntryRhythm(
                    timedelta(seconds=median) if median is not None else None,
                    gaps,
                    _as_utc(newest_at) if newest_at is not None else None,
                )
            found[feed_id] = _FeedRow(errors or 0, rhythm, ttl, period, frequency)
    return found


def _as_utc(value: Any) -> datetime:
    # SQLite hands back the stored text, PostgreSQL an aware datetime (see _RawDateTime).
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class _RawDateTime(UserDefinedType[Any]):
    """Reads a timestamp column as the driver returns it, without SQLAlchemy's per-value
    result processing (on SQLite the stored ISO text, converted by ``_as_utc`` in one C
    call). The schedule reads about 20 times per feed; at 10,000 feeds the generic
    processors cost more than the query. A user-defined type, so no dialect adapts it."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "TIMESTAMP"

    def result_processor(self, dialect: Any, coltype: Any) -> None:
        return None


def recent_entry_times(
    conn: Connection, feed_ids: Sequence[int], *, recent: int = RECENT_ENTRIES
) -> dict[int, tuple[datetime, ...]]:
    """The publication times of each feed's ``recent`` newest entries, newest first.

    One query per 500 feeds (a window function keeps each feed's newest).
    """
    times: dict[int, list[datetime]] = {}
    published = type_coerce(Article.published_at, _RawDateTime()).label("published")
    for chunk in chunks(sorted(set(feed_ids))):
        rank = (
            func.row_number()
            .over(partition_by=Article.feed_id, order_by=Article.published_at.desc())
            .label("rank")
        )
        ranked = (
            select(Article.feed_id, published, rank).where(Article.feed_id.in_(chunk)).subquery()
        )
        rows = conn.execute(
            select(ranked.c.feed_id, ranked.c.published)
            .where(ranked.c.rank <= recent)
            .order_by(ranked.c.feed_id, ranked.c.published.desc())
        )
        for feed_id, value in rows:
            times.setdefault(feed_id, []).append(_as_utc(value))
    return {feed_id: tuple(values) for feed_id, values in times.items()}


@dataclass(frozen=True, slots=True)
class FetchRecord:
    """What one fetch came to, as the feeds table records it (see :func:`record_fetches`)."""

    result: FetchResult
    #: When the feed is next due and the interval that led there (None: gone).
    next_due_at: datetime | None
    interval_seconds: int | None
    #: Why the fetch failed (the fetch's own reason or a parse error); None when it worked.
    error: str | None
    new_entries: int = 0
    #: The feed's title from its body, kept when the feed has none yet.
    title: str | None = None
    #: The status to show instead of the fetch's own (e.g. "store_error").
    status: str | None = None
    #: Hashes of the stored body's items, for the next fetch (kept with the validators).
    item_hashes: bytes | None = None
    #: The body's own polling hints, when there was a parsed body (else the stored ones stay).
    body_hints: tuple[int | None, str | None, int | None] | None = None
    #: The feed's entries summed up anew, when they were (else the stored rhythm stays).
    rhythm: EntryRhythm | None = None


def _status_text(record: FetchRecord) -> str:
    result = record.result
    if record.status is not None:
        return record.status
    if record.error is None or result.error:
        return str(result.status)
    return "parse_error"


def _params(record: FetchRecord, now: datetime) -> dict[str, Any]:
    result = record.result
    failed = record.error is not None
    keep_validators = result.status == FetchStatus.OK and not failed
    return {
        "b_id": result.feed.id,
        "b_now": now,
        "b_http_status": result.http_status,
        "b_status": _status_text(record),
        "b_next_due_at": record.next_due_at,
        "b_interval": record.interval_seconds,
        "b_gone": result.status == FetchStatus.GONE,
        "b_set_retry": result.status == FetchStatus.RETRY_LATER,
        "b_retry_after": result.retry_after,
        "b_failed": failed,
        "b_error": record.error,
        "b_set_validators": keep_validators,
        "b_etag": result.etag,
        "b_last_modified": result.last_modified,
        "b_body_hash": result.body_hash,
        "b_item_hashes": record.item_hashes,
        "b_set_rhythm": record.rhythm is not None,
        "b_rhythm_gaps": record.rhythm.gaps if record.rhythm else None,
        "b_rhythm_median": record.rhythm.median_gap.total_seconds()
        if record.rhythm and record.rhythm.median_gap is not None
        else None,
        "b_rhythm_newest": record.rhythm.newest if record.rhythm else None,
        "b_set_hints": record.body_hints is not None,
        "b_ttl": record.body_hints[0] if record.body_hints else None,
        "b_period": record.body_hints[1] if record.body_hints else None,
        "b_frequency": record.body_hints[2] if record.body_hints else None,
        "b_title": record.title[:500] if record.title else None,
        "b_has_new": record.new_entries > 0,
    }


def _record_statement() -> Any:
    """One UPDATE for every outcome: what differs between a 304, an error and a new body
    is in the parameters (flags picked up by CASE), so a batch is a single executemany."""
    table = Feed.__table__
    c = table.c
    failed = bindparam("b_failed", type_=Boolean)
    now = bindparam("b_now", type_=c.last_fetched_at.type)

    def unless(flag: str, value: Any, column: Any) -> Any:
        return case((bindparam(flag, type_=Boolean), value), else_=column)

    title = cast(bindparam("b_title", type_=Text), Text)
    return (
        update(table)
        .where(c.id == bindparam("b_id", type_=Integer))
        .values(
            last_fetched_at=now,
            lease_owner=None,  # the fetch is done: its lease, if any, is over
            lease_expires_at=None,
            last_http_status=bindparam("b_http_status", type_=Integer),
            last_status=bindparam("b_status", type_=String),
            next_due_at=bindparam("b_next_due_at", type_=c.next_due_at.type),
            interval_seconds=bindparam("b_interval", type_=Integer),
            gone=unless("b_gone", True, c.gone),
            retry_after_at=unless(
                "b_set_retry",
                bindparam("b_retry_after", type_=c.retry_after_at.type),
                c.retry_after_at,
            ),
            last_error=bindparam("b_error", type_=Text),
            error_count=case((failed, func.coalesce(c.error_count, 0) + 1), else_=0),
            failing_since=case((failed, func.coalesce(c.failing_since, now)), else_=None),
            last_success_at=case((failed, c.last_success_at), else_=now),
            etag=unless("b_set_validators", bindparam("b_etag", type_=String), c.etag),
            last_modified=unless(
                "b_set_validators", bindparam("b_last_modified", type_=String), c.last_modified
            ),
            body_hash=unless(
                "b_set_validators", bindparam("b_body_hash", type_=String), c.body_hash
            ),
            item_hashes=unless(
                "b_set_validators",
                bindparam("b_item_hashes", type_=LargeBinary),
                c.item_hashes,
            ),
            rhythm_gaps=unless(
                "b_set_rhythm", bindparam("b_rhythm_gaps", type_=Integer), c.rhythm_gaps
            ),
            rhythm_median_seconds=unless(
                "b_set_rhythm",
                bindparam("b_rhythm_median", type_=Float),
                c.rhythm_median_seconds,
            ),
            rhythm_newest_at=unless(
                "b_set_rhythm",
                bindparam("b_rhythm_newest", type_=c.rhythm_newest_at.type),
                c.rhythm_newest_at,
            ),
            ttl_minutes=unless("b_set_hints", bindparam("b_ttl", type_=Integer), c.ttl_minutes),
            update_period=unless(
                "b_set_hints", bindparam("b_period", type_=String), c.update_period
            ),
            update_frequency=unless(
                "b_set_hints", bindparam("b_frequency", type_=Integer), c.update_frequency
            ),
            title=case(
                (or_(c.title.is_(None), c.title == ""), func.coalesce(title, c.title)),
                else_=c.title,
            ),
            last_new_entry_at=unless("b_has_new", now, c.last_new_entry_at),
        )
    )


_RECORD = _record_statement()


def _not_modified_statement() -> Any:
    """The UPDATE of :func:`_record_statement` for a plain 304 (see :func:`_is_plain_304`),
    with its flags' outcome written in: 6 parameters instead of 27. Most of a warm round is
    304s, and binding the parameters was most of the writer's time (0.1 ms a feed)."""
    table = Feed.__table__
    c = table.c
    now = bindparam("b_now", type_=c.last_fetched_at.type)
    return (
        update(table)
        .where(c.id == bindparam("b_id", type_=Integer))
        .values(
            last_fetched_at=now,
            lease_owner=None,
            lease_expires_at=None,
            last_http_status=bindparam("b_http_status", type_=Integer),
            last_status=bindparam("b_status", type_=String),
            next_due_at=bindparam("b_next_due_at", type_=c.next_due_at.type),
            interval_seconds=bindparam("b_interval", type_=Integer),
            last_error=None,
            error_count=0,
            failing_since=None,
            last_success_at=now,
        )
    )


_RECORD_NOT_MODIFIED = _not_modified_statement()


def _is_plain_304(record: FetchRecord) -> bool:
    """Whether the full statement would only move the feed's fetch times and health on."""
    return (
        record.result.status == FetchStatus.NOT_MODIFIED
        and record.error is None
        and record.status is None
        and record.title is None
        and record.new_entries == 0
        and record.rhythm is None
        and record.body_hints is None
        and record.item_hashes is None
    )


def record_fetches(conn: Connection, records: Sequence[FetchRecord], *, now: datetime) -> None:
    """Write what each fetch came to onto its feed (validators, health, next due time) in
    one executemany; a feed removed while it was being fetched is simply not updated.

    A permanent redirect (301/308) moves the feed to its new URL and keeps the old one in
    its URL history, unless another feed already has the new URL.
    """
    plain: list[FetchRecord] = []
    other: list[FetchRecord] = []
    for record in records:
        (plain if _is_plain_304(record) else other).append(record)
    if plain:
        conn.execute(
            _RECORD_NOT_MODIFIED,
            [
                {
                    "b_id": r.result.feed.id,
                    "b_now": now,
                    "b_http_status": r.result.http_status,
                    "b_status": _status_text(r),
                    "b_next_due_at": r.next_due_at,
                    "b_interval": r.interval_seconds,
                }
                for r in plain
            ],
        )
    if other:
        conn.execute(_RECORD, [_params(record, now) for record in other])
    for record in records:
        if record.result.permanent_url is not None:
            _move(conn, record.result.feed.id, record.result.permanent_url)


def _move(conn: Connection, feed_id: int, new_url: str) -> None:
    row = conn.execute(select(Feed.url, Feed.url_history).where(Feed.id == feed_id)).first()
    if row is None or row.url == new_url:
        return
    if conn.scalar(select(Feed.id).where(Feed.url == new_url)) is not None:
        return  # another feed already has it: keep this one where it was
    conn.execute(
        update(Feed.__table__)
        .where(Feed.__table__.c.id == feed_id)
        .values(url=new_url, url_history=[*(row.url_history or []), row.url])
    )
