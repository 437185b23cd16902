"""tag_article: an article's text -> countries, regions and topics with scores and evidence."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .countries import CONTENT, SUMMARY, TITLE, Zone, score_countries
from .gazetteer import Place, places
from .lexicon import Term, default_terms, extra_terms
from .matcher import Automata, TermHit, build_automaton, scan
from .regions import regions_for_country
from .rules import DEFAULT_RULES, TagRules
from .text import Sentences, find_dateline, normalise
from .topics import score_topics


@dataclass(frozen=True)
class Tag:
    """One stored tag: kind ("country", "region", "topic"), value, score, evidence."""

    kind: str
    value: str
    score: float
    evidence: tuple[str, ...]


@dataclass(frozen=True)
class TagResult:
    """The tags of one article; each tuple is sorted."""

    countries: tuple[str, ...]
    regions: tuple[str, ...]
    topics: tuple[str, ...]
    tags: tuple[Tag, ...]  # the tagged values above, with score and evidence

    @property
    def scores(self) -> dict[str, float]:
        """``"country:IQ"``-style keys to scores."""
        return {f"{t.kind}:{t.value}": t.score for t in self.tags}

    @property
    def evidence(self) -> dict[str, dict[str, list[str]]]:
        out: dict[str, dict[str, list[str]]] = {"countries": {}, "regions": {}, "topics": {}}
        for t in self.tags:
            section = {"country": "countries", "region": "regions", "topic": "topics"}[t.kind]
            out[section][t.value] = list(t.evidence)
        return out


@functools.lru_cache(maxsize=8)
def _automaton(rules: TagRules) -> Automata:
    terms: tuple[Term, ...] = default_terms() + extra_terms(rules.extra_terms)
    return build_automaton(places(), terms)


def tag_article(
    title: str,
    summary: str = "",
    content: str = "",
    *,
    categories: Iterable[str] = (),
    outlet_country: str | None = None,
    rules: TagRules | None = None,
) -> TagResult:
    """Tag one article (plain text fields; HTML should be stripped by the caller).

    ``categories`` are the feed's own category labels (hints for topics);
    ``outlet_country`` is the outlet's home country (a weak prior, never a tag by itself).
    """
    rules = rules or DEFAULT_RULES
    automaton = _automaton(rules)
    zones: list[Zone] = []
    topic_input: list[tuple[str, list[TermHit], Sentences]] = []
    lowercase_keys: frozenset[str] = frozenset()
    dateline_zone = CONTENT if (content or "").strip() else SUMMARY
    for name, raw in ((TITLE, title), (SUMMARY, summary), (CONTENT, content)):
        text = normalise(raw or "")
        if not text.strip():
            continue
        found = scan(automaton, text)
        place_hits, term_hits = found.places, found.terms
        lowercase_keys |= found.lowercase_keys
        sentences = Sentences(text)
        # the dateline opens the content (or the summary when there is no content)
        dateline = find_dateline(text) if name == dateline_zone else None
        zones.append(Zone(name, text, tuple(place_hits), sentences, dateline))
        topic_input.append((name, term_hits, sentences))

    country_scores = score_countries(
        zones,
        rules.countries,
        outlet_country.upper() if outlet_country else None,
        common_nouns=lowercase_keys,
    )
    topic_scores = score_topics(
        topic_input, rules.topics, rules.topic_names(), categories=categories
    )
    countries = tuple(c.code for c in country_scores if c.tagged)
    tags = [Tag("country", c.code, c.score, c.evidence) for c in country_scores if c.tagged]
    region_sources: dict[str, list[str]] = {}
    region_score: dict[str, float] = {}
    for c in country_scores:
        if not c.tagged:
            continue
        for region in regions_for_country(c.code):
            region_sources.setdefault(region, []).append(c.code)
            region_score[region] = max(region_score.get(region, 0.0), c.score)
    tags += [
        Tag("region", r, region_score[r], tuple(region_sources[r])) for r in sorted(region_sources)
    ]
    tags += [Tag("topic", t.topic, t.score, t.evidence) for t in topic_scores if t.tagged]
    return TagResult(
        countries=countries,
        regions=tuple(sorted(region_sources)),
        topics=tuple(sorted(t.topic for t in topic_scores if t.tagged)),
        tags=tuple(tags),
    )


def tag_result_to_json(result: TagResult) -> dict[str, Any]:
    """The CLI's JSON shape: countries, regions, topics, evidence and scores."""
    return {
        "countries": list(result.countries),
        "regions": list(result.regions),
        "topics": list(result.topics),
        "evidence": result.evidence,
        "scores": result.scores,
    }


__all__ = ["Place", "Tag", "TagResult", "tag_article", "tag_result_to_json"]
