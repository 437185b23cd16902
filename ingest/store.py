"""The storage boundary of ingest: queries live here and return ``ingest.records`` values.

Every function takes a :class:`~sqlalchemy.orm.Session` and leaves the transaction to the
caller (SQLAlchemy's "the caller owns the session" rule), so one feed's fetch is stored in
one transaction by the pipeline. Database integrity errors become our errors.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import (
    Connection,
    Select,
    delete,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ingest.batches import chunks
from ingest.dedupe import (
    DEFAULT_THRESHOLD,
    DedupeCandidate,
    DedupeKind,
    KnownArticle,
    is_full_text,
    signature_to_bytes,
)
from ingest.errors import FeedExistsError, FeedNotFoundError
from ingest.models import Article, EntryTombstone, Feed, MinHashBand, Outlet, Story, Tag
from ingest.normalize import KeyPolicy, choose_key_policy, key_with_date_flags
from ingest.records import (
    ArticleInfo,
    FeedInfo,
    OutletInfo,
    SaveStats,
    StoryInfo,
    StorySource,
)
from ingest.search import ARTICLES_WITH_VECTOR, index_documents, postgres_vector
from ingest.search_text import SearchDocument, search_document
from ingest.stories import (
    NewArticle,
    index_bands,
    insert_rows,
    json_text,
    place_new_articles,
    refresh_stories,
    signature_bands,
)
from ingest.types import FeedRef

_IN_CHUNK = 500  # bound the size of IN (...) lists; SQLite allows 32,766 variables


class EntryToStore(Protocol):
    """What the store needs of a normalized entry (``ingest.normalize.NormalizedEntry``)."""

    @property
    def guid(self) -> str | None: ...
    @property
    def url(self) -> str | None: ...
    @property
    def title(self) -> str: ...
    @property
    def summary_text(self) -> str: ...
    @property
    def content_html(self) -> str: ...
    @property
    def content_text(self) -> str: ...
    @property
    def author(self) -> str | None: ...
    @property
    def language(self) -> str | None: ...
    @property
    def categories(self) -> tuple[str, ...]: ...
    @property
    def published(self) -> datetime: ...
    @property
    def updated(self) -> datetime | None: ...
    @property
    def date_flags(self) -> tuple[str, ...]: ...
    @property
    def content_hash(self) -> str: ...
    def key_for(self, policy: KeyPolicy) -> str: ...


# ---------------------------------------------------------------- outlets and feeds


def ensure_outlet(
    session: Session,
    name: str,
    *,
    now: datetime,
    homepage: str | None = None,
    country: str | None = None,
    language: str | None = None,
) -> OutletInfo:
    """The outlet of this name, created or its non-empty attributes updated."""
    outlet = session.scalar(select(Outlet).where(Outlet.name == name))
    if outlet is None:
        outlet = Outlet(
            name=name, homepage=homepage, country=country, language=language, created_at=now
        )
        session.add(outlet)
        session.flush()
    else:
        outlet.homepage = homepage or outlet.homepage
        outlet.country = country or outlet.country
        outlet.language = language or outlet.language
    return OutletInfo(outlet.id, outlet.name, outlet.homepage, outlet.country, outlet.language)


def list_outlets(session: Session) -> list[OutletInfo]:
    rows = session.scalars(select(Outlet).order_by(Outlet.name)).all()
    return [OutletInfo(o.id, o.name, o.homepage, o.country, o.language) for o in rows]


def add_feed(
    session: Session,
    url: str,
    *,
    now: datetime,
    outlet_id: int | None = None,
    title: str | None = None,
    category: str | None = None,
    language: str | None = None,
) -> FeedInfo:
    """Follow a feed; raise FeedExistsError when its URL (or a former URL) is followed."""
    existing = session.scalar(select(Feed.id).where(Feed.url == url))
    if existing is not None:
        raise FeedExistsError(f"already following {url} (feed {existing})")
    feed = Feed(
        url=url,
        outlet_id=outlet_id,
        title=title,
        category=category,
        language=language,
        url_history=[],
        enabled=True,
        gone=False,
        key_policy="guid",
        error_count=0,
        next_due_at=now,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(feed)
    except IntegrityError:
        raise FeedExistsError(f"already following {url}") from None
    return get_feed(session, feed.id)


def _feed_query() -> Select[Any]:
    return select(Feed, Outlet.name).outerjoin(Outlet, Feed.outlet_id == Outlet.id)


def _feed_info(feed: Feed, outlet: str | None) -> FeedInfo:
    return FeedInfo(
        id=feed.id,
        url=feed.url,
        outlet=outlet,
        outlet_id=feed.outlet_id,
        title=feed.title,
        category=feed.category,
        enabled=feed.enabled,
        gone=feed.gone,
        url_history=tuple(feed.url_history or ()),
        last_status=feed.last_status,
        last_http_status=feed.last_http_status,
        last_error=feed.last_error,
        error_count=feed.error_count,
        failing_since=feed.failing_since,
        last_fetched_at=feed.last_fetched_at,
        last_new_entry_at=feed.last_new_entry_at,
        next_due_at=feed.next_due_at,
        interval_seconds=feed.interval_seconds,
        key_policy=feed.key_policy,
    )


def get_feed(session: Session, feed_id: int) -> FeedInfo:
    row = session.execute(_feed_query().where(Feed.id == feed_id)).first()
    if row is None:
        raise FeedNotFoundError(f"no feed with id {feed_id} (see `newsdigest feeds list`)")
    return _feed_info(*row)


def list_feeds(session: Session) -> list[FeedInfo]:
    rows = session.execute(_feed_query().order_by(Feed.id)).all()
    return [_feed_info(feed, name) for feed, name in rows]


def remove_feed(session: Session, feed_id: int) -> FeedInfo:
    """Stop following a feed; its articles go with it."""
    info = get_feed(session, feed_id)
    session.execute(delete(Feed).where(Feed.id == feed_id))
    return info


def set_feed_enabled(session: Session, feed_id: int, enabled: bool, *, now: datetime) -> FeedInfo:
    """Enable (also clearing 'gone' and the error count) or disable a feed."""
    get_feed(session, feed_id)
    values: dict[str, Any] = {"enabled": enabled}
    if enabled:
        values.update(gone=False, error_count=0, failing_since=None, next_due_at=now)
    session.execute(update(Feed).where(Feed.id == feed_id).values(**values))
    return get_feed(session, feed_id)


# ---------------------------------------------------------------- articles


class TagToStore(Protocol):
    """What the store needs of a tag (``ingest.tagging.Tag``)."""

    @property
    def kind(self) -> str: ...
    @property
    def value(self) -> str: ...
    @property
    def score(self) -> float: ...
    @property
    def evidence(self) -> tuple[str, ...]: ...


#: One entry to store: its default key, the entry, its tags, its de-duplication candidate.
EntryRow = tuple[str, EntryToStore, Sequence[TagToStore], DedupeCandidate | None]


@dataclass(frozen=True)
class FeedEntries:
    """One feed's entries for :func:`save_feeds`, with their search documents (in the
    entries' order) when folded beforehand (``ingest.pipeline.prepare`` does it in the
    parse workers); an entry without one is folded in the store."""

    feed_id: int
    outlet_id: int | None
    entries: Sequence[EntryRow]
    documents: Sequence[SearchDocument | None] | None = None


def save_entries(
    session: Session,
    *,
    feed_id: int,
    outlet_id: int | None,
    entries: Sequence[EntryRow],
    now: datetime,
    dedupe_threshold: float = DEFAULT_THRESHOLD,
    documents: Sequence[SearchDocument | None] | None = None,
) -> SaveStats:
    """Store one feed's entries (:func:`save_feeds` of one feed)."""
    feed = FeedEntries(feed_id, outlet_id, entries, documents)
    return save_feeds(session, [feed], now=now, dedupe_threshold=dedupe_threshold)[0]


