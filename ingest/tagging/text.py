"""Text preparation for matching: one normal form, sentences, the dateline.

Every offset the tagger uses is an offset into the *normalised* text, so normalisation may
drop characters (Arabic vowel marks) without any bookkeeping.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass

# (str.translate with a dict is slow on long texts; a few str.replace calls are not)
_REPLACE = (("’", "'"), ("‘", "'"), ("ʼ", "'"), ("`", "'"), ("\u00a0", " "))
# Arabic short vowels, shadda, sukun, superscript alef and tatweel: news text mostly omits
# them, data tables sometimes have them ("المتّحدة"); dropping them on both sides makes the
# two meet.
_ARABIC_MARK_CHARS = "".join(map(chr, range(0x064B, 0x0653))) + "\u0670\u0640"
_ARABIC_MARKS = re.compile(f"[{_ARABIC_MARK_CHARS}]")
# Sentence ends; a break counts only when the next sentence does not start in lower case
# ("a U.S. engine maker").
_SENTENCE_ENDS = (". ", "! ", "? ", '." ', ".” ", ".' ", "?” ", "\n", "。", "！", "？", "؟ ", "۔ ")


def _by_lead(seps: tuple[str, ...]) -> tuple[tuple[str, bool, dict[str, str]], ...]:
    """(first character, whether it ends a sentence alone, second character -> separator)."""
    table: dict[str, tuple[list[str], dict[str, str]]] = {}
    for sep in seps:
        alone, by_next = table.setdefault(sep[0], ([], {}))
        if len(sep) == 1:
            alone.append(sep)
        else:
            assert sep[1] not in by_next, "one separator per first two characters"
            by_next[sep[1]] = sep
    return tuple((c, bool(alone), by_next) for c, (alone, by_next) in table.items())


# Found by their first character with str.find, then checked by the next one: a search for
# one character is vectorised, while a search for ". " that ends in a space (the commonest
# character) is about fifty times slower on long texts; regex scanning is slower still.
_ENDS_BY_LEAD = _by_lead(_SENTENCE_ENDS)
_ASCII_ENDS_BY_LEAD = _by_lead(tuple(sep for sep in _SENTENCE_ENDS if sep.isascii()))
_DATELINE = re.compile(
    r"\A\s*(?P<place>[^\W\d_][^\n,—–(]{1,40}?)"
    r"(?:,\s*(?P<qual>[^\n—–(]{1,40}?))?"
    r"\s*(?:\([^)\n]{1,40}\)\s*)?(?:—|–|--|\s-)\s*"
)


def normalise(text: str) -> str:
    """NFC, one apostrophe, no Arabic vowel marks; case is kept (it carries meaning)."""
    text = unicodedata.normalize("NFC", text)
    for a, b in _REPLACE:
        if a in text:
            text = text.replace(a, b)
    # Most texts have no mark: ten one-character searches cost a tenth of the regex scan
    # (and nothing on a text with no character beyond Latin-1).
    if not text.isascii() and any(mark in text for mark in _ARABIC_MARK_CHARS):
        text = _ARABIC_MARKS.sub("", text)
    return text


def lower_keep_length(text: str) -> str:
    """Lower-case without changing length (``"İ".lower()`` is two characters)."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


def fold_accents(text: str) -> str:
    """Drop combining accents: "Türkiye" -> "Turkiye" (for alternative spellings)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return unicodedata.normalize(
        "NFC", "".join(c for c in decomposed if not unicodedata.combining(c))
    )


class Sentences:
    """Sentence index of one text: which sentence an offset falls in."""

    __slots__ = ("starts", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        ends = set()
        find, startswith = text.find, text.startswith
        # The separators outside ASCII cannot occur in ASCII text (``isascii`` is O(1)).
        for lead, alone, by_next in _ASCII_ENDS_BY_LEAD if text.isascii() else _ENDS_BY_LEAD:
            i = find(lead)
            while i != -1:
                if alone:
                    ends.add(i + 1)
                if by_next:
                    sep = by_next.get(text[i + 1 : i + 2])
                    # two characters matched already; a longer separator is checked whole
                    if sep is not None and (len(sep) == 2 or startswith(sep, i)):
                        ends.add(i + len(sep))
                i = find(lead, i + 1)
        n = len(text)
        self.starts = [
            0,
            *sorted(e for e in ends if e < n and not text[e].islower() and not text[e].isspace()),
        ]

    def index(self, offset: int) -> int:
        return bisect_right(self.starts, offset) - 1

    def __len__(self) -> int:
        return len(self.starts)


@dataclass(frozen=True, slots=True)
class Dateline:
    """A wire-style dateline at the start of a text: ``PLACE[, QUALIFIER] —``."""

    place: tuple[int, int]
    qualifier: tuple[int, int] | None
    end: int


def find_dateline(text: str) -> Dateline | None:
    """The dateline at the start of ``text``, if its place is written in capitals."""
    m = _DATELINE.match(text)
    if m is None:
        return None
    place = m.group("place").strip()
    letters = [c for c in place if c.isalpha()]
    if not letters or not all(c.isupper() for c in letters):
        return None
    qual = m.span("qual") if m.group("qual") else None
    return Dateline(place=m.span("place"), qualifier=qual, end=m.end())
