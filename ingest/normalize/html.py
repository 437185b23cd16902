"""Feed HTML made safe to store and render (:func:`sanitize_html`), and read as text
(:func:`html_to_text`).

Sanitizing is nh3 (ammonia, a Rust html5ever-based sanitizer) with an allow-list; what it
cannot express (dropping tracking pixels, which needs to see a whole ``<img>``) is a pass
over its output, whose serialization is regular: attribute values are always
double-quoted with ``"`` escaped.

Text extraction is the standard library's ``HTMLParser``: no extra dependency (lxml is a
dev extra only) and fast enough for feed content, which is capped at
:data:`MAX_HTML_CHARS` before either function looks at it.
"""

from __future__ import annotations

import functools
import html as html_lib
import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import nh3

from ingest.normalize.text import scrub

#: Input beyond this many characters is cut before sanitizing or extracting text; the
#: start is kept. News articles are tens of KB; a feed field this big is a mistake or
#: an attack, and nh3's time grows with the input.
MAX_HTML_CHARS = 512 * 1024

#: Tags kept (their attributes are limited by :data:`ALLOWED_ATTRIBUTES`). Everything
#: else is unwrapped: the tag goes, its text stays, except :data:`DROPPED_WITH_CONTENT`.
ALLOWED_TAGS: frozenset[str] = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "dd", "del",
        "details", "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2",
        "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p",
        "pre", "q", "s", "samp", "small", "span", "strong", "sub", "summary", "sup",
        "table", "tbody", "td", "tfoot", "th", "thead", "time", "tr", "u", "ul",
    }
)  # fmt: skip

#: Tags removed together with everything inside them.
DROPPED_WITH_CONTENT: frozenset[str] = frozenset(
    {
        "script", "style", "iframe", "object", "embed", "applet", "form", "button",
        "select", "textarea", "noscript", "template", "svg", "math", "frame", "frameset",
        "noembed", "noframes",
    }
)  # fmt: skip

#: No ``style`` (CSS can load URLs), no ``class``/``id`` (meaningless outside the source
#: site), no event handlers: nh3 drops every attribute not listed here.
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "*": {"lang", "dir", "title"},
    "a": {"href", "hreflang"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "blockquote": {"cite"},
    "q": {"cite"},
    "del": {"cite", "datetime"},
    "ins": {"cite", "datetime"},
    "time": {"datetime"},
    "ol": {"start", "reversed"},
}

#: ``href``/``src`` schemes kept; javascript:, vbscript:, data: (inline images included)
#: and everything else are removed with the attribute.
ALLOWED_URL_SCHEMES: frozenset[str] = frozenset({"http", "https", "mailto"})

LINK_REL = "noopener noreferrer"

# One <img> as nh3 serializes it: name, then attributes with double-quoted values.
_IMG = re.compile(r'<img((?:\s+[^\s"=<>/]+(?:="[^"]*")?)*)\s*/?>')
_ATTR = re.compile(r'([^\s"=<>/]+)(?:="([^"]*)")?')
_PIXEL_SIZES = frozenset({"0", "1", "0px", "1px"})


def sanitize_html(html: str, base_url: str | None = None) -> str:
    """Return ``html`` reduced to the allow-listed tags and attributes, safe to render.

    - only :data:`ALLOWED_TAGS` with :data:`ALLOWED_ATTRIBUTES`; no event handlers, no
      ``style``; ``script``/``style``/``iframe``/``object``/``embed``/``form`` and the
      rest of :data:`DROPPED_WITH_CONTENT` are removed with their content; comments go;
    - ``href``/``src`` only with :data:`ALLOWED_URL_SCHEMES`; relative URLs are resolved
      against ``base_url`` when it is an absolute http(s) URL;
    - links get ``rel="noopener noreferrer"``;
    - tracking pixels (an ``img`` whose width or height is 0 or 1) and images left
      without a ``src`` are removed;
    - input longer than :data:`MAX_HTML_CHARS` characters is cut first (the start is
      kept); the output can be a little longer than the input (closing tags, escapes).

    Never raises for bad markup: broken HTML is repaired by the HTML5 parsing rules.
    """
    text = _prepare(html)
    if not text:
        return ""
    cleaned = _cleaner().clean(text)
    if base_url and _has_relative_url(cleaned) and _is_web_url(base_url):
        cleaned = nh3.clean(text, url_relative=("rewrite_with_base", base_url), **_POLICY)
    return _IMG.sub(_drop_pixel, cleaned) if "<img" in cleaned else cleaned


