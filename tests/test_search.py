"""Full-text search on both engines: ranking, hostile queries, other languages and scripts,
and an index that follows inserts, updates and deletes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ingest import store
from ingest.pipeline import prepare
from ingest.records import SaveStats
from ingest.search import (
    EmptyQueryError,
    SearchHit,
    fts5_match_expression,
    include_object,
    parse_query,
    search_articles,
    snippet_text,
)
from tests.test_cli import run, write_config

NOW = datetime(2025, 1, 11, 6, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Item:
    """One RSS item of a test feed."""

    guid: str
    title: str
    text: str
    published: datetime = NOW - timedelta(hours=1)
    link: str | None = None


def rss(items: Sequence[Item], language: str = "en") -> bytes:
    parts = [
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Test</title><link>https://outlet.example/</link><language>{language}</language>"
    ]
    for item in items:
        link = item.link or f"https://outlet.example/news/{item.guid}"
        parts.append(
            f"<item><guid>{escape(item.guid)}</guid><title>{escape(item.title)}</title>"
            f"<link>{escape(link)}</link><pubDate>{format_datetime(item.published)}</pubDate>"
            f"<description>{escape(item.text)}</description></item>"
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode("utf-8")


def store_feed(
    session: Session,
    items: Sequence[Item],
    *,
    outlet: str = "Outlet",
    feed: str = "https://outlet.example/feed.xml",
    language: str = "en",
    now: datetime = NOW,
) -> SaveStats:
    """Ingest items as the pipeline does (parse, normalize, tag, dedupe, store)."""
    outlet_id = store.ensure_outlet(session, outlet, now=now).id
    known = {f.url: f.id for f in store.list_feeds(session)}
    feed_id = known.get(feed) or store.add_feed(session, feed, now=now, outlet_id=outlet_id).id
    prepared = prepare(rss(items, language), {}, feed, now, None)
    return store.save_entries(
        session,
        feed_id=feed_id,
        outlet_id=outlet_id,
        entries=[(p.key, p.entry, p.tags, p.candidate) for p in prepared.entries],
        now=now,
    )


def search(engine: Engine, query: str, limit: int = 20) -> list[SearchHit]:
    with Session(engine) as session:
        return search_articles(session, query, limit=limit)


def titles(hits: Sequence[SearchHit]) -> list[str]:
    return [h.article.title for h in hits]


ZONE_TITLE = "Iraq and Iran plan a joint economic zone"
ZONE = Item(
    "zone",
    ZONE_TITLE,
    "Tehran floated a joint economic zone along the border during the prime minister's visit.",
)
MENTION = Item(
    "mention",
    "Oil prices rise after the Tehran talks",
    "Traders said the economic outlook improved; a free trade zone was also discussed, "
    "though nothing joint was signed.",
)
OTHER = Item("other", "Rain expected in Wellington", "Forecasters expect a wet weekend.")


@pytest.fixture
def zone_engine(engine: Engine) -> Engine:
    with Session(engine) as session, session.begin():
        store_feed(session, [ZONE, MENTION, OTHER])
    return engine


# ---------------------------------------------------------------- the pure part


@pytest.mark.parametrize(
    ("query", "phrases"),
    [
        ("joint economic zone", ("joint", "economic", "zone")),
        ('"joint economic" zone', ("joint economic", "zone")),
        ('zone "joint   economic"', ("zone", "joint economic")),
        ('"unbalanced quote', ("unbalanced quote",)),
        ("NEAR(joint zone)", ("NEAR(joint", "zone)")),
        ("zone* -oil ^title:x", ("zone*", "-oil", "^title:x")),
        ("*** ... ---", ()),
        ('""', ()),
        ("", ()),
        ("zone\x00 port\ue000", ("zone", "port")),
        ("منطقة اقتصادية", ("منطقة", "اقتصادية")),
        ("می\u200cخواهم", ("می\u200cخواهم",)),  # Persian keeps its zero-width non-joiner
    ],
)
def test_queries_are_cut_into_words_and_phrases(query: str, phrases: tuple[str, ...]) -> None:
    assert parse_query(query) == phrases


@pytest.mark.parametrize(
    ("phrases", "expression"),
    [
        (("joint", "zone"), '"joint" "zone"'),
        (('say "hi"',), '"say ""hi"""'),
        (("NEAR(a b)", "x:y*"), '"NEAR(a b)" "x:y*"'),
    ],
)
def test_fts5_expressions_quote_every_phrase(phrases: tuple[str, ...], expression: str) -> None:
    assert fts5_match_expression(phrases) == expression


def test_the_alembic_hook_hides_only_reflected_search_objects() -> None:
    assert not include_object(None, "articles_fts", "table", True, None)
    assert not include_object(None, "articles_fts_data", "table", True, None)
    assert not include_object(None, "ix_articles_search_vector", "index", True, None)
    assert include_object(None, "articles", "table", True, None)
    assert include_object(None, "articles_fts", "table", False, None)  # a model of that name


# ---------------------------------------------------------------- both engines


def test_matches_are_ranked_title_first_with_a_snippet(zone_engine: Engine) -> None:
    hits = search(zone_engine, "joint economic zone")
    assert titles(hits) == [ZONE_TITLE, MENTION.title]
    assert hits[0].rank > hits[1].rank > 0
    assert {p.text.lower() for p in hits[0].snippet if p.match} >= {"joint", "economic", "zone"}
    assert "border" in snippet_text(hits[0].snippet)
    assert hits[0].article.outlet == "Outlet"
    assert hits[0].article.url == "https://outlet.example/news/zone"


