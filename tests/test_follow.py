"""Following many feeds at once (OPML import, config outlets), on both engines."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ingest import store
from ingest.follow import FeedToFollow, OutletToKeep, follow_feeds
from ingest.models import Feed, Outlet

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_feeds_outlets_titles_and_folders_are_kept(engine: Engine) -> None:
    le_monde = OutletToKeep("Le Monde", "https://www.lemonde.fr/", "FR", "fr")
    wanted = [
        FeedToFollow("https://lemonde.example/rss", le_monde, "À la une", "News/France", "fr"),
        FeedToFollow("https://lemonde.example/intl", le_monde, "International", "News"),
        FeedToFollow("https://solo.example/feed"),
    ]
    with Session(engine) as session, session.begin():
        report = follow_feeds(session, wanted, now=NOW)
    assert report.added == tuple(f.url for f in wanted)
    assert report.skipped == ()
    with Session(engine) as session:
        feeds = {f.url: f for f in store.list_feeds(session)}
        (outlet,) = store.list_outlets(session)
    assert (outlet.name, outlet.homepage, outlet.country, outlet.language) == (
        "Le Monde",
        "https://www.lemonde.fr/",
        "FR",
        "fr",
    )
    first = feeds["https://lemonde.example/rss"]
    assert (first.outlet, first.title, first.category) == ("Le Monde", "À la une", "News/France")
    assert first.next_due_at == NOW and first.enabled and not first.gone
    assert feeds["https://lemonde.example/intl"].outlet_id == outlet.id
    assert feeds["https://solo.example/feed"].outlet is None


def test_followed_and_repeated_feeds_are_skipped(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        store.add_feed(session, "https://a.example/feed", now=NOW)
    wanted = [
        FeedToFollow("https://a.example/feed"),
        FeedToFollow("https://b.example/feed"),
        FeedToFollow("https://b.example/feed"),
    ]
    with Session(engine) as session, session.begin():
        report = follow_feeds(session, wanted, now=NOW)
    assert report.added == ("https://b.example/feed",)
    assert report.skipped == ("https://a.example/feed", "https://b.example/feed")
    with Session(engine) as session, session.begin():
        again = follow_feeds(session, wanted, now=NOW)
    assert again.added == () and len(again.skipped) == 3
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Feed)) == 2


def test_outlet_attributes_are_updated_only_where_given(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        store.ensure_outlet(session, "Outlet", now=NOW, homepage="https://o.example/", country="DE")
    with Session(engine) as session, session.begin():
        follow_feeds(
            session,
            [FeedToFollow("https://o.example/feed", OutletToKeep("Outlet", language="de"))],
            now=NOW,
            outlets=[OutletToKeep("Without feeds", country="JP")],
        )
    with Session(engine) as session:
        outlets = {o.name: o for o in store.list_outlets(session)}
    kept = outlets["Outlet"]
    assert (kept.homepage, kept.country, kept.language) == ("https://o.example/", "DE", "de")
    assert outlets["Without feeds"].country == "JP"


def test_a_long_list_spans_several_statements(engine: Engine) -> None:
    outlets = [OutletToKeep(f"Outlet {i}") for i in range(700)]
    wanted = [FeedToFollow(f"https://f{i}.example/rss", outlets[i % 700]) for i in range(1_300)]
    with Session(engine) as session, session.begin():
        report = follow_feeds(session, wanted, now=NOW)
    assert len(report.added) == 1_300
    with Session(engine) as session:
        pairs = session.execute(
            select(Feed.url, Outlet.name).join(Outlet, Feed.outlet_id == Outlet.id)
        ).all()
    assert len(pairs) == 1_300
    assert all(name == f"Outlet {int(url[9:].split('.')[0]) % 700}" for url, name in pairs)
