"""Full-text search on both engines: ranking, hostile queries, other languages and scripts,
and an index that follows inserts, updates and deletes."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, literal_column, select, table, text
from sqlalchemy.orm import Session

from ingest import store
from ingest.models import Article
from ingest.pipeline import prepare
from ingest.prune import prune_batch
from ingest.records import SaveStats
from ingest.search import (
    EmptyQueryError,
    IndexPhrase,
    SearchHit,
    fts5_match_expression,
    include_object,
    index_phrases,
    parse_query,
    postgres_vector,
    search_articles,
    snippet_text,
)
from ingest.search_text import (
    DIACRITIC_RANGES,
    NO_SPACE_RANGES,
    SNIPPET_CHARS,
    make_snippet,
    search_document,
    search_text,
)
from newsdigest.db import _alembic_config, make_engine, open_database, upgrade
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
        # Folded in prepare, as the pipeline's parse workers do (without them, the store
        # folds: test_the_store_folds_what_it_is_not_given).
        documents=[p.search for p in prepared.entries],
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
        (('say "hi"',), '"say hi"'),  # ASCII punctuation is a word break, as indexed
        (("NEAR(a b)", "x:y*"), '"NEAR a b" "x y"'),
        (("São", "Zürich"), '"Sao" "Zurich"'),
        (("伊拉克总理",), '"伊拉 拉克 克总 总理"'),
        (("伊",), '"伊" *'),  # a lone character: a prefix of the indexed bigrams
        (("iPhone发布",), '"iPhone 发布"'),
        (("_", "--", "zone"), '"zone"'),  # nothing left to search for: dropped
    ],
)
def test_fts5_expressions_quote_every_phrase(phrases: tuple[str, ...], expression: str) -> None:
    assert fts5_match_expression(index_phrases(phrases)) == expression


def test_fts5_strings_escape_quotes_even_when_search_text_would_not_remove_them() -> None:
    assert fts5_match_expression([IndexPhrase('a "b"')]) == '"a ""b"""'


@pytest.mark.parametrize(
    ("raw", "indexed"),
    [
        ("joint economic zone", "joint economic zone"),
        ("São Paulo", "Sao Paulo"),
        ("Zürich, Ελλάδα, ёлка", "Zurich  Ελλαδα  елка"),
        ("e\u0301te\u0301", "ete"),  # decomposed accents too
        ("Jean-Pierre visited example.com: 3.5%", "Jean Pierre visited example com  3 5 "),
        ("ＡＢＣ１２３！", "ABC123 "),  # full-width forms, then punctuation
        ("伊拉克总理访问伊朗。", " 伊拉 拉克 克总 总理 理访 访问 问伊 伊朗 。"),
        ("2025年1月", "2025 年 1 月 "),
        ("東京でトランプ", " 東京 京で でト トラ ラン ンプ "),
        ("서울에서", " 서울 울에 에서 "),
        ("กรุงเทพ", " กร รุ ุง งเ เท ทพ "),
        ("हिन्दी समाचार", "हिन्दी समाचार"),  # vowel signs are letters' parts: kept
        ("منطقة اقتصادية", "منطقة اقتصادية"),
        ("Москва", "Москва"),
        ("", ""),
        (None, None),
    ],
)
def test_the_indexed_text(raw: str | None, indexed: str | None) -> None:
    assert search_text(raw) == indexed


def test_snippets_mark_folded_matches_in_the_original_text() -> None:
    parts = make_snippet("El alcalde de São Paulo habló.", ["sao paulo"])
    assert [p.text for p in parts if p.match] == ["São", "Paulo"]
    assert snippet_text(parts) == "El alcalde de São Paulo habló."


def test_snippets_mark_words_not_parts_of_words_but_runs_of_no_space_scripts() -> None:
    assert [p.text for p in make_snippet("zones and a zone", ["zone"]) if p.match] == ["zone"]
    text = "伊拉克总理访问伊朗，双方讨论了经济合作。"
    assert [p.text for p in make_snippet(text, ["伊朗", "经济"]) if p.match] == ["伊朗", "经济"]


def test_snippets_are_cut_around_the_matches() -> None:
    filler = "Nothing to see here today. " * 40
    parts = make_snippet(filler + "The joint economic zone was agreed. " + filler, ["zone"])
    text = snippet_text(parts)
    assert text.startswith("…") and text.endswith("…")
    assert "joint economic zone" in text and len(text) <= SNIPPET_CHARS + 2
    # Only the title matched: the start of the text.
    assert snippet_text(make_snippet("Short text.", ["headline"])) == "Short text."


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
    # Both engines fold diacritics, in the text and in the query.
    assert titles(search(engine, "economica IRAN")) == expected
    assert titles(search(engine, '"económica zona"')) == []  # still a phrase, in order


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


