"""Retention on both engines: old articles go with their index rows, stories stay
consistent, digest history is untouched, and a pruned entry does not come back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from digest.models import Delivery, Subscriber
from ingest import store
from ingest.models import Article, EntryTombstone, Feed, MinHashBand, Story, Tag
from ingest.prune import count_prunable, expire_tombstones, parse_age, prune_batch
from tests.test_cli import run, write_config
from tests.test_search import Item, search, store_feed, titles

NOW = datetime(2025, 6, 1, 6, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=200)
CUTOFF = NOW - timedelta(days=90)
OLD_FEED = "https://old.example/feed.xml"
NEW_FEED = "https://new.example/feed.xml"

VISIT = (
    "Iraq's prime minister held talks in Tehran with the Iranian president on Wednesday. "
    "The two neighbours agreed to build a joint economic zone along their long border, "
    "with shared customs posts, a border market and power lines for southern Iraq. "
    "Officials also discussed pilgrims, water from the Tigris and regional security."
)
ORIGINAL = Item("visit", "Iraq and Iran agree a joint economic zone", VISIT, published=OLD)
ALONE = Item(
    "alone", "Cyclone season ends in Fiji", "The last storm of the season passed.", published=OLD
)
REPUBLISHED = Item(
    "visit-copy",
    "Iraq and Iran agree a joint economic zone",
    VISIT,
    published=NOW - timedelta(hours=2),
    link="https://new.example/2025/visit",
)
OLD_BUT_NEW_TO_US = Item(
    "late", "Archive: the 1975 Algiers agreement", "A look back at the border treaty.",
    published=OLD,
)  # fmt: skip


def populate(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        store_feed(session, [ORIGINAL, ALONE], outlet="Old Outlet", feed=OLD_FEED, now=OLD)
    with Session(engine) as session, session.begin():
        store_feed(
            session, [REPUBLISHED, OLD_BUT_NEW_TO_US], outlet="New Outlet", feed=NEW_FEED, now=NOW
        )


def ids_by_url(session: Session) -> dict[str, int]:
    return {url: i for i, url in session.execute(select(Article.id, Article.url)).all()}


def url(item: Item) -> str:
    return item.link or f"https://outlet.example/news/{item.guid}"


@pytest.mark.parametrize(
    ("text", "age"),
    [
        ("90d", timedelta(days=90)),
        ("90", timedelta(days=90)),
        (" 12h ", timedelta(hours=12)),
        ("2w", timedelta(weeks=2)),
        ("7D", timedelta(days=7)),
    ],
)
def test_ages_are_read(text: str, age: timedelta) -> None:
    assert parse_age(text) == age


@pytest.mark.parametrize("text", ["", "0d", "-5d", "1y", "d90", "ninety", "9.5d", "1234567d"])
def test_bad_ages_are_refused_with_an_example(text: str) -> None:
    with pytest.raises(ValueError, match=r"use e\.g\. 90d"):
        parse_age(text)


def test_old_articles_go_and_stories_stay_consistent(engine: Engine) -> None:
    populate(engine)
    with Session(engine) as session:
        before = ids_by_url(session)
        stories = dict(session.execute(select(Article.id, Article.story_id)).all())
    assert len(before) == 4
    old_ids = [before[url(ORIGINAL)], before[url(ALONE)]]
    republished_id = before[url(REPUBLISHED)]
    shared_story = stories[before[url(ORIGINAL)]]
    lonely_story = stories[before[url(ALONE)]]
    assert stories[republished_id] == shared_story  # the copy joined the original's story
    with Session(engine) as session:
        assert count_prunable(session, cutoff=CUTOFF) == 2
    with Session(engine) as session, session.begin():
        stats = prune_batch(session, cutoff=CUTOFF, now=NOW)
    assert (stats.articles, stats.stories_removed, stats.stories_refreshed) == (2, 1, 1)
    with Session(engine) as session:
        left = session.execute(select(Article.id, Article.title)).all()
        assert {i for i, _ in left} == {republished_id, before[url(OLD_BUT_NEW_TO_US)]}
        for table in (Tag, MinHashBand):
            n = session.scalar(select(func.count()).where(table.article_id.in_(old_ids)))
            assert n == 0, table.__tablename__
        assert session.get(Story, lonely_story) is None
        story = session.get(Story, shared_story)
        assert story is not None
        assert (story.size, story.representative_id) == (1, republished_id)
        tombstones = set(
            session.execute(select(EntryTombstone.feed_id, EntryTombstone.entry_key)).all()
        )
        old_feed = next(f.id for f in store.list_feeds(session) if f.url == OLD_FEED)
        assert {feed for feed, _ in tombstones} == {old_feed}
        # Each under its key now, its link, and its link + date (see the next test).
        assert len(tombstones) == 2 * 3
    # The search index forgot them too (the republication still matches).
    assert titles(search(engine, "Cyclone")) == []
    assert [h.article.id for h in search(engine, "joint economic zone")] == [republished_id]
    with Session(engine) as session, session.begin():
        assert prune_batch(session, cutoff=CUTOFF, now=NOW).articles == 0


def test_a_pruned_entry_that_the_feed_still_lists_is_not_stored_again(engine: Engine) -> None:
    populate(engine)
    with Session(engine) as session, session.begin():
        prune_batch(session, cutoff=CUTOFF, now=NOW)
    fresh = Item("fresh", "Basra port reopens", "Ships returned to Umm Qasr.", published=NOW)
    with Session(engine) as session, session.begin():
        stats = store_feed(
            session, [ORIGINAL, ALONE, fresh], outlet="Old Outlet", feed=OLD_FEED, now=NOW
        )
    assert (stats.new, stats.updated) == (1, 0)
    assert titles(search(engine, "Cyclone")) == []
    # Another feed carrying the same entry is another feed: its copy is stored.
    with Session(engine) as session, session.begin():
        stats = store_feed(
            session, [ALONE], outlet="Third", feed="https://third.example/f", now=NOW
        )
    assert stats.new == 1


def test_a_pruned_entry_stays_pruned_when_its_feed_turns_to_keying_by_link(
    engine: Engine,
) -> None:
    populate(engine)
    with Session(engine) as session, session.begin():
        prune_batch(session, cutoff=CUTOFF, now=NOW)
    # The feed starts giving every item one guid: it is keyed by link from now on, and the
    # two pruned entries it still lists come back under keys their tombstones must know.
    same_guid = [
        Item("one-guid", ORIGINAL.title, ORIGINAL.text, ORIGINAL.published, url(ORIGINAL)),
        Item("one-guid", ALONE.title, ALONE.text, ALONE.published, url(ALONE)),
        Item("one-guid", "Basra port reopens", "Ships returned to Umm Qasr.", NOW),
    ]
    with Session(engine) as session, session.begin():
        stats = store_feed(session, same_guid, outlet="Old Outlet", feed=OLD_FEED, now=NOW)
        policy = session.scalar(select(Feed.key_policy).where(Feed.url == OLD_FEED))
    assert policy != "guid"
    assert stats.new == 1
    assert titles(search(engine, "Cyclone")) == []


def test_digest_history_keeps_its_story_ids(engine: Engine) -> None:
    populate(engine)
    with Session(engine) as session, session.begin():
        story_ids = sorted(set(session.scalars(select(Article.story_id))))
        subscriber = Subscriber(email="reader@example.org", created_at=OLD, updated_at=OLD)
        session.add(subscriber)
        session.flush()
        session.add(
            Delivery(
                subscriber_id=subscriber.id,
                period_start=OLD,
                period_end=OLD + timedelta(days=1),
                status="sent",
                message_id="<1@example.org>",
                story_ids=story_ids,
                stories=len(story_ids),
                created_at=OLD,
                updated_at=OLD,
            )
        )
    with Session(engine) as session, session.begin():
        prune_batch(session, cutoff=CUTOFF, now=NOW)
    with Session(engine) as session:
        (delivery,) = session.scalars(select(Delivery)).all()
        assert delivery.story_ids == story_ids
        assert delivery.status == "sent"


def test_small_batches_come_to_the_same_result(engine: Engine) -> None:
    populate(engine)
    removed = 0
    for _ in range(5):
        with Session(engine) as session, session.begin():
            removed += prune_batch(session, cutoff=CUTOFF, now=NOW, limit=1).articles
    assert removed == 2
    with Session(engine) as session:
        assert count_prunable(session, cutoff=CUTOFF) == 0
        sizes = {s.id: s.size for s in session.scalars(select(Story))}
        counted = dict(
            session.execute(select(Article.story_id, func.count()).group_by(Article.story_id)).all()
        )
    assert sizes == counted


def test_old_tombstones_are_forgotten(engine: Engine) -> None:
    populate(engine)
    with Session(engine) as session, session.begin():
        prune_batch(session, cutoff=CUTOFF, now=OLD + timedelta(days=100))
    with Session(engine) as session, session.begin():
        assert expire_tombstones(session, before=OLD + timedelta(days=50)) == 0
        assert expire_tombstones(session, before=NOW) == 2 * 3
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(EntryTombstone)) == 0


def test_prune_on_the_command_line(
    tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from newsdigest.db import open_database

    now = datetime.now(UTC)
    engine = open_database(database_url)
    with Session(engine) as session, session.begin():
        store_feed(
            session,
            [Item("a", "Old news", "Long ago.", published=now - timedelta(days=40))],
            now=now - timedelta(days=40),
        )
    engine.dispose()
    config = write_config(tmp_path, database_url, "retention:\n  days: 30\n")
    capsys.readouterr()
    assert run(config, "prune", "--older-than", "ninety") == 2
    assert "--older-than: not an age" in capsys.readouterr().err
    assert run(config, "prune", "--older-than", "60d") == 0
    assert "removed 0 articles" in capsys.readouterr().out
    assert run(config, "prune", "--dry-run") == 0  # the config's 30 days
    assert "would remove 1 articles" in capsys.readouterr().out
    assert run(config, "prune") == 0
    assert "removed 1 articles" in capsys.readouterr().out
    assert run(config, "articles", "list", "--json") == 0
    assert capsys.readouterr().out.strip() == ""
