"""Finding a site's feeds from its home page: pure parsing, no I/O.

Usage::

    kind = classify_document(body, content_type)          # "feed", "html" or "other"
    links = declared_feeds(html_bytes, page_url)          # <link rel="alternate"> feeds
    urls = candidate_urls(page_url, links)                # declared first, then common paths

The fetching is done by the caller through the :class:`ingest.fetch.Fetcher` (same limits,
same SSRF rule); this module only reads what came back. lxml's HTML parser reads the page
(it copes with the broken markup of real home pages), after decoding with the charset the
header or the page declares.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urljoin, urlsplit

import lxml.html

#: MIME types of feeds a page may declare, best first (the order ranks the candidates).
FEED_TYPES: tuple[str, ...] = (
    "application/atom+xml",
    "application/rss+xml",
    "application/feed+json",
    "application/json",
    "application/rdf+xml",
    "application/xml",
    "text/xml",
)
#: Paths tried when the page declares no feed, in this order.
COMMON_PATHS: tuple[str, ...] = (
    "/feed",
    "/rss",
    "/atom.xml",
    "/feed.json",
    "/rss.xml",
    "/index.xml",
    "/feed.xml",
)

_FEED_ROOT = re.compile(rb"<(rss|feed|rdf:RDF)[\s>]", re.IGNORECASE)
_JSON_FEED = re.compile(rb'"version"\s*:\s*"https://jsonfeed\.org/version/', re.IGNORECASE)
_HTML_ROOT = re.compile(rb"<(!doctype\s+html|html|head|body)[\s>]", re.IGNORECASE)

_CHARSET = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:-]+)""", re.IGNORECASE)
# lxml refuses a str that still declares its byte encoding.
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")

DocumentKind = Literal["feed", "html", "other"]


@dataclass(frozen=True, slots=True)
class FeedLink:
    """A feed a page declares: its absolute URL, its MIME type and its title, if any."""

    url: str
    type: str
    title: str | None = None


_FEED_PATH = re.compile(
    r"(\.(xml|rss|atom|rdf|json)$)|(/(feed|feeds|rss|atom)(/|\.[a-z]+)?$)|(/(feed|rss|atom)/)",
    re.IGNORECASE,
)


def looks_like_feed_url(url: str) -> bool:
    """True when the URL's path says "feed" (``.xml``, ``.rss``, ``/feed``, ``/rss/``...).

    ``feeds add`` follows such a URL as given without a request; any other URL (a site's
    home page, an article) is fetched and, when it is a page, its feeds are looked for.
    """
    path = urlsplit(url).path
    return bool(path) and path != "/" and bool(_FEED_PATH.search(path))


def classify_document(body: bytes, content_type: str | None) -> DocumentKind:
    """Is this response a feed, an HTML page, or something else?

    The body decides before the Content-Type header: many servers send feeds as
    text/html or text/plain, and some send pages as text/xml.
    """
    head = body[:4096].lstrip()
    if _JSON_FEED.search(head):
        return "feed"
    if _FEED_ROOT.search(head) and not _HTML_ROOT.match(head):
        return "feed"
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if _HTML_ROOT.search(head) or mime in ("text/html", "application/xhtml+xml"):
        return "html"
    return "other"


def page_encoding(html: bytes, content_type: str | None) -> str:
    """The page's character encoding: the header's charset, else the page's own
    ``<meta charset>``, else UTF-8 (lxml would guess Latin-1 and garble every non-Latin
    title)."""
    for source in (content_type or "", html[:4096].decode("ascii", "replace")):
        match = _CHARSET.search(source)
        if match:
            name = match.group(1)
            try:
                return codecs.lookup(name).name
            except LookupError:
                continue
    return "utf-8"


def declared_feeds(html: bytes, page_url: str, content_type: str | None = None) -> list[FeedLink]:
    """The feeds an HTML page declares with ``<link rel="alternate" type=...>``, resolved
    against the page (and its ``<base href>``), best type first, duplicates dropped."""
    text = _XML_DECLARATION.sub("", html.decode(page_encoding(html, content_type), "replace"))
    if not text.strip():
        return []
    try:
        root = lxml.html.document_fromstring(text)
    except (ValueError, lxml.etree.ParserError):
        return []
    base = page_url
    for element in root.iter("base"):
        href = (element.get("href") or "").strip()
        if href:
            base = urljoin(page_url, href)
            break
    found: dict[str, FeedLink] = {}
    for element in root.iter("link"):
        rel = (element.get("rel") or "").lower().split()
        mime = (element.get("type") or "").split(";", 1)[0].strip().lower()
        href = (element.get("href") or "").strip()
        if "alternate" not in rel or mime not in FEED_TYPES or not href:
            continue
        url = urljoin(base, href)
        if urlsplit(url).scheme not in ("http", "https"):
            continue
        title = (element.get("title") or "").strip() or None
        found.setdefault(url, FeedLink(url=url, type=mime, title=title))
    # Stable sort: the page's own order breaks ties between feeds of one type.
    return sorted(found.values(), key=lambda link: FEED_TYPES.index(link.type))


def candidate_urls(page_url: str, declared: list[FeedLink]) -> list[str]:
    """URLs to try, in order: the declared feeds, then the common paths on the page's site."""
    parts = urlsplit(page_url)
    root = f"{parts.scheme}://{parts.netloc}"
    urls = [link.url for link in declared]
    for path in COMMON_PATHS:
        url = root + path
        if url not in urls:
            urls.append(url)
    return urls
