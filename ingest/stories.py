"""Placing new articles into stories: the storage side of de-duplication.

The decision is ``ingest.dedupe.classify`` (pure); this module finds its candidates in
SQL (same canonical URL, same fingerprint, a shared LSH band in ``minhash_bands``),
applies the decisions, creates and merges stories, and keeps each story's size and
representative current. The LSH index lives in SQL so it survives restarts and works
the same on SQLite and PostgreSQL, from several hosts.

Within one batch the articles are decided in order, each seeing the ones before it, and
linked stories are merged (union-find), so the outcome does not depend on the order of
arrival.
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from json.encoder import encode_basestring_ascii
from typing import Any, Protocol

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Session

from ingest.batches import chunks
from ingest.dedupe import (
    DEFAULT_BANDS,
    DEFAULT_THRESHOLD,
    DedupeCandidate,
    DedupeKind,
    KnownArticle,
    choose_representative,
    classify,
    lsh_bands,
    signature_from_bytes,
)
from ingest.models import Article, MinHashBand, Story

#: At most this many LSH candidates per lookup are verified: a bound on the work when many
#: stored texts look alike; true near-duplicates of one story share it anyway.
_BAND_CANDIDATES = 2000


@functools.lru_cache(maxsize=2048)
def _bands(signature: tuple[int, ...], bands: int) -> tuple[tuple[int, int], ...]:
    """LSH bands of a signature; one article's are needed by the lookup, the in-batch
    index and the band rows, so they are computed once (a pure function, memoized).
    An entry (the 128-value key and its bands) is about 6 KB: 2,048 of them, a writer
    batch's worth, hold about 12 MB for the life of the process (8,192 held 50 MB)."""
    return tuple(lsh_bands(signature, bands))


def signature_bands(
    signature: tuple[int, ...], bands: int = DEFAULT_BANDS
) -> tuple[tuple[int, int], ...]:
    """The (band, hash) pairs a signature is indexed under (memoized)."""
    return _bands(signature, bands)


class _HasText(Protocol):
    @property
    def title(self) -> str: ...
    @property
    def summary_text(self) -> str: ...
    @property
    def content_text(self) -> str: ...


def dedupe_text(entry: _HasText) -> str:
    """The text two articles are compared on: the headline and the fullest body."""
    return f"{entry.title}\n{entry.content_text or entry.summary_text}"


@dataclass(frozen=True, slots=True)
class NewArticle:
    """What placing needs of an article about to be inserted."""

    candidate: DedupeCandidate | None
    published: datetime
    is_full: bool


@dataclass(frozen=True, slots=True)
class Placement:
    """The story each new article joins, and how it was decided (for the logs and tests)."""

    story_ids: tuple[int, ...]
    kinds: tuple[DedupeKind, ...]
    #: The stories this placement created: their only members are articles of the batch.
    created: frozenset[int] = frozenset()


