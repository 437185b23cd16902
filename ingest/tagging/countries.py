"""Which countries an article is substantially about: references -> readings -> scores.

Pure functions over the hits of :mod:`.matcher`. The steps, each a general rule:

1. **Context of each reference.** A dateline reference is marked; a place followed by
   ", <state or province>" ("Paris, Texas", "LEBANON, Pa.") takes that place's country, for
   every use of the same name in the article; a name that is also a first name ("Chad",
   "Jordan", "Georgia") next to another capitalised name is a person; "a U.S. engine maker"
   and "the Vienna-based agency" are origin labels; a sentence dated to an earlier year
   ("in 2003") is background.
2. **Readings.** An ambiguous name ("Congo", "Korean", "Dominican") takes its default reading
   unless the article refers only to one of the others in an unambiguous way.
3. **Scores.** Weights from :class:`.rules.CountryWeights`; the decision is explained there.
"""

from __future__ import annotations

import functools
import re
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from .gazetteer import Place
from .matcher import Hit
from .rules import CountryWeights
from .text import Dateline, Sentences

TITLE, SUMMARY, CONTENT = "title", "summary", "content"
_GEO_KINDS = frozenset({"place", "city", "capital", "abbrev"})
_ORIGIN_SUFFIX = re.compile(
    r"-(?:based|born|made|built|flagged|registered|headquartered|listed|trained|educated)\b"
)
_ORIGIN_ARTICLE = re.compile(r"(?:^|\W)(?:a|an|un|una|une)\s+$", re.IGNORECASE)
_QUALIFIER_GAP = re.compile(r",\s*")
_NAME_AFTER = re.compile(r"\s+([^\W\d_][\w'-]*)")
_NAME_BEFORE = re.compile(r"([^\W\d_][\w'-]*)\s+$")
# Capitalised words that may stand next to a country name without making it a person's name.
_NOT_NAME_WORDS = """the a an in on at of to for from with by and or but as after before during
since
until over under into about against between north south east west northern southern
eastern western central upper lower greater king queen president prime minister
government state river valley basin lake sea border national republic kingdom army
armed defence defense forces foreign ministry embassy parliament authorities officials
police court league cup football team open tuesday monday wednesday thursday friday
saturday sunday january february march april may june july august september october
november december"""
_NOT_NAMES = frozenset(_NOT_NAME_WORDS.split())
_YEAR = re.compile(
    r"\b(?:in|since|during|until|before|after|of|from|by)\s+(?:(?:early|late|mid-?)\s*)?"
    r"(?:(?:[A-Z][a-z]+\s+)?(?:\d{1,2},?\s+)?)?(1[5-9]\d\d|20\d\d)s?\b"
)
_WORD = re.compile(r"[^\W\d_]+")
_YEAR_PREFIXES = frozenset({"15", "16", "17", "18", "19", "20"})
_YEAR_DIGITS = "12"  # the first digits of the prefixes above


@dataclass(frozen=True, slots=True)
class Zone:
    """One field of the article with its hits and sentence index."""

    name: str
    text: str
    hits: tuple[Hit, ...]
    sentences: Sentences
    dateline: Dateline | None = None


@dataclass(slots=True)
class _Ref:
    place: Place
    surface: str
    key: str
    zone: str
    sentence: int
    codes: tuple[str, ...]
    dateline: bool = False
    origin: bool = False
    person: bool = False
    background: bool = False


class CountryScore(NamedTuple):
    """One country's score and decision (a tuple: built for every country referred to)."""

    code: str
    score: float
    tagged: bool
    evidence: tuple[str, ...]


def _may_end_article(before_last: str) -> bool:
    """Whether the character before a word's last letter allows an article (a quick test
    before :data:`_ORIGIN_ARTICLE`): "a" stands alone, "an"/"un" and "una"/"une" end in
    "an", "un", "na", "ne"; "in", "en" and "on" do not pass."""
    return before_last in "aAuUnN" or not (before_last.isalnum() or before_last == "_")