@dataclass
class _IndexRows:
    """What a save writes after its articles: search documents (SQLite's index), tag
    rows and LSH signatures of new and updated articles."""

    documents: list[tuple[int, SearchDocument]] = field(default_factory=list)
    tags: list[tuple[object, ...]] = field(default_factory=list)
    signatures: list[tuple[int, tuple[int, ...]]] = field(default_factory=list)

    def add(
        self,
        article_id: int,
        tags: Sequence[TagToStore],
        candidate: DedupeCandidate | None,
        document: SearchDocument | None = None,
    ) -> None:
        if document is not None:
            self.documents.append((article_id, document))
        self.tags.extend(_tag_rows(article_id, tags))
        if candidate is not None:
            self.signatures.append((article_id, candidate.signature))

    def write(self, session: Session) -> None:
        index_bands(session, self.signatures)
        insert_rows(session.connection(), Tag.__tablename__, _TAG_COLUMNS, self.tags)
        index_documents(session.connection(), self.documents)


@dataclass
class _FeedPlan:
    """What storing one feed's entries comes to, decided before any new entry is placed."""

    feed: FeedEntries
    unique: dict[str, tuple[EntryToStore, Sequence[TagToStore], DedupeCandidate | None]]
    given: dict[str, SearchDocument | None]
    new_keys: list[str]
    updated: int = 0
    unchanged: int = 0
    joined: int = 0

    def document(self, key: str) -> SearchDocument:
        entry = self.unique[key][0]
        return self.given[key] or search_document(entry.title, entry.content_text)


def save_feeds(
    session: Session,
    feeds: Sequence[FeedEntries],
    *,
    now: datetime,
    dedupe_threshold: float = DEFAULT_THRESHOLD,
) -> list[SaveStats]:
    """Store feeds' entries keyed by (feed, key): insert new, update changed, skip the rest.

    Each entry comes with its default key (``ingest.normalize.entry_key``; a feed whose
    guids are unusable is keyed by link, or link + date, instead), its tags and its
    de-duplication candidate (fingerprint and MinHash signature). A new entry joins a
    story (``ingest.stories``); an updated entry is stored in place, its tags and
    signature replaced, its story kept. A key seen twice in one document keeps its first
    entry. Returns each feed's counts, in order.

    Each feed's stored entries are read first (one statement a feed, plus one for all
    their key policies); only then is the story placement lock taken
    (:func:`lock_story_placement`), and the new entries of every feed are placed and
    inserted together, in a handful of statements. The lock is held until the caller
    commits, and every daemon's writer waits for it: what it covers is kept to the
    statements that must see each other's stories.
    """
    again = _repeated(feeds)
    if again:  # a feed twice: its second document is stored after the first, as it sees it
        once = [i for i in range(len(feeds)) if i not in again]
        stats: dict[int, SaveStats] = {}
        for part in (once, sorted(again)):
            stored = save_feeds(
                session, [feeds[i] for i in part], now=now, dedupe_threshold=dedupe_threshold
            )
            stats.update(zip(part, stored, strict=True))
        return [stats[i] for i in range(len(feeds))]
    postgres = session.get_bind().dialect.name == "postgresql"
    policies = _key_policies(session, [feed.feed_id for feed in feeds])
    rows = _IndexRows()
    plans = [
        _plan_feed(session, feed, policies[feed.feed_id], now, postgres, rows) for feed in feeds
    ]
    new = [(plan, key) for plan in plans for key in plan.new_keys]
    if new:
        lock_story_placement(session, durable=False)
        _insert_new(session, new, now, dedupe_threshold, postgres, rows)
    rows.write(session)
    return [
        SaveStats(
            new=len(plan.new_keys),
            updated=plan.updated,
            unchanged=plan.unchanged,
            joined=plan.joined,
        )
        for plan in plans
    ]


