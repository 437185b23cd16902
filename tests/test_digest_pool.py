"""A shared StoryPool (indexes, memo, cached cuts, items and fragments) changes no digest.

Every subscriber's digest composed over one pool, in one order, must equal the digest
composed from the bare articles (a fresh pool each time), and render identically.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from digest.compose import compose, prepare
from digest.render import Renderer
from digest.types import DigestArticle, Limits, SubscriberPrefs

END = datetime(2025, 1, 10, 4, tzinfo=UTC)
START = END - timedelta(days=1)
COUNTRIES = ("IQ", "IR", "LB", "SY", "FR", "DE", "NG", "KE", "BR", "CN")
REGIONS = {"IQ": "Western Asia", "IR": "Southern Asia", "LB": "Western Asia", "SY": "Western Asia"}
RESOLVER = {
    "Middle East": frozenset({"IQ", "IR", "LB", "SY"}),
    "Western Asia": frozenset({"IQ", "LB", "SY"}),
    "Europe": frozenset({"FR", "DE"}),
    "Africa": frozenset({"NG", "KE"}),
}
TOPICS = ("politics", "diplomacy", "economy-business", "sports")
OUTLETS = ("Alpha", "Beta", "Gamma", "وكالة", "Delta")
WORDS = ("talks", "oil", "election", "طهران", "football", "floods")


def articles(rng: random.Random) -> list[DigestArticle]:
    out = []
    for i in range(400):
        story = rng.randrange(120)
        srng = random.Random(story)
        countries = tuple(srng.sample(COUNTRIES, srng.choice((1, 2))))
        regions = tuple(dict.fromkeys(REGIONS[c] for c in countries if c in REGIONS))
        if any(c in RESOLVER["Middle East"] for c in countries):
            regions += ("Middle East",)
        # Some articles before the window (earlier reports) and some after its end.
        at = START + timedelta(hours=rng.uniform(-30, 26))
        out.append(
            DigestArticle(
                id=i + 1,
                story_id=story + 1 if rng.random() < 0.9 else None,
                title=f"{srng.choice(WORDS)} report {story} {rng.choice(WORDS)}",
                url=f"https://{i}.example/",
                outlet=rng.choice(OUTLETS),
                outlet_id=rng.randrange(1, 6),
                published=at + timedelta(minutes=rng.choice((-30, 0, 90))),
                first_seen=at,
                summary=rng.choice(("", "Officials met in Baghdad.", "عقدت محادثات في طهران")),
                countries=countries,
                regions=regions,
                topics=tuple(srng.sample(TOPICS, srng.choice((0, 1, 2)))),
                updated=rng.random() < 0.1,
            )
        )
    return out


def subscribers(rng: random.Random) -> list[tuple[SubscriberPrefs, frozenset[int]]]:
    out = []
    for i in range(80):
        kw: dict[str, object] = {}
        if rng.random() < 0.5:
            kw["regions"] = tuple(rng.sample(sorted(RESOLVER), rng.choice((1, 2))))
        if rng.random() < 0.3:
            kw["countries"] = (rng.choice(COUNTRIES),)
        if rng.random() < 0.3:
            kw["topics"] = (rng.choice(TOPICS),)
        if rng.random() < 0.25:
            kw["outlets"] = (*rng.sample(OUTLETS, 2), str(rng.randrange(1, 6)))
        if rng.random() < 0.25:
            kw["keywords"] = (rng.choice(WORDS),)
        if rng.random() < 0.25:
            kw["exclude_keywords"] = (rng.choice(WORDS),)
        prefs = SubscriberPrefs(
            email=f"r{i}@example.org",
            timezone=rng.choice(("UTC", "Asia/Baghdad", "America/Bogota")),
            group_by=rng.choice((None, "region", "topic", "outlet")),
            limits=rng.choice((Limits(), Limits(per_section=2, total=5))),
            outlet_priority=rng.choice(({}, {"Beta": 2})),
            send_empty=True,
            **kw,  # type: ignore[arg-type]
        )
        delivered = frozenset(rng.sample(range(1, 121), 10)) if rng.random() < 0.2 else frozenset()
        out.append((prefs, delivered))
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_a_shared_pool_gives_the_same_digests_as_fresh_ones(seed: int) -> None:
    rng = random.Random(seed)
    arts = articles(rng)
    pool = prepare(arts)
    renderer = Renderer()
    everyone = subscribers(rng) * 2  # the second round reads every cache
    shown = 0
    for prefs, delivered in everyone:
        shared = compose(
            pool,
            prefs,
            (START, END),
            region_countries=RESOLVER,
            delivered_story_ids=delivered,
            now=END,
        )
        fresh = compose(
            list(arts),
            prefs,
            (START, END),
            region_countries=RESOLVER,
            delivered_story_ids=delivered,
            now=END,
        )
        assert shared == fresh, prefs
        shown += shared.shown_stories
        assert renderer.page(shared) == renderer.page(fresh)
        assert renderer.email_html(shared) == renderer.email_html(fresh)
        assert renderer.text(shared) == renderer.text(fresh)
    assert shown > 50  # the filters let real digests through, not only empty ones


def test_rendered_fragments_match_an_uncached_renderer() -> None:
    rng = random.Random(7)
    pool = prepare(articles(rng))
    warm = Renderer()
    for prefs, _ in subscribers(rng)[:40]:
        digest = compose(pool, prefs, (START, END), region_countries=RESOLVER, now=END)
        warm.page(digest)
        warm.email_html(digest)
        cold = Renderer()
        assert warm.page(digest) == cold.page(digest)
        assert warm.email_html(digest) == cold.email_html(digest)
        assert warm.text(digest) == cold.text(digest)