class _UnionFind:
    """Story ids that turned out to be one story. Real (positive) ids win as roots."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        # Prefer a stored story (positive id), then the smaller id, as the root.
        keep, drop = sorted((ra, rb), key=lambda s: (s < 0, abs(s)))
        self.parent[drop] = keep


def lookup_sql(
    candidates: Sequence[DedupeCandidate], bands: int, dialect: str
) -> tuple[str, tuple[object, ...]] | None:
    """One query for the stored articles sharing a URL, a fingerprint or an LSH band with
    any of ``candidates``: (driver SQL for the ``dialect`` engine, its parameters), or
    None when the candidates have nothing to look up.

    Articles sharing a URL or a fingerprint are already one story, so one of each (the
    oldest) stands for all: a URL that thousands of entries share (a feed that links every
    item to its home page) must not make every lookup load them all. At most
    :data:`_BAND_CANDIDATES` band matches are taken. Every part walks an index: the URL
    and fingerprint indexes, and (band, hash) for the bands.

    Written as driver SQL: SQLAlchemy's statement building and result processing took
    several times longer than the database's work, and this runs for every feed (and,
    for a daemon placing one article, is the whole lookup). One statement is one round
    trip. On PostgreSQL the articles are read by ``id = ANY(ARRAY(...))``, an index
    search of the primary key whatever the planner thinks of the union's size (as
    ``id IN (...)`` it estimated the band arm at its LIMIT, 2,000 rows, and hashed the
    union against a sequential scan of every article: one whole-table scan per stored
    feed, which made a cold round quadratic). :func:`_lookup` runs it unprepared (see
    there). On SQLite, planning is cheap and the band matches are
    ``(band = b AND hash IN (...)) OR ...``, each arm an index search (a row-value IN
    over pairs made SQLite scan the whole table); band values are integers we computed,
    written inline by ``int()``.
    """
    urls = sorted({c.url for c in candidates if c.url})
    fingerprints = sorted({c.fingerprint for c in candidates if c.fingerprint})
    pairs = sorted({pair for c in candidates if c.signature for pair in _bands(c.signature, bands)})
    if not (urls or fingerprints or pairs):
        return None
    select_articles = (
        "SELECT id, story_id, url, fingerprint, signature, published_at, is_full "
        "FROM articles WHERE story_id IS NOT NULL AND id IN ({})"
    )
    if dialect == "postgresql":
        ids = (
            "SELECT min(id) FROM articles WHERE story_id IS NOT NULL AND url = ANY(%b::text[]) "
            "GROUP BY url UNION "
            "SELECT min(id) FROM articles WHERE story_id IS NOT NULL "
            "AND fingerprint = ANY(%b::text[]) GROUP BY fingerprint UNION "
            "SELECT article_id FROM (SELECT m.article_id "
            "FROM unnest(%b::integer[], %b::bigint[]) AS q (band, hash) "
            f"JOIN {MinHashBand.__tablename__} AS m ON m.band = q.band AND m.hash = q.hash "
            f"LIMIT {_BAND_CANDIDATES}) AS band_matches"
        )
        bands_of = [band for band, _ in pairs]
        hashes = [value for _, value in pairs]
        by_id = select_articles.replace("id IN ({})", "id = ANY(ARRAY({}))")
        return by_id.format(ids), (urls, fingerprints, bands_of, hashes)
    parts: list[str] = []
    params: list[object] = []
    for column, values in (("url", urls), ("fingerprint", fingerprints)):
        if values:
            parts.append(
                f"SELECT min(id) FROM articles WHERE story_id IS NOT NULL "
                f"AND {column} IN ({', '.join('?' for _ in values)}) GROUP BY {column}"
            )
            params.extend(values)
    by_band: defaultdict[int, list[int]] = defaultdict(list)
    for band, value in pairs:
        by_band[band].append(value)
    if by_band:
        arms = " OR ".join(
            f"(band = {int(band)} AND hash IN ({','.join(str(int(v)) for v in values)}))"
            for band, values in sorted(by_band.items())
        )
        parts.append(
            f"SELECT article_id FROM (SELECT article_id FROM {MinHashBand.__tablename__} "
            f"WHERE {arms} LIMIT {_BAND_CANDIDATES}) AS band_matches"
        )
    return select_articles.format(" UNION ".join(parts)), tuple(params)


@functools.cache
def _published_processor(dialect: Dialect) -> Callable[[Any], Any] | None:
    """How ``articles.published_at`` comes back through SQLAlchemy on ``dialect``."""
    column_type = Article.__table__.c.published_at.type
    return column_type.dialect_impl(dialect).result_processor(dialect, None)


def _lookup(
    session: Session, candidates: Sequence[DedupeCandidate], bands: int
) -> list[KnownArticle]:
    """Stored articles sharing a URL, a fingerprint or an LSH band with any candidate."""
    conn = session.connection()
    published = _published_processor(conn.dialect)
    known: dict[int, KnownArticle] = {}
    # Chunks bound the bound parameters (two per candidate at most) well below the
    # engines' limits.
    for chunk in chunks(candidates):
        query = lookup_sql(chunk, bands, conn.dialect.name)
        if query is None:
            continue
        sql, params = query
        for row in _run_unprepared(conn, sql, params):
            article_id, story_id, url, fingerprint, signature, published_at, is_full = row
            known[article_id] = KnownArticle(
                id=article_id,
                story_id=story_id,
                url=url,
                fingerprint=fingerprint or "",
                signature=signature_from_bytes(bytes(signature)) if signature else (),
                published=published(published_at) if published else published_at,
                is_full=bool(is_full),
            )
    return [known[i] for i in sorted(known)]


def _run_unprepared(conn: Connection, sql: str, params: tuple[object, ...]) -> list[Any]:
    """The rows of ``sql``, planned for these parameters and the tables as they are now.

    On PostgreSQL, psycopg prepares a statement after a few executions, and the server
    then keeps one generic plan for the connection's life: made while the tables were
    nearly empty (a daemon's first feeds, a cold round), it scans whole tables forever
    after, since without an ANALYZE nothing invalidates it. Unprepared, the lookup is
    planned each time (about 0.3 ms) with the arrays' real lengths and the tables' real
    sizes. SQLite plans every statement anyway.
    """
    if conn.dialect.name != "postgresql":
        return list(conn.exec_driver_sql(sql, params))
    driver = conn.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor:
        cursor.execute(sql, params, prepare=False)
        return cursor.fetchall()


class _Index:
    """Known articles by URL, fingerprint and band, to hand classify only its candidates."""

    def __init__(self, bands: int) -> None:
        self.bands = bands
        self.by_key: defaultdict[tuple[object, ...], list[KnownArticle]] = defaultdict(list)

    def keys(
        self, url: str | None, fingerprint: str, signature: tuple[int, ...]
    ) -> list[tuple[object, ...]]:
        """Index keys: ("u", url), ("f", fingerprint) and the (band, hash) pairs as they
        are (two ints, so never equal to the other two kinds; no tuple built per band)."""
        keys: list[tuple[object, ...]] = []
        if url:
            keys.append(("u", url))
        if fingerprint:
            keys.append(("f", fingerprint))
        if signature:
            keys.extend(_bands(signature, self.bands))
        return keys

    def add(self, known: KnownArticle, keys: list[tuple[object, ...]] | None = None) -> None:
        """Index ``known`` (under ``keys`` when the caller has them already)."""
        if keys is None:
            keys = self.keys(known.url, known.fingerprint, known.signature)
        by_key = self.by_key
        for key in keys:
            by_key[key].append(known)

    def matches(self, keys: list[tuple[object, ...]]) -> list[KnownArticle]:
        """The known articles under any of ``keys`` (a candidate's ``keys``)."""
        seen: dict[int, KnownArticle] = {}
        get = self.by_key.get
        for key in keys:
            for known in get(key, ()):
                seen[known.id] = known
        return list(seen.values())


def place_new_articles(
    session: Session,
    articles: Sequence[NewArticle],
    *,
    now: datetime,
    threshold: float = DEFAULT_THRESHOLD,
    bands: int = DEFAULT_BANDS,
) -> Placement:
    """Decide the story of each article about to be inserted; create and merge stories.

    Returns the (stored) story id of each article, in order. Stories that the batch
    links together are merged into the oldest one.
    """
    candidates = [a.candidate for a in articles if a.candidate is not None]
    index = _Index(bands)
    for known in _lookup(session, candidates, bands):
        index.add(known)
    union = _UnionFind()
    provisional: list[int] = []
    kinds: list[DedupeKind] = []
    next_temp = -1
    for position, article in enumerate(articles):
        candidate = article.candidate or DedupeCandidate(None, "", ())
        keys = index.keys(candidate.url, candidate.fingerprint, candidate.signature)
        decision = classify(candidate, index.matches(keys), threshold)
        if decision.story_id is None:
            story = next_temp
            next_temp -= 1
        else:
            story = decision.story_id
            for other in decision.merge_story_ids:
                union.union(story, other)
        union.find(story)
        provisional.append(story)
        kinds.append(decision.kind)
        # Later articles of the batch may match this one: it joins the index under a
        # temporary article id (negative, never stored).
        index.add(
            KnownArticle(
                id=-(position + 1),
                story_id=story,
                url=candidate.url,
                fingerprint=candidate.fingerprint,
                signature=candidate.signature,
                published=article.published,
                is_full=article.is_full,
            ),
            keys,
        )
    roots = [union.find(s) for s in provisional]
    # New stories for components that contain no stored story.
    temp_roots = sorted({r for r in roots if r < 0}, reverse=True)
    real: dict[int, int] = {}
    if temp_roots:
        # The new rows are alike, so any order of the returned ids will do; sorted, the
        # earliest article's story gets the smallest id. (Asking for parameter order made
        # SQLite insert one row per statement.)
        created = sorted(
            session.connection()
            .execute(
                insert(Story.__table__).returning(Story.__table__.c.id),
                [{"first_seen_at": now, "updated_at": now, "size": 0} for _ in temp_roots],
            )
            .scalars()
        )
        real = dict(zip(temp_roots, created, strict=True))
    # Stored stories that the batch linked: fold them into their root.
    merged: defaultdict[int, list[int]] = defaultdict(list)
    for story in list(union.parent):
        root = union.find(story)
        if story > 0 and root > 0 and story != root:
            merged[root].append(story)
    for root, others in merged.items():
        session.execute(update(Article).where(Article.story_id.in_(others)).values(story_id=root))
        session.execute(delete(Story).where(Story.id.in_(others)))
    return Placement(tuple(real.get(r, r) for r in roots), tuple(kinds), frozenset(real.values()))


def index_bands(
    session: Session,
    signatures: Sequence[tuple[int, tuple[int, ...]]],
    bands: int = DEFAULT_BANDS,
) -> None:
    """Record the LSH bands of stored articles: (article id, signature) pairs."""
    rows = [
        (article_id, band, value)
        for article_id, signature in signatures
        if signature
        for band, value in _bands(signature, bands)
    ]
    insert_rows(session.connection(), MinHashBand.__tablename__, _BAND_COLUMNS, rows)


_BAND_COLUMNS = (("article_id", "integer"), ("band", "integer"), ("hash", "bigint"))


def insert_rows(
    conn: Connection,
    table: str,
    columns: Sequence[tuple[str, str]],
    rows: Sequence[tuple[object, ...]],
) -> None:
    """Insert plain rows (already in the driver's types: ints, floats, str, JSON text) in
    one statement on PostgreSQL and one ``executemany`` on SQLite.

    ``columns`` are (name, PostgreSQL type) pairs. For the small, hot tables (band hashes,
    tags) whose rows need no type processing: SQLAlchemy's per-row parameter handling
    cost more than the insert itself, and psycopg's ``executemany`` still sends one
    statement per row; ``unnest`` of one array per column is a single statement.
    """
    if not rows:
        return
    names = ", ".join(name for name, _ in columns)
    if conn.dialect.name == "postgresql":
        # %b: arrays go in binary (psycopg's text form escapes each string with regular
        # expressions, several times the cost).
        arrays = ", ".join(f"%b::{pg_type}[]" for _, pg_type in columns)
        conn.exec_driver_sql(
            f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays})",
            tuple(list(column) for column in zip(*rows, strict=True)),
        )
    else:
        marks = ", ".join("?" for _ in columns)
        conn.exec_driver_sql(f"INSERT INTO {table} ({names}) VALUES ({marks})", list(rows))


