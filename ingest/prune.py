"""Retention: remove old articles without breaking stories, digests or feeds.

Usage::

    cutoff = now - parse_age("90d")
    with Session(engine) as session, session.begin():
        stats = prune_batch(session, cutoff=cutoff, now=now)   # repeat until stats.articles == 0

An article goes when it was both published and first seen before the cutoff (an old
entry that a feed has just listed stays long enough to reach a digest). With it go its
tags, MinHash bands, full-text record and search row (the database's triggers or
generated column see to the last). Its (feed, key) stays behind as a tombstone, so a
feed that still lists the entry does not bring it back (``store.save_entries`` skips
tombstoned keys). A feed's key policy may later degrade from guids to links (then link
+ date: ``ingest.normalize.choose_key_policy``), and the feed's articles are re-keyed;
a tombstone cannot be, having no article left, so it is written under the entry's key
for every policy it may yet have. A story that loses every article is removed; one that
keeps some gets its size and representative recomputed. Digest history is untouched: deliveries keep
their story ids as plain data, not as references.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ingest.models import (
    Article,
    ArticleFullText,
    EntryTombstone,
    MinHashBand,
    Story,
    Tag,
)
from ingest.normalize import KeyPolicy
from ingest.store import lock_story_placement, stored_entry_key
from ingest.stories import refresh_stories

#: Articles removed per transaction: short transactions keep feeds flowing meanwhile.
DEFAULT_BATCH = 1000
_AGE = re.compile(r"\s*(\d{1,6})\s*([hdw]?)\s*", re.IGNORECASE)
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1), "": None}


@dataclass(frozen=True, slots=True)
class PruneStats:
    """What one prune batch removed."""

    articles: int = 0
    stories_removed: int = 0
    stories_refreshed: int = 0

    def __add__(self, other: PruneStats) -> PruneStats:
        return PruneStats(
            self.articles + other.articles,
            self.stories_removed + other.stories_removed,
            self.stories_refreshed + other.stories_refreshed,
        )


def parse_age(text: str) -> timedelta:
    """An age such as "90d", "12h", "2w" or "90" (days); ValueError with an example if not."""
    match = _AGE.fullmatch(text)
    if match is None or int(match.group(1)) == 0:
        raise ValueError(f"not an age: {text!r} (use e.g. 90d, 12h or 2w)")
    unit = _UNITS[match.group(2).lower()] or timedelta(days=1)
    return int(match.group(1)) * unit


def _old(cutoff: datetime) -> Any:
    return (Article.published_at < cutoff) & (Article.first_seen_at < cutoff)


def count_prunable(session: Session, *, cutoff: datetime) -> int:
    """How many articles a prune with this cutoff would remove."""
    return session.scalar(select(func.count(Article.id)).where(_old(cutoff))) or 0


def tombstone_keys(row: Any) -> list[str]:
    """An article's key now and under each key policy its feed may degrade to."""
    keys = [row.entry_key]
    for policy in (KeyPolicy.LINK, KeyPolicy.LINK_DATE):
        key = stored_entry_key(policy, row)
        if key not in keys:
            keys.append(key)
    return keys


def _remember(session: Session, rows: Sequence[Any], now: datetime) -> None:
    values = [
        {"feed_id": r.feed_id, "entry_key": key, "pruned_at": now}
        for r in rows
        for key in tombstone_keys(r)
    ]
    if not values:
        return
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    # A key can only be tombstoned once (it cannot come back), but stay safe if it is.
    session.execute(insert(EntryTombstone).on_conflict_do_nothing(), values)


def prune_batch(
    session: Session, *, cutoff: datetime, now: datetime, limit: int = DEFAULT_BATCH
) -> PruneStats:
    """Remove up to ``limit`` articles older than ``cutoff``, oldest first.

    The caller commits; call again until it removes nothing.
    """
    # Story placement reads and writes stories; a new article must not join a story
    # that this batch is about to remove.
    lock_story_placement(session)
    rows = session.execute(
        select(
            Article.id,
            Article.feed_id,
            Article.entry_key,
            Article.story_id,
            Article.guid,
            Article.url,
            Article.published_at,
            Article.date_flags,
            Article.content_hash,
        )
        .where(_old(cutoff))
        .order_by(Article.published_at, Article.id)
        .limit(limit)
    ).all()
    if not rows:
        return PruneStats()
    ids = [r.id for r in rows]
    _remember(session, rows, now)
    # The foreign keys cascade too; deleting explicitly does not depend on SQLite's
    # foreign_keys pragma being on in whatever opened the database.
    for table in (Tag, MinHashBand, ArticleFullText):
        session.execute(delete(table).where(table.article_id.in_(ids)))
    session.execute(delete(Article).where(Article.id.in_(ids)))
    touched = sorted({r.story_id for r in rows if r.story_id is not None})
    alive = set(
        session.scalars(select(Article.story_id).where(Article.story_id.in_(touched)).distinct())
    )
    emptied = [s for s in touched if s not in alive]
    if emptied:
        session.execute(delete(Story).where(Story.id.in_(emptied)))
    refresh_stories(session, sorted(alive), now=now)
    return PruneStats(len(ids), len(emptied), len(alive))


def expire_tombstones(session: Session, *, before: datetime) -> int:
    """Forget tombstones older than ``before``; returns how many."""
    result = session.execute(delete(EntryTombstone).where(EntryTombstone.pruned_at < before))
    return int(getattr(result, "rowcount", 0) or 0)
