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
_ARABIC_MARKS = re.compile("[\u064b-\u0652\u0670\u0640]")
# Sentence ends, found with str.find (regex scanning is slow on long texts); a break counts
# only when the next sentence does not start in lower case ("a U.S. engine maker").
_SENTENCE_ENDS = (". ", "! ", "? ", '." ', ".” ", ".' ", "?” ", "\n", "。", "！", "？", "؟ ", "۔ ")
_ASCII_SENTENCE_ENDS = tuple(sep for sep in _SENTENCE_ENDS if sep.isascii())
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
    return _ARABIC_MARKS.sub("", text)


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
        # The separators outside ASCII cannot occur in ASCII text (``isascii`` is O(1)).
        for sep in _ASCII_SENTENCE_ENDS if text.isascii() else _SENTENCE_ENDS:
            i = text.find(sep)
            while i != -1:
                ends.add(i + len(sep))
                i = text.find(sep, i + 1)
        n = len(text)
        starts = sorted(e for e in ends if e < n and not text[e].islower())
        self.starts = [0, *(e for e in starts if not text[e].isspace())]

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