def _repeated(feeds: Sequence[FeedEntries]) -> set[int]:
    """Positions of feeds given earlier in ``feeds`` too."""
    seen: set[int] = set()
    again: set[int] = set()
    for i, feed in enumerate(feeds):
        if feed.feed_id in seen:
            again.add(i)
        seen.add(feed.feed_id)
    return again


def _plan_feed(
    session: Session,
    feed: FeedEntries,
    current: KeyPolicy,
    now: datetime,
    postgres: bool,
    rows: _IndexRows,
) -> _FeedPlan:
    """Read a feed's stored entries, settle its key policy, update its changed entries
    (their index rows join ``rows``); the new ones are left for placement."""
    entries = [entry for _, entry, _, _ in feed.entries]
    # The links are looked up only while the policy may still degrade (_degraded_policy).
    links = sorted({e.url for e in entries if e.url}) if current is not KeyPolicy.LINK_DATE else []
    unique, given = _unique_entries(feed, current)
    existing, tombstoned, previous = _stored_entries(session, feed.feed_id, list(unique), links)
    policy = _degraded_policy(current, [(e.guid, e.url) for e in entries], previous)
    if policy is not current:
        _rekey(session, feed.feed_id, policy)
        stored = session.get(Feed, feed.feed_id)
        assert stored is not None  # its policy was read in this transaction
        stored.key_policy = str(policy)
        unique, given = _unique_entries(feed, policy)
        existing, tombstoned, _ = _stored_entries(session, feed.feed_id, list(unique), [])
    # Pruned entries the feed still lists stay pruned (ingest.prune keeps their keys).
    for key in tombstoned.difference(existing):
        del unique[key]
    plan = _FeedPlan(feed, unique, given, [])
    for key, (entry, tags, candidate) in unique.items():
        if key not in existing:
            plan.new_keys.append(key)
            continue
        article_id, old_hash = existing[key]
        if old_hash == entry.content_hash:
            plan.unchanged += 1
            continue
        _update_article(
            session,
            article_id,
            {**_article_values(entry, candidate), "updated_at": now},
            plan.document(key),
            rows.documents,
            postgres=postgres,
        )
        session.execute(delete(Tag).where(Tag.article_id == article_id))
        session.execute(delete(MinHashBand).where(MinHashBand.article_id == article_id))
        rows.add(article_id, tags, candidate)
        plan.updated += 1
    return plan


def _unique_entries(
    feed: FeedEntries, policy: KeyPolicy
) -> tuple[
    dict[str, tuple[EntryToStore, Sequence[TagToStore], DedupeCandidate | None]],
    dict[str, SearchDocument | None],
]:
    """A feed's entries by their key under ``policy`` (the first of a key wins), and
    their given search documents."""
    unique: dict[str, tuple[EntryToStore, Sequence[TagToStore], DedupeCandidate | None]] = {}
    given: dict[str, SearchDocument | None] = {}
    for i, (key, entry, tags, candidate) in enumerate(feed.entries):
        # The given key is the default (guid) one; a degraded feed keys by link (+ date).
        chosen = key if policy is KeyPolicy.GUID else entry.key_for(policy)
        if chosen not in unique:
            unique[chosen] = (entry, tags, candidate)
            given[chosen] = feed.documents[i] if feed.documents is not None else None
    return unique, given


def _stored_entries(
    session: Session, feed_id: int, keys: list[str], links: list[str]
) -> tuple[dict[str, tuple[int, str]], set[str], list[tuple[str | None, str | None]]]:
    """In one statement (per chunk of values): the feed's stored articles under ``keys``
    (id and content hash), its tombstones among them, and the (guid, url) of its stored
    articles linking to ``links``."""
    existing: dict[str, tuple[int, str]] = {}
    tombstoned: set[str] = set()
    previous: list[tuple[str | None, str | None]] = []
    for start in range(0, max(len(keys), len(links)), _IN_CHUNK):
        key_chunk = keys[start : start + _IN_CHUNK]
        link_chunk = links[start : start + _IN_CHUNK]
        parts: list[Select[Any]] = []
        if key_chunk:
            parts.append(
                select(literal("a"), Article.entry_key, Article.id, Article.content_hash).where(
                    Article.feed_id == feed_id, Article.entry_key.in_(key_chunk)
                )
            )
            parts.append(
                select(literal("t"), EntryTombstone.entry_key, null(), null()).where(
                    EntryTombstone.feed_id == feed_id, EntryTombstone.entry_key.in_(key_chunk)
                )
            )
        if link_chunk:
            parts.append(
                select(literal("p"), Article.guid, null(), Article.url).where(
                    Article.feed_id == feed_id, Article.url.in_(link_chunk)
                )
            )
        for kind, key, article_id, value in session.execute(union_all(*parts)).all():
            if kind == "a":
                existing[key] = (article_id, value)
            elif kind == "t":
                tombstoned.add(key)
            else:
                previous.append((key, value))
    return existing, tombstoned, previous


