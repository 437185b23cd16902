"""An article page -> its main text (trafilatura), and whether that text can be trusted.

Both functions are pure (no I/O). :func:`extract_article` does the CPU work;
:func:`judge_extraction` decides whether the page's text replaces the feed's, or the
feed's summary is kept because the extraction looks wrong.

trafilatura takes about 0.7 s to import (it pulls in lxml, justext, htmldate and
dateparser), so it is imported on the first extraction, never when this module loads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.dedupe.tokens import fold, tokenize
from ingest.normalize import detect_language, html_to_text, normalize_language_tag, sanitize_html

#: Below this many characters an extraction is a fragment, not an article.
MIN_EXTRACTED_CHARS = 200
#: The page's text must be this much longer than the feed's to be worth replacing it
#: (the same text with other whitespace or a byline is no gain).
MIN_GAIN = 1.1
#: At least this share of the feed text's distinct words must occur in the page's text;
#: otherwise the page is another page (a paywall, a consent wall, an error page).
MIN_SHARED_WORDS = 0.6
#: More than this share of the text inside links: a list of links, not an article.
MAX_LINK_SHARE = 0.5

_LINK = re.compile(r"<a\b[^>]*>(.*?)</a>", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Extraction:
    """The main content of a page: sanitized HTML and its plain text."""

    html: str
    text: str
    #: Share of the text's characters that sit inside links.
    link_share: float


@dataclass(frozen=True, slots=True)
class Judgement:
    """Whether to use an extraction; ``reason`` says why not, in one line."""

    accept: bool
    reason: str | None = None


def _same_heading(heading: str, title: str) -> bool:
    return bool(title) and fold(" ".join(heading.split())) == fold(" ".join(title.split()))


def extract_article(page: bytes | str, url: str, title: str = "") -> Extraction | None:
    """The main text of an article page, or None when trafilatura finds none.

    The page's own headline is dropped when it repeats ``title`` (the feed's), as feed
    content does not repeat it either. The HTML is sanitized like feed content.
    """
    import lxml.html
    import trafilatura  # lazily: see the module docstring

    # Precision over recall: a missed paragraph costs less than a stored cookie notice.
    found = trafilatura.extract(
        page,
        url=url,
        output_format="html",
        include_comments=False,
        include_links=True,
        include_images=False,
        include_tables=True,
        favor_precision=True,
    )
    if not found or not found.strip():
        return None
    root = lxml.html.fromstring(found)
    body = root.find("body")
    container = body if body is not None else root
    first = next(iter(container), None)
    if (
        first is not None
        and first.tag in ("h1", "h2")
        and _same_heading(first.text_content(), title)
    ):
        first.drop_tree()
    inner = "".join(lxml.html.tostring(child, encoding="unicode") for child in container)
    clean = sanitize_html(inner, base_url=url)
    text = html_to_text(clean)
    if not text:
        return None
    in_links = sum(len(html_to_text(m)) for m in _LINK.findall(clean))
    return Extraction(clean, text, min(1.0, in_links / len(text)))


def _words(text: str) -> set[str]:
    return {t for t in tokenize(fold(text)) if not t.isdigit()}


def _base_language(tag: str | None) -> str | None:
    normalized = normalize_language_tag(tag)
    return normalized.split("-")[0].lower() if normalized else None


def judge_extraction(
    extraction: Extraction | None,
    *,
    feed_text: str,
    feed_title: str,
    feed_language: str | None,
) -> Judgement:
    """Accept the page's text only if it is longer than the feed's and plausibly the same
    article: sharing most of the feed text's words, not mostly links, same language.

    ``feed_text`` is what the feed gave (summary or content); when it is empty the title
    stands in for it.
    """
    if extraction is None:
        return Judgement(False, "no main text found on the page")
    text = extraction.text
    if len(text) < MIN_EXTRACTED_CHARS:
        return Judgement(False, f"too short ({len(text)} characters)")
    if len(text) < len(feed_text) * MIN_GAIN:
        return Judgement(False, "no longer than the feed's own text")
    if extraction.link_share > MAX_LINK_SHARE:
        return Judgement(False, f"mostly links ({extraction.link_share:.0%} of the text)")
    expected = _words(feed_text) or _words(feed_title)
    if expected:
        shared = len(expected & _words(text)) / len(expected)
        if shared < MIN_SHARED_WORDS:
            return Judgement(
                False,
                f"shares only {shared:.0%} of the feed text's words "
                "(a paywall, consent page or another article?)",
            )
    expected_language = _base_language(feed_language)
    found_language = _base_language(detect_language(text))
    if expected_language and found_language and expected_language != found_language:
        return Judgement(
            False, f"in another language ({found_language}, the feed's is {expected_language})"
        )
    return Judgement(True)
