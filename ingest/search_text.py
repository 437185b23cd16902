"""The text the search index holds, derived from an article's title and text; and snippets.

Usage::

    search_text("São Paulo: 伊拉克总理访问伊朗")  # 'Sao Paulo   伊拉 拉克 克总 总理 理访 ...'
    make_snippet(text, ["joint", "zone"])  # (SnippetPart, ...)

Both engines index ``search_text(title)`` and ``search_text(text)``, never the raw text,
and every query phrase goes through the same function, so the two engines see the same
words. The derivation, in order:

1. Diacritics go: NFKD, then the generic combining marks (U+0300-036F and the other
   "Combining Diacritical Marks" blocks) are dropped, then NFKC puts the rest back
   together. "São" -> "Sao", "Zürich" -> "Zurich", "Ελλάδα" -> "Ελλαδα", "ё" -> "е";
   script-specific marks (Devanagari vowel signs, Arabic harakat, kana voicing) stay,
   since they are letters' parts, not accents. NFKC also folds full-width Latin letters
   and digits and half-width katakana.
2. ASCII punctuation (after NFKC: full-width forms included) becomes a space:
   PostgreSQL's parser would otherwise keep "example.com", "3.5" or "Jean-Pierre" as
   single tokens where SQLite's splits them.
3. Runs of characters of scripts written without spaces between words (Han, kana,
   Hangul, Thai, Lao, Khmer, Myanmar) become their overlapping bigrams, with a space
   around the run: "伊拉克总理" -> " 伊拉 拉克 克总 总理 ". A query run is cut the same way
   and searched as a phrase, so "伊拉克" finds "伊拉克总理访问伊朗" but not "伊朗总理".
   A run of one character stays one token.

The derivation runs once per article, here, in Python (migration 0013): the parse workers
fold each new entry (``search_document``, called by ``ingest.pipeline.prepare``) and the
store writes the folded title and text into the index, an FTS5 table on SQLite and a
``tsvector`` column on PostgreSQL. Until then SQLite's triggers called this function and
PostgreSQL ran a PL/pgSQL copy of it (0.5-1 ms per article with non-ASCII text); the copy
is gone, so there is one derivation for both engines. Migration 0009 still registers
``newsdigest_search_text`` on SQLite while it runs, for databases migrated through it.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlite3

#: Code point ranges of scripts written without spaces between words. Changing them (or
#: anything else here) changes what is indexed: add a migration that folds the stored
#: articles again, as 0013 does.
NO_SPACE_RANGES: tuple[tuple[int, int], ...] = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x2E80, 0x2FDF),  # CJK radicals, Kangxi radicals
    (0x3005, 0x3007),  # 々 〆 〇
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xAC00, 0xD7AF),  # Hangul syllables
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0x20000, 0x3134F),  # CJK extensions B-G, compatibility supplement
)
#: The "Combining Diacritical Marks" blocks: accents that any Latin, Greek or Cyrillic
#: letter may carry.
DIACRITIC_RANGES: tuple[tuple[int, int], ...] = (
    (0x0300, 0x036F),
    (0x1AB0, 0x1AFF),
    (0x1DC0, 0x1DFF),
    (0x20D0, 0x20FF),
    (0xFE20, 0xFE2F),
)
#: PostgreSQL limits a tsvector to 1 MB; both engines index this many characters of text.
MAX_INDEXED_CHARS = 100_000


@dataclass(frozen=True, slots=True)
class SearchDocument:
    """What the search index holds for one article: its title and its text (the first
    ``MAX_INDEXED_CHARS`` characters) through ``search_text``."""

    title: str
    text: str


def search_document(title: str | None, text: str | None) -> SearchDocument:
    """The indexed form of an article's title and text. Pure; the store writes it."""
    return SearchDocument(
        search_text(title or "") or "", search_text((text or "")[:MAX_INDEXED_CHARS]) or ""
    )


def _char_class(ranges: Iterable[tuple[int, int]]) -> str:
    return "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in ranges)


# Compiled on first use: every newsdigest process imports this module (newsdigest.db
# registers the SQLite function), and these take milliseconds to compile.
@cache
def _no_space_run() -> re.Pattern[str]:
    return re.compile(f"[{_char_class(NO_SPACE_RANGES)}]+")


@cache
def _diacritics() -> re.Pattern[str]:
    return re.compile(f"[{_char_class(DIACRITIC_RANGES)}]+")


def _is_no_space(ch: str) -> bool:
    """Whether the character ``ch`` belongs to a script written without word spaces."""
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in NO_SPACE_RANGES)


_ASCII_PUNCTUATION = str.maketrans(
    {c: " " for c in map(chr, range(128)) if c.isprintable() and not c.isalnum() and c != " "}
)


def _bigrams(match: re.Match[str]) -> str:
    """A run "ABCD" -> " AB BC CD " (4x faster here than migration 0009's regular
    expressions, which give the same)."""
    run = match.group()
    if len(run) == 1:
        return f" {run} "
    return " " + " ".join(run[i : i + 2] for i in range(len(run) - 1)) + " "


def search_text(value: str | None) -> str | None:
    """The indexed form of ``value`` (see the module's docstring); None stays None."""
    if value is None:
        return None
    if value.isascii():
        return value.translate(_ASCII_PUNCTUATION)
    folded = _diacritics().sub("", unicodedata.normalize("NFKD", value))
    # NFC composes what the marks left (Hangul jamo, kana voicing, Indic signs); on NFKD
    # text it gives NFKC's result. Migration 0009's PL/pgSQL function does the same.
    folded = unicodedata.normalize("NFC", folded).translate(_ASCII_PUNCTUATION)
    return _no_space_run().sub(_bigrams, folded)