def _insert_new(
    session: Session,
    new: list[tuple[_FeedPlan, str]],
    now: datetime,
    threshold: float,
    postgres: bool,
    rows: _IndexRows,
) -> None:
    """Place the new entries of several feeds in stories and insert them (under the
    placement lock): one lookup, one insert of articles (with, on PostgreSQL, their bands
    and tags) and one refresh of the stories they joined, for all of them."""
    placement = place_new_articles(
        session,
        [
            NewArticle(
                plan.unique[key][2],
                plan.unique[key][0].published,
                is_full_text(plan.unique[key][0].content_text),
            )
            for plan, key in new
        ],
        now=now,
        threshold=threshold,
    )
    values: dict[tuple[int, str], dict[str, Any]] = {}
    plan_of: dict[tuple[int, str], _FeedPlan] = {}
    for (plan, key), story_id, kind in zip(new, placement.story_ids, placement.kinds, strict=True):
        document = plan.document(key)
        values[plan.feed.feed_id, key] = {
            **_article_values(plan.unique[key][0], plan.unique[key][2]),
            "feed_id": plan.feed.feed_id,
            "outlet_id": plan.feed.outlet_id,
            "story_id": story_id,
            "entry_key": key,
            "first_seen_at": now,
            "updated_at": None,
            "search_title": document.title,
            "search_text": document.text,
        }
        plan_of[plan.feed.feed_id, key] = plan
        if kind is not DedupeKind.NEW_STORY:
            plan.joined += 1
    # Core inserts on the session's connection: the ORM's bulk path costs more than the
    # statements themselves, and these run for every entry of every feed.
    conn = session.connection()
    if postgres:  # articles, their bands and tags in one statement
        inserted = _insert_new_postgres(conn, values, plan_of)
    else:
        # Rows are matched back by (feed, key), so the returned order does not matter
        # (asking for parameter order made SQLite insert one row per statement).
        inserted = conn.execute(_insert_articles(), list(values.values())).all()
    # The stories this batch created hold only its articles: no need to read them back.
    created: dict[int, list[KnownArticle]] = {}
    for article_id, feed_id, key in inserted:
        plan = plan_of[feed_id, key]
        if not postgres:  # PostgreSQL's insert wrote them
            _, tags, candidate = plan.unique[key]
            rows.add(article_id, tags, candidate, plan.document(key))
        row = values[feed_id, key]
        story_id = row["story_id"]
        if story_id in placement.created:
            created.setdefault(story_id, []).append(
                KnownArticle(
                    article_id, story_id, None, "", (), row["published_at"], row["is_full"]
                )
            )
    refresh_stories(
        session,
        placement.story_ids,
        now=now,
        known={story_id: (members, now) for story_id, members in created.items()},
    )


def _insert_articles() -> Any:
    """SQLite: INSERT ... RETURNING id, feed_id, entry_key of new articles (the caller
    indexes their search documents, and inserts their bands and tags)."""
    table = Article.__table__
    return insert(table).returning(table.c.id, table.c.feed_id, table.c.entry_key)


#: The articles' columns a new row sets on PostgreSQL, with their array types for unnest.
_PG_ARTICLE_COLUMNS = (
    ("feed_id", "integer"), ("outlet_id", "integer"), ("story_id", "integer"),
    ("entry_key", "text"), ("guid", "text"), ("url", "text"), ("title", "text"),
    ("summary", "text"), ("content_html", "text"), ("content_text", "text"),
    ("author", "text"), ("language", "text"), ("categories", "json"),
    ("published_at", "timestamptz"), ("updated_at", "timestamptz"),
    ("first_seen_at", "timestamptz"), ("date_flags", "json"), ("content_hash", "text"),
    ("fingerprint", "text"), ("signature", "bytea"), ("is_full", "boolean"),
    ("search_title", "text"), ("search_text", "text"),
)  # fmt: skip
_PG_JSON_COLUMNS = frozenset({"categories", "date_flags"})


def _postgres_insert_new_sql() -> str:
    names = [name for name, _ in _PG_ARTICLE_COLUMNS]
    stored = names[:-2]  # the last two are the search document, stored as search_vector
    # %b: psycopg sends the arrays in binary; in text it escaped every string with regular
    # expressions (12 ms of CPU for 100 texts of 2,500 characters; binary 0.6 ms).
    arrays = ", ".join(f"%b::{pg_type}[]" for _, pg_type in _PG_ARTICLE_COLUMNS)
    vector = postgres_vector(literal_column("r.search_title"), literal_column("r.search_text"))
    vector_sql = str(vector.compile(dialect=postgresql.dialect()))
    # Bands and tags find their article by (feed, key): the articles' unique key.
    return (
        f"WITH a AS (INSERT INTO articles ({', '.join(stored)}, search_vector) "
        f"SELECT {', '.join(f'r.{n}' for n in stored)}, {vector_sql} "
        f"FROM unnest({arrays}) AS r ({', '.join(names)}) RETURNING id, feed_id, entry_key), "
        "b AS (INSERT INTO minhash_bands (article_id, band, hash) "
        "SELECT a.id, q.band, q.hash FROM a JOIN unnest(%b::integer[], %b::text[], "
        "%b::integer[], %b::bigint[]) AS q (feed_id, entry_key, band, hash) "
        "ON q.feed_id = a.feed_id AND q.entry_key = a.entry_key), "
        "t AS (INSERT INTO tags (article_id, kind, value, score, evidence) "
        "SELECT a.id, q.kind, q.value, q.score, q.evidence FROM a JOIN unnest(%b::integer[], "
        "%b::text[], %b::text[], %b::text[], %b::double precision[], %b::json[]) "
        "AS q (feed_id, entry_key, kind, value, score, evidence) "
        "ON q.feed_id = a.feed_id AND q.entry_key = a.entry_key) "
        "SELECT id, feed_id, entry_key FROM a"
    )


