"""Stories in the store, on both engines: republications join, other reports stay apart."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ingest import store
from ingest.models import Story
from ingest.pipeline import prepare
from ingest.stories import refresh_stories
from newsdigest.db import open_database
from tests.conftest import SEEDS
from tests.test_cli import SEED_TITLE

NOW = datetime(2025, 1, 11, 6, 0, tzinfo=UTC)
FEEDS = ("peoples-dispatch", "orinoco-tribune", "al-jazeera", "bbc-arabic")


def ingest_snapshot(session: Session, name: str) -> None:
    outlet = store.ensure_outlet(session, name, now=NOW)
    url = f"https://{name}.example/feed.xml"
    feed = store.add_feed(session, url, now=NOW, outlet_id=outlet.id)
    prepared = prepare((SEEDS / "snapshots" / f"{name}.xml").read_bytes(), {}, url, NOW, None)
    store.save_entries(
        session,
        feed_id=feed.id,
        outlet_id=outlet.id,
        entries=[(p.key, p.entry, p.tags, p.candidate) for p in prepared.entries],
        now=NOW,
    )


def seed_story_outlets(engine: Engine) -> dict[str, set[str]]:
    """For each story holding an Iraq-Iran visit report: headline -> outlets."""
    with Session(engine) as session:
        stories = store.list_stories(session)
    return {
        st.title: {src.outlet or "" for src in st.sources}
        for st in stories
        if any("peoples" in (src.outlet or "") for src in st.sources)
        or "Iran" in st.title
        or "إيران" in st.title
    }


@pytest.mark.parametrize("order", [FEEDS, tuple(reversed(FEEDS))])
def test_a_republication_joins_the_story_and_other_reports_stay_apart(
    engine: Engine, order: tuple[str, ...]
) -> None:
    for name in order:
        with Session(engine) as session, session.begin():
            ingest_snapshot(session, name)
    with Session(engine) as session:
        stories = store.list_stories(session)
    (seed,) = [st for st in stories if st.title == SEED_TITLE]
    assert {src.outlet for src in seed.sources} == {"peoples-dispatch", "orinoco-tribune"}
    assert seed.size == 2
    # The representative is the earliest full version: the original, not the republication.
    assert next(s for s in seed.sources if s.article_id == seed.representative_id).outlet == (
        "peoples-dispatch"
    )
    # Al Jazeera's and BBC Arabic's own reports on the visit are stories of their own.
    for st in stories:
        outlets = {src.outlet for src in st.sources}
        if "al-jazeera" in outlets or "bbc-arabic" in outlets:
            assert st.id != seed.id
            assert outlets <= {"al-jazeera", "bbc-arabic"}


def test_arrival_order_does_not_change_the_stories(sqlite_url: str) -> None:
    outcomes = []
    for order in itertools.islice(itertools.permutations(FEEDS[:3]), 0, 6, 2):
        fresh = open_database(sqlite_url.replace("test.db", f"perm-{'-'.join(order)}.db"))
        for name in order:
            with Session(fresh) as session, session.begin():
                ingest_snapshot(session, name)
        with Session(fresh) as session:
            outcomes.append(
                sorted(
                    sorted((src.outlet or "", src.url or "") for src in st.sources)
                    for st in store.list_stories(session)
                )
            )
        fresh.dispose()
    assert outcomes[0] == outcomes[1] == outcomes[2]


def test_an_edited_entry_is_an_update_not_a_new_story(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        ingest_snapshot(session, "peoples-dispatch")
    with Session(engine) as session:
        before = {(st.id, st.size) for st in store.list_stories(session)}
    body = (SEEDS / "snapshots" / "peoples-dispatch.xml").read_bytes()
    edited = body.replace(b"joint economic zone", b"joint economic and trade zone", 1)
    assert edited != body
    with Session(engine) as session, session.begin():
        feed = store.list_feeds(session)[0]
        prepared = prepare(edited, {}, feed.url, NOW, None)
        stats = store.save_entries(
            session,
            feed_id=feed.id,
            outlet_id=feed.outlet_id,
            entries=[(p.key, p.entry, p.tags, p.candidate) for p in prepared.entries],
            now=NOW,
        )
    assert (stats.new, stats.updated) == (0, 1)
    with Session(engine) as session:
        assert {(st.id, st.size) for st in store.list_stories(session)} == before


# --- the lookup query ----------------------------------------------------------------------


def test_the_lookup_is_one_query_that_walks_the_band_index(engine: Engine) -> None:
    """ingest.stories.lookup_sql: the band arms use the (band, hash) index, and URL and
    fingerprint lookups their own, on both engines (EXPLAIN). PostgreSQL prefers a
    sequential scan of a tiny table, so it is told not to, which shows the index can
    serve the query; at scale it is chosen anyway (benchmarks/bench_ingest.py)."""
    from ingest.dedupe import DEFAULT_BANDS, DedupeCandidate
    from ingest.stories import lookup_sql

    with Session(engine) as session, session.begin():
        ingest_snapshot(session, FEEDS[0])
    text = "\n".join(
        f"Line {i} of a story about a joint economic zone and trade." for i in range(9)
    )
    candidate = DedupeCandidate.from_text("https://elsewhere.example/a", text)
    query = lookup_sql([candidate], DEFAULT_BANDS, engine.dialect.name)
    assert query is not None
    sql, params = query
    assert sql.count("SELECT") == 5  # the articles, URL, fingerprint, band matches (+ inner)
    for value in (candidate.url, candidate.fingerprint):  # bound, never written in the SQL
        assert value not in sql
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            plan = "\n".join(
                row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)
            )
        else:
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {sql}", params))
    assert "ix_minhash_bands_band_hash" in plan, plan
    assert "ix_articles_url" in plan, plan
    assert "ix_articles_fingerprint" in plan, plan
    assert "SCAN minhash_bands" not in plan and "Seq Scan on minhash_bands" not in plan, plan


def test_no_plan_made_on_small_tables_scans_them_whole(engine: Engine) -> None:
    """The lookup and the story update stay index searches however small the tables were
    when first planned. psycopg prepares a statement after a few executions and the server
    keeps its generic plan for the connection's life: the update's plan, made on a small
    table, hash-joined a sequential scan of every story, and the lookup's hashed the union
    against every article, once per stored feed (a cold round of 10,000 feeds read 14.6M
    story rows). The update is planned generic here on purpose; the lookup is never
    prepared (``_run_unprepared``), so its plan follows the tables' real sizes."""
    from ingest.dedupe import DEFAULT_BANDS, DedupeCandidate
    from ingest.stories import _lookup, _update_stories

    with Session(engine) as session, session.begin():
        ingest_snapshot(session, FEEDS[0])
    with Session(engine) as session, session.begin():
        conn = session.connection()
        story = session.scalars(select(Story)).first()
        assert story is not None
        values = {
            "id": story.id,
            "representative_id": story.representative_id,
            "size": story.size,
            "first_seen_at": story.first_seen_at,
            "updated_at": NOW,
        }
        candidate = DedupeCandidate.from_text("https://elsewhere.example/a", "a text " * 40)
        for _ in range(8):  # past psycopg's prepare threshold (5)
            _lookup(session, [candidate], DEFAULT_BANDS)
            _update_stories(conn, [values])
        if engine.dialect.name != "postgresql":
            return
        prepared = [
            row[0] for row in conn.exec_driver_sql("SELECT statement FROM pg_prepared_statements")
        ]
        assert not [s for s in prepared if "FROM articles WHERE story_id IS NOT NULL" in s], (
            prepared
        )
        [update] = [s for s in prepared if s.startswith("UPDATE stories")]
        conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
        name = conn.exec_driver_sql(
            "SELECT name FROM pg_prepared_statements WHERE statement = %s", (update,)
        ).scalar_one()
        args = "('{1}', '{1}', '{1}', '{2025-01-01}', '{2025-01-01}', '{1}')"
        plan = "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN EXECUTE {name}{args}"))
    assert "Seq Scan on stories" not in plan, plan
    assert "pk_stories" in plan, plan