WORLD = [
    Item(
        "zh1",
        "伊拉克总理访问伊朗",
        "伊拉克总理苏达尼抵达德黑兰，与伊朗总统会谈，双方同意建立联合经济区。",
    ),
    Item("zh2", "伊朗举行议会选举", "伊朗选民周五投票。"),
    Item("ja", "東京都知事選挙の結果", "東京都知事選挙で現職が勝利した。"),
    Item("ko", "서울에서 정상회담 열려", "대통령은 서울에서 기자회견을 했다."),
    Item("th", "น้ำท่วมในกรุงเทพมหานคร", "ฝนตกหนักในกรุงเทพ"),
    Item("ru", "Москва и Тегеран подписали соглашение", "Переговоры прошли в Москве в пятницу."),
    Item("el", "Η Αθήνα φιλοξενεί τη σύνοδο", "Οι υπουργοί συναντήθηκαν στην Αθήνα."),
    Item("hi", "भारत और ईरान के बीच व्यापार समझौता", "नई दिल्ली में दोनों देशों की बैठक हुई।"),
    Item("pt", "Chuvas em São Paulo", "A prefeitura de São Paulo emitiu um alerta."),
    Item("de", "Neuer Bahnhof in Zürich", "Die Stadt Zürich eröffnet den Bahnhof."),
]
WORLD_TITLE = {item.guid: item.title for item in WORLD}
WORLD_QUERIES: list[tuple[str, set[str]]] = [
    # Chinese, Japanese, Korean, Thai: words inside runs without spaces.
    ("伊拉克", {"zh1"}),
    ("伊朗", {"zh1", "zh2"}),
    ("伊拉克总理", {"zh1"}),
    ("伊拉克 德黑兰", {"zh1"}),
    ("总理伊拉克", set()),  # a run is a phrase: its characters in this order
    ("伊", {"zh1", "zh2"}),  # a lone character: prefix of the bigrams
    ("經濟", set()),  # traditional characters are other characters
    ("東京", {"ja"}),
    ("知事選挙", {"ja"}),
    ("서울", {"ko"}),
    ("정상회담", {"ko"}),
    ("กรุงเทพ", {"th"}),
    # Cyrillic, Greek, Devanagari: case and accents folded, words kept whole.
    ("МОСКВА", {"ru"}),
    ("москве", {"ru"}),
    ("αθηνα", {"el"}),
    ("ΑΘΉΝΑ", {"el"}),
    ("भारत", {"hi"}),
    ("दिल्ली बैठक", {"hi"}),
    ("क", set()),  # not a piece of "के" or "की": vowel signs belong to the word
    # Latin with diacritics, either side.
    ("Sao Paulo", {"pt"}),
    ('"são paulo"', {"pt"}),
    ("zurich", {"de"}),
    ("ZÜRICH BAHNHOF", {"de"}),
]


@pytest.fixture
def world_engine(engine: Engine) -> Engine:
    with Session(engine) as session, session.begin():
        store_feed(session, WORLD)
    return engine


@pytest.mark.parametrize(("query", "guids"), WORLD_QUERIES)
def test_other_scripts_and_languages(world_engine: Engine, query: str, guids: set[str]) -> None:
    assert set(titles(search(world_engine, query))) == {WORLD_TITLE[g] for g in guids}


def test_snippets_in_scripts_without_spaces(world_engine: Engine) -> None:
    (hit,) = search(world_engine, "德黑兰 总统")
    assert [p.text for p in hit.snippet if p.match] == ["德黑兰", "总统"]
    assert snippet_text(hit.snippet) == WORLD[0].text


def _all_words() -> list[str]:
    words = {w for item in WORLD for w in f"{item.title} {item.text}".split()}
    return sorted(words | {q for q, _ in WORLD_QUERIES} | set(HOSTILE_QUERIES))


def test_both_engines_find_the_same_articles(sqlite_url: str, postgres_url: str) -> None:
    found: dict[str, dict[str, list[str]]] = {}
    for name, url in (("sqlite", sqlite_url), ("postgres", postgres_url)):
        engine = open_database(url)
        with Session(engine) as session, session.begin():
            store_feed(session, [*WORLD, ZONE, MENTION, OTHER])
        found[name] = {q: sorted(titles(search(engine, q))) for q in _all_words()}
        engine.dispose()
    differing = {q for q in found["sqlite"] if found["sqlite"][q] != found["postgres"][q]}
    assert differing == set()
    assert sum(1 for hits in found["sqlite"].values() if hits) > 40  # the words do match