_POSTGRES_INSERT_NEW = _postgres_insert_new_sql()


def _insert_new_postgres(
    conn: Connection,
    rows: dict[tuple[int, str], dict[str, Any]],
    plans: dict[tuple[int, str], _FeedPlan],
) -> list[tuple[int, int, str]]:
    """Insert new articles (by feed and key) with their search vectors, LSH bands and
    tags, in one statement of one array per column (a constant text, which psycopg
    prepares): (id, feed_id, entry_key).

    One round trip instead of three, and no per-row SQL: SQLAlchemy's multi-row VALUES
    renamed every row's parameters and psycopg split the resulting text again at each
    call, which cost more client CPU than the server spent inserting.
    """
    columns = []
    for name, _ in _PG_ARTICLE_COLUMNS:
        values = [row[name] for row in rows.values()]
        if name in _PG_JSON_COLUMNS:
            values = [json_text(v) for v in values]
        columns.append(values)
    bands: tuple[list[Any], ...] = ([], [], [], [])
    tags: tuple[list[Any], ...] = ([], [], [], [], [], [])
    for feed_id, key in rows:
        _, entry_tags, candidate = plans[feed_id, key].unique[key]
        if candidate is not None and candidate.signature:
            for band, value in signature_bands(candidate.signature):
                for column, item in zip(bands, (feed_id, key, band, value), strict=True):
                    column.append(item)
        for tag in entry_tags:
            for column, item in zip(
                tags,
                (
                    feed_id,
                    key,
                    tag.kind,
                    tag.value,
                    float(tag.score),
                    json_text(list(tag.evidence)),
                ),
                strict=True,
            ):
                column.append(item)
    result = conn.exec_driver_sql(_POSTGRES_INSERT_NEW, (*columns, *bands, *tags))
    return [(article_id, feed_id, key) for article_id, feed_id, key in result]


def _update_article(
    session: Session,
    article_id: int,
    values: dict[str, Any],
    document: SearchDocument,
    indexed: list[tuple[int, SearchDocument]],
    *,
    postgres: bool,
) -> None:
    """UPDATE one article with ``values`` (which may change its title or text) and keep the
    search index in step: PostgreSQL's vector in the same statement; on SQLite
    (article_id, document) joins ``indexed``, for ``index_documents`` to replace."""
    if postgres:
        table = ARTICLES_WITH_VECTOR
        session.execute(
            update(table)
            .where(table.c.id == article_id)
            .values(**values, search_vector=postgres_vector(document.title, document.text))
        )
    else:
        session.execute(update(Article).where(Article.id == article_id).values(**values))
        indexed.append((article_id, document))


def replace_article_text(session: Session, article_id: int, *, html: str, text: str) -> None:
    """Give an article a new text (the full text fetched from its page), indexed anew."""
    row = session.execute(select(Article.title).where(Article.id == article_id)).one()
    indexed: list[tuple[int, SearchDocument]] = []
    _update_article(
        session,
        article_id,
        {"content_html": html, "content_text": text, "is_full": is_full_text(text)},
        search_document(row.title, text),
        indexed,
        postgres=session.get_bind().dialect.name == "postgresql",
    )
    index_documents(session.connection(), indexed)


# Any constant; the same in every newsdigest process.
_PLACEMENT_LOCK_ID = 0x73746F72  # "stor"


def lock_story_placement(session: Session, *, durable: bool = True) -> None:
    """Serialize story placement across processes and hosts until this transaction ends.

    Placement reads the LSH index and then writes to it; two hosts placing copies of one
    story at once would each miss the other's. On PostgreSQL a transaction-scoped
    advisory lock orders them; SQLite has one writer anyway.

    ``durable=False`` (storing fetched entries) also turns PostgreSQL's
    ``synchronous_commit`` off for this transaction, in the same statement: its COMMIT
    then returns without waiting for the WAL to reach the disk, which was most of a
    one-article transaction (4 of 8 ms under load; the WAL flush serializes every
    committer). A crash may lose the last fraction of a second of such commits, whole and
    consistently (a feed's entries and its fetch state share the transaction), never
    corrupt them: the next round fetches those feeds again. This is the durability
    SQLite runs with here (WAL with ``synchronous=NORMAL``, ``newsdigest.db``). Deliveries
    and leases commit durably as before.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    # Keyed by schema too: advisory locks are per database, and stores in other schemas
    # of it (test runs, benchmarks, a second deployment) have stories of their own; one
    # key for all made a benchmark's placements wait seconds behind a test run's.
    lock = func.pg_advisory_xact_lock(_PLACEMENT_LOCK_ID, func.hashtext(func.current_schema()))
    if durable:
        session.execute(select(lock))
    else:
        session.execute(select(lock, func.set_config("synchronous_commit", "off", True)))


_TAG_COLUMNS = (
    ("article_id", "integer"),
    ("kind", "text"),
    ("value", "text"),
    ("score", "double precision"),
    ("evidence", "json"),
)


def _tag_rows(article_id: int, tags: Sequence[TagToStore]) -> list[tuple[object, ...]]:
    return [
        (article_id, t.kind, t.value, float(t.score), json_text(list(t.evidence))) for t in tags
    ]


_DEGRADATION = (KeyPolicy.GUID, KeyPolicy.LINK, KeyPolicy.LINK_DATE)


def _key_policies(session: Session, feed_ids: Sequence[int]) -> dict[int, KeyPolicy]:
    """The feeds' key policies (one statement per chunk); a feed missing is an error."""
    found: dict[int, KeyPolicy] = {}
    for chunk in chunks(sorted(set(feed_ids))):
        # The one column, not the Feed (loading the whole row cost more than the rest here).
        rows = session.execute(select(Feed.id, Feed.key_policy).where(Feed.id.in_(chunk)))
        found.update((feed_id, KeyPolicy(policy or KeyPolicy.GUID)) for feed_id, policy in rows)
    for feed_id in feed_ids:
        if feed_id not in found:
            raise FeedNotFoundError(f"no feed with id {feed_id}")
    return found