def _is_person(text: str, hit: Hit, sentence_start: int) -> bool:
    after = _NAME_AFTER.match(text, hit.end)
    if after and after.group(1)[0].isupper() and after.group(1).casefold() not in _NOT_NAMES:
        return True
    if hit.start > sentence_start:
        word = _word_before(text, sentence_start, hit.start)
        if word and word[0].isupper() and word.casefold() not in _NOT_NAMES:
            return True
    return False


def _word_before(text: str, start: int, end: int) -> str | None:
    """The word that ``_NAME_BEFORE.search(text, start, end)`` finds, by walking back from
    ``end``: the regex tries every position of the sentence (tens of microseconds)."""
    q = end
    while q > start and text[q - 1].isspace():
        q -= 1
    if q == end:
        return None
    r = q
    while r > start and (text[r - 1].isalnum() or text[r - 1] in "_'-"):
        r -= 1
    for p in range(r, q):
        c = text[p]
        if c.isalnum() and not c.isdecimal():  # [^\W\d_]: a letter
            return text[p:q]
    return None


def _is_title_case(text: str) -> bool:
    words = [w for w in _WORD.findall(text) if len(w) >= 4]
    return len(words) >= 3 and sum(w[0].isupper() for w in words) >= 0.8 * len(words)


def reference_year(texts: Iterable[str]) -> int | None:
    """The latest year an article names, when it names at least two different years.

    With one year only there is nothing to tell background from news by.
    """
    years: set[int] = set()
    for text in texts:
        # str.find on one digit is vectorised; on two ("20") it is tens of times slower on
        # long non-ASCII texts, and a regex over the whole text slower still
        for digit in _YEAR_DIGITS:
            i = text.find(digit)
            while i != -1:
                cand = text[i : i + 4]
                if (
                    cand[:2] in _YEAR_PREFIXES
                    and cand.isdigit()
                    and not text[i - 1 : i].isalnum()
                    and not text[i + 4 : i + 5].isalnum()
                ):
                    years.add(int(cand))
                i = text.find(digit, i + 1)
    return max(years) if len(years) >= 2 else None


def _background(text: str, starts: list[int], sentence: int, ref_year: int) -> bool:
    stop = starts[sentence + 1] if sentence + 1 < len(starts) else len(text)
    return any(int(m.group(1)) < ref_year - 1 for m in _YEAR.finditer(text, starts[sentence], stop))


def _refs(zones: Iterable[Zone], ref_year: int | None) -> list[_Ref]:
    # Runs for every place hit: the cheap character tests guard the regular expressions.
    refs: list[_Ref] = []
    overrides: dict[str, tuple[str, ...]] = {}
    for zone in zones:
        text = zone.text
        starts = zone.sentences.starts
        background: dict[int, bool] = {}
        hits = zone.hits
        dateline_end = zone.dateline.end if zone.dateline is not None else -1
        # In a Title Case Headline every word is capitalised: no clue to persons there.
        title_case = zone.name == TITLE and _is_title_case(text)
        for i, hit in enumerate(hits):
            place = hit.item
            if not place.codes:
                continue  # a blocker: it only hid the shorter names inside it
            in_dateline = hit.end <= dateline_end
            if place.kind == "abbrev" and not in_dateline:
                continue
            sentence = bisect_right(starts, hit.start) - 1
            ref = _Ref(place, hit.surface, place.key, zone.name, sentence, place.codes, in_dateline)
            if ref_year is not None:
                if sentence not in background:
                    background[sentence] = _background(text, starts, sentence, ref_year)
                ref.background = background[sentence]
            after = text[hit.end : hit.end + 1]
            # "Paris, Texas" / "LEBANON, Pa.": the qualifier names the country
            if after == "," and i + 1 < len(hits):
                nplace = hits[i + 1].item
                if (
                    nplace.codes
                    and nplace.codes[0] != place.codes[0]
                    and (
                        nplace.kind in ("place", "abbrev")
                        or (place.kind in ("city", "capital") and nplace.kind == "name")
                    )
                    and (nplace.kind != "abbrev" or in_dateline)
                    and _QUALIFIER_GAP.fullmatch(text, hit.end, hits[i + 1].start)
                ):
                    overrides[ref.key] = nplace.codes[:1]
            if place.person and not title_case:
                ref.person = _is_person(text, hit, starts[sentence])
            if after == "-":
                ref.origin = _ORIGIN_SUFFIX.match(text, hit.end) is not None
            elif (
                hit.start >= 2
                and text[hit.start - 1] == " "
                and text[hit.start - 2] in "aAnNe"
                and _may_end_article(text[hit.start - 3 : hit.start - 2])
            ):
                ref.origin = (
                    _ORIGIN_ARTICLE.search(text, max(0, hit.start - 6), hit.start) is not None
                )
            refs.append(ref)
    for ref in refs:
        if ref.key in overrides:
            ref.codes = overrides[ref.key]
    return refs