def is_single_no_space_char(phrase: str) -> bool:
    """Whether a query phrase is one character of a script without word spaces.

    Such a phrase is searched as a prefix of the indexed bigrams ("伊" finds "伊朗"),
    which finds it anywhere but at the end of a run.
    """
    stripped = (search_text(phrase) or "").strip()
    return len(stripped) == 1 and _is_no_space(stripped)


def register_sqlite_functions(dbapi_connection: sqlite3.Connection, *_: Any) -> None:
    """Give a SQLite connection ``newsdigest_search_text``, which migration 0009's triggers
    call (and migration 0009 registers while it runs; the index at head needs it not).

    Usable as a SQLAlchemy ``connect`` event listener.
    """
    dbapi_connection.create_function("newsdigest_search_text", 1, search_text, deterministic=True)


# ---------------------------------------------------------------- snippets


@dataclass(frozen=True, slots=True)
class SnippetPart:
    """A piece of a snippet; ``match`` when it is one of the query's words."""

    text: str
    match: bool


SNIPPET_CHARS = 200
_CONTEXT_BEFORE = 40


@lru_cache(maxsize=8192)
def _fold_char(ch: str) -> str:
    folded = search_text(ch) or ""
    if _is_no_space(ch):
        folded = folded.strip()  # no spaces around a lone character here
    return folded.lower()


def _fold_with_offsets(text: str) -> tuple[str, list[int]]:
    """``text`` lower-cased and without diacritics, and each folded char's source index."""
    if text.isascii():
        return text.lower().translate(_ASCII_PUNCTUATION), list(range(len(text)))
    out: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        folded = ch.lower().translate(_ASCII_PUNCTUATION) if ch.isascii() else _fold_char(ch)
        out.append(folded)
        where.extend([i] * len(folded))
    return "".join(out), where


def _is_word_char(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "LNM"


def snippet_words(phrases: Sequence[str]) -> list[str]:
    """The pieces of the query a snippet marks: its words, and its runs of no-space script."""
    pieces: list[str] = []
    for phrase in phrases:
        folded, _ = _fold_with_offsets(phrase)
        current: list[str] = []
        for ch in folded + " ":
            if _is_word_char(ch):
                if current and _is_no_space(ch) != _is_no_space(current[-1]):
                    pieces.append("".join(current))
                    current = []
                current.append(ch)
            elif current:
                pieces.append("".join(current))
                current = []
    return sorted(set(pieces), key=lambda p: (-len(p), p))


def _find(folded: str, piece: str) -> Iterable[tuple[int, int]]:
    bounded = not _is_no_space(piece[0])
    start = folded.find(piece)
    while start >= 0:
        end = start + len(piece)
        before_ok = not bounded or start == 0 or not _is_word_char(folded[start - 1])
        after_ok = not bounded or end == len(folded) or not _is_word_char(folded[end])
        if before_ok and after_ok:
            yield start, end
        start = folded.find(piece, start + 1)


def make_snippet(
    text: str, phrases: Sequence[str], *, size: int = SNIPPET_CHARS
) -> tuple[SnippetPart, ...]:
    """About ``size`` characters of ``text`` around the most query words, words marked.

    Matching folds case and diacritics as the index does. Without a match (the title
    matched), the start of the text. Pure.
    """
    text = text[:MAX_INDEXED_CHARS]
    folded, where = _fold_with_offsets(text)
    spans: list[tuple[int, int, str]] = []
    for piece in snippet_words(phrases):
        for start, end in _find(folded, piece):
            spans.append((where[start], where[end - 1] + 1, piece))
    spans.sort()
    # The window start that covers the most distinct pieces (the first such on a tie):
    # a sliding window over the spans, counting each piece's occurrences inside it.
    best_start, best_count = 0, 0
    inside: Counter[str] = Counter()
    last = 0
    for first, (start, _end, _piece) in enumerate(spans):
        while last < len(spans) and spans[last][1] <= start + size:
            inside[spans[last][2]] += 1
            last += 1
        if len(inside) > best_count:
            best_start, best_count = start, len(inside)
        if first < last:
            inside[spans[first][2]] -= 1
            if not inside[spans[first][2]]:
                del inside[spans[first][2]]
    begin = max(0, best_start - _CONTEXT_BEFORE) if spans else 0
    if begin > 0:  # start at a word boundary
        space = text.find(" ", begin, best_start)
        begin = space + 1 if space >= 0 else begin
    finish = min(len(text), begin + size)
    if finish < len(text):
        space = text.rfind(" ", begin, finish)
        finish = space if space > begin else finish
    parts: list[SnippetPart] = []
    if begin > 0:
        parts.append(SnippetPart("…", False))
    cursor = begin
    for start, end, _piece in spans:
        if start < cursor or end > finish:
            continue  # overlaps a marked piece, or outside the window
        if start > cursor:
            parts.append(SnippetPart(text[cursor:start], False))
        parts.append(SnippetPart(text[start:end], True))
        cursor = end
    if finish > cursor:
        parts.append(SnippetPart(text[cursor:finish], False))
    if finish < len(text):
        parts.append(SnippetPart("…", False))
    return tuple(parts)