def _degraded_policy(
    current: KeyPolicy,
    observed: list[tuple[str | None, str | None]],
    previous: list[tuple[str | None, str | None]],
) -> KeyPolicy:
    """The feed's key policy after seeing this document; it only ever degrades.

    A feed that repeats guids across entries, or mints new guids on every fetch, is keyed
    by link (then link + date) from now on, as FreshRSS does; the caller re-keys the
    stored articles (:func:`_rekey`) so that none of them comes back as new. ``observed``
    is the document's (guid, link) pairs, ``previous`` the stored articles' sharing a link.
    """
    if current is KeyPolicy.LINK_DATE or not observed:
        return current
    decided = choose_key_policy(observed, previous)
    if _DEGRADATION.index(decided) <= _DEGRADATION.index(current):
        return current
    return decided


def stored_entry_key(policy: KeyPolicy, row: Any) -> str:
    """A stored article's key under ``policy``, from its row (guid, url, published_at,
    date_flags, content_hash): what the feed's next fetch would key it by."""
    return key_with_date_flags(
        policy,
        guid=row.guid,
        link=row.url,
        published=row.published_at,
        date_flags=row.date_flags or (),
        content_hash=row.content_hash,
    )


def _rekey(session: Session, feed_id: int, policy: KeyPolicy) -> None:
    """Give a feed's stored articles their key under a new policy (first one wins a clash)."""
    rows = session.execute(
        select(
            Article.id,
            Article.guid,
            Article.url,
            Article.published_at,
            Article.date_flags,
            Article.content_hash,
        )
        .where(Article.feed_id == feed_id)
        .order_by(Article.id)
    ).all()
    taken: set[str] = set()
    changes = []
    for row in rows:
        key = stored_entry_key(policy, row)
        if key in taken:
            continue
        taken.add(key)
        changes.append({"id": row.id, "entry_key": f"~{row.id}"})  # step 1: out of the way
        changes.append({"id": row.id, "entry_key": key})
    # Two passes, so that a new key equal to another row's old key never clashes.
    session.execute(update(Article), changes[0::2])
    session.execute(update(Article), changes[1::2])


def _article_values(entry: EntryToStore, candidate: DedupeCandidate | None) -> dict[str, Any]:
    return {
        "guid": entry.guid,
        "url": entry.url,
        "title": entry.title or "",  # an untitled entry: the column is NOT NULL
        "summary": entry.summary_text,
        "content_html": entry.content_html,
        "content_text": entry.content_text,
        "author": entry.author,
        "language": entry.language,
        "categories": list(entry.categories),
        "published_at": entry.published,
        "date_flags": list(entry.date_flags),
        "content_hash": entry.content_hash,
        "fingerprint": candidate.fingerprint or None if candidate else None,
        "signature": signature_to_bytes(candidate.signature)
        if candidate and candidate.signature
        else None,
        "is_full": is_full_text(entry.content_text),
    }


def list_articles(
    session: Session,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    outlet: str | None = None,
    limit: int | None = None,
    tags: Sequence[tuple[str, str]] = (),
    any_country: Collection[str] | None = None,
) -> list[ArticleInfo]:
    """Stored articles first seen in [since, until), newest first, with their tags.

    ``tags`` are (kind, value) pairs such as ("topic", "health"): an article must carry
    every one. ``any_country``: it must be tagged with at least one of these countries.
    """
    query = select(Article, Outlet.name).outerjoin(Outlet, Article.outlet_id == Outlet.id)
    for kind, value in tags:
        query = query.where(
            select(Tag.article_id)
            .where(Tag.article_id == Article.id, Tag.kind == kind, Tag.value == value)
            .exists()
        )
    if any_country is not None:
        query = query.where(
            select(Tag.article_id)
            .where(
                Tag.article_id == Article.id,
                Tag.kind == "country",
                Tag.value.in_(sorted(any_country)),
            )
            .exists()
        )
    if since is not None:
        query = query.where(Article.first_seen_at >= since)
    if until is not None:
        query = query.where(Article.first_seen_at < until)
    if outlet is not None:
        query = query.where(func.lower(Outlet.name) == outlet.lower())
    query = query.order_by(Article.published_at.desc(), Article.id.desc())
    if limit is not None:
        query = query.limit(limit)
    rows = session.execute(query).all()
    tags = _tags_for(session, [article.id for article, _ in rows])
    return [_article_info(article, name, tags.get(article.id, {})) for article, name in rows]


def _tags_for(session: Session, ids: list[int]) -> dict[int, dict[str, list[str]]]:
    out: dict[int, dict[str, list[str]]] = {}
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start : start + _IN_CHUNK]
        rows = session.execute(
            select(Tag.article_id, Tag.kind, Tag.value)
            .where(Tag.article_id.in_(chunk))
            .order_by(Tag.article_id, Tag.kind, Tag.value)
        ).all()
        for article_id, kind, value in rows:
            out.setdefault(article_id, {}).setdefault(kind, []).append(value)
    return out


