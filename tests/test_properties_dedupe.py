"""De-duplication does not depend on the order articles arrive in: end to end on SQLite.

tests/test_dedupe_decide.py shows it for ``classify`` over an in-memory fake store. Here
the real store decides: generated near-duplicate texts (a few reports, each copied with
small edits, some under a link another outlet also used) go through ``prepare`` and
``store.save_entries`` into a migrated SQLite database, in one order one feed at a time,
and in a shuffled order grouped into feeds of random sizes (one transaction each). The
partition of articles into stories must be the same.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest import store
from ingest.models import Article
from ingest.pipeline import PreparedEntry, prepare
from newsdigest.db import make_engine, open_database

NOW = datetime(2025, 1, 11, 6, 0, tzinfo=UTC)

REPORTS = [
    # English
    "Floodwaters rose across the river delta on Tuesday after three days of heavy rain, "
    "forcing thousands of families from their homes and cutting the main road to the port. "
    "Rescue teams in boats reached villages that had been cut off since the weekend, and "
    "the regional government opened schools and sports halls as shelters. Farmers said "
    "the water had destroyed most of the rice harvest just weeks before it was due to be "
    "gathered. Weather forecasters expect more rain until the end of the week, and "
    "engineers are checking two dams upstream for damage. Aid groups asked for clean "
    "water, blankets and medicine, warning that disease could spread in crowded camps.",
    # Spanish
    "El banco central subió los tipos de interés medio punto el jueves, la tercera subida "
    "en lo que va de año, para frenar una inflación que no cede. La presidenta de la "
    "entidad dijo que los precios de los alimentos y de la energía siguen presionando a "
    "los hogares y que el consejo está dispuesto a actuar de nuevo si hace falta. Los "
    "mercados esperaban la decisión y la bolsa apenas se movió. Los sindicatos criticaron "
    "la medida porque encarece las hipotecas de millones de familias, mientras que las "
    "asociaciones empresariales pidieron al gobierno que reduzca el gasto público.",
    # Arabic
    "أعلنت وزارة الصحة يوم الأحد عن حملة تطعيم واسعة ضد الحصبة تستهدف مليوني طفل في "
    "المدن والقرى بعد ارتفاع عدد الإصابات خلال الأشهر الثلاثة الماضية. وقال الوزير إن "
    "الفرق الطبية ستزور المدارس والمراكز الصحية وستعمل أيضا في المناطق النائية. وأضاف أن "
    "اللقاحات وصلت بدعم من منظمات دولية وأن الحملة ستستمر أسبوعين. ودعا الأطباء الأهالي "
    "إلى التأكد من حصول أطفالهم على الجرعتين، محذرين من أن المرض قد يسبب مضاعفات خطيرة.",
]
_FILLER = ["officials", "reported", "قال", "según", "later", "nuevo", "العام", "more"]


@st.composite
def copy_of(draw: st.DrawFn, report: str) -> str:
    """The report with a few words replaced, dropped or added: a republication or edit."""
    words = report.split()
    for _ in range(draw(st.integers(min_value=0, max_value=14))):
        at = draw(st.integers(min_value=0, max_value=len(words) - 1))
        action = draw(st.sampled_from(["replace", "drop", "add"]))
        if action == "replace":
            words[at] = draw(st.sampled_from(_FILLER))
        elif action == "drop" and len(words) > 40:
            del words[at]
        else:
            words.insert(at, draw(st.sampled_from(_FILLER)))
    tagline = draw(st.sampled_from(["", "Follow us on Telegram.", "© 2025 Agencia."]))
    return " ".join(words) + (f"\n\n{tagline}" if tagline else "")


@st.composite
def articles(draw: st.DrawFn) -> list[tuple[str, str, str]]:
    """(name, link, text) for copies of the reports; names and links are unique, except
    that a copy may reuse the link of an earlier article (an outlet republishing it)."""
    found: list[tuple[str, str, str]] = []
    for number in range(draw(st.integers(min_value=3, max_value=6))):
        report = draw(st.sampled_from(REPORTS))
        link = f"https://outlet{number}.example/news/{number}"
        if found and draw(st.booleans()):
            link = found[draw(st.integers(0, len(found) - 1))][1]
        found.append((f"a{number}", link, draw(copy_of(report))))
    return found


def _rss(items: list[tuple[str, str, str]]) -> bytes:
    body = "".join(
        f'<item><guid isPermaLink="false">{name}</guid>'
        f"<link>{escape(link)}</link>"
        f"<title>{escape(text.split('.')[0][:80])}</title>"
        f"<description>{escape(text)}</description>"
        "<pubDate>Sat, 11 Jan 2025 05:00:00 GMT</pubDate></item>"
        for name, link, text in items
    )
    head = '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
    return f"{head}{body}</channel></rss>".encode()


@functools.lru_cache(maxsize=256)
def _prepared(item: tuple[str, str, str]) -> tuple[PreparedEntry, ...]:
    """One item parsed, normalized and tagged as the pipeline does (cached: it is pure)."""
    return prepare(_rss([item]), {}, "https://feeds.example/any.xml", NOW, None).entries


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A migrated, empty SQLite database to copy: migrating each example would be slow."""
    path = tmp_path_factory.mktemp("dedupe") / "template.db"
    engine = open_database(f"sqlite:///{path}")
    engine.dispose()
    yield path


