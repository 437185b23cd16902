"""Follow many feeds at once: an OPML import, the outlets of config.yaml.

Adding feeds one by one through the ORM (`store.ensure_outlet`, `store.add_feed`) costs
several statements per feed, and each autoflush walks every object the session holds, so
importing 10,000 feeds took 36 s (27 s of CPU) and grew with the square of the list. Here
the whole list costs a few statements per 500 feeds: read which outlets and feeds exist,
update outlets whose attributes changed, insert the rest.

An outlet is found by name; its homepage, country and language are updated when the list
gives them (as `store.ensure_outlet` does). A feed already followed, or listed twice, is
skipped; a feed another process adds meanwhile is skipped too (``ON CONFLICT DO NOTHING``),
so two imports at once never fail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ingest.batches import chunks
from ingest.models import Feed, Outlet


@dataclass(frozen=True, slots=True)
class OutletToKeep:
    """An outlet by name; its attributes, where given, replace the stored ones."""

    name: str
    homepage: str | None = None
    #: ISO 3166 alpha-2, upper case.
    country: str | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True)
class FeedToFollow:
    """One feed to follow, with what the list says about it."""

    url: str
    #: None: the feed belongs to no outlet.
    outlet: OutletToKeep | None = None
    title: str | None = None
    #: The OPML folders it was filed under, joined with "/".
    category: str | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True)
class FollowReport:
    added: tuple[str, ...]
    #: Already followed, listed twice, or added by another process meanwhile.
    skipped: tuple[str, ...]


def follow_feeds(
    session: Session,
    feeds: Sequence[FeedToFollow],
    *,
    now: datetime,
    outlets: Sequence[OutletToKeep] = (),
) -> FollowReport:
    """Follow every feed of ``feeds`` not followed yet; create or update ``outlets`` and the
    feeds' outlets (an outlet named twice: its first mention counts)."""
    outlet_ids = ensure_outlets(
        session, [*outlets, *(f.outlet for f in feeds if f.outlet)], now=now
    )
    followed = _existing(session, Feed.url, [f.url for f in feeds])
    wanted: list[FeedToFollow] = []
    seen = set(followed)
    for feed in feeds:
        if feed.url not in seen:
            seen.add(feed.url)
            wanted.append(feed)
    insert = postgres_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    added: set[str] = set()
    for chunk in chunks(wanted):
        rows = [
            {
                "url": f.url,
                "outlet_id": outlet_ids[f.outlet.name] if f.outlet else None,
                "title": f.title,
                "category": f.category,
                "language": f.language,
                "url_history": [],
                "enabled": True,
                "gone": False,
                "key_policy": "guid",
                "error_count": 0,
                "next_due_at": now,
                "created_at": now,
            }
            for f in chunk
        ]
        statement = insert(Feed).on_conflict_do_nothing().returning(Feed.url)
        added.update(session.execute(statement, rows).scalars())
    skipped = []
    counted: set[str] = set()
    for feed in feeds:
        if feed.url in added and feed.url not in counted:
            counted.add(feed.url)
        else:
            skipped.append(feed.url)
    return FollowReport(
        added=tuple(f.url for f in wanted if f.url in added), skipped=tuple(skipped)
    )


def ensure_outlets(
    session: Session, outlets: Sequence[OutletToKeep], *, now: datetime
) -> dict[str, int]:
    """Outlet name -> id for each of ``outlets``, created or updated (first mention counts)."""
    given: dict[str, OutletToKeep] = {}
    for outlet in outlets:
        given.setdefault(outlet.name, outlet)
    stored: dict[str, Any] = {}
    for chunk in chunks(list(given)):
        query = select(Outlet.id, Outlet.name, Outlet.homepage, Outlet.country, Outlet.language)
        for row in session.execute(query.where(Outlet.name.in_(chunk))):
            stored[row.name] = row
    changed = []
    for name, row in stored.items():
        spec = given[name]
        values = {
            "homepage": spec.homepage or row.homepage,
            "country": spec.country or row.country,
            "language": spec.language or row.language,
        }
        if values != {"homepage": row.homepage, "country": row.country, "language": row.language}:
            changed.append({"outlet_id": row.id, **values})
    if changed:
        statement = (
            update(Outlet.__table__)
            .where(Outlet.__table__.c.id == bindparam("outlet_id"))
            .values(
                homepage=bindparam("homepage"),
                country=bindparam("country"),
                language=bindparam("language"),
            )
        )
        session.connection().execute(statement, changed)
    ids = {name: row.id for name, row in stored.items()}
    new = [name for name in given if name not in stored]
    insert = postgres_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    for chunk in chunks(new):
        rows = [
            {
                "name": name,
                "homepage": given[name].homepage,
                "country": given[name].country,
                "language": given[name].language,
                "created_at": now,
                "full_text": False,
            }
            for name in chunk
        ]
        session.execute(insert(Outlet).on_conflict_do_nothing(), rows)
        # Read back by name: an outlet another process created meanwhile has an id too.
        query = select(Outlet.id, Outlet.name).where(Outlet.name.in_(chunk))
        ids.update({row.name: row.id for row in session.execute(query)})
    return ids


def _existing(session: Session, column: Any, values: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for chunk in chunks(sorted(set(values))):
        found.update(session.scalars(select(column).where(column.in_(chunk))))
    return found
