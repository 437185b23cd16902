"""sanitize_html (allow-list, safe URLs, no pixels) and html_to_text (readable plain text)."""

from __future__ import annotations

import re

import nh3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.normalize import MAX_HTML_CHARS, html_to_text, sanitize_html

BASE = "https://news.example/2025/01/story.html"

# (markup, text that must be absent from the output)
REMOVED = [
    ("<p>a</p><script>alert('x')</script>", "alert"),
    ("<p>a</p><SCRIPT SRC=//evil.example/x.js></SCRIPT>", "evil"),
    ("<style>body{background:url(//t.example/p)}</style><p>a</p>", "t.example"),
    ('<iframe src="https://player.example/e">frame text</iframe><p>a</p>', "player.example"),
    ('<object data="x.swf"><param name=m value=1>fallback</object>', "x.swf"),
    ('<embed src="https://evil.example/e.swf">', "evil.example"),
    ('<form action="/login"><input name="pw">form text</form>', "login"),
    ('<p onclick="steal()">a</p>', "steal"),
    ('<img src="x.jpg" onerror="steal()">', "steal"),
    ('<a href="javascript:steal()">link</a>', "javascript"),
    ('<a href="JaVaScRiPt:steal()">link</a>', "steal"),
    ('<a href="vbscript:msgbox(1)">link</a>', "vbscript"),
    ('<a href="data:text/html;base64,PHNjcmlwdD4=">link</a>', "data:"),
    ('<img src="data:image/png;base64,iVBORw0KGgo=">', "data:"),
    ('<p style="background:url(https://t.example/p)">a</p>', "t.example"),
    ('<div class="x" id="y">a</div>', 'class="x"'),
    ("<p>a<!-- secret comment --></p>", "secret"),
    ("<svg><script>steal()</script></svg><p>a</p>", "steal"),
    ('<math><mi xlink:href="javascript:steal()">x</mi></math>', "steal"),
    ('<p>a</p><img src="https://t.example/pixel.gif" width="1" height="1">', "pixel.gif"),
    ('<img src="https://t.example/p.gif" width="0" height="0" alt="">', "p.gif"),
    ('<img src="https://t.example/p.gif" height="1px">', "p.gif"),
    ('<IMG SRC="https://t.example/p.gif" WIDTH=1>', "p.gif"),
]


@pytest.mark.parametrize(("markup", "absent"), REMOVED)
def test_dangerous_or_tracking_markup_is_removed(markup: str, absent: str) -> None:
    assert absent.lower() not in sanitize_html(markup, BASE).lower()


KEPT = [
    ("<p>Hello <b>bold</b> <em>em</em></p>", "<p>Hello <b>bold</b> <em>em</em></p>"),
    (
        '<a href="https://ex.com/a">x</a>',
        '<a href="https://ex.com/a" rel="noopener noreferrer">x</a>',
    ),
    (
        '<a href="/about" rel="author" target="_blank">x</a>',
        '<a href="https://news.example/about" rel="noopener noreferrer">x</a>',
    ),
    (
        '<img src="photo.jpg" alt="A photo" width="640">',
        '<img src="https://news.example/2025/01/photo.jpg" alt="A photo" width="640">',
    ),
    (
        "<blockquote>q</blockquote><ul><li>i</li></ul>",
        "<blockquote>q</blockquote><ul><li>i</li></ul>",
    ),
    ('<p lang="ar" dir="rtl">مرحبا</p>', '<p lang="ar" dir="rtl">مرحبا</p>'),
    ("<p>unclosed <b>bold", "<p>unclosed <b>bold</b></p>"),
    ("<unknown>kept text</unknown>", "kept text"),
]


@pytest.mark.parametrize(("markup", "expected"), KEPT)
def test_allowed_markup_is_kept_and_links_are_made_safe(markup: str, expected: str) -> None:
    assert sanitize_html(markup, BASE) == expected


def test_relative_urls_stay_relative_without_a_base() -> None:
    assert sanitize_html('<img src="p.jpg" alt="">') == '<img src="p.jpg" alt="">'


def test_every_link_gets_rel_noopener_noreferrer() -> None:
    out = sanitize_html('<a href="https://a.example/">1</a> <a href="/b">2</a>', BASE)
    assert out.count('rel="noopener noreferrer"') == 2


def test_huge_input_is_capped_and_keeps_the_start() -> None:
    start = "<p>The start of the story.</p>"
    out = sanitize_html(start + "<p>" + "x" * (MAX_HTML_CHARS * 2) + "</p>")
    assert out.startswith(start)
    assert len(out) <= MAX_HTML_CHARS + 100


def test_binary_junk_is_made_storable() -> None:
    out = sanitize_html("\x00\x01<b>ok</b>\ud800\x7f\x9f")
    assert out == "<b>ok</b>"
    out.encode("utf-8")  # would raise on a lone surrogate


