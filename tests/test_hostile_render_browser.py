"""Every hostile entry, rendered into a digest, runs no script and fetches nothing.

The documents of ``../shared/corpus/hostile/`` (those hostile/MANIFEST.tsv lists,
``make.py --big``'s included) go through the real pipeline into SQLite, exactly as
tests/test_corpus.py ingests them; a hand-written feed and JSON Feed of active content
(script, event handlers, javascript: and data: URLs, SVG, srcdoc, CSS url()/@import/
expression(), meta refresh, base, stylesheets, object/embed, remote srcset, entities,
mixed scripts), served by pytest-httpserver, follow them under an outlet whose name is
hostile too. Every stored article is then composed into one digest by digest.compose and
rendered by digest.render: the web page, the same page without its Content-Security-Policy
(the escaping must hold on its own), and the HTML email (mail clients ignore a CSP).

Each file is served by a local HTTP server and loaded in headless Chromium
(tests/browser_audit.py): it may request only itself and images, parse no script of its
own, open no dialog, and leave no script, event handler, active URL or fetching element in
its DOM. A control page, written here and not by the renderer, shows that the same checker
sees a script run and an external stylesheet requested.
"""

from __future__ import annotations

import asyncio
import functools
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import timedelta
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import lxml.html
import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy.orm import Session

from digest.compose import compose
from digest.render import Renderer
from digest.types import Digest, DigestArticle, Limits, SubscriberPrefs
from ingest import store
from ingest.fetch import FetchOptions
from ingest.pipeline import Pipeline, PipelineOptions
from newsdigest.db import open_database
from newsdigest.digest_job import region_resolver, to_digest_article
from tests.browser_audit import Audit, PageAuditor, dom_problems
from tests.conftest import shared_path
from tests.test_corpus import NOW, corpus_documents, ingest_documents
from tests.test_digest_browser import chromium

WINDOW = (NOW - timedelta(days=1), NOW + timedelta(minutes=1))
#: Article ids of each database are shifted by this much so that they stay distinct.
ID_STRIDE = 10_000_000
HOSTILE_OUTLET = "<img src=http://evil.example/o.png onerror=alert('outlet')> «Ньюс» \u202e"
CSP_META = '<meta http-equiv="Content-Security-Policy"'
#: Text of hand-written entries that is markup once decoded: shown as such in every file.
SHOWN_AS_TEXT = (
    "<script>alert(11)</script> — Москва & طهران 東京",
    "<script>alert(26)</script> plain text that looks like markup",
    "<style>@import 'http://evil.example/e.css'</style> résumé — 概要",
)

# ---------------------------------------------------------------- the hand-written feeds

_ITEMS: list[tuple[str, str, str]] = [
    # (title as it appears in the XML, link, description as HTML)
    (
        "&lt;script&gt;alert('title')&lt;/script&gt; Headline with a script tag",
        "javascript:alert('link')",
        '<p onclick="alert(1)">Click</p><script src="http://evil.example/s.js"></script>'
        '<img src="x" onerror="alert(2)"><body onload="alert(3)">',
    ),
    (
        "&lt;svg onload=alert('svg')&gt; SVG and srcdoc",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCg3KTwvc2NyaXB0Pg==",
        '<svg onload="alert(4)"><script>alert(5)</script></svg>'
        '<iframe srcdoc="&lt;script&gt;alert(6)&lt;/script&gt;"></iframe>'
        '<iframe src="http://evil.example/frame"></iframe>',
    ),
    (
        "CSS that fetches &lt;style&gt;@import url(http://evil.example/a.css)&lt;/style&gt;",
        "https://news.example/css",
        "<style>@import url(http://evil.example/a.css); body{background:url(http://evil.example/"
        'b.png)}</style><div style="background:url(http://evil.example/c.png);'
        'width:expression(alert(8))">styled</div>',
    ),
    (
        "&lt;meta http-equiv=refresh content=0;url=http://evil.example/&gt; Refresh and base",
        "https://news.example/meta",
        '<meta http-equiv="refresh" content="0;url=http://evil.example/">'
        '<base href="http://evil.example/"><link rel="stylesheet" '
        'href="http://evil.example/d.css"><a href="relative">relative</a>',
    ),
    (
        "Object, embed &amp; srcset &lt;object data=http://evil.example/e.swf&gt;",
        "https://news.example/object",
        '<object data="http://evil.example/e.swf"></object><embed src="http://evil.example/'
        'f.swf"><img srcset="http://evil.example/g.png 1x, http://evil2.example/h.png 2x" '
        'src="http://evil.example/i.png"><picture><source srcset="http://evil.example/j.png">'
        '</picture><video poster="http://evil.example/k.png" src="http://evil.example/l.mp4">'
        '</video><audio src="http://evil.example/m.mp3"></audio><form action="javascript:'
        'alert(9)"><button formaction="javascript:alert(10)">go</button></form>',
    ),
    (
        "&amp;lt;script&amp;gt;alert(11)&amp;lt;/script&amp;gt; — Москва &amp; طهران "
        "東京 &#x3C;img src=x onerror=alert(12)&#x3E; שלום \u202eevil\u202c 🙂",
        "  JaVaScRiPt:alert('case')",
        "Mixed scripts: Влада Ирака, رئيس الوزراء العراقي, 東京で会議, &lt;b&gt;bold?&lt;/b&gt; "
        '&amp;#x3C;script&amp;#x3E; <a href="java&#x09;script:alert(13)">tab</a> '
        '<a href="vbscript:msgbox(14)">vb</a> <a href="//evil.example/p">proto</a>',
    ),
    (
        "\"&gt;&lt;img src=x onerror=alert('attr')&gt;{{ 7*7 }}${7*7}",
        'https://news.example/q?x="><script>alert(15)</script>',
        '<a href="https://news.example/" style="behavior:url(x.htc)" '
        'onmouseover="alert(16)">hover</a><math><mtext><script>alert(17)</script></mtext></math>'
        '<noscript><p title="</noscript><img src=x onerror=alert(18)>"></noscript>',
    ),
]


