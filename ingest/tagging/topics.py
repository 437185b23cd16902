"""Which topics an article is about: lexicon hits -> per-topic scores -> labels.

A pure function over the term hits of :mod:`.matcher`. Each hit adds its term's weight times
its zone's weight; a term repeated adds less each time (``TopicWeights.repeat``) so one word
used ten times does not make a theme. A topic needs hits in at least two sentences (the
eval's "developed in at least two sentences"); the feed's categories add a hint.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from .lexicon import Term
from .matcher import Hit
from .rules import TopicWeights

_CATEGORY_SPLIT = re.compile(r"[\s/&,;|_-]+")
# Common feed category words that are not topic names.
_CATEGORY_WORDS = {
    "business": "economy-business",
    "sport": "sports",
    "tech": "science-technology",
    "technology": "science-technology",
    "science": "science-technology",
    "environment": "climate-environment",
    "climate": "climate-environment",
    "crime": "law-justice",
    "courts": "law-justice",
    "arts": "culture",
    "war": "conflict-security",
    "defence": "conflict-security",
    "security": "conflict-security",
    "immigration": "migration",
}


@dataclass(frozen=True, slots=True)
class TopicScore:
    topic: str
    score: float
    tagged: bool
    evidence: tuple[str, ...]


def _category_topics(categories: Iterable[str], topics: Iterable[str]) -> set[str]:
    """Topics a feed's own category labels name ("Politics", "Business & Economy", "Sport")."""
    by_word: dict[str, str] = {}
    for t in topics:
        for part in _CATEGORY_SPLIT.split(t):
            by_word.setdefault(part, t)
    by_word.update(_CATEGORY_WORDS)
    out = set()
    for cat in categories:
        for word in _CATEGORY_SPLIT.split(cat.casefold()):
            topic = by_word.get(word)
            if topic:
                out.add(topic)
    return out


def score_topics(
    zone_hits: Iterable[tuple[str, tuple[Hit, ...], list[int]]],
    weights: TopicWeights,
    topics: Iterable[str],
    categories: Iterable[str] = (),
) -> list[TopicScore]:
    """Scores for every topic with a hit; ``zone_hits`` is (zone, hits, sentence ids)."""
    zone_w = {"title": weights.title, "summary": weights.summary, "content": weights.body}
    score: dict[str, float] = defaultdict(float)
    seen: dict[tuple[str, str], int] = defaultdict(int)
    sentences: dict[str, set[tuple[str, int]]] = defaultdict(set)
    evidence: dict[str, list[str]] = defaultdict(list)
    for zone, hits, sentence_ids in zone_hits:
        for hit, sid in zip(hits, sentence_ids, strict=True):
            term = hit.item
            assert isinstance(term, Term)
            key = (term.topic, term.form)
            n = seen[key]
            seen[key] = n + 1
            score[term.topic] += term.weight * zone_w[zone] * (weights.repeat if n else 1.0)
            sentences[term.topic].add((zone, sid))
            word = hit.surface.casefold()
            if word not in evidence[term.topic]:
                evidence[term.topic].append(word)
    topic_list = list(topics)
    for topic in _category_topics(categories, topic_list):
        score[topic] += weights.category_hint
        sentences[topic].add(("category", 0))
    best_topic = max(score, key=lambda t: score[t], default=None)
    best = score[best_topic] if best_topic else 0.0
    out = []
    for topic in topic_list:
        if topic not in score:
            continue
        s = score[topic]
        tagged = (
            s >= weights.threshold
            and len(sentences[topic]) >= weights.min_sentences
            and s >= weights.relative * best
        ) or (topic == best_topic and s >= weights.top_threshold)
        out.append(TopicScore(topic, round(s, 3), tagged, tuple(evidence[topic])))
    return out