TEXT = [
    ("<p>One</p><p>Two</p>", "One\n\nTwo"),
    ("<h1>Title</h1><div><p>Nested</p></div>", "Title\n\nNested"),
    ("line<br>break<br><br>gap", "line\nbreak\n\ngap"),
    ("<ul><li>a</li><li>b</li></ul>", "a\nb"),
    ("<table><tr><td>1</td><td>2</td></tr><tr><td>3</td></tr></table>", "1 2\n3"),
    ("<p>Tom &amp; Jerry&nbsp;&mdash; &#233;t&#xE9; &lt;3</p>", "Tom & Jerry — été <3"),
    ("<p>wrapped\n   source   text</p>", "wrapped source text"),
    ("<p>a</p><script>var x = '<p>no</p>';</script><style>p{}</style>", "a"),
    ("plain text\nwith a line break", "plain text\nwith a line break"),
    ('<p dir="rtl">الرئيس   يزور <b>طهران</b></p>', "الرئيس يزور طهران"),
    ("<p>unclosed <b>tags <p>everywhere", "unclosed tags\n\neverywhere"),
    ("<![if !supportLists]>x<![endif]>", "x"),
    ("", ""),
]


@pytest.mark.parametrize(("markup", "expected"), TEXT)
def test_html_to_text(markup: str, expected: str) -> None:
    assert html_to_text(markup) == expected


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("<>/!-[]&;#abp =\"'\n x\x00")), max_size=120))
def test_neither_function_raises_on_tag_soup(markup: str) -> None:
    safe = sanitize_html(markup, BASE)
    text = html_to_text(safe)
    assert "<script" not in safe.lower()
    assert not re.search(r"[\x00-\x08]", text)


def _sanitize_with_one_policy(markup: str, base_url: str | None) -> str:
    """sanitize_html as it was before the shared cleaner: one nh3.clean call with the
    entry's base (the reference the fast path must match byte for byte)."""
    from ingest.normalize import html as module

    text = module._prepare(markup)
    if not text:
        return ""
    relative: str | tuple[str, str] = "pass_through"
    if base_url and module._is_web_url(base_url):
        relative = ("rewrite_with_base", base_url)
    cleaned = nh3.clean(text, url_relative=relative, **module._POLICY)
    return module._IMG.sub(module._drop_pixel, cleaned) if "<img" in cleaned else cleaned


_URL_VALUES = [
    "x", "/a/b", "//cdn.example/p.jpg", "?q=1", "#top", "../up", "https://e.example/",
    "HTTP://E.example/A", " https://lead.example/", "\thttps://tab.example/", "ht\ttp://x",
    "javascript:alert(1)", "mailto:a@b.example", "data:image/png;base64,AA", "a:b",
    "1http://x", "http://[::1", "http://x:99999/", "", "x y", "&quot;", "&amp;x",
]  # fmt: skip
_BASES = [None, BASE, "http://h.example", "ftp://f.example/", "relative/base", "https://[bad"]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a href", "img src", "A HREF", "img SRC", "q cite", "a title"]),
            st.sampled_from(_URL_VALUES),
            st.sampled_from(['"', "'", ""]),
            st.sampled_from(["", "text", ' src="rel"', "<b>x</b>"]),
        ),
        max_size=4,
    ),
    st.sampled_from(_BASES),
)
def test_relative_urls_resolve_as_with_the_entrys_own_policy(
    parts: list[tuple[str, str, str, str]], base_url: str | None
) -> None:
    # The shared cleaner passes relative URLs through and the entry is cleaned again with
    # its base only when its output holds one: the result must not differ from cleaning
    # once with the base, whatever mix of absolute, relative and odd values it holds.
    markup = "".join(
        f"<p>{text}<{tag}={quote}{value}{quote}>{text}</{tag.split()[0]}></p>"
        for tag, value, quote, text in parts
    )
    assert sanitize_html(markup, base_url) == _sanitize_with_one_policy(markup, base_url)


def _text_by_the_parser(markup: str) -> str:
    """html_to_text as HTMLParser alone computes it (the reference for the fast path)."""
    from ingest.normalize import html as module

    parser = module._TextExtractor()
    parser.feed(markup)
    parser.close()
    return "".join(parser.parts)


_PIECES = [
    "<p>", "</p>", "<br>", "</br>", "<li>", "</li>", "<ul>", "</ul>", "<td>", "<tr>", "<b>",
    "</b>", "<h2>", "<div>", "</div>", '<a href="https://e.example/?a=1&amp;b=2">', "</a>",
    '<img src="x.jpg" alt="a &quot;b&quot;">', '<p title="1 > 0">', "<P>", "<script>",
    "</script>", "<section>", "<!-- c -->", "&amp;", "&lt;", "&gt;", "&nbsp;", "&#1;",
    "&#x80;", "&eacute", "&", "<", ">", " ", "\n", "text", "é", "語",
]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=30))
def test_text_of_regular_markup_is_what_the_parser_finds(pieces: list[str]) -> None:
    # Markup whose every "<" opens a regular tag of an allowed element (all of nh3's
    # output) is read without HTMLParser; the text must be the parser's, character for
    # character, and anything else must be left to the parser.
    from ingest.normalize.html import _regular_text

    markup = "".join(pieces)
    for text in (markup, sanitize_html(markup, BASE)):
        fast = _regular_text(text)
        if fast is not None:
            assert fast == _text_by_the_parser(text)
    assert _regular_text(sanitize_html(markup, BASE)) is not None