def hostile_rss() -> bytes:
    items = "".join(
        f"<item><title>{title}</title><link>{link.replace('&', '&amp;').replace('<', '&lt;')}"
        f'</link><guid isPermaLink="false">hand-{i}</guid>'
        f"<description><![CDATA[{body}]]></description>"
        f"<content:encoded><![CDATA[<div>{body}</div>]]></content:encoded>"
        f'<enclosure url="http://evil.example/enc-{i}.mp3" type="audio/mpeg" length="1"/>'
        f"<pubDate>Fri, 10 Jan 2025 08:0{i}:00 GMT</pubDate></item>"
        for i, (title, link, body) in enumerate(_ITEMS)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        "<channel><title>&lt;script&gt;alert('channel')&lt;/script&gt;</title>"
        f"<link>https://news.example/</link>{items}</channel></rss>"
    ).encode()


def hostile_json_feed() -> bytes:
    items = [
        {
            "id": "json-1",
            "url": "javascript:alert('json')",
            "external_url": "data:text/html,<script>alert(20)</script>",
            "title": "<script>alert('json title')</script> JSON Feed entry",
            "content_html": "<img src=x onerror=alert(21)><svg><animate onbegin=alert(22) "
            "attributeName=x dur=1s></svg><iframe srcdoc='<script>alert(23)</script>'>",
            "summary": "<style>@import 'http://evil.example/e.css'</style> résumé — 概要",
            "image": "javascript:alert(24)",
            "banner_image": "http://evil.example/banner.png",
            "date_published": "2025-01-10T09:00:00Z",
            "attachments": [{"url": "http://evil.example/a.bin", "mime_type": "text/html"}],
        },
        {
            "id": "json-2",
            "url": "https://news.example/json-2",
            "title": "\"'><img src=x onerror=alert(25)> بغداد",
            "content_text": "<script>alert(26)</script> plain text that looks like markup",
            "date_published": "2025-01-10T09:30:00Z",
        },
    ]
    return json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "<script>alert('feed')</script>",
            "home_page_url": "javascript:alert(27)",
            "items": items,
        },
        ensure_ascii=False,
    ).encode()


def ingest_hand_written(url: str, server: HTTPServer) -> int:
    """Follow the hand-written feeds (the RSS one under two outlets) and fetch them once."""
    server.expect_request("/plain/hostile.xml").respond_with_data(
        hostile_rss(), content_type="application/rss+xml"
    )
    server.expect_request("/hostile-outlet/hostile.xml").respond_with_data(
        hostile_rss(), content_type="application/rss+xml"
    )
    server.expect_request("/hostile.json").respond_with_data(
        hostile_json_feed(), content_type="application/feed+json"
    )
    engine = open_database(url)
    try:
        with Session(engine) as session, session.begin():
            plain = store.ensure_outlet(session, "Hand-written", now=NOW)
            hostile = store.ensure_outlet(session, HOSTILE_OUTLET, now=NOW)
            for path, outlet in (
                ("/plain/hostile.xml", plain),
                ("/hostile-outlet/hostile.xml", hostile),
                ("/hostile.json", plain),
            ):
                store.add_feed(session, server.url_for(path), now=NOW, outlet_id=outlet.id)
        options = PipelineOptions(fetch=FetchOptions(allow_private_networks=True, timeout=10))
        pipeline = Pipeline(engine, options, clock=lambda: NOW)
        report = asyncio.run(pipeline.run(pipeline.due_feeds(all_feeds=True)))
    finally:
        engine.dispose()
    assert [o.error for o in report.outcomes if o.error] == []
    return len(report.outcomes)


