"""Full text: extraction from real-looking pages, the judgement that keeps the feed's
summary, and the backlog on both engines against a real HTTP server (and the farm)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path
from types import ModuleType

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ingest import store
from ingest.extract import Extraction, extract_article, judge_extraction
from ingest.fetch import FetchOptions
from ingest.fulltext import FullTextOptions, FullTextReport, FullTextStatus, process_backlog
from ingest.models import Article, ArticleFullText, Feed, Story, Tag
from ingest.pipeline import prepare
from tests.conftest import shared_path
from tests.test_search import Item, search, store_feed, titles

NOW = datetime(2025, 1, 11, 6, 0, tzinfo=UTC)
FETCH = FetchOptions(allow_private_networks=True, timeout=10)

PARAGRAPHS_EN = (
    "Iraq's prime minister held talks in Tehran on Wednesday with the Iranian president, "
    "who proposed a joint economic zone along the border between the two neighbours.",
    "According to the official statement, the zone would include shared customs posts, a "
    "border market and power lines that would supply the southern provinces of Iraq with "
    "electricity during the long summer months.",
    "The two governments also discussed regional security, the return of pilgrims and "
    "cooperation on water, a delicate matter because of the drought that affects the "
    "basin of the Tigris and the Euphrates.",
    "Analysts consulted by this newspaper said the agreement comes at a time of regional "
    "tension and that carrying it out will depend on financing and on international "
    "sanctions against Iran's banks.",
    "Officials from both sides will meet again in Baghdad next month to draft the "
    "customs rules, the visa regime for traders and the timetable of the first projects.",
    "Traders in Basra welcomed the plan but warned that queues at the Shalamcheh crossing "
    "already stretch for kilometres on most days, and that new rules alone will not fix it.",
)
TITLE_EN = "Iraq and Iran agree to build a joint economic zone"
SUMMARY_EN = PARAGRAPHS_EN[0]

PARAGRAPHS_AR = (
    "زار رئيس الوزراء العراقي طهران يوم الأربعاء وبحث مع الرئيس الإيراني إنشاء منطقة "
    "اقتصادية مشتركة على الحدود بين البلدين الجارين.",
    "وبحسب البيان الرسمي، ستضم المنطقة مراكز جمركية مشتركة وسوقا حدودية وخطوط كهرباء "
    "تزود المحافظات الجنوبية في العراق بالطاقة خلال أشهر الصيف الطويلة.",
    "كما ناقشت الحكومتان الأمن الإقليمي وعودة الزوار والتعاون في مجال المياه، وهي مسألة "
    "حساسة بسبب الجفاف الذي يضرب حوض دجلة والفرات.",
    "وقال محللون إن الاتفاق يأتي في وقت توتر إقليمي وإن تنفيذه سيعتمد على التمويل وعلى "
    "العقوبات الدولية المفروضة على المصارف الإيرانية.",
)
TITLE_AR = "العراق وإيران يتفقان على إنشاء منطقة اقتصادية مشتركة"


def article_page(
    title: str,
    paragraphs: Sequence[str],
    *,
    lang: str = "en",
    inside_article: str = "",
) -> str:
    """An outlet's article page: header, nav, cookie banner, the article, related, footer."""
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{escape(title)} | The Daily Example</title>"
        '<script>window.dataLayer = [{"page": "article"}];</script></head><body>'
        '<header class="site-header"><a href="/">The Daily Example</a><nav><ul>'
        '<li><a href="/world">World</a></li><li><a href="/business">Business</a></li>'
        '<li><a href="/sport">Sport</a></li><li><a href="/opinion">Opinion</a></li></ul></nav>'
        '<div class="cookie-banner">We use cookies to improve your experience and to show '
        "you personalised advertising. <button>Accept all</button></div></header>"
        f'<main><article><h1>{escape(title)}</h1><p class="byline">By A. Reporter, 8 January '
        f"2025</p>{inside_article}{body}</article></main>"
        '<aside class="related"><h2>Related</h2><ul>'
        '<li><a href="/a/1">Oil prices climb after the Tehran talks</a></li>'
        '<li><a href="/a/2">Five things to know about the Tigris drought</a></li></ul>'
        '<div class="ad">Advertisement: subscribe for unlimited access.</div></aside>'
        "<footer><p>&copy; The Daily Example. All rights reserved.</p>"
        '<a href="/privacy">Privacy policy</a> <a href="/terms">Terms</a></footer>'
        "</body></html>"
    )