def json_text(value: object) -> str:
    """JSON as SQLAlchemy's JSON type writes it, for :func:`insert_rows`."""
    if type(value) is list and all(type(item) is str for item in value):
        # A list of strings (tags' evidence): the text json.dumps writes, without the
        # encoder it builds on every call, which cost more than the encoding.
        return "[" + ", ".join(map(encode_basestring_ascii, value)) + "]"
    return json.dumps(value)


#: A story's members (as :func:`choose_representative` needs them) and its first sighting.
StoryMembers = tuple[Sequence[KnownArticle], datetime]


def refresh_stories(
    session: Session,
    story_ids: Iterable[int],
    *,
    now: datetime,
    known: Mapping[int, StoryMembers] | None = None,
) -> None:
    """Recompute the size and representative (earliest full version) of these stories.

    ``known`` gives the members of stories the caller has just created and filled (every
    member, as stored), so they need not be read back.
    """
    given = known or {}
    ids = sorted(set(story_ids))
    conn = session.connection()
    values = [
        _story_values(story_id, *given[story_id], now=now) for story_id in ids if story_id in given
    ]
    _update_stories(conn, values)
    for chunk in chunks([story_id for story_id in ids if story_id not in given]):
        members: defaultdict[int, list[KnownArticle]] = defaultdict(list)
        first_seen: dict[int, datetime] = {}
        rows = conn.execute(
            select(
                Article.id,
                Article.story_id,
                Article.published_at,
                Article.is_full,
                Article.first_seen_at,
            ).where(Article.story_id.in_(chunk))
        ).all()
        for row in rows:
            members[row.story_id].append(
                KnownArticle(row.id, row.story_id, None, "", (), row.published_at, row.is_full)
            )
            seen = first_seen.get(row.story_id)
            if seen is None or row.first_seen_at < seen:
                first_seen[row.story_id] = row.first_seen_at
        _update_stories(
            conn,
            [
                _story_values(story_id, group, first_seen[story_id], now=now)
                for story_id, group in members.items()
            ],
        )