def _article_info(article: Article, outlet: str | None, tags: dict[str, list[str]]) -> ArticleInfo:
    return ArticleInfo(
        id=article.id,
        feed_id=article.feed_id,
        outlet_id=article.outlet_id,
        outlet=outlet,
        story_id=article.story_id,
        title=article.title,
        url=article.url,
        summary=article.summary,
        language=article.language,
        published=article.published_at,
        first_seen=article.first_seen_at,
        updated=article.updated_at,
        countries=tuple(tags.get("country", ())),
        regions=tuple(tags.get("region", ())),
        topics=tuple(tags.get("topic", ())),
        categories=tuple(article.categories or ()),
    )


def count_articles(session: Session) -> int:
    return session.scalar(select(func.count(Article.id))) or 0


# ---------------------------------------------------------------- stories


def list_stories(
    session: Session, *, since: datetime | None = None, limit: int | None = None
) -> list[StoryInfo]:
    """Stories first seen since ``since``, largest and newest first, with their sources."""
    query = select(Story)
    if since is not None:
        query = query.where(Story.first_seen_at >= since)
    query = query.order_by(Story.size.desc(), Story.first_seen_at.desc(), Story.id)
    if limit is not None:
        query = query.limit(limit)
    stories = session.scalars(query).all()
    ids = [s.id for s in stories]
    sources: dict[int, list[StorySource]] = {}
    titles: dict[int, str] = {}  # article id -> headline
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start : start + _IN_CHUNK]
        rows = session.execute(
            select(
                Article.id,
                Article.story_id,
                Article.title,
                Article.url,
                Article.published_at,
                Outlet.name,
            )
            .outerjoin(Outlet, Article.outlet_id == Outlet.id)
            .where(Article.story_id.in_(chunk))
            .order_by(Article.published_at, Article.id)
        ).all()
        for row in rows:
            sources.setdefault(row.story_id, []).append(
                StorySource(row.id, row.name, row.url, row.published_at)
            )
            titles[row.id] = row.title
    return [
        StoryInfo(
            id=s.id,
            title=titles.get(s.representative_id or 0, ""),
            representative_id=s.representative_id,
            size=s.size,
            first_seen=s.first_seen_at,
            sources=tuple(sources.get(s.id, ())),
        )
        for s in stories
    ]


# ---------------------------------------------------------------- search, retention, full text


def tombstoned_keys(session: Session, feed_id: int, keys: Sequence[str]) -> set[str]:
    """The keys among ``keys`` of this feed's entries that were pruned (ingest.prune)."""
    found: set[str] = set()
    for start in range(0, len(keys), _IN_CHUNK):
        chunk = keys[start : start + _IN_CHUNK]
        found.update(
            session.scalars(
                select(EntryTombstone.entry_key).where(
                    EntryTombstone.feed_id == feed_id, EntryTombstone.entry_key.in_(chunk)
                )
            )
        )
    return found


def articles_by_ids(session: Session, ids: Sequence[int]) -> dict[int, ArticleInfo]:
    """These articles with their tags, by id (ids that do not exist are left out)."""
    out: dict[int, ArticleInfo] = {}
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = list(ids[start : start + _IN_CHUNK])
        rows = session.execute(
            select(Article, Outlet.name)
            .outerjoin(Outlet, Article.outlet_id == Outlet.id)
            .where(Article.id.in_(chunk))
        ).all()
        tags = _tags_for(session, [article.id for article, _ in rows])
        out.update({a.id: _article_info(a, name, tags.get(a.id, {})) for a, name in rows})
    return out


def set_outlets_full_text(session: Session, flags: dict[str, bool]) -> None:
    """Record which outlets (by name) want their articles' pages fetched for full text."""
    for name, full_text in flags.items():
        session.execute(update(Outlet).where(Outlet.name == name).values(full_text=full_text))


# ---------------------------------------------------------------- retagging


@dataclass(frozen=True, slots=True)
class TextToTag:
    """A stored article's text, as the tagger reads it."""

    article_id: int
    title: str
    summary: str
    content: str
    categories: tuple[str, ...]
    outlet_country: str | None


def texts_to_tag(
    session: Session,
    *,
    since: datetime | None = None,
    after_id: int = 0,
    limit: int = 500,
    ids: Collection[int] | None = None,
) -> list[TextToTag]:
    """A batch of articles (id > after_id, first seen since ``since``, among ``ids`` when
    given), in id order."""
    query = (
        select(
            Article.id,
            Article.title,
            Article.summary,
            Article.content_text,
            Article.categories,
            Outlet.country,
        )
        .outerjoin(Outlet, Article.outlet_id == Outlet.id)
        .where(Article.id > after_id)
        .order_by(Article.id)
        .limit(limit)
    )
    if since is not None:
        query = query.where(Article.first_seen_at >= since)
    if ids is not None:
        query = query.where(Article.id.in_(list(ids)))
    return [
        TextToTag(
            row.id,
            row.title,
            row.summary,
            row.content_text,
            tuple(row.categories or ()),
            row.country,
        )
        for row in session.execute(query)
    ]


def replace_tags(session: Session, tags: dict[int, Sequence[TagToStore]]) -> None:
    """Replace the tags of these articles."""
    ids = sorted(tags)
    for start in range(0, len(ids), _IN_CHUNK):
        session.execute(delete(Tag).where(Tag.article_id.in_(ids[start : start + _IN_CHUNK])))
    rows = [row for article_id in ids for row in _tag_rows(article_id, tags[article_id])]
    insert_rows(session.connection(), Tag.__tablename__, _TAG_COLUMNS, rows)


# ---------------------------------------------------------------- leases