PAYWALL_PAGE = article_page(
    "Subscribe to keep reading",
    (
        "This content is available to subscribers only. Subscribe today to get unlimited "
        "access to award-winning journalism, newsletters, puzzles and the archive.",
        "Already a subscriber? Log in with your account to continue. Cancel anytime; offers "
        "renew automatically at the standard rate unless cancelled before the renewal date.",
    ),
)


# ---------------------------------------------------------------- extraction (pure)


def test_the_article_is_extracted_and_the_page_furniture_left_out() -> None:
    page = article_page(
        TITLE_EN,
        PARAGRAPHS_EN,
        inside_article='<script>track()</script><p onclick="x()"><a href="/more">More</a></p>',
    )
    found = extract_article(page.encode(), "https://daily.example/2025/iraq-iran", TITLE_EN)
    assert found is not None
    for paragraph in PARAGRAPHS_EN:
        assert paragraph in found.text
    for furniture in ("cookies", "Related", "Advertisement", "Privacy", "Sport", "rights"):
        assert furniture not in found.text, furniture
    assert TITLE_EN not in found.text  # the page's headline repeats the feed's title
    assert (
        "<script" not in found.html and "onclick" not in found.html and "track()" not in found.html
    )
    assert found.link_share < 0.1


def test_arabic_pages_are_extracted() -> None:
    page = article_page(TITLE_AR, PARAGRAPHS_AR, lang="ar")
    found = extract_article(page.encode(), "https://arabic.example/news/1", TITLE_AR)
    assert found is not None
    for paragraph in PARAGRAPHS_AR:
        assert paragraph in found.text
    verdict = judge_extraction(
        found, feed_text=PARAGRAPHS_AR[0][:80], feed_title=TITLE_AR, feed_language="ar"
    )
    assert verdict.accept, verdict.reason


def test_a_page_declared_in_another_charset_is_read() -> None:
    spanish = "El acuerdo prevé una zona económica conjunta con aduanas compartidas. " * 8
    page = article_page("Acuerdo", [spanish], lang="es").replace("utf-8", "iso-8859-1")
    found = extract_article(page.encode("iso-8859-1"), "https://diario.example/a", "Acuerdo")
    assert found is not None and "económica" in found.text


GOOD_TEXT = " ".join(PARAGRAPHS_EN)


@pytest.mark.parametrize(
    ("extraction", "feed_text", "feed_language", "reason"),
    [
        (None, SUMMARY_EN, "en", "no main text found"),
        (Extraction("<p>x</p>", "Iraq and Iran talk.", 0.0), "", "en", "too short"),
        (Extraction("", GOOD_TEXT, 0.0), GOOD_TEXT + " More.", "en", "no longer than the feed"),
        (Extraction("", GOOD_TEXT, 0.8), SUMMARY_EN, "en", "mostly links"),
        (
            Extraction("", " ".join(p for p in PAYWALL_PAGE.split("<p>")[1:]) * 2, 0.0),
            SUMMARY_EN,
            "en",
            "shares only",
        ),
        (Extraction("", GOOD_TEXT, 0.0), SUMMARY_EN, "es", "in another language (en"),
        (Extraction("", GOOD_TEXT, 0.0), SUMMARY_EN, "en", None),
        (Extraction("", GOOD_TEXT, 0.0), SUMMARY_EN, "en-GB", None),
        (Extraction("", GOOD_TEXT, 0.0), SUMMARY_EN, None, None),
        (Extraction("", GOOD_TEXT, 0.0), "", "en", None),  # the title stands in
    ],
)
def test_an_extraction_that_looks_wrong_keeps_the_feed_summary(
    extraction: Extraction | None, feed_text: str, feed_language: str | None, reason: str | None
) -> None:
    verdict = judge_extraction(
        extraction, feed_text=feed_text, feed_title=TITLE_EN, feed_language=feed_language
    )
    if reason is None:
        assert verdict.accept, verdict.reason
    else:
        assert not verdict.accept
        assert verdict.reason is not None and reason in verdict.reason


