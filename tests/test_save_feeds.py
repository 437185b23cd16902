"""Several feeds stored together (``store.save_feeds``, as the fetch writer stores a batch),
on both engines: the same stories as one by one, and each article its own tags and bands
when feeds share entry keys."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ingest import store
from ingest.errors import FeedNotFoundError
from ingest.models import Article, MinHashBand, Tag
from ingest.pipeline import PreparedFeed, prepare
from ingest.stories import DEFAULT_BANDS
from newsdigest.db import open_database
from tests.conftest import SEEDS
from tests.test_stories import FEEDS, NOW

Grouping = list[list[tuple[str, str]]]


def snapshot(name: str) -> PreparedFeed:
    url = f"https://{name}.example/feed.xml"
    return prepare((SEEDS / "snapshots" / f"{name}.xml").read_bytes(), {}, url, NOW, None)


def add_feed(session: Session, outlet_name: str, url: str) -> tuple[int, int]:
    outlet = store.ensure_outlet(session, outlet_name, now=NOW)
    return store.add_feed(session, url, now=NOW, outlet_id=outlet.id).id, outlet.id


def feed_entries(prepared: PreparedFeed, feed_id: int, outlet_id: int) -> store.FeedEntries:
    return store.FeedEntries(
        feed_id,
        outlet_id,
        [(p.key, p.entry, p.tags, p.candidate) for p in prepared.entries],
        [p.search for p in prepared.entries],
    )


def grouping(engine: Engine) -> Grouping:
    with Session(engine) as session:
        return sorted(
            sorted((src.outlet or "", src.url or "") for src in st.sources)
            for st in store.list_stories(session)
        )


def test_feeds_stored_together_make_the_stories_they_make_one_by_one(
    engine: Engine, tmp_path: Path
) -> None:
    prepared = {name: snapshot(name) for name in FEEDS}
    with Session(engine) as session, session.begin():
        batch = [
            feed_entries(prepared[name], *add_feed(session, name, f"https://{name}.example/f"))
            for name in FEEDS
        ]
        together = store.save_feeds(session, batch, now=NOW)
    one_by_one_engine = open_database(f"sqlite:///{tmp_path / 'one-by-one.db'}")
    one_by_one = []
    for name in FEEDS:
        with Session(one_by_one_engine) as session, session.begin():
            feed_id, outlet_id = add_feed(session, name, f"https://{name}.example/f")
            entries = feed_entries(prepared[name], feed_id, outlet_id)
            one_by_one.extend(store.save_feeds(session, [entries], now=NOW))
    assert grouping(engine) == grouping(one_by_one_engine)
    one_by_one_engine.dispose()
    assert together == one_by_one
    # The republication across two feeds of the batch joined its original's story.
    assert sum(stats.joined for stats in together) >= 1


def test_feeds_sharing_entry_keys_keep_their_own_articles_tags_and_bands(
    engine: Engine,
) -> None:
    """Two feeds of one outlet carry the same document (same guids): each gets its own
    articles, and every article exactly the tags and bands of its entry."""
    prepared = snapshot("al-jazeera")
    with Session(engine) as session, session.begin():
        first = add_feed(session, "al-jazeera", "https://al-jazeera.example/a")
        second = add_feed(session, "al-jazeera", "https://al-jazeera.example/b")
        stats = store.save_feeds(
            session, [feed_entries(prepared, *first), feed_entries(prepared, *second)], now=NOW
        )
    entries = {p.key: p for p in prepared.entries}
    assert [s.new for s in stats] == [len(entries), len(entries)]
    # The second feed's copies are duplicates of the first's, placed in the same batch.
    assert stats[1].joined == len(entries)
    with Session(engine) as session:
        articles = session.execute(select(Article.id, Article.feed_id, Article.entry_key)).all()
        tags = Counter(session.execute(select(Tag.article_id)).scalars())
        bands = Counter(session.execute(select(MinHashBand.article_id)).scalars())
        stories = session.execute(select(func.count(func.distinct(Article.story_id)))).scalar()
    assert sorted(feed for _, feed, _ in articles) == sorted([first[0], second[0]] * len(entries))
    for article_id, _, key in articles:
        entry = entries[key]
        assert tags[article_id] == len(entry.tags), key
        signed = entry.candidate is not None and bool(entry.candidate.signature)
        assert bands[article_id] == (DEFAULT_BANDS if signed else 0), key
    assert stories == len(entries)


def test_a_missing_feed_is_refused_before_anything_is_stored(engine: Engine) -> None:
    prepared = snapshot("bbc-arabic")
    with Session(engine) as session, session.begin():
        feed = add_feed(session, "bbc-arabic", "https://bbc-arabic.example/f")
    with Session(engine) as session, session.begin():
        batch = [feed_entries(prepared, *feed), feed_entries(prepared, 999_999, feed[1])]
        with pytest.raises(FeedNotFoundError, match="999999"):
            store.save_feeds(session, batch, now=NOW)
        assert session.execute(select(func.count(Article.id))).scalar() == 0


def test_a_feed_given_twice_stores_its_second_document_after_the_first(engine: Engine) -> None:
    prepared = snapshot("orinoco-tribune")
    with Session(engine) as session, session.begin():
        feed = add_feed(session, "orinoco-tribune", "https://orinoco-tribune.example/f")
        stats = store.save_feeds(
            session, [feed_entries(prepared, *feed), feed_entries(prepared, *feed)], now=NOW
        )
    count = len({p.key for p in prepared.entries})
    assert [(s.new, s.unchanged) for s in stats] == [(count, 0), (0, count)]
    with Session(engine) as session:
        assert session.execute(select(func.count(Article.id))).scalar() == count