_POLICY: dict[str, Any] = {
    "tags": set(ALLOWED_TAGS),
    "clean_content_tags": set(DROPPED_WITH_CONTENT),
    "attributes": ALLOWED_ATTRIBUTES,
    "url_schemes": set(ALLOWED_URL_SCHEMES),
    "link_rel": LINK_REL,
    "strip_comments": True,
}


@functools.cache
def _cleaner() -> nh3.Cleaner:
    """The allow-list, built once. Building it was most of ``nh3.clean``'s time (about
    30 of 35 us per entry); a cleaner is immutable, so one serves every call and thread.
    It passes relative URLs through; ``sanitize_html`` redoes the rare entry that has one
    with the entry's own base."""
    return nh3.Cleaner(url_relative="pass_through", **_POLICY)


# The values of the URL attributes that survive the allow-list (``a href``, ``img src``;
# ammonia's other URL attributes sit on tags we drop) as nh3 serializes them: a space,
# the name, ="value" with every " escaped. A value with a scheme is absolute, and ammonia
# leaves an absolute URL alone whatever its relative-URL policy: only a value without
# one (or one we cannot be sure of, such as leading blanks) needs the base.
_URL_ATTRIBUTE = re.compile(r'\s(?:href|src)="([^"]*)"')
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")


def _has_relative_url(cleaned: str) -> bool:
    """Whether nh3's output (relative URLs passed through) may hold a relative URL."""
    if "href=" not in cleaned and "src=" not in cleaned:
        return False
    return any(_ABSOLUTE.match(value) is None for value in _URL_ATTRIBUTE.findall(cleaned))


#: Markup nested deeper than this is flattened to its text first: the HTML5 tree builder
#: checks its scopes by walking the open elements, so n nested elements cost about n^2
#: (20,000 nested <div>s: 7 s in nh3). Browsers stop nesting at 512 too.
MAX_NESTING = 512
_NESTING_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)[^>]*?(/?)>")
#: Elements that never nest (void) or are closed by their next sibling (optional end tag).
_NOT_NESTING = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "source",
        "track",
        "wbr",
        "p",
        "li",
        "dt",
        "dd",
        "tr",
        "td",
        "th",
        "tbody",
        "thead",
        "tfoot",
        "option",
        "optgroup",
        "rt",
        "rp",
        "colgroup",
    ]
)
_ANY_TAG = re.compile(r"<[^<>]*(?:>|$)")


def _flatten_if_deep(html: str) -> str:
    if html.count("<") <= MAX_NESTING:  # cannot nest deeper: no need to look
        return html
    depth = 0
    for tag in _NESTING_TAG.finditer(html):
        if tag.group(3) or tag.group(2).lower() in _NOT_NESTING:
            continue
        depth += -1 if tag.group(1) else 1
        if depth > MAX_NESTING:
            return _ANY_TAG.sub(" ", html)
    return html


def _prepare(html: str) -> str:
    """Cap and scrub raw input (binary junk, lone surrogates that nh3 cannot take), and
    flatten markup nested too deep to parse in reasonable time."""
    return _flatten_if_deep(scrub(html[:MAX_HTML_CHARS]))


def _is_web_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _drop_pixel(match: re.Match[str]) -> str:
    attrs = {name.lower(): value or "" for name, value in _ATTR.findall(match.group(1))}
    if not attrs.get("src"):
        return ""
    for size in ("width", "height"):
        if size in attrs and attrs[size].strip().lower() in _PIXEL_SIZES:
            return ""
    return match.group(0)


# --- text -------------------------------------------------------------------------------

# Elements that end a paragraph, and those that only end a line.
_PARAGRAPH = frozenset(
    {
        "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "ul", "ol",
        "dl", "table", "figure", "section", "article", "header", "footer", "aside", "nav",
        "main", "address", "details", "hr", "fieldset",
    }
)  # fmt: skip
_LINE = frozenset({"br", "li", "tr", "dt", "dd", "figcaption", "caption", "summary", "option"})
_CELL = frozenset({"td", "th"})
_INVISIBLE = frozenset({"script", "style", "template", "noscript", "head", "title"})


