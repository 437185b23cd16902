"""A shared StoryPool (indexes, memo, cached cuts, items and fragments) changes no digest.

Every subscriber's digest composed over one pool, in one order, must equal the digest
composed from the bare articles (a fresh pool each time), and render identically.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from digest.compose import compose, prepare
from digest.render import Renderer
from digest.types import Digest, DigestArticle, Limits, SubscriberPrefs

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


def digest_of(
    source: Any, prefs: SubscriberPrefs, delivered: frozenset[int] = frozenset()
) -> Digest:
    """The day's digest for ``prefs`` from a pool or a plain article list."""
    return compose(
        source,
        prefs,
        (START, END),
        region_countries=RESOLVER,
        delivered_story_ids=delivered,
        now=END,
    )


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
        shared = digest_of(pool, prefs, delivered)
        fresh = digest_of(list(arts), prefs, delivered)
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
        digest = digest_of(pool, prefs)
        warm.page(digest)
        warm.email_html(digest)
        cold = Renderer()
        assert warm.page(digest) == cold.page(digest)
        assert warm.email_html(digest) == cold.email_html(digest)
        assert warm.text(digest) == cold.text(digest)


ZONES = ("UTC", "Asia/Baghdad", "America/Bogota", "Asia/Kathmandu", "Pacific/Kiritimati")


def _hostile(arts: list[DigestArticle]) -> list[DigestArticle]:
    """Some titles and outlets with markup, entities, quotes and a would-be time token."""
    import dataclasses

    odd = (
        '<script>x</script> & "q"',
        "\ue000ndtime0-0\ue001 'tok'",
        "a&amp;b <b>",
        "طهران ‎«» and an outlet name long enough to wrap its line in the text",
    )
    return [
        dataclasses.replace(a, title=odd[i % 4] + a.title, outlet=a.outlet + odd[(i + 1) % 4])
        if i % 7 == 0
        else a
        for i, a in enumerate(arts)
    ]


@pytest.mark.parametrize("seed", [3, 4])
def test_shared_rendering_equals_the_reference_rendering(seed: int) -> None:
    """Fragments rendered once for every zone, cached, and inlined apart from the email
    equal what rendering each digest whole gives, css-inline run on the whole email."""
    rng = random.Random(seed)
    pool = prepare(_hostile(articles(rng)))
    shared, reference = Renderer(), Renderer(shared=False)
    compared = 0
    for prefs, delivered in subscribers(rng) * 2:
        prefs = dataclasses_replace(prefs, timezone=rng.choice(ZONES))
        digest = digest_of(pool, prefs, delivered)
        urls = {"unsubscribe_url": "https://x.example/u/1?a=1&b=2", "view_url": None}
        assert shared.page(digest) == reference.page(digest)
        assert shared.email_html(digest, **urls) == reference.email_html(digest, **urls)
        assert shared.text(digest, **urls) == reference.text(digest, **urls)
        compared += digest.shown_stories
    assert compared > 100
    assert shared._zone_bound == set()  # the packaged stories were rendered once for all zones
    # ... except the text of those whose wrapped meta line holds the time label.
    assert None in shared._zone_free.values()


def dataclasses_replace(prefs: SubscriberPrefs, **kw: object) -> SubscriberPrefs:
    import dataclasses

    return dataclasses.replace(prefs, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("story_html", "per_zone"),
    [
        # The label changed by a filter: its token is gone, so this template is per zone.
        ("<p>{{ item.headline }} {{ (item.time|localtime(zone))|upper }}</p>", True),
        # The zone printed and used to convert: the stand-in refuses, per zone again.
        ("<p>{{ item.headline }} {{ zone }} {{ item.time.astimezone(zone).hour }}</p>", True),
        # The label decides a branch and is still printed: the sample check at start-up
        # sees the two ways differ.
        (
            "{% set t = item.time|localtime(zone) %}<p>{{ t }}"
            "{% if t[:3] == 'Thu' %} (Thursday){% endif %}</p>",
            True,
        ),
        # Two labels, one of them of another instant: still rendered once for every zone.
        (
            "<p>{{ item.time|localtime(zone) }} / "
            "{{ item.time.replace(hour=0)|localtime(zone) }}</p>",
            False,
        ),
    ],
)
def test_override_templates_that_use_the_zone_otherwise_still_render_right(
    tmp_path: Path, story_html: str, per_zone: bool
) -> None:
    (tmp_path / "_story.html").write_text(story_html, encoding="utf-8")
    (tmp_path / "_story_email.html").write_text(story_html, encoding="utf-8")
    # Padding that depends on the label's length: only the start-up check can tell.
    text = "{{ (item.headline ~ ' ' ~ item.time|localtime(zone))|center(100) }}\n"
    (tmp_path / "_story.txt").write_text(text, encoding="utf-8")
    rng = random.Random(5)
    pool = prepare(articles(rng))
    shared, reference = Renderer(tmp_path), Renderer(tmp_path, shared=False)
    for prefs, _ in subscribers(rng)[:30]:
        for zone in ZONES[:3]:
            digest = digest_of(pool, dataclasses_replace(prefs, timezone=zone))
            assert shared.page(digest) == reference.page(digest)
            assert shared.email_html(digest) == reference.email_html(digest)
            assert shared.text(digest) == reference.text(digest)
    expected = {"_story.html", "_story_email.html"} if per_zone else set()
    assert shared._zone_bound == expected | {"_story.txt"}


def test_the_short_line_path_of_wrap_is_what_textwrap_gives() -> None:
    import textwrap

    from digest.render import _wrap

    rng = random.Random(11)
    pieces = ("a", "word", "كلمة", "長い文章です", " ", "  ", "\t", "\n", "-", "x" * 30, "é")
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randrange(0, 25)))
        width, indent = rng.choice((72, 40, 10)), rng.choice(("", "  ", "- "))
        expected = textwrap.fill(
            " ".join(text.split()),
            width=width,
            initial_indent=indent,
            subsequent_indent=indent,
            break_on_hyphens=False,
        )
        assert _wrap(text, width, indent) == expected, (text, width, indent)