@dataclass(frozen=True, slots=True)
class ClaimedFeed:
    """A due feed this process now holds a lease on, and how late it is."""

    ref: FeedRef
    due_at: datetime | None


def claim_due_feeds(
    session: Session, *, owner: str, now: datetime, lease: timedelta, limit: int
) -> list[ClaimedFeed]:
    """Lease up to ``limit`` due feeds to ``owner`` until ``now + lease``.

    A feed is claimable when it is enabled, not gone, due, and not leased (or its lease
    expired: its daemon died). On PostgreSQL the rows are locked with SKIP LOCKED, so
    daemons on several hosts claim disjoint batches without waiting for each other; the
    caller commits to publish the claim.
    """
    query = (
        select(
            Feed.id,
            Feed.url,
            Feed.etag,
            Feed.last_modified,
            Feed.body_hash,
            Feed.item_hashes,
            Feed.next_due_at,
        )
        .where(
            Feed.enabled.is_(True),
            Feed.gone.is_(False),
            or_(Feed.next_due_at.is_(None), Feed.next_due_at <= now),
            or_(Feed.lease_expires_at.is_(None), Feed.lease_expires_at <= now),
        )
        .order_by(Feed.next_due_at, Feed.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = session.execute(query).all()
    ids = [row.id for row in rows]
    for start in range(0, len(ids), _IN_CHUNK):
        session.execute(
            update(Feed)
            .where(Feed.id.in_(ids[start : start + _IN_CHUNK]))
            .values(lease_owner=owner, lease_expires_at=now + lease)
        )
    return [
        ClaimedFeed(
            FeedRef(row.id, row.url, row.etag, row.last_modified, row.body_hash, row.item_hashes),
            row.next_due_at,
        )
        for row in rows
    ]


def release_leases(session: Session, *, owner: str, feed_ids: Iterable[int] | None = None) -> int:
    """Give back this owner's leases (all of them, or these feeds'); returns how many."""
    query = update(Feed).where(Feed.lease_owner == owner)
    if feed_ids is not None:
        query = query.where(Feed.id.in_(sorted(feed_ids)))
    result = session.execute(query.values(lease_owner=None, lease_expires_at=None))
    return result.rowcount or 0  # type: ignore[attr-defined]


def count_leases(session: Session, *, now: datetime) -> dict[str, int]:
    """Live leases per owner (for the metrics and `status`)."""
    rows = session.execute(
        select(Feed.lease_owner, func.count(Feed.id))
        .where(Feed.lease_owner.is_not(None), Feed.lease_expires_at > now)
        .group_by(Feed.lease_owner)
    ).all()
    return {owner: count for owner, count in rows}


# ---------------------------------------------------------------- health report


@dataclass(frozen=True, slots=True)
class FeedHealthReport:
    """What `newsdigest status` shows about the feeds."""

    total: int
    healthy: int
    failing: int
    gone: int
    disabled: int
    never_fetched: int
    due_backlog: int
    last_fetch: datetime | None
    not_modified_share: float | None
    failures: tuple[FeedInfo, ...]
    silent: tuple[FeedInfo, ...]
    degraded_keys: tuple[FeedInfo, ...]
    leases: dict[str, int]


def feed_health(
    session: Session, *, now: datetime, silent_factor: float = 5.0, top: int = 10
) -> FeedHealthReport:
    """Feeds by health, the due backlog, and the feeds a person should look at.

    A feed is *silent* when nothing new came for ``silent_factor`` times its usual gap
    (its adapted interval), and for at least a day.
    """
    feeds = list_feeds(session)
    active = [f for f in feeds if f.enabled and not f.gone]
    fetched = [f for f in feeds if f.last_fetched_at is not None]
    not_modified = sum(1 for f in fetched if f.last_status == "not_modified")
    failing = sorted(
        (f for f in active if f.error_count > 0),
        key=lambda f: (f.failing_since or now, f.id),
    )

    def is_silent(f: FeedInfo) -> bool:
        if f.last_new_entry_at is None or f.interval_seconds is None or f.error_count:
            return False
        quiet = (now - f.last_new_entry_at).total_seconds()
        return quiet > max(86400.0, silent_factor * f.interval_seconds)

    return FeedHealthReport(
        total=len(feeds),
        healthy=sum(1 for f in active if f.error_count == 0 and f.last_fetched_at is not None),
        failing=len(failing),
        gone=sum(1 for f in feeds if f.gone),
        disabled=sum(1 for f in feeds if not f.enabled),
        never_fetched=sum(1 for f in active if f.last_fetched_at is None),
        due_backlog=sum(1 for f in active if f.next_due_at is None or f.next_due_at <= now),
        last_fetch=max((f.last_fetched_at for f in fetched if f.last_fetched_at), default=None),
        not_modified_share=not_modified / len(fetched) if fetched else None,
        failures=tuple(failing[:top]),
        silent=tuple(sorted((f for f in active if is_silent(f)), key=lambda f: f.id)[:top]),
        degraded_keys=tuple(f for f in feeds if f.key_policy != "guid")[:top],
        leases=count_leases(session, now=now),
    )


# ---------------------------------------------------------------- batched fetch rounds


def renew_leases(session: Session, *, owner: str, now: datetime, lease: timedelta) -> int:
    """Extend this owner's live leases to ``now + lease`` (a heartbeat while it works).

    Only leases not yet expired are renewed: a lease that ran out may already belong to
    another daemon's claim.
    """
    result = session.execute(
        update(Feed)
        .where(Feed.lease_owner == owner, Feed.lease_expires_at > now)
        .values(lease_expires_at=now + lease)
    )
    return result.rowcount or 0  # type: ignore[attr-defined]