def _resolve(refs: list[_Ref], common_nouns: frozenset[str]) -> list[tuple[_Ref, str]]:
    """Each reference's country: ambiguous names, persons, common nouns, weak names."""
    plain = [r for r in refs if r.codes and len(r.codes) == 1 and not r.person]
    evidence = {r.codes[0] for r in plain if not r.place.weak}
    geo_evidence = {r.codes[0] for r in plain if r.place.kind in _GEO_KINDS}
    person_keys = {r.key for r in refs if r.person}
    out: list[tuple[_Ref, str]] = []
    for r in refs:
        if not r.codes:
            continue
        code = r.codes[0]
        if len(r.codes) > 1 and code not in evidence:
            pool = geo_evidence if r.place.local else evidence
            code = next((c for c in r.codes[1:] if c in pool), code)
        if r.person or (r.key in person_keys and code not in evidence):
            continue
        # "Turkey" in a title whose text speaks of "a turkey": the bird, unless the article
        # also refers to the country some other way
        if r.key in common_nouns and not any(
            o.codes == (code,) and o.key != r.key and not o.place.weak for o in plain
        ):
            continue
        out.append((r, code))
    strong = {c for r, c in out if not r.place.weak}
    return [(r, c) for r, c in out if not r.place.weak or c in strong]


@functools.lru_cache(maxsize=8)
def _kind_weights(weights: CountryWeights) -> dict[str, float]:
    return dict(weights.kind)


def score_countries(
    zones: Iterable[Zone],
    weights: CountryWeights,
    outlet_country: str | None = None,
    common_nouns: frozenset[str] = frozenset(),
) -> list[CountryScore]:
    """Every country referred to, with its score, decision and evidence (sorted by code).

    ``common_nouns`` are lower-cased place names the text also uses in lower case.
    """
    zones = list(zones)
    ref_year = reference_year(z.text for z in zones)
    resolved = _resolve(_refs(zones, ref_year), common_nouns)
    kind_w = _kind_weights(weights)
    title: set[str] = set()
    dateline: set[str] = set()
    body: dict[str, float] = defaultdict(float)
    body_refs: dict[str, int] = defaultdict(int)
    evidence: dict[str, list[str]] = defaultdict(list)
    for ref, code in resolved:
        if ref.surface not in evidence[code]:
            evidence[code].append(ref.surface)
        if ref.zone == TITLE:
            if not ref.origin:
                title.add(code)
            continue
        if ref.dateline:
            dateline.add(code)
            continue
        if ref.zone == SUMMARY:
            w = weights.summary
        elif ref.sentence == 0:
            w = weights.lead_sentence
        else:
            w = weights.body
        w *= kind_w.get(ref.place.kind, 1.0)
        if ref.origin:
            w *= weights.origin_label
        if ref.background:
            w *= weights.background
        body[code] += w
        body_refs[code] += 1
    if outlet_country and body_refs.get(outlet_country):
        body[outlet_country] += weights.outlet_prior
    best = max(body.values(), default=0.0)
    out = []
    for code in sorted(evidence):
        b = body.get(code, 0.0)
        tagged = (
            code in title
            or code in dateline
            or (
                body_refs.get(code, 0) >= weights.min_body_refs
                and b >= weights.body_threshold
                and b >= weights.relative * best
            )
        )
        score = b + weights.title * (code in title) + weights.dateline * (code in dateline)
        out.append(CountryScore(code, round(score, 3), tagged, tuple(evidence[code])))
    return out