def test_a_quoted_phrase_must_occur_as_written(zone_engine: Engine) -> None:
    assert titles(search(zone_engine, '"joint economic zone"')) == [ZONE_TITLE]
    assert titles(search(zone_engine, '"zone economic"')) == []


def test_every_word_must_occur_and_case_does_not_matter(zone_engine: Engine) -> None:
    assert titles(search(zone_engine, "JOINT Wellington")) == []
    assert titles(search(zone_engine, "wellington")) == [OTHER.title]


def test_the_limit_is_honoured(zone_engine: Engine) -> None:
    assert titles(search(zone_engine, "zone", limit=1)) == [ZONE_TITLE]


HOSTILE_QUERIES = [
    '"zone',
    'zone"',
    "zone*",
    "NEAR(zone economic)",
    "zone AND",
    "OR zone",
    "NOT zone",
    "-zone",
    "+zone",
    "^zone",
    "title:zone",
    "zone:",
    "(zone",
    "zone)",
    "'zone'",
    "zone & | ! <->",
    "zone; DROP TABLE articles; --",
    "zone\\",
    "zone\x00",
    "zone\ue000",
]


def test_query_syntax_characters_are_searched_for_never_interpreted(zone_engine: Engine) -> None:
    # One database for the whole table: each query must neither fail nor change anything.
    for query in HOSTILE_QUERIES:
        found = set(titles(search(zone_engine, query)))
        # Whatever else the query holds, the word "zone" is in it.
        assert found <= {ZONE_TITLE, MENTION.title}, query
    assert titles(search(zone_engine, "zone")) == [ZONE_TITLE, MENTION.title]


def test_a_query_without_words_is_refused_with_a_reason(zone_engine: Engine) -> None:
    for query in ["", "   ", '""', "*** ---", "()", "\x00"]:
        with pytest.raises(EmptyQueryError, match="nothing to search for"):
            search(zone_engine, query)


def test_spanish_with_accents(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        store_feed(
            session,
            [
                Item(
                    "es1",
                    "Irak e Irán acuerdan una zona económica conjunta",
                    "El primer ministro iraquí visitó Teherán y firmó el acuerdo con el "
                    "presidente iraní. La zona tendrá aduanas compartidas.",
                ),
                Item("es2", "Lluvias en Montevideo", "Se esperan tormentas el fin de semana."),
            ],
            language="es",
        )
    expected = ["Irak e Irán acuerdan una zona económica conjunta"]
    assert titles(search(engine, "zona económica conjunta")) == expected
    assert titles(search(engine, "IRÁN")) == expected
    assert titles(search(engine, '"primer ministro iraquí"')) == expected
    # SQLite's tokenizer folds diacritics; PostgreSQL's 'simple' configuration does not
    # (that needs the unaccent extension): the README says so.
    folded = titles(search(engine, "economica"))
    assert folded == (expected if engine.dialect.name == "sqlite" else [])


def test_arabic(engine: Engine) -> None:
    title = "العراق وإيران يتفقان على منطقة اقتصادية مشتركة"
    with Session(engine) as session, session.begin():
        store_feed(
            session,
            [
                Item(
                    "ar1",
                    title,
                    "زار رئيس الوزراء العراقي طهران وبحث مع الرئيس الإيراني إنشاء منطقة "
                    "اقتصادية مشتركة على الحدود بين البلدين.",
                ),
                Item("ar2", "أمطار غزيرة في القاهرة", "توقعات بطقس ممطر في نهاية الأسبوع."),
            ],
            language="ar",
        )
    hits = search(engine, "منطقة اقتصادية")
    assert titles(hits) == [title]
    assert "منطقة" in [p.text for p in hits[0].snippet if p.match]
    assert titles(search(engine, '"رئيس الوزراء العراقي"')) == [title]
    assert titles(search(engine, "القاهرة")) == ["أمطار غزيرة في القاهرة"]


def test_the_index_follows_updates_and_deletes(zone_engine: Engine) -> None:
    edited = Item("zone", ZONE_TITLE, "The plan now covers a free port at Basra instead.")
    with Session(zone_engine) as session, session.begin():
        stats = store_feed(session, [edited, MENTION, OTHER])
    assert stats.updated == 1
    assert titles(search(zone_engine, "Basra")) == [ZONE_TITLE]
    assert titles(search(zone_engine, "border")) == []  # the old text is gone from the index
    with Session(zone_engine) as session, session.begin():
        (feed,) = store.list_feeds(session)
        store.remove_feed(session, feed.id)
    assert search(zone_engine, "zone") == []


def test_articles_search_on_the_command_line(
    tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, database_url)
    from newsdigest.db import open_database

    engine = open_database(database_url)
    with Session(engine) as session, session.begin():
        store_feed(session, [ZONE, MENTION, OTHER])
    engine.dispose()
    capsys.readouterr()
    assert run(config, "articles", "search", "joint economic zone", "--json") == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["title"] for r in lines] == [ZONE_TITLE, MENTION.title]
    assert lines[0]["rank"] > lines[1]["rank"]
    assert set(lines[0]["highlights"]) >= {"joint", "economic", "zone"}
    assert {"id", "url", "outlet", "published", "story_id", "snippet"} <= set(lines[0])
    assert run(config, "articles", "search", "zone", "--limit", "1") == 0
    assert ZONE_TITLE in capsys.readouterr().out
    assert run(config, "articles", "search", '"') == 2
    assert "nothing to search for" in capsys.readouterr().err