def stories_of(template: Path, feeds: list[list[tuple[str, str, str]]]) -> set[frozenset[str]]:
    """Ingest ``feeds`` in order (one transaction each) into a fresh copy; the partition."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "copy.db"
        shutil.copy(template, path)
        engine = make_engine(f"sqlite:///{path}")
        try:
            for number, items in enumerate(feeds):
                url = f"https://feeds.example/{number}.xml"
                prepared = [entry for item in items for entry in _prepared(item)]
                with Session(engine) as session, session.begin():
                    feed = store.add_feed(session, url, now=NOW)
                    store.save_entries(
                        session,
                        feed_id=feed.id,
                        outlet_id=None,
                        entries=[(p.key, p.entry, p.tags, p.candidate) for p in prepared],
                        now=NOW,
                    )
            with Session(engine) as session:
                rows = session.execute(select(Article.guid, Article.story_id)).all()
        finally:
            engine.dispose()
    by_story: dict[int | None, set[str | None]] = {}
    for guid, story_id in rows:
        by_story.setdefault(story_id, set()).add(guid)
    assert None not in by_story  # every article is in a story
    return {frozenset(str(name) for name in names) for names in by_story.values()}


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(items=articles(), data=st.data())
def test_the_stories_do_not_depend_on_arrival_order_or_batching(
    template: Path, items: list[tuple[str, str, str]], data: st.DataObject
) -> None:
    reference = stories_of(template, [[item] for item in items])
    assert set().union(*reference) == {name for name, _, _ in items}  # every article stored
    order = data.draw(st.permutations(items), label="arrival order")
    feeds: list[list[tuple[str, str, str]]] = []
    while order:
        size = data.draw(st.integers(min_value=1, max_value=len(order)), label="feed size")
        feeds.append(order[:size])
        order = order[size:]
    assert stories_of(template, feeds) == reference


def test_copies_join_and_other_reports_stay_apart(template: Path) -> None:
    # Guards the property against generated cases where nothing ever joins a story.
    flood, rates, vaccine = REPORTS
    edited = flood.replace("Tuesday", "Wednesday").replace("thousands", "hundreds")
    items = [
        ("flood", "https://a.example/flood", flood),
        ("flood-copy", "https://b.example/world/flood", edited),
        ("rates", "https://c.example/rates", rates),
        ("vaccine", "https://d.example/health", vaccine),
        # Another outlet's text under the flood report's link: the same article, twice.
        ("same-link", "https://a.example/flood", vaccine + " " + rates),
    ]
    assert stories_of(template, [[item] for item in items]) == {
        frozenset({"flood", "flood-copy", "same-link"}),
        frozenset({"rates"}),
        frozenset({"vaccine"}),
    }