def _story_values(
    story_id: int, members: Sequence[KnownArticle], first_seen: datetime, *, now: datetime
) -> dict[str, Any]:
    return {
        "id": story_id,
        "size": len(members),
        "representative_id": choose_representative(members),
        "first_seen_at": first_seen,
        "updated_at": now,
    }


#: Core executemany of an UPDATE by primary key: the ORM's bulk update by primary key
#: cost several times the statement on SQLite (values matched to the mapper per row).
_UPDATE_STORY = (
    update(Story.__table__)
    .where(Story.__table__.c.id == bindparam("story_id"))
    .values(
        size=bindparam("new_size"),
        representative_id=bindparam("new_representative_id"),
        first_seen_at=bindparam("new_first_seen_at"),
        updated_at=bindparam("new_updated_at"),
    )
)


def _update_stories(conn: Connection, values: Sequence[dict[str, Any]]) -> None:
    if not values:
        return
    if conn.dialect.name == "postgresql":
        # One statement rather than one per story (psycopg's executemany). The ids are
        # also matched by `id = ANY(...)`: a join with unnest alone was planned (once,
        # while the table was small: psycopg prepares it, and the generic plan stays) as
        # a hash join over a sequential scan of every story, for every stored feed.
        columns = tuple(
            [v[name] for v in values]
            for name in ("id", "representative_id", "size", "first_seen_at", "updated_at")
        )
        conn.exec_driver_sql(
            "UPDATE stories SET representative_id = v.representative_id, size = v.size, "
            "first_seen_at = v.first_seen_at, updated_at = v.updated_at "
            "FROM unnest(%s::integer[], %s::integer[], %s::integer[], %s::timestamptz[], "
            "%s::timestamptz[]) AS v (id, representative_id, size, first_seen_at, updated_at) "
            "WHERE stories.id = v.id AND stories.id = ANY(%s::integer[])",
            (*columns, columns[0]),
        )
    else:
        conn.execute(
            _UPDATE_STORY,
            [{"story_id": v["id"], **{f"new_{k}": v[k] for k in _STORY_FIELDS}} for v in values],
        )


_STORY_FIELDS = ("size", "representative_id", "first_seen_at", "updated_at")
