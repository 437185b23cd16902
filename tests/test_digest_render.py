"""Rendering: what the page, the email and the text show, and what they never do."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.headerregistry import Address
from email.policy import default as default_policy

import lxml.html
import pytest

from digest.compose import compose
from digest.errors import TemplateError
from digest.render import Renderer, sample_digest
from digest.types import Digest, DigestArticle, Limits, SubscriberPrefs

START = datetime(2025, 1, 9, 4, tzinfo=UTC)
END = START + timedelta(days=1)
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'


def art(id: int, title: str, outlet: str, story: int | None = None, **kw) -> DigestArticle:
    at = START + timedelta(hours=id)
    kw.setdefault("url", f"https://{outlet.lower().replace(' ', '')}.example/{id}")
    return DigestArticle(
        id=id, story_id=story, title=title, outlet=outlet, outlet_id=id,
        published=at, first_seen=at, **kw,
    )  # fmt: skip


def _cls(name: str) -> str:
    """An XPath predicate: the element has class ``name``."""
    return f"[contains(concat(' ', normalize-space(@class), ' '), ' {name} ')]"


ME = {"countries": ("IQ", "IR"), "regions": ("Middle East",), "topics": ("diplomacy",)}


def make_digest(**prefs_kw) -> Digest:
    prefs_kw.setdefault("regions", ("Middle East", "Western Europe"))
    prefs = SubscriberPrefs(email="reader@example.org", timezone="Asia/Baghdad", **prefs_kw)
    articles = [
        art(1, "Iraqi PM visits Tehran", "Alpha", 7, summary="Talks on trade.", **ME),
        art(2, "رئيس الوزراء العراقي يزور طهران", "Beta", 7, language="ar", **ME),
        art(3, "Iraqi PM in Tehran", "Gamma", 7, **ME),
        art(4, SCRIPT, "Delta", summary=IMG, countries=("IQ",), regions=("Middle East",)),
        art(5, IMG, f"Evil {SCRIPT}", countries=("FR",), regions=("Western Europe",),
            topics=(SCRIPT,), url="javascript:alert(1)"),
    ]  # fmt: skip
    return compose(
        articles,
        prefs,
        (START, END),
        region_countries={
            "Middle East": {"IQ", "IR"},
            "الشرق الأوسط": {"IQ", "IR"},  # an Arabic region name, as a resolver may know it
            "Western Europe": {"FR"},
        },
        now=END,
    )


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


@pytest.fixture(scope="module")
def digest() -> Digest:
    return make_digest()


def test_page_shows_sections_stories_sources_and_tags(renderer, digest):
    doc = lxml.html.fromstring(renderer.page(digest))
    assert [h.text_content() for h in doc.xpath("//section/h2")] == [
        "Middle East",
        "Western Europe",
    ]
    # Navigation points at every section.
    targets = [a.get("href") for a in doc.xpath("//nav//a")]
    assert targets == [f"#{s.get('id')}" for s in doc.xpath("//section")]
    headlines = [h.text_content().strip() for h in doc.xpath(f"//article{_cls('story')}/h3")]
    assert headlines.count("Iraqi PM visits Tehran") == 1  # one entry per story
    assert len(headlines) == digest.shown_stories == 3
    seed = doc.xpath("//article")[0]
    sources = [(a.text_content(), a.get("href")) for a in seed.xpath(f".//*{_cls('sources')}//a")]
    assert sources == [
        ("Beta", "https://beta.example/2"),
        ("Gamma", "https://gamma.example/3"),
    ]
    assert [t.text_content() for t in seed.xpath(f".//*{_cls('tag')}")] == [
        "Middle East",
        "diplomacy",
        "IQ",
        "IR",
    ]
    assert "prefers-color-scheme: dark" in renderer.page(digest)
    assert doc.xpath('//meta[@name="viewport"]')


def test_hostile_titles_are_shown_as_text(renderer, digest):
    for html in (renderer.page(digest), renderer.email_html(digest)):
        doc = lxml.html.fromstring(html)
        assert doc.xpath("//script") == []
        assert doc.xpath("//img") == []
        assert not any(k.startswith("on") for el in doc.iter() for k in el.attrib)
        text = doc.text_content()
        assert SCRIPT in text and IMG in text
        # A javascript: link is never emitted.
        assert all(not a.get("href", "").startswith("javascript") for a in doc.iter("a"))
    assert SCRIPT in renderer.text(digest)


_PX = re.compile(r"(?:^|;)\s*(?:min-|max-)?width\s*:\s*(\d+(?:\.\d+)?)px", re.I)


def test_email_is_inlined_narrow_and_has_a_hidden_preheader(renderer, digest):
    html = renderer.email_html(digest, unsubscribe_url="https://example.org/u/1")
    doc = lxml.html.fromstring(html)
    assert doc.xpath("//script | //link") == []
    for el in doc.iter():
        if el.get("width", "").isdigit():
            assert int(el.get("width")) <= 600, lxml.html.tostring(el)[:80]
        for value in _PX.findall(el.get("style", "")):
            assert float(value) <= 600, el.get("style")
    assert doc.xpath('//table[@width="600"]')
    # The CSS was moved onto the elements; only @media rules stay in <style>.
    story = doc.xpath(f"//td{_cls('story')}")[0]
    assert "padding" in story.get("style", "")
    (style,) = doc.xpath("//style")
    assert "@media" in style.text and ".story {" not in style.text
    (pre,) = doc.xpath(f"//*{_cls('preheader')}")
    assert "display:none" in pre.get("style").replace(" ", "")
    assert pre.text_content() == digest.preheader
    assert [a.get("href") for a in doc.iter("a") if a.text_content() == "Unsubscribe"] == [
        "https://example.org/u/1"
    ]


def test_text_part_reads_on_its_own(renderer, digest):
    text = renderer.text(digest, unsubscribe_url="https://example.org/u/1")
    lines = text.splitlines()
    urls = {"https://alpha.example/1", "https://beta.example/2", "https://example.org/u/1"}
    for url in urls:
        assert url in [line.strip() for line in lines]  # each URL on a line of its own
    for line in lines:
        if not line.strip().startswith("https://"):
            assert len(line) <= 72, line
    assert lines[0] == digest.subject
    assert "Also reported by:" in text and "- Beta" in text
    assert "Middle East\n===========" in text


def test_text_wraps_long_summaries_in_any_script(renderer):
    prefs = SubscriberPrefs(email="r@example.org", limits=Limits(per_section=5))
    long_ja = "東京都で大規模な国際会議が開かれ、" * 12
    long_en = "word " * 80
    digest = compose(
        [art(1, long_en, "Alpha", summary=long_en), art(2, "会議", "Beta", summary=long_ja)],
        prefs,
        (START, END),
        region_countries={},
        now=END,
    )
    for line in renderer.text(digest).splitlines():
        if not line.startswith("https://"):
            assert len(line) <= 72


def test_email_message_round_trips(renderer):
    digest = make_digest(regions=("الشرق الأوسط",), topics=("diplomacy",))
    msg = renderer.email_message(
        digest,
        Address("Nouvelles du jour", "news", "example.org"),
        "reader@example.org",
        message_id="<1@example.org>",
        date=END,
        list_id="digest.example.org",
        unsubscribe_url="https://example.org/u/1",
    )
    raw = msg.as_bytes()
    assert b"=?utf-8?" in raw.split(b"\n\n", 1)[0].lower()  # RFC 2047 for the subject
    parsed = message_from_bytes(raw, policy=default_policy)
    assert parsed["Subject"] == digest.subject
    assert parsed["Subject"].startswith("الشرق الأوسط & diplomacy: 1 story")
    assert parsed["Bcc"] is None
    assert parsed["From"].addresses[0] == Address("Nouvelles du jour", "news", "example.org")
    assert parsed["To"].addresses[0].addr_spec == "reader@example.org"
    assert parsed["List-Id"] == "<digest.example.org>"
    assert parsed["List-Unsubscribe"] == "<https://example.org/u/1>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in parsed.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert "رئيس الوزراء" not in parsed.get_body(("plain",)).get_content()  # only the rep
    assert "Iraqi PM visits Tehran" in parsed.get_body(("html",)).get_content()


def test_names_with_line_breaks_never_become_headers(renderer):
    digest = make_digest(name="Eve\r\nBcc: spy@evil.example")
    msg = renderer.email_message(
        digest,
        "Ne\nws\r\nCc: spy@evil.example <news@example.org>",
        "reader@example.org",
        message_id="1@example.org\r\nX-Injected: 1",
        date=END,
    )
    parsed = message_from_bytes(msg.as_bytes(), policy=default_policy)
    assert parsed["Bcc"] is None and parsed["Cc"] is None and parsed["X-Injected"] is None
    assert parsed["To"].addresses[0].display_name == "Eve Bcc: spy@evil.example"
    assert parsed["Message-ID"].startswith("<1@example.org")


def test_override_folder_replaces_one_template(tmp_path, digest):
    (tmp_path / "page.html").write_text("<p>custom {{ digest.subject }}</p>\n", encoding="utf-8")
    (tmp_path / "notes.md").write_text("{% broken", encoding="utf-8")  # not a template
    renderer = Renderer(tmp_path)
    assert (
        renderer.page(digest)
        == "<p>custom Middle East &amp; Western Europe: 3 stories, Fri 10 Jan</p>\n"
    )
    assert "<table" in renderer.email_html(digest)  # still the packaged email


@pytest.mark.parametrize(
    ("files", "message", "lineno"),
    [
        ({"page.html": "<p>\n{% for x in %}\n</p>"}, "page.html", 2),
        ({"email.txt": "ok\n\n{{ digest.no_such_field }}\n"}, "email.txt", 3),
        ({"page.html": "{{ digest.subject|no_such_filter }}"}, "page.html", 1),
        ({"page.html": 'a\n{% include "../outside.html" %}'}, "page.html", 2),
        ({"email.css": "{% if %}"}, "email.css", 1),
    ],
    ids=["syntax", "undefined", "unknown filter", "escape by include", "broken css"],
)
def test_broken_templates_fail_at_construction(tmp_path, files, message, lineno):
    (tmp_path / "outside.html").write_text("secret", encoding="utf-8")
    folder = tmp_path / "templates"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    with pytest.raises(TemplateError, match=re.escape(message)) as info:
        Renderer(folder)
    if lineno is not None:
        assert info.value.lineno == lineno
        assert str(info.value).split(": ")[0].endswith(f"{message}:{lineno}")


def test_override_cannot_escape_through_a_symlink(tmp_path):
    (tmp_path / "secret.html").write_text("{{ digest.subject }}", encoding="utf-8")
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "page.html").symlink_to(tmp_path / "secret.html")
    with pytest.raises(TemplateError, match="outside the template folder"):
        Renderer(folder)


def test_missing_override_folder_is_an_error(tmp_path):
    with pytest.raises(TemplateError, match="does not exist"):
        Renderer(tmp_path / "nope")


def test_sample_digest_exercises_the_templates():
    digest = sample_digest()
    assert digest.sections and digest.more_count and digest.sections[0].more_count
    assert any(i.also_reported_by for s in digest.sections for i in s.items)
    assert sample_digest(empty=True).is_empty