# ---------------------------------------------------------------- the backlog, both engines


def run_backlog(
    engine: Engine, *, limit: int | None = None, now: datetime = NOW, **options: object
) -> FullTextReport:
    return process_backlog(
        engine,
        fetch_options=FETCH,
        options=FullTextOptions(**options),  # type: ignore[arg-type]
        clock=lambda: now,
        limit=limit,
    )


def statuses(report: FullTextReport) -> dict[str, str]:
    return {o.url.rsplit("/", 1)[-1]: str(o.status) for o in report.outcomes}


def serve_pages(httpserver: HTTPServer) -> dict[str, str]:
    httpserver.expect_request("/good").respond_with_data(
        article_page(TITLE_EN, PARAGRAPHS_EN), content_type="text/html; charset=utf-8"
    )
    httpserver.expect_request("/paywall").respond_with_data(PAYWALL_PAGE, content_type="text/html")
    httpserver.expect_request("/missing").respond_with_data("not here", status=404)
    httpserver.expect_request("/flaky").respond_with_data("try later", status=503)
    httpserver.expect_request("/report.pdf").respond_with_data(
        b"%PDF-1.7", content_type="application/pdf"
    )
    return {name: httpserver.url_for(f"/{name}") for name in ("good", "paywall", "missing")}


def teasers(httpserver: HTTPServer) -> list[Item]:
    """Summary-only entries whose links point at the test server."""
    published = NOW - timedelta(hours=3)
    return [
        Item(name, title, SUMMARY_EN, published=published, link=httpserver.url_for(f"/{name}"))
        for name, title in (
            ("good", TITLE_EN),
            ("paywall", "Iraq and Iran talk trade"),
            ("missing", "Iraq and Iran talk water"),
            ("flaky", "Iraq and Iran talk power"),
            ("report.pdf", "Iraq and Iran talk customs"),
        )
    ]


def article_by_url(engine: Engine, url: str) -> Article:
    with Session(engine) as session:
        article = session.scalars(select(Article).where(Article.url == url)).one()
        session.expunge(article)
        return article


def test_the_backlog_extracts_good_pages_and_keeps_summaries_otherwise(
    engine: Engine, httpserver: HTTPServer
) -> None:
    serve_pages(httpserver)
    with Session(engine) as session, session.begin():
        store_feed(session, teasers(httpserver), now=NOW - timedelta(hours=1))
    good_url = httpserver.url_for("/good")
    before = article_by_url(engine, good_url)
    assert not before.is_full

    report = run_backlog(engine, batch_size=2)
    assert statuses(report) == {
        "good": "extracted",
        "paywall": "kept_summary",
        "missing": "failed",
        "flaky": "retry",
        "report.pdf": "kept_summary",
    }
    reasons = {o.url.rsplit("/", 1)[-1]: o.reason or "" for o in report.outcomes}
    assert "shares only" in reasons["paywall"]
    assert "404" in reasons["missing"]
    assert "not an HTML page (application/pdf)" in reasons["report.pdf"]

    after = article_by_url(engine, good_url)
    assert all(p in after.content_text for p in PARAGRAPHS_EN)
    assert "cookies" not in after.content_text
    assert after.is_full
    assert after.summary == before.summary  # the feed's summary stays the summary
    assert after.content_hash == before.content_hash  # what the feed sent, unchanged
    paywalled = article_by_url(engine, httpserver.url_for("/paywall"))
    assert paywalled.content_text == SUMMARY_EN
    # The search index sees the extracted text.
    assert titles(search(engine, "Euphrates pilgrims")) == [TITLE_EN]

    # The flaky page is tried again on later runs, then given up.
    assert run_backlog(engine, now=NOW + timedelta(minutes=10)).outcomes == ()  # too soon
    assert statuses(run_backlog(engine, now=NOW + timedelta(hours=1))) == {"flaky": "retry"}
    assert statuses(run_backlog(engine, now=NOW + timedelta(hours=2))) == {"flaky": "failed"}
    assert run_backlog(engine, now=NOW + timedelta(hours=3)).outcomes == ()
    with Session(engine) as session:
        attempts = session.scalar(
            select(ArticleFullText.attempts)
            .join(Article, Article.id == ArticleFullText.article_id)
            .where(Article.url == httpserver.url_for("/flaky"))
        )
    assert attempts == 3

    # The feed sends the same entries again: nothing is updated, the full text stays.
    with Session(engine) as session, session.begin():
        stats = store_feed(session, teasers(httpserver), now=NOW)
    assert stats.updated == 0
    assert article_by_url(engine, good_url).is_full