# ---------------------------------------------------------------- the digest


def stored_articles(url: str, stride: int, *, own_story: bool) -> list[DigestArticle]:
    """The database's articles as a digest build reads them (digest_job), ids shifted.

    ``own_story``: each article is made a story of its own, so that every one is shown
    (a story is shown once, through one article; the corpus shares texts and URLs).
    """
    engine = open_database(url)
    try:
        with Session(engine) as session:
            infos = store.list_articles(session, since=WINDOW[0], until=WINDOW[1])
    finally:
        engine.dispose()
    articles = []
    for info in infos:
        a = to_digest_article(info)
        story = None if own_story or a.story_id is None else a.story_id + stride
        articles.append(replace(a, id=a.id + stride, story_id=story))
    return articles


@dataclass(frozen=True, slots=True)
class Rendered:
    folder: Path
    digest: Digest
    corpus_articles: int
    hand_written_articles: int
    #: The served files: name -> what it is.
    files: dict[str, str]


def compose_all(articles: list[DigestArticle]) -> Digest:
    prefs = SubscriberPrefs(
        email="reader@example.org",
        name="<script>alert('name')</script>",
        timezone="Asia/Tehran",
        limits=Limits(per_section=None, total=None),
    )
    return compose(articles, prefs, WINDOW, region_countries=region_resolver(), now=NOW)