def test_nothing_to_look_up_is_no_query() -> None:
    from ingest.dedupe import DedupeCandidate
    from ingest.stories import lookup_sql

    for dialect in ("sqlite", "postgresql"):
        assert lookup_sql([DedupeCandidate(None, "", ())], 16, dialect) is None


def test_new_stories_are_summed_up_as_a_fresh_read_would(engine: Engine) -> None:
    # save_entries sums up the stories a batch creates from the rows it inserted, without
    # reading them back; recomputing every story from the table must change nothing.
    # The seed feed twice in one batch (the copy under other links and keys) makes new
    # stories of two members each, whose representative is chosen among the batch's rows.
    body = (SEEDS / "snapshots" / "peoples-dispatch.xml").read_bytes()
    copy = body.replace(b"peoplesdispatch.org", b"mirror.example")
    with Session(engine) as session, session.begin():
        outlet = store.ensure_outlet(session, "mirror", now=NOW)
        url = "https://mirror.example/feed.xml"
        feed = store.add_feed(session, url, now=NOW, outlet_id=outlet.id)
        entries = [
            (f"{n}|{p.key}", p.entry, p.tags, p.candidate)
            for n, doc in enumerate((body, copy))
            for p in prepare(doc, {}, url, NOW, None).entries
        ]
        store.save_entries(session, feed_id=feed.id, outlet_id=outlet.id, entries=entries, now=NOW)
    stories = Story.__table__

    def summaries() -> list[tuple[int, int, int | None, datetime, datetime]]:
        query = select(
            stories.c.id,
            stories.c.size,
            stories.c.representative_id,
            stories.c.first_seen_at,
            stories.c.updated_at,
        ).order_by(stories.c.id)
        with Session(engine) as session:
            return [tuple(row) for row in session.execute(query)]  # type: ignore[misc]

    stored = summaries()
    assert stored
    assert all(size == 2 for _, size, _, _, _ in stored)
    with Session(engine) as session, session.begin():
        refresh_stories(session, [story_id for story_id, *_ in stored], now=NOW)
    assert summaries() == stored