class _TextExtractor(HTMLParser):
    """Collects text; block boundaries become newlines, invisible elements are skipped.

    A boundary is held as "pending" until the next visible text, so nested blocks
    (``</li><li>``, ``<div><p>``) give one break, not several; ``<br>`` adds up, so
    ``<br><br>`` (a common paragraph break in feeds) gives a blank line.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0
        self._pending = 0  # 0: nothing, 1: line break, 2: blank line

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _INVISIBLE:
            self._hidden += 1
        else:
            self._boundary(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._boundary(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _INVISIBLE:
            self._hidden = max(0, self._hidden - 1)
        elif tag != "br":  # "</br>" is parsed as <br> by browsers but rare; ignore it
            self._boundary(tag)

    def handle_data(self, data: str) -> None:
        if self._hidden or not data:
            return
        if self._pending and not data.isspace():
            self.parts.append("\n" * self._pending)
            self._pending = 0
        # Newlines in HTML source are just whitespace.
        self.parts.append(data.replace("\n", " "))

    def _boundary(self, tag: str) -> None:
        if tag == "br":
            self._pending = min(2, self._pending + 1)
        elif tag in _PARAGRAPH:
            self._pending = 2
        elif tag in _LINE:
            self._pending = max(self._pending, 1)
        elif tag in _CELL:
            self.parts.append(" ")


def html_to_text(html: str) -> str:
    """Return readable plain text for ``html``.

    Block elements become line breaks (paragraph-like ones a blank line), ``<br>`` a
    line break, table cells a space; entities are decoded; script/style content is
    dropped; whitespace runs inside a line collapse to one space; at most one blank line
    separates paragraphs. Input is capped at :data:`MAX_HTML_CHARS`. Never raises for
    bad markup.
    """
    text = _prepare(html)
    if not text:
        return ""
    if "<" not in text and "&" not in text:
        return _tidy(text)
    regular = _regular_text(text)
    if regular is not None:
        return _tidy(regular)
    parser = _TextExtractor()
    try:
        parser.feed(text)
        parser.close()
    except AssertionError:
        # CPython's HTMLParser still asserts on some malformed "<![" declarations;
        # fall back to dropping anything tag-shaped.
        return _tidy(html_lib.unescape(re.sub(r"<[^>]*>", " ", text)))
    return _tidy("".join(parser.parts))


# A tag as nh3 serializes one: a lower-case name, then ` name="value"` attributes with
# no "<" or ">" in the value (nh3 escapes "&" and '"' in values, "<" and ">" in text).
_REGULAR_TAG = re.compile(r'<(/?)([a-z][a-z0-9]*)((?: [a-z][a-z0-9-]*="[^"<>]*")*)>')


def _regular_text(text: str) -> str | None:
    """What ``_TextExtractor`` collects from ``text``, when every "<" in it opens a regular
    tag (see ``_REGULAR_TAG``) of an allowed element; else None (the parser must decide).

    Sanitized HTML (nh3's output) always is such markup. Here a regular expression finds
    the tags and the extractor's own handlers receive the same calls the parser would make
    (one ``handle_data`` per run of text between tags, unescaped as the parser unescapes
    it), at a fraction of the parser's cost. No allowed element is one whose content the
    parser reads raw (script, style), so a run of text can hold no tag the parser would see.
    """
    extractor = _TextExtractor()
    position = 0
    unescape = html_lib.unescape
    for tag in _REGULAR_TAG.finditer(text):
        start = tag.start()
        if start > position:
            run = text[position:start]
            if "<" in run:
                return None
            extractor.handle_data(unescape(run))
        closing, name, attributes = tag.groups()
        if name not in ALLOWED_TAGS or (closing and attributes):
            return None
        if closing:
            extractor.handle_endtag(name)
        else:
            extractor.handle_starttag(name, [])
        position = tag.end()
    if position < len(text):
        run = text[position:]
        if "<" in run:
            return None
        extractor.handle_data(unescape(run))
    return "".join(extractor.parts)


def _tidy(text: str) -> str:
    text = scrub(text)
    if "\n" not in text:  # one line (a plain summary): the loop below comes to this
        return " ".join(text.split())
    lines = [" ".join(line.split()) for line in text.split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)