def test_a_feed_edit_puts_the_summary_back_and_the_page_is_fetched_again(
    engine: Engine, httpserver: HTTPServer
) -> None:
    serve_pages(httpserver)
    good = teasers(httpserver)[0]
    with Session(engine) as session, session.begin():
        store_feed(session, [good], now=NOW - timedelta(hours=2))
    assert statuses(run_backlog(engine)) == {"good": "extracted"}
    edited = Item(good.guid, good.title, SUMMARY_EN + " Updated.", good.published, good.link)
    with Session(engine) as session, session.begin():
        assert store_feed(session, [edited], now=NOW + timedelta(hours=1)).updated == 1
    assert not article_by_url(engine, good.link or "").is_full
    assert statuses(run_backlog(engine, now=NOW + timedelta(hours=2))) == {"good": "extracted"}
    assert article_by_url(engine, good.link or "").is_full


def test_which_articles_wait_for_their_page(engine: Engine, httpserver: HTTPServer) -> None:
    serve_pages(httpserver)
    full_body = " ".join(PARAGRAPHS_EN)
    recent = NOW - timedelta(hours=3)
    with Session(engine) as session, session.begin():
        # A feed that carries whole articles: nothing to fetch...
        store_feed(
            session,
            [Item("full", "Whole article", full_body, recent, httpserver.url_for("/whole"))],
            outlet="Full Feeds",
            feed="https://full.example/feed.xml",
            now=NOW - timedelta(hours=1),
        )
        # ...unless its outlet is marked full_text.
        store_feed(
            session,
            [Item("marked", "Marked outlet", full_body, recent, httpserver.url_for("/marked"))],
            outlet="Marked",
            feed="https://marked.example/feed.xml",
            now=NOW - timedelta(hours=1),
        )
        store.set_outlets_full_text(session, {"Marked": True, "Full Feeds": False})
        # A teaser first seen long ago is not worth a fetch any more.
        store_feed(
            session,
            [Item("stale", "Stale teaser", SUMMARY_EN, recent, httpserver.url_for("/stale"))],
            outlet="Old",
            feed="https://old.example/feed.xml",
            now=NOW - timedelta(days=10),
        )
        store_feed(
            session,
            [Item("teaser", "Fresh teaser", SUMMARY_EN, recent, httpserver.url_for("/teaser"))],
            outlet="Teasers",
            feed="https://teasers.example/feed.xml",
            now=NOW - timedelta(hours=1),
        )
    for name in ("marked", "teaser"):
        httpserver.expect_request(f"/{name}").respond_with_data(
            article_page(TITLE_EN, PARAGRAPHS_EN), content_type="text/html"
        )
    report = run_backlog(engine, short_summaries=False)
    assert statuses(report) == {"marked": "kept_summary"}  # no longer than the feed's text
    report = run_backlog(engine)
    assert statuses(report) == {"teaser": "extracted"}
    assert run_backlog(engine).outcomes == ()


def test_limit_bounds_the_run(engine: Engine, httpserver: HTTPServer) -> None:
    serve_pages(httpserver)
    with Session(engine) as session, session.begin():
        store_feed(session, teasers(httpserver), now=NOW - timedelta(hours=1))
    assert len(run_backlog(engine, limit=3, batch_size=2).outcomes) == 3
    assert len(run_backlog(engine, limit=3).outcomes) == 2


def article_of_feed(engine: Engine, feed_url: str) -> Article:
    with Session(engine) as session:
        article = session.scalars(
            select(Article).join(Feed, Feed.id == Article.feed_id).where(Feed.url == feed_url)
        ).one()
        session.expunge(article)
        return article


