"""Every weight and threshold of the tagger, in one place, and the rules built from them.

Usage::

    rules = TagRules.build(
        extra_topics={"space": {"rocket*": 2.0, "orbit*": 2.0}},
        extra_keywords={"energy": {"hydrogen": 2.0}},
        region_aliases={"Nordics": ["DK", "FI", "IS", "NO", "SE"]},
    )
    tag_article(title, summary, content, rules=rules)

``TagRules`` is frozen and hashable: the automaton built from it is cached per value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .lexicon import TOPICS


@dataclass(frozen=True)
class CountryWeights:
    """How references add up to "substantially about" a country.

    A country is tagged when it is referred to in the title or is the dateline's place; or,
    from the body (summary + content) alone, when it has at least ``min_body_refs`` counted
    references, a body score of at least ``body_threshold`` and at least ``relative`` of the
    best-scored country's body score (a supporting actor in a story about two others is
    background: the seed article's seven US references against Iraq's twenty).
    """

    # where a reference stands
    title: float = 4.0
    dateline: float = 4.0
    summary: float = 1.5  # the standfirst is the lead
    lead_sentence: float = 1.5  # first sentence of the content
    body: float = 1.0  # any other sentence of the content
    # what kind of reference it is
    kind: tuple[tuple[str, float], ...] = (
        ("name", 1.0),
        ("demonym", 0.9),
        ("capital", 1.0),
        ("city", 0.8),
        ("metonym", 1.0),
        ("place", 0.9),
        ("abbrev", 1.0),
    )
    # how a reference is used
    origin_label: float = 0.2  # "a U.S. engine maker", "the Vienna-based agency"
    background: float = 0.4  # a sentence about an earlier year ("in 2003", "since 2012")
    outlet_prior: float = 0.5  # added when the outlet's home country is referred to at all
    # decision
    min_body_refs: int = 2
    body_threshold: float = 2.6
    relative: float = 0.4

    def kind_weight(self, kind: str) -> float:
        return dict(self.kind).get(kind, 1.0)


@dataclass(frozen=True)
class TopicWeights:
    """How lexicon hits add up to a topic.

    Each sentence (the title is one) adds its hits' weights to a topic, up to
    ``sentence_cap``, so a topic is measured by how many sentences develop it rather than by
    how many of its words one sentence piles up. A topic is tagged when its score reaches
    ``threshold``, at least ``min_sentences`` sentences develop it (reach ``sentence_min``)
    and it has at least ``relative`` of the best topic's score; the best-scored topic is
    tagged from ``top_threshold``.
    """

    title: float = 2.0
    summary: float = 1.5
    body: float = 1.0
    sentence_cap: float = 4.0  # one sentence adds at most this much to a topic
    sentence_min: float = 2.0  # a sentence "develops" a topic from this much
    category_hint: float = 3.0  # the feed's own <category> names the topic
    threshold: float = 5.0
    top_threshold: float = 4.0
    min_sentences: int = 2
    relative: float = 0.25  # and at least this share of the best topic's score


@dataclass(frozen=True)
class TagRules:
    """Weights plus configured additions; build with :meth:`build` from plain mappings."""

    countries: CountryWeights = field(default_factory=CountryWeights)
    topics: TopicWeights = field(default_factory=TopicWeights)
    # (topic, term, weight): extra topics and extra keywords for default topics
    extra_terms: tuple[tuple[str, str, float], ...] = ()
    # (region name, country codes)
    region_aliases: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def build(
        cls,
        *,
        countries: CountryWeights | None = None,
        topics: TopicWeights | None = None,
        extra_topics: Mapping[str, Mapping[str, float]] | None = None,
        extra_keywords: Mapping[str, Mapping[str, float]] | None = None,
        region_aliases: Mapping[str, Iterable[str]] | None = None,
    ) -> TagRules:
        """Rules from config-shaped mappings (topic -> {term: weight}, alias -> codes)."""
        terms: list[tuple[str, str, float]] = []
        for mapping in (extra_topics or {}, extra_keywords or {}):
            for topic, words in sorted(mapping.items()):
                for word, weight in sorted(words.items()):
                    terms.append((topic, word, float(weight)))
        aliases = tuple(
            (name, tuple(sorted(c.upper() for c in codes)))
            for name, codes in sorted((region_aliases or {}).items())
        )
        return cls(
            countries=countries or CountryWeights(),
            topics=topics or TopicWeights(),
            extra_terms=tuple(terms),
            region_aliases=aliases,
        )

    def topic_names(self) -> tuple[str, ...]:
        extra = sorted({t for t, _, _ in self.extra_terms} - set(TOPICS))
        return TOPICS + tuple(extra)


DEFAULT_RULES = TagRules()
