"""Multi-pattern search (Aho-Corasick) with word boundaries and case rules.

One automaton holds every place pattern and every topic term, keyed by the lower-cased
spelling; each text is lower-cased once and scanned once. A raw hit counts only when

- it starts and ends at a word boundary (Unicode-aware: the neighbour is not a letter or
  digit; an Arabic pattern is also stored with its joined conjunctions and prepositions,
  "والعراق", "للعراق", see :mod:`.arabic`; names in Chinese characters need no boundary,
  names in katakana must not continue a katakana word; a stem needs none at its end), and
- its case fits: an acronym must match exactly ("US", not "us"), a proper noun must start
  with a capital ("Turkey", not "turkey"), a lower-case pattern matches any case.

Overlapping hits are resolved leftmost-longest, separately for places and for terms, so
"New South Wales" hides "Wales" and "Indian Ocean" hides "Indian".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, NamedTuple

import ahocorasick

from . import arabic
from .gazetteer import Place
from .lexicon import Term
from .text import lower_keep_length, normalise

# In the scanned copy of the text, punctuation becomes a space, so a key that starts with a
# space can only match at the start of a word: the left boundary test happens inside the
# automaton instead of in Python for each of thousands of partial matches ("war" in
# "toward"). A chain of str.replace calls is ten times faster than one regex substitution.
_SEPARATORS = "\n\t\r.,;:!?\"'()[]{}<>“”‘’«»‹›„—–-‐/\\|…*#@&%$+=~^•·_،؛؟۔，。、：；！？「」『』（）"
_NON_WORD = re.compile(r"[^\w ]|_")  # for the keys, built once
_WORD_END = re.compile(r"\w*")


def _unspaced(c: str) -> bool:
    # CJK ideographs, kana and Thai are written without spaces between words
    return "\u3040" <= c <= "\u9fff" or "\u0e00" <= c <= "\u0e7f" or "\uf900" <= c <= "\ufaff"


def _is_katakana(c: str) -> bool:
    return "\u30a0" <= c <= "\u30ff"  # with the long-vowel mark "ー"


# The same replacements as one ``str.translate`` table, for text that is all ASCII:
# CPython translates ASCII to ASCII in one pass, much faster than the chain.
assert not any(c.isalnum() for c in _SEPARATORS)  # the scan loop relies on it
_ASCII_SEPARATORS = str.maketrans({c: " " for c in _SEPARATORS if c.isascii()})


def scan_copy(text: str) -> str:
    """The text as the automaton sees it: lower case, punctuation as spaces, padded."""
    copy = lower_keep_length(text)
    if copy.isascii():
        return " " + copy.translate(_ASCII_SEPARATORS) + " "
    for c in _SEPARATORS:
        if c in copy:
            copy = copy.replace(c, " ")
    return " " + arabic.fold(copy) + " "


def _keys(form: str, stem: bool) -> list[tuple[str, int]]:
    """Automaton keys of one spelling, with how many padding characters lead the key."""
    # the text side is normalised (no Arabic vowel marks) and folded the same way
    core = _NON_WORD.sub(" ", arabic.fold(lower_keep_length(normalise(form)))).strip()
    if not core:
        return []
    left = "" if _unspaced(core[0]) else " "
    keys = [(left + core, len(left))]
    if arabic.is_arabic(core[0]):
        keys += [(" " + word, 1) for word in arabic.with_proclitics(core)]
    return keys


class Hit(NamedTuple):
    """One place reference in a text (a tuple: there are dozens per article)."""

    start: int
    end: int
    item: Place
    surface: str  # the matched text, as written


# How the case of a place hit is checked, decided once per automaton key.
_NO_PLACE, _ANY_CASE, _CAPITAL, _GENERAL = 0, 1, 2, 3


def _place_rule(places: tuple[Place, ...]) -> int:
    if not places:
        return _NO_PLACE
    first = places[0]
    if not first.exact and not first.cased:
        return _ANY_CASE  # the first reading fits any case: the others are never tried
    if len(places) == 1 and not first.exact:
        return _CAPITAL
    return _GENERAL


@dataclass(frozen=True, slots=True)
class Automata:
    """The patterns, as two automata.

    ``spaced`` holds every key that starts with a space (the left word boundary), so its
    root has one child; ``unspaced`` the names in scripts written without spaces (Chinese,
    Japanese, Thai), whose hundreds of first characters would otherwise sit under the root,
    where pyahocorasick searches a node's children one by one for every character of every
    text. ``unspaced`` runs only on a text that has such characters. A match of one cannot
    overlap a match of the other unless a spaced key holds characters of those scripts (none
    in the tables), so running them apart gives the same leftmost-longest matches as one
    automaton.
    """

    spaced: ahocorasick.Automaton
    unspaced: ahocorasick.Automaton | None


def build_automaton(places: tuple[Place, ...], terms: tuple[Term, ...]) -> Automata:
    table: dict[str, tuple[int, list[Place], list[Term]]] = {}
    for p in places:
        for key, lead in _keys(p.form, False):
            table.setdefault(key, (lead, [], []))[1].append(p)
    for t in terms:
        for key, lead in _keys(t.form, t.stem):
            table.setdefault(key, (lead, [], []))[2].append(t)
    spaced, unspaced = ahocorasick.Automaton(), ahocorasick.Automaton()
    for key, (lead, ps, ts) in table.items():
        stems = tuple(t for t in ts if t.stem)
        words = tuple(t for t in ts if not t.stem)
        checked = any(t.exact or t.cased for t in ts)
        # Everything the scan loop needs, decided here once per key rather than per match:
        # offset of the first letter from the match start, key length, the places and how
        # their case is checked, the terms a whole word matches (whole-word terms, then
        # stems), the stem terms (all a word's beginning matches), whether any term needs a
        # case check, whether the key is in katakana (whose words run together: a name must
        # not be part of a longer katakana run, "タイ" Thailand in "タイトル" title).
        kana = not lead and all(_is_katakana(c) for c in key)
        value = (
            lead,
            len(key),
            tuple(ps),
            _place_rule(tuple(ps)),
            words + stems,
            stems,
            checked,
            kana,
        )
        (spaced if lead else unspaced).add_word(key, value)
    spaced.make_automaton()
    if len(unspaced) == 0:
        return Automata(spaced, None)
    unspaced.make_automaton()
    return Automata(spaced, unspaced)


# High bytes (UTF-16) of the characters ``_unspaced`` accepts: U+0E00-U+0E7F, U+3000-U+9FFF,
# U+F900-U+FAFF. Encoding to UTF-16 is a copy for most texts, and a byte table scans the
# high bytes in C; a regex or a loop over characters costs several times more.
_UNSPACED_HIGH = bytes(
    1 if b == 0x0E or 0x30 <= b <= 0x9F or 0xF9 <= b <= 0xFA else 0 for b in range(256)
)


def _may_be_unspaced(text: str) -> bool:
    """Whether ``text`` may have a character of a script written without spaces."""
    if text.isascii():
        return False
    high = text.encode("utf-16-le", "surrogatepass")[1::2]
    return b"\x01" in high.translate(_UNSPACED_HIGH)


def _matches(automata: Automata, copy: str) -> Iterable[tuple[int, Any]]:
    spaced = automata.spaced.iter_long(copy)
    if automata.unspaced is None or not _may_be_unspaced(copy):
        return spaced
    return sorted((*spaced, *automata.unspaced.iter_long(copy)), key=itemgetter(0))


def _letters(text: str) -> str:
    return "".join(c for c in text if c.isalnum())


def _case_ok(item: Place | Term, surface: str) -> bool:
    if item.exact:
        if surface == item.form:
            return True
        if surface.islower() and item.form != item.form.lower():
            return False  # "un" is not "UN": the pattern has a capital the text lacks
        return _letters(surface) == _letters(item.form)
    if item.cased:
        return surface[:1].isupper()
    return True


# A term hit is a plain tuple (start, term, surface): there are hundreds per article and a
# tuple costs a fraction of a dataclass instance.
TermHit = tuple[int, Term, str]


@dataclass(frozen=True, slots=True)
class Scan:
    """What one text contains: place hits, term hits, and proper-noun patterns seen in lower
    case (a "turkey" in the text says the title's "Turkey" may be the bird)."""

    places: list[Hit]
    terms: list[TermHit]
    lowercase_keys: frozenset[str]


def scan(automata: Automata, text: str) -> Scan:
    """Place hits and term hits in ``text`` (already normalised).

    ``iter_long`` gives leftmost-longest matches, so "New South Wales" hides "Wales" and
    "Indian Ocean" hides "Indian" without any work here; keys carry a leading space (the
    left word boundary); the right boundary is checked below.
    """
    if not text:
        return Scan([], [], frozenset())
    copy = scan_copy(text)
    place_hits: list[Hit] = []
    add_place = place_hits.append
    term_hits: list[TermHit] = []
    add_term = term_hits.append
    lowercase_keys: set[str] = set()
    word_end = _WORD_END.match
    capital, any_case, general = _CAPITAL, _ANY_CASE, _GENERAL
    # This loop runs for every raw match (well over a hundred in a long article): the
    # common cases (one place, unchecked terms, a whole word) take the fewest steps.
    for end, value in _matches(automata, copy):
        lead, length, places, rule, whole, stems, checked, kana = value
        start = end - length + lead  # offsets in ``text``: the copy has a leading space
        if lead:
            # not a whole word: only stems match. The copy shows a space after most matches
            # (a space or a separator in the text, never a letter), so ``isalnum`` runs on
            # the few others only; past the text's end the copy has its padding space.
            if copy[end + 1] != " " and text[end].isalnum():
                if stems:
                    # the word goes on to the next space of the copy when all it has up
                    # to there are letters and digits (what ``\w*`` finds; "_" is a
                    # separator of the copy but a word character of the regex)
                    stop = copy.find(" ", end + 1) - 1
                    if not (text[end:stop].isalnum() and text[stop : stop + 1] != "_"):
                        stop = word_end(text, end).end()
                    surface = text[start:stop]
                    for term in stems:
                        if not checked or _case_ok(term, surface):
                            add_term((start, term, surface))
                continue
        # a name in Chinese characters is a word wherever it stands; one in katakana is not
        # when the katakana run goes on ("タイトル")
        elif kana and (_is_katakana(text[end : end + 1]) or _is_katakana(text[start - 1 : start])):
            continue
        surface = text[start:end]
        if rule == capital:  # one proper noun: it must start with a capital
            if surface[0].isupper():
                add_place(Hit(start, end, places[0], surface))
            elif surface.islower():
                lowercase_keys.add(surface)
        elif rule == any_case:
            add_place(Hit(start, end, places[0], surface))
        elif rule == general:
            for place in places:
                if _case_ok(place, surface):
                    add_place(Hit(start, end, place, surface))
                    break  # one place reading per spelling
                if place.cased and surface.islower():
                    lowercase_keys.add(surface)
        if checked:
            for term in whole:
                if _case_ok(term, surface):
                    add_term((start, term, surface))
        else:
            for term in whole:
                add_term((start, term, surface))
    return Scan(place_hits, term_hits, frozenset(lowercase_keys))