def test_a_story_representative_becomes_the_full_version(
    engine: Engine, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/first").respond_with_data(
        article_page(TITLE_EN, PARAGRAPHS_EN), content_type="text/html"
    )
    full_body = " ".join(PARAGRAPHS_EN)
    first_url = httpserver.url_for("/first")
    with Session(engine) as session, session.begin():
        # The outlet's teaser feed has the article first; its full feed has it later (the
        # same URL: one story).
        store_feed(
            session,
            [Item("first", TITLE_EN, full_body[:300], NOW - timedelta(hours=5), first_url)],
            outlet="Teaser Outlet",
            feed="https://teaser.example/feed.xml",
            now=NOW - timedelta(hours=2),
        )
        store_feed(
            session,
            [Item("copy", TITLE_EN, full_body, NOW - timedelta(hours=3), first_url)],
            outlet="Teaser Outlet",
            feed="https://teaser.example/full-feed.xml",
            now=NOW - timedelta(hours=2),
        )
    first, copy = (
        article_of_feed(engine, f"https://teaser.example/{name}.xml")
        for name in ("feed", "full-feed")
    )
    assert first.story_id == copy.story_id is not None
    with Session(engine) as session:
        assert session.get(Story, first.story_id).representative_id == copy.id  # type: ignore[union-attr]
    assert statuses(run_backlog(engine)) == {"first": "extracted"}
    with Session(engine) as session:
        story = session.get(Story, first.story_id)
        assert story is not None and story.representative_id == first.id


