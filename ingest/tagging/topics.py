"""Which topics an article is about: lexicon hits -> per-topic scores -> labels.

A pure function over the term hits of :mod:`.matcher`. Each sentence adds the weights of its
hits to their topics, capped per sentence, times its zone's weight (title, summary,
content), so a topic is measured by how many sentences develop it. A topic needs at least
two developing sentences (the eval's "developed in at least two sentences"); the feed's
categories add a hint.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Iterable
from typing import NamedTuple

from .matcher import TermHit
from .rules import TopicWeights
from .text import Sentences

_CATEGORY_SPLIT = re.compile(r"[\s/&,;|_-]+")
_MAX_EVIDENCE = 12
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


class TopicScore(NamedTuple):
    """One topic's score and decision (a tuple: built for every topic with a hit)."""

    topic: str
    score: float
    tagged: bool
    evidence: tuple[str, ...]


@functools.lru_cache(maxsize=8)
def _category_words(topics: tuple[str, ...]) -> dict[str, str]:
    by_word: dict[str, str] = {}
    for t in topics:
        for part in _CATEGORY_SPLIT.split(t):
            by_word.setdefault(part, t)
    by_word.update(_CATEGORY_WORDS)
    return by_word


def _category_topics(categories: Iterable[str], topics: Iterable[str]) -> set[str]:
    """Topics a feed's own category labels name ("Politics", "Business & Economy", "Sport")."""
    categories = tuple(categories)
    if not categories:
        return set()
    by_word = _category_words(tuple(topics))
    out = set()
    for cat in categories:
        for word in _CATEGORY_SPLIT.split(cat.casefold()):
            topic = by_word.get(word)
            if topic:
                out.add(topic)
    return out


def score_topics(
    zone_hits: Iterable[tuple[str, list[TermHit], Sentences]],
    weights: TopicWeights,
    topics: Iterable[str],
    categories: Iterable[str] = (),
) -> list[TopicScore]:
    """Scores for every topic with a hit; ``zone_hits`` is (zone, term hits, sentences)."""
    zone_w = {"title": weights.title, "summary": weights.summary, "content": weights.body}
    cap, develops = weights.sentence_cap, weights.sentence_min
    score: dict[str, float] = defaultdict(float)
    developed: dict[str, int] = defaultdict(int)
    evidence: dict[str, dict[str, None]] = defaultdict(dict)
    # This loop runs for every term hit (hundreds per long article): the hits come in text
    # order, so it sums one sentence's weights per topic in a small dict and adds the capped
    # sums when the next sentence starts, walking the sentence starts in step with the hits
    # instead of searching them.
    for zone, hits, sentences in zone_hits:
        zw = zone_w[zone]
        starts = sentences.starts
        last = len(starts) - 1
        sid = 0
        nxt = starts[1] if last else len(sentences.text) + 1
        sentence: dict[str, float] = {}
        for start, term, surface in hits:
            if start >= nxt:
                for topic, s in sentence.items():
                    score[topic] += (cap if s > cap else s) * zw  # min(), without the call
                    developed[topic] += s >= develops
                sentence = {}
                while start >= nxt:
                    sid += 1
                    nxt = starts[sid + 1] if sid < last else len(sentences.text) + 1
            topic = term.topic
            sentence[topic] = sentence.get(topic, 0.0) + term.weight
            ev = evidence[topic]
            if len(ev) < _MAX_EVIDENCE:
                ev[surface] = None
        for topic, s in sentence.items():
            score[topic] += (cap if s > cap else s) * zw
            developed[topic] += s >= develops
    topic_list = list(topics)
    for topic in _category_topics(categories, topic_list):
        score[topic] += weights.category_hint
        developed[topic] += 1
    best_topic = max(score, key=score.__getitem__, default=None)
    best = score[best_topic] if best_topic else 0.0
    out = []
    for topic in topic_list:
        if topic not in score:
            continue
        s = score[topic]
        tagged = (
            s >= weights.threshold
            and developed[topic] >= weights.min_sentences
            and s >= weights.relative * best
        ) or (topic == best_topic and s >= weights.top_threshold)
        words = tuple(dict.fromkeys(map(str.casefold, evidence[topic])))
        out.append(TopicScore(topic, round(s, 3), tagged, words))
    return out