def _character_class_samples() -> list[str]:
    samples = [f"{item.title} {item.text}" for item in WORLD]
    for lo, hi in NO_SPACE_RANGES:
        for cp in (lo - 1, lo, hi, hi + 1):
            if 0xD800 <= cp <= 0xDFFF:
                continue
            samples.append(f"a{chr(cp)}{chr(cp)}b {chr(cp)} {chr(lo)}{chr(cp)}{chr(hi)}")
    for lo, hi in DIACRITIC_RANGES:
        samples.append(f"e{chr(lo)} e{chr(hi)} e{chr(lo - 1)} e{chr(hi + 1)}")
    return [
        *samples,
        "".join(map(chr, range(32, 127))),
        "ＡＢＣ！＂＃ ﬁ ² ½ ｶﾀｶﾅ ¨ İstanbul ǅ",
        "e\u0301te Ω Å ẞ ß Ǆ",
        "",
    ]


def test_postgres_keeps_the_vectors_0009_derived_in_the_database(postgres_url: str) -> None:
    """Migration 0013 keeps the vectors 0009's PL/pgSQL copy of the folding made: they are
    the ones the store writes now, character class by character class."""
    engine = open_database(postgres_url)
    command.downgrade(_alembic_config(engine), "0012")
    samples = _character_class_samples()
    with Session(engine) as session, session.begin():
        feed = store.add_feed(session, "https://outlet.example/feed.xml", now=NOW)
        for i, sample in enumerate(samples):
            session.execute(
                text(
                    "INSERT INTO articles (feed_id, entry_key, title, summary, content_html,"
                    " content_text, categories, published_at, first_seen_at, date_flags,"
                    " content_hash, is_full) VALUES (:feed, :key, :title, '', '', :text,"
                    " '[]', :now, :now, '[]', 'h', false)"
                ),
                {"feed": feed.id, "key": f"k{i}", "title": sample[:50], "text": sample, "now": NOW},
            )
    upgrade(engine)
    with engine.connect() as conn:
        differing = [
            row.title
            for row in conn.execute(text("SELECT id, title, content_text FROM articles"))
            if not conn.execute(
                select(literal_column("search_vector").op("=")(postgres_vector(*_folded(row))))
                .select_from(table("articles"))
                .where(literal_column("id") == row.id)
            ).scalar_one()
        ]
        functions = conn.execute(
            text(
                "SELECT count(*) FROM pg_proc WHERE proname LIKE 'newsdigest%'"
                " AND pronamespace = current_schema()::regnamespace"
            )
        ).scalar_one()
    engine.dispose()
    assert differing == []
    assert functions == 0


def _folded(row: Any) -> tuple[str, str]:
    doc = search_document(row.title, row.content_text)
    return doc.title, doc.text


def test_articles_are_written_without_functions_of_ours(database_url: str) -> None:
    """No trigger needs newsdigest's code: another client (the sqlite3 shell, psql) can
    insert, update and delete articles. An edit of the title or text from outside the store
    keeps the old words indexed (alike on both engines); a delete takes the article out."""
    engine = open_database(database_url)
    with Session(engine) as session, session.begin():
        store_feed(session, [ZONE, MENTION])
    if engine.dialect.name == "sqlite":
        assert engine.url.database
        conn: Any = sqlite3.connect(engine.url.database)  # no function registered
        mark = "?"
    else:
        conn = engine.raw_connection()
        mark = "%s"
    cursor = conn.cursor()
    cursor.execute("UPDATE articles SET is_full = NOT is_full")
    cursor.execute(
        "INSERT INTO articles (feed_id, entry_key, title, summary, content_html, content_text,"
        " categories, published_at, first_seen_at, date_flags, content_hash, is_full)"
        " SELECT feed_id, 'x', 'zone', '', '', 'zone', categories, published_at,"
        " first_seen_at, date_flags, 'h', is_full FROM articles WHERE url LIKE '%/zone'"
    )
    assert cursor.rowcount == 1
    assert titles(search(engine, "zone")) == [ZONE_TITLE, MENTION.title]  # conn uncommitted
    conn.commit()
    assert titles(search(engine, "joint zone")) == [ZONE_TITLE, MENTION.title]
    zone, mention = (f"https://outlet.example/news/{guid}" for guid in ("zone", "mention"))
    cursor.execute(f"UPDATE articles SET content_text = 'x' WHERE url = {mark}", (zone,))
    assert cursor.rowcount == 1
    cursor.execute(f"DELETE FROM articles WHERE url = {mark}", (mention,))
    assert cursor.rowcount == 1
    conn.commit()
    conn.close()
    assert titles(search(engine, "joint zone")) == [ZONE_TITLE]
    engine.dispose()


