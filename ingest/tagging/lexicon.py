"""Topic lexicons: the default taxonomy from ``data/topics.tsv`` plus configured extras."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

from .gazetteer import read_table

TOPICS: tuple[str, ...] = (
    "politics",
    "diplomacy",
    "conflict-security",
    "economy-business",
    "energy",
    "climate-environment",
    "health",
    "science-technology",
    "elections",
    "human-rights",
    "migration",
    "law-justice",
    "sports",
    "culture",
    "disaster",
)


@dataclass(frozen=True, slots=True)
class Term:
    """One lexicon entry: a word, phrase or stem that counts towards a topic."""

    form: str  # without the stem marker
    topic: str
    weight: float
    stem: bool = False  # matches any word starting with ``form``
    exact: bool = False  # case-sensitive (acronyms such as "AI", "NATO")
    cased: bool = False  # needs a capital first letter


def make_term(spec: str, topic: str, weight: float) -> Term:
    """A term from its lexicon spelling: ``"referend*"`` is a stem, ``"AI"`` is exact."""
    stem = spec.endswith("*")
    form = spec[:-1] if stem else spec
    letters = [c for c in form if c.isalpha()]
    exact = len(letters) >= 2 and all(c.isupper() for c in letters)
    cased = bool(letters) and letters[0].isupper()
    return Term(form=form, topic=topic, weight=weight, stem=stem, exact=exact, cased=cased)


@functools.cache
def default_terms() -> tuple[Term, ...]:
    out = []
    for topic, weight, terms in read_table("topics.tsv"):
        for spec in terms.split("/"):
            if spec:
                out.append(make_term(spec, topic, float(weight)))
    return tuple(out)


def extra_terms(extra: Iterable[tuple[str, str, float]]) -> tuple[Term, ...]:
    """Configured (topic, term, weight) triples as terms."""
    return tuple(make_term(spec, topic, weight) for topic, spec, weight in extra)
