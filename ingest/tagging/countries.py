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

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from .gazetteer import Place
from .matcher import Hit
from .rules import CountryWeights
from .text import Dateline, Sentences, lower_keep_length

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
_ANY_YEAR = re.compile(r"\b(1[5-9]\d\d|20\d\d)\b")


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


@dataclass(frozen=True, slots=True)
class CountryScore:
    code: str
    score: float
    tagged: bool
    evidence: tuple[str, ...]


def _is_person(text: str, hit: Hit, sentence_start: int) -> bool:
    after = _NAME_AFTER.match(text, hit.end)
    if after and after.group(1)[0].isupper() and after.group(1).casefold() not in _NOT_NAMES:
        return True
    if hit.start > sentence_start:
        before = _NAME_BEFORE.search(text, sentence_start, hit.start)
        if before and before.end() == hit.start:
            word = before.group(1)
            if word[0].isupper() and word.casefold() not in _NOT_NAMES:
                return True
    return False


def _background_sentences(zone: Zone, reference_year: int | None) -> set[int]:
    if reference_year is None:
        return set()
    out = set()
    for m in _YEAR.finditer(zone.text):
        if int(m.group(1)) < reference_year - 1:
            out.add(zone.sentences.index(m.start()))
    return out


def reference_year(texts: Iterable[str]) -> int | None:
    """The latest year an article names, when it names at least two different years.

    With one year only there is nothing to tell background from news by.
    """
    years = {int(y) for t in texts for y in _ANY_YEAR.findall(t)}
    return max(years) if len(years) >= 2 else None


def _refs(zones: Iterable[Zone], ref_year: int | None) -> list[_Ref]:
    refs: list[_Ref] = []
    overrides: dict[str, tuple[str, ...]] = {}
    for zone in zones:
        text = zone.text
        background = _background_sentences(zone, ref_year)
        hits = zone.hits
        for i, hit in enumerate(hits):
            place = hit.item
            assert isinstance(place, Place)
            in_dateline = zone.dateline is not None and hit.end <= zone.dateline.end
            if place.kind == "abbrev" and not in_dateline:
                continue
            sentence = zone.sentences.index(hit.start)
            ref = _Ref(
                place=place,
                surface=hit.surface,
                key=lower_keep_length(place.form),
                zone=zone.name,
                sentence=sentence,
                codes=place.codes,
                dateline=in_dateline,
                background=sentence in background,
            )
            # "Paris, Texas" / "LEBANON, Pa.": the qualifier names the country
            if i + 1 < len(hits) and place.codes:
                nxt = hits[i + 1]
                nplace = nxt.item
                assert isinstance(nplace, Place)
                gap = _QUALIFIER_GAP.fullmatch(text, hit.end, nxt.start)
                if (
                    gap
                    and nplace.codes
                    and nplace.codes[0] not in place.codes[:1]
                    and (
                        nplace.kind in ("place", "abbrev")
                        or (place.kind in ("city", "capital") and nplace.kind == "name")
                    )
                    and (nplace.kind != "abbrev" or in_dateline)
                ):
                    overrides[ref.key] = nplace.codes[:1]
            if place.person and place.codes:
                ref.person = _is_person(text, hit, zone.sentences.starts[sentence])
            if _ORIGIN_SUFFIX.match(text, hit.end) or _ORIGIN_ARTICLE.search(
                text, max(0, hit.start - 6), hit.start
            ):
                ref.origin = True
            refs.append(ref)
    for ref in refs:
        if ref.key in overrides:
            ref.codes = overrides[ref.key]
    return refs


def _resolve(refs: list[_Ref]) -> list[tuple[_Ref, str]]:
    """Each reference's country: ambiguous names, persons and weak names settled."""
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
        out.append((r, code))
    strong = {c for r, c in out if not r.place.weak}
    return [(r, c) for r, c in out if not r.place.weak or c in strong]


def score_countries(
    zones: Iterable[Zone],
    weights: CountryWeights,
    outlet_country: str | None = None,
) -> list[CountryScore]:
    """Every country referred to, with its score, decision and evidence (sorted by code)."""
    zones = list(zones)
    ref_year = reference_year(z.text for z in zones)
    resolved = _resolve(_refs(zones, ref_year))
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
        w *= weights.kind_weight(ref.place.kind)
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