def test_fulltext_on_the_command_line(
    tmp_path: Path,
    database_url: str,
    httpserver: HTTPServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from newsdigest.db import open_database
    from tests.test_cli import run, write_config

    serve_pages(httpserver)
    now = datetime.now(UTC)
    engine = open_database(database_url)
    with Session(engine) as session, session.begin():
        items = [
            Item(i.guid, i.title, i.text, now - timedelta(hours=2), i.link)
            for i in teasers(httpserver)[:3]
        ]
        store_feed(session, items, now=now - timedelta(hours=1))
    engine.dispose()
    config = write_config(tmp_path, database_url)
    capsys.readouterr()
    # Newest first, then the highest id: the missing page comes first, and fails.
    assert run(config, "fulltext", "--limit", "1") == 1
    out = capsys.readouterr().out
    assert "404" in out and "/missing" in out
    assert run(config, "fulltext") == 0  # the good page and the paywall: nothing failed
    assert "/missing" not in capsys.readouterr().out
    assert run(config, "articles", "search", "Euphrates", "--json") == 0
    assert TITLE_EN in capsys.readouterr().out


def countries_of(engine: Engine, url: str) -> set[str]:
    with Session(engine) as session:
        return set(
            session.scalars(
                select(Tag.value)
                .join(Article, Article.id == Tag.article_id)
                .where(Article.url == url, Tag.kind == "country")
            )
        )


def test_an_extracted_page_is_tagged_by_its_text(
    tmp_path: Path, database_url: str, httpserver: HTTPServer
) -> None:
    """A teaser naming no country, whose page is about Iraq and Iran: the full text's tags."""
    from newsdigest.db import open_database
    from tests.test_cli import run, write_config

    title = "Neighbours agree to build a joint economic zone"
    httpserver.expect_request("/zone").respond_with_data(
        article_page(title, PARAGRAPHS_EN), content_type="text/html; charset=utf-8"
    )
    url = httpserver.url_for("/zone")
    now = datetime.now(UTC)
    engine = open_database(database_url)
    try:
        with Session(engine) as session, session.begin():
            store_feed(
                session,
                [Item("zone", title, PARAGRAPHS_EN[2], now - timedelta(hours=2), url)],
                now=now - timedelta(hours=1),
            )
        assert countries_of(engine, url) == set()  # the teaser names no country
        assert run(write_config(tmp_path, database_url), "fulltext") == 0
        assert article_by_url(engine, url).is_full
        assert countries_of(engine, url) == {"IQ", "IR"}
    finally:
        engine.dispose()


# ---------------------------------------------------------------- the feed farm


def _load_farm() -> ModuleType:
    path = shared_path("bench", "farm.py")
    pytest.importorskip("aiohttp", reason="the farm needs aiohttp")
    spec = importlib.util.spec_from_file_location("shared_farm", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ModuleType]]:
    """../shared/bench/farm.py serving 3 feeds on a free port; its base URL and module."""
    module = _load_farm()
    ready = tmp_path_factory.mktemp("farm") / "url"
    proc = subprocess.Popen(
        [
            sys.executable,
            module.__file__ or "",
            *("--feeds", "3", "--port", "0", "--max-seconds", "300"),
            *("--ready-file", str(ready)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (ready.exists() and ready.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the farm did not start: {proc.stderr.read() if proc.stderr else ''}")
            time.sleep(0.1)
        yield ready.read_text().strip().rstrip("/"), module
    finally:
        proc.terminate()
        proc.communicate(timeout=30)  # waits, and closes the stderr pipe


def test_farm_article_pages_are_extracted(farm: tuple[str, ModuleType]) -> None:
    base, module = farm
    for j in range(3):
        entry = module.make_entry(1, 0, j)
        url = f"{base}/articles/0/{j}.html"
        with urllib.request.urlopen(url, timeout=10) as response:
            page = response.read()
        found = extract_article(page, url, entry.title)
        assert found is not None
        for paragraph in entry.paragraphs:
            assert paragraph in found.text
        for furniture in ("cookies", "Advertisement", "Related", "All rights reserved"):
            assert furniture not in found.text
        verdict = judge_extraction(
            found, feed_text=entry.summary, feed_title=entry.title, feed_language="en"
        )
        assert verdict.accept, verdict.reason


def test_the_backlog_fills_in_farm_entries(engine: Engine, farm: tuple[str, ModuleType]) -> None:
    base, module = farm
    feed_url = f"{base}/feeds/1.xml"
    with urllib.request.urlopen(feed_url, timeout=10) as response:
        body = response.read()
    first_seen = NOW - timedelta(hours=1)
    with Session(engine) as session, session.begin():
        outlet = store.ensure_outlet(session, "Farm News 1", now=first_seen)
        feed = store.add_feed(session, feed_url, now=first_seen, outlet_id=outlet.id)
        prepared = prepare(body, {}, feed_url, first_seen, None)
        store.save_entries(
            session,
            feed_id=feed.id,
            outlet_id=outlet.id,
            entries=[(p.key, p.entry, p.tags, p.candidate) for p in prepared.entries],
            now=first_seen,
        )
    report = run_backlog(engine, limit=6)
    assert len(report.outcomes) == 6
    assert report.count(FullTextStatus.EXTRACTED) == 6, [o.reason for o in report.outcomes]
    with Session(engine) as session:
        for outcome in report.outcomes:
            text = session.scalar(
                select(Article.content_text).where(Article.id == outcome.article_id)
            )
            j = int(outcome.url.rsplit("/", 1)[-1].removesuffix(".html"))
            assert text is not None
            assert all(p in text for p in module.make_entry(1, 1, j).paragraphs)


def test_an_outlet_marked_full_text_in_the_config_gets_its_pages_fetched(
    tmp_path: Path, sqlite_url: str, httpserver: HTTPServer
) -> None:
    from newsdigest.db import open_database
    from tests.test_cli import run, write_config

    httpserver.expect_request("/whole").respond_with_data(
        article_page(TITLE_EN, PARAGRAPHS_EN), content_type="text/html"
    )
    feed = "https://marked.example/feed.xml"
    now = datetime.now(UTC)
    link = httpserver.url_for("/whole")
    engine = open_database(sqlite_url)
    with Session(engine) as session, session.begin():
        item = Item("whole", TITLE_EN, " ".join(PARAGRAPHS_EN[:4]), now - timedelta(hours=2), link)
        store_feed(session, [item], outlet="Marked", feed=feed, now=now - timedelta(hours=1))
    # With short_summaries off, only the outlet's mark makes its pages wanted.
    settings = "fulltext:\n  short_summaries: false\n"
    assert run(write_config(tmp_path, sqlite_url, settings), "fulltext") == 0
    assert httpserver.log == []
    marked = settings + f"outlets:\n  - name: Marked\n    full_text: true\n    feeds: [{feed}]\n"
    assert run(write_config(tmp_path, sqlite_url, marked), "fulltext") == 0
    assert [request.path for request, _ in httpserver.log] == ["/whole"]
    text = article_by_url(engine, link).content_text
    engine.dispose()
    assert all(p in text for p in PARAGRAPHS_EN)
