"""Multi-pattern search (Aho-Corasick) with word boundaries and case rules.

One automaton holds every place pattern and every topic term, keyed by the lower-cased
spelling; each text is lower-cased once and scanned once. A raw hit counts only when

- it starts and ends at a word boundary (Unicode-aware: the neighbour is not a letter or
  digit; an Arabic name may carry a one- or two-letter proclitic such as "و" or "ب";
  Chinese and Japanese names need no boundary; a stem needs none at its end), and
- its case fits: an acronym must match exactly ("US", not "us"), a proper noun must start
  with a capital ("Turkey", not "turkey"), a lower-case pattern matches any case.

Overlapping hits are resolved leftmost-longest, separately for places and for terms, so
"New South Wales" hides "Wales" and "Indian Ocean" hides "Indian".
"""

from __future__ import annotations

from dataclasses import dataclass

import ahocorasick

from .gazetteer import Place
from .lexicon import Term
from .text import lower_keep_length

# Arabic conjunctions and prepositions written joined to the next word: "and", "so", "in/with",
# "for/to", "like", and their common pairs.
_ARABIC_PROCLITICS = frozenset({"و", "ف", "ب", "ل", "ك", "وب", "ول", "فب", "فل", "وك", "لل"})


def _is_arabic(c: str) -> bool:
    return "\u0600" <= c <= "\u06ff"


def _needs_no_boundary(c: str) -> bool:
    # CJK ideographs, kana and Thai are written without spaces between words
    return "\u3040" <= c <= "\u9fff" or "\u0e00" <= c <= "\u0e7f" or "\uf900" <= c <= "\ufaff"


@dataclass(frozen=True, slots=True)
class Hit:
    start: int
    end: int
    item: Place | Term
    surface: str  # the matched text, as written


def build_automaton(places: tuple[Place, ...], terms: tuple[Term, ...]) -> ahocorasick.Automaton:
    table: dict[str, list[Place | Term]] = {}
    for p in places:
        table.setdefault(lower_keep_length(p.form), []).append(p)
    for t in terms:
        table.setdefault(lower_keep_length(t.form), []).append(t)
    automaton = ahocorasick.Automaton()
    for key, items in table.items():
        automaton.add_word(key, (len(key), tuple(items)))
    automaton.make_automaton()
    return automaton


def _left_ok(text: str, start: int) -> bool:
    if start == 0:
        return True
    prev = text[start - 1]
    if not prev.isalnum() or _needs_no_boundary(text[start]):
        return True
    if _is_arabic(prev) and _is_arabic(text[start]):
        i = start - 1
        while i > 0 and text[i - 1].isalnum():
            i -= 1
        return text[i:start] in _ARABIC_PROCLITICS
    return False


def _right_ok(text: str, end: int) -> bool:
    return end >= len(text) or not text[end].isalnum() or _needs_no_boundary(text[end - 1])


def _case_ok(item: Place | Term, surface: str) -> bool:
    if item.exact:
        return surface == item.form
    if item.cased:
        return surface[:1].isupper()
    return True


def _longest(hits: list[Hit]) -> list[Hit]:
    hits.sort(key=lambda h: (h.start, h.start - h.end))
    out: list[Hit] = []
    last = (-1, -1)
    for h in hits:
        if h.start >= last[1] or (h.start, h.end) == last:  # same span: several topics
            out.append(h)
            last = (h.start, h.end)
    return out


def scan(automaton: ahocorasick.Automaton, text: str) -> tuple[list[Hit], list[Hit]]:
    """Place hits and term hits in ``text`` (already normalised)."""
    if not text:
        return [], []
    lowered = lower_keep_length(text)
    place_hits: list[Hit] = []
    term_hits: list[Hit] = []
    for end_idx, (length, items) in automaton.iter(lowered):
        end = end_idx + 1
        start = end - length
        if not _left_ok(text, start):
            continue
        right = _right_ok(text, end)
        surface = text[start:end]
        for item in items:
            if not (right or (isinstance(item, Term) and item.stem)):
                continue
            if not _case_ok(item, surface):
                continue
            if isinstance(item, Term):
                if item.stem and not right:
                    # a stem's hit reaches to the end of the word it starts
                    stop = end
                    while stop < len(text) and text[stop].isalnum():
                        stop += 1
                    term_hits.append(Hit(start, stop, item, text[start:stop]))
                else:
                    term_hits.append(Hit(start, end, item, surface))
            else:
                place_hits.append(Hit(start, end, item, surface))
                break  # one place reading per spelling
    return _longest(place_hits), _longest(term_hits)