def test_the_store_folds_what_it_is_not_given(database_url: str) -> None:
    engine = open_database(database_url)
    with Session(engine) as session, session.begin():
        prepared = prepare(rss(WORLD), {}, "https://outlet.example/feed.xml", NOW, None)
        feed = store.add_feed(session, "https://outlet.example/feed.xml", now=NOW)
        store.save_entries(
            session,
            feed_id=feed.id,
            outlet_id=None,
            entries=[(p.key, p.entry, p.tags, p.candidate) for p in prepared.entries],
            now=NOW,
        )
    for query, guids in WORLD_QUERIES:
        assert set(titles(search(engine, query))) == {WORLD_TITLE[g] for g in guids}, query
    engine.dispose()


HOSTILE_QUERIES_MORE = [
    "NEAR(zone economic, 2)",
    "zone NEAR/2 economic",
    "((zone",
    "zone))",
    '"zone" OR "x"',
    'zone"""',
    "｢zone｣ ＂zone＂",
    "zone * * *",
    "zone:* & !x",
    "{zone}",
    "zone\u3000伊",
]


def test_more_hostile_queries(zone_engine: Engine) -> None:
    for query in HOSTILE_QUERIES_MORE:
        assert set(titles(search(zone_engine, query))) <= {ZONE_TITLE, MENTION.title}, query


@pytest.mark.parametrize(
    "query",
    [
        "zone " * 2048,
        "(zone) " * 1500,
        "伊" * 10_000,
        "伊拉克" + '"NEAR(*' * 2000,
        "".join(chr(c) for c in range(0x20, 0x3000)) * 2,
    ],
)
def test_ten_kilobyte_queries_neither_fail_nor_hang(zone_engine: Engine, query: str) -> None:
    assert len(query.encode()) >= 10_000
    assert set(titles(search(zone_engine, query))) <= {ZONE_TITLE, MENTION.title}


@pytest.mark.parametrize("query", ["(" * 10_000, "*" * 10_000, "-_-" * 4000, "。、" * 3000])
def test_ten_kilobytes_of_punctuation_are_an_empty_query(zone_engine: Engine, query: str) -> None:
    with pytest.raises(EmptyQueryError):
        search(zone_engine, query)


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


def test_the_index_follows_edits_in_scripts_without_spaces(world_engine: Engine) -> None:
    edited = Item("zh2", "伊朗举行总统选举", "选民周五投票，结果将于下周公布。")
    with Session(world_engine) as session, session.begin():
        stats = store_feed(session, [*WORLD[:1], edited, *WORLD[2:]])
    assert stats.updated == 1
    assert titles(search(world_engine, "总统选举")) == [edited.title]
    assert titles(search(world_engine, "议会")) == []
    # The full-text fetcher replaces the text through the store.
    with Session(world_engine) as session, session.begin():
        article_id = session.execute(
            select(Article.id).where(Article.title == "Neuer Bahnhof in Zürich")
        ).scalar_one()
        new_text = "Der Flughafen Zürich-Kloten wächst."
        store.replace_article_text(session, article_id, html=f"<p>{new_text}</p>", text=new_text)
    assert titles(search(world_engine, "flughafen kloten")) == ["Neuer Bahnhof in Zürich"]
    assert titles(search(world_engine, "eroffnet")) == []


def test_pruned_articles_leave_the_index(engine: Engine) -> None:
    old = Item("old", "旧闻：伊拉克总理访问伊朗", "São Paulo", published=NOW - timedelta(days=200))
    with Session(engine) as session, session.begin():
        store_feed(session, [old], now=NOW - timedelta(days=200))
        store_feed(session, [old, ZONE])
    assert titles(search(engine, "伊拉克 sao")) == [old.title]
    with Session(engine) as session, session.begin():
        assert prune_batch(session, cutoff=NOW - timedelta(days=90), now=NOW).articles == 1
    assert search(engine, "伊拉克") == []
    assert search(engine, "paulo") == []
    assert titles(search(engine, "zone")) == [ZONE_TITLE]


def test_the_migration_indexes_the_articles_stored_before_it(database_url: str) -> None:
    engine = make_engine(database_url)
    # The rows are stored by today's code (it needs today's feeds columns), then the schema
    # goes back to 0008 under them: 0009's index goes, the articles stay.
    upgrade(engine)
    with Session(engine) as session, session.begin():
        store_feed(session, [*WORLD, ZONE])
    command.downgrade(_alembic_config(engine), "0008")
    upgrade(engine)
    for query, guids in WORLD_QUERIES:
        assert set(titles(search(engine, query))) == {WORLD_TITLE[g] for g in guids}, query
    # And back and forth again: 0008's index rebuilt from the rows, then 0009's.
    command.downgrade(_alembic_config(engine), "0008")
    upgrade(engine)
    assert titles(search(engine, "伊拉克")) == [WORLD_TITLE["zh1"]]
    engine.dispose()


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