def build(corpus: Path, tmp: Path) -> Rendered:
    """Ingest the hostile documents and the hand-written feeds; render their digest."""
    docs = [d for d in corpus_documents(corpus) if d.name.startswith("hostile/")]
    manifest = (corpus / "hostile" / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines()
    listed = {f"hostile/{line.split(chr(9), 1)[0]}" for line in manifest[1:] if line.strip()}
    assert listed <= {d.name for d in docs}, "a MANIFEST.tsv entry is not a served document"
    with pytest.MonkeyPatch.context() as mp:
        fates, _, _, corpus_urls = ingest_documents(tmp, docs, mp)
    assert len(fates) == len(docs)
    hand_url = f"sqlite:///{tmp / 'hand-written.db'}"
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    try:
        assert ingest_hand_written(hand_url, server) == 3
    finally:
        server.clear()
        server.stop()

    corpus_articles = [
        a
        for n, url in enumerate(corpus_urls)
        for a in stored_articles(url, (n + 1) * ID_STRIDE, own_story=True)
    ]
    hand = stored_articles(hand_url, 0, own_story=False)
    digest = compose_all(corpus_articles + hand)

    folder = tmp / "site"
    folder.mkdir()
    renderer = Renderer()
    page = renderer.page(digest)
    assert page.count(CSP_META) == 1
    (folder / "page.html").write_text(page, encoding="utf-8")
    without_csp = "\n".join(line for line in page.splitlines() if CSP_META not in line)
    (folder / "page-without-csp.html").write_text(without_csp, encoding="utf-8")
    email = renderer.email_html(
        digest,
        unsubscribe_url="https://news.example/unsubscribe/1.x",
        view_url="https://news.example/d/1.html",
    )
    (folder / "email.html").write_text(email, encoding="utf-8")
    return Rendered(
        folder,
        digest,
        len(corpus_articles),
        len(hand),
        {
            "page.html": "the web page",
            "page-without-csp.html": "the web page without its CSP",
            "email.html": "the HTML email",
        },
    )


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    corpus = shared_path("corpus")
    tmp = tmp_path_factory.mktemp("hostile-render")
    # On a thread of its own: the pipeline runs its own event loop (asyncio.run), which
    # cannot start while Playwright's, of the browser fixture, runs on this thread.
    with ThreadPoolExecutor(1, thread_name_prefix="hostile-build") as pool:
        return pool.submit(build, corpus, tmp).result()


# ---------------------------------------------------------------- the browser


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Site:
    folder: Path
    auditor: PageAuditor


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One local HTTP server over a folder, one Chromium for every page of the module."""
    executable = chromium()  # skips, or fails under CI, when Chromium is absent
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is in the dev extra: pip install -e '.[dev]'"
    )
    folder = tmp_path_factory.mktemp("served")
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=executable,
                args=["--no-sandbox", "--disable-background-networking", "--no-first-run"],
            )
            try:
                origin = f"http://127.0.0.1:{server.server_address[1]}"
                yield Site(folder, PageAuditor(browser, origin))
            finally:
                browser.close()
    finally:
        server.shutdown()
        server.server_close()


def audit_file(site: Site, source: Path) -> Audit:
    (site.folder / source.name).write_bytes(source.read_bytes())
    return site.auditor.audit(source.name)


# ---------------------------------------------------------------- the tests

CONTROL = """<!doctype html><html><head><title>control</title>
<link rel="stylesheet" href="http://evil.example/control.css">
</head><body><p id="p">unsafe on purpose</p>
<script>document.getElementById('p').textContent = 'a script ran';</script>
<img src="http://images.example/allowed.png" alt="">
<a href="javascript:alert(1)" onclick="alert(2)">x</a>
</body></html>"""


def test_the_checker_catches_a_script_and_an_external_stylesheet(
    site: Site, tmp_path: Path
) -> None:
    """The control: an unsafe page written here (not by the renderer) is caught."""
    source = tmp_path / "control.html"
    source.write_text(CONTROL, encoding="utf-8")
    audit = audit_file(site, source)
    problems = audit.problems()
    assert ("stylesheet", "http://evil.example/control.css") in audit.forbidden_requests
    assert any(url.endswith("/control.html") for url, _ in audit.scripts), audit.scripts
    # The image is allowed, but like every external request it never left the machine.
    assert ("image", "http://images.example/allowed.png") in audit.requests
    assert "request (image): http://images.example/allowed.png" not in problems
    assert sorted(audit.external) == [
        "http://evil.example/control.css",
        "http://images.example/allowed.png",
    ]
    assert "DOM: <script> element" in problems
    assert any("onclick" in p for p in problems) and any("javascript:" in p for p in problems)


def test_a_dialog_is_caught(site: Site, tmp_path: Path) -> None:
    source = tmp_path / "dialog.html"
    source.write_text("<p>x</p><img src=nowhere onerror=\"alert('hi')\">", encoding="utf-8")
    assert "alert: hi" in audit_file(site, source).dialogs


def test_the_dom_check_sees_every_kind_of_active_markup() -> None:
    """dom_problems on markup the renderer must never leave in a page (no browser)."""
    cases = [
        "<script>1</script>",
        "<svg onload=x></svg>",
        "<iframe srcdoc='x'></iframe>",
        "<a href=' java\tscript:x'>a</a>",
        "<a href='data:text/html,x'>a</a>",
        "<img srcset='a.png 1x, javascript:x 2x'>",
        "<div style='background:url(http://e/x.png)'>a</div>",
        "<style>@import 'http://e/a.css';</style>",
        "<meta http-equiv=refresh content='0;url=http://e/'>",
        "<base href='http://e/'>",
        "<link rel=stylesheet href='http://e/a.css'>",
        "<object data='http://e/x'></object>",
        "<embed src='http://e/x'>",
        "<form action='http://e/'><button>x</button></form>",
    ]
    assert [c for c in cases if not dom_problems(f"<html><body>{c}</body></html>")] == []
    assert dom_problems("<html><body><a href='https://e/'>safe</a><p>ok</p></body></html>") == []


@pytest.mark.shared
def test_the_digest_holds_every_hostile_article(rendered: Rendered) -> None:
    digest = rendered.digest
    # The corpus's hostile documents left articles, and so did every hand-written entry.
    assert rendered.corpus_articles > 100
    assert rendered.hand_written_articles == 2 * len(_ITEMS) + 2
    # Each corpus article is its own story; each hand-written entry is one story of two
    # outlets (the same feed under two outlets), the JSON Feed's two are their own.
    expected = rendered.corpus_articles + len(_ITEMS) + 2
    assert digest.total_stories == digest.shown_stories == expected
    hand = [i for s in digest.sections for i in s.items if i.article_id < ID_STRIDE]
    assert sum(1 for i in hand if i.also_reported_by) == len(_ITEMS)
    assert {o for i in hand for o, _ in i.also_reported_by} | {i.outlet for i in hand} == {
        "Hand-written",
        HOSTILE_OUTLET,
    }


@pytest.mark.shared
@pytest.mark.parametrize("name", ["page.html", "page-without-csp.html", "email.html"])
def test_a_rendered_hostile_digest_runs_no_script_and_fetches_nothing(
    site: Site, rendered: Rendered, name: str
) -> None:
    audit = audit_file(site, rendered.folder / name)
    assert audit.problems() == [], rendered.files[name]
    assert audit.requests[0] == ("document", audit.url)
    assert audit.external == [] or {k for k, _ in audit.requests[1:]} <= {"image"}
    # Every story reached the browser, and hostile text is shown as text, not run.
    dom = lxml.html.document_fromstring(audit.html)
    headlines = dom.xpath("//article/h3" if name.startswith("page") else "//h3")
    assert len(headlines) == rendered.digest.shown_stories
    shown = dom.text_content()
    for literal in (*SHOWN_AS_TEXT, HOSTILE_OUTLET):
        assert literal in shown, (name, literal)
