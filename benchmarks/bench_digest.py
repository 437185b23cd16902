"""Digests composed and rendered per second, for many subscribers over one day of news.

    .venv/bin/python benchmarks/bench_digest.py [--subscribers N] [--articles N]
        [--stories N] [--seed S] [--profile]

A day of synthetic articles (English, Arabic, Spanish, French, Chinese headlines; tags
from the tagger's vocabulary) grouped into stories, and subscribers with varied filters
(regions, countries, topics, outlets, keywords, exclusions, time zones, groupings; a
tenth follow everything). For each subscriber: compose (over one StoryPool prepared
once, as `digest build` does) and render what a build writes: the web page, the HTML
email (CSS inlined) and the plain text. Nothing is written to disk.

Prints one JSON line: subscribers, articles, stories, seconds, subscribers_per_s,
compose_per_s (composition alone, measured in the same run), peak_rss_mb, stories_shown.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import random
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from digest.compose import compose, prepare
from digest.render import Renderer
from digest.types import DigestArticle, Limits, SubscriberPrefs
from ingest.tagging import TOPICS, countries_for_region, region_names, regions_for_country

END = datetime(2025, 1, 10, 4, 0, tzinfo=UTC)
START = END - timedelta(days=1)
COUNTRIES = [
    "IQ",
    "IR",
    "SY",
    "LB",
    "IL",
    "PS",
    "JO",
    "SA",
    "AE",
    "QA",
    "YE",
    "EG",
    "TR",
    "US",
    "CA",
    "MX",
    "BR",
    "AR",
    "CO",
    "VE",
    "GB",
    "FR",
    "DE",
    "IT",
    "ES",
    "UA",
    "RU",
    "PL",
    "NG",
    "KE",
    "ZA",
    "ET",
    "SD",
    "ML",
    "NE",
    "SN",
    "IN",
    "PK",
    "BD",
    "CN",
    "JP",
    "KR",
    "PH",
    "ID",
    "VN",
    "AU",
    "NZ",
    "FJ",
]
HEADLINES = {
    "en": [
        "{c} and {d} agree to resume talks on border crossings",
        "Protests in {c} enter third week as government weighs reforms",
        "Floods displace thousands in {c}; aid agencies appeal for funds",
        "Central bank of {c} raises rates as inflation climbs",
        "Election commission in {c} sets date for presidential vote",
    ],
    "ar": [
        "رئيس وزراء {c} يزور {d} لتعزيز التعاون",
        "احتجاجات في {c} للأسبوع الثالث على التوالي",
    ],
    "es": ["El gobierno de {c} anuncia nuevas medidas económicas"],
    "fr": ["Le président de {c} rencontre son homologue de {d}"],
    "zh": ["{c}与{d}举行会谈，讨论地区安全"],
}
OUTLETS = [f"Outlet {i:02d}" for i in range(40)]
KEYWORDS = ["talks", "election", "floods", "inflation", "border", "protest", "oil", "aid"]
ZONES = ["UTC", "Asia/Baghdad", "Europe/Paris", "America/Bogota", "Asia/Tokyo", "Africa/Lagos"]


def make_articles(n_articles: int, n_stories: int, rng: random.Random) -> list[DigestArticle]:
    articles = []
    # Each story gets at least one article; the rest spread with a long tail.
    story_of = list(range(n_stories)) + [
        min(int(rng.paretovariate(1.2)) - 1, n_stories - 1) if rng.random() < 0.5
        else rng.randrange(n_stories)
        for _ in range(n_articles - n_stories)
    ]  # fmt: skip
    story_tags = {}
    for s in range(n_stories):
        countries = tuple(rng.sample(COUNTRIES, rng.choice((1, 1, 2, 3))))
        regions = tuple(dict.fromkeys(r for c in countries for r in regions_for_country(c)))
        topics = tuple(rng.sample(TOPICS, rng.choice((0, 1, 2, 2, 3))))
        lang = rng.choice(("en", "en", "en", "ar", "es", "fr", "zh"))
        title = rng.choice(HEADLINES[lang]).format(c=countries[0], d=countries[-1])
        story_tags[s] = (countries, regions, topics, lang, title)
    for i, s in enumerate(story_of):
        countries, regions, topics, lang, title = story_tags[s]
        at = START + timedelta(seconds=rng.randrange(86_400))
        outlet = rng.randrange(len(OUTLETS))
        articles.append(
            DigestArticle(
                id=i + 1,
                story_id=s + 1,
                title=f"{title} ({i})",
                url=f"https://outlet{outlet}.example/{i}",
                outlet=OUTLETS[outlet],
                outlet_id=outlet + 1,
                published=at,
                first_seen=at,
                summary=f"{title}. " * rng.randint(1, 4),
                language=lang,
                countries=countries,
                regions=regions,
                topics=topics,
            )
        )
    return articles


def make_subscribers(n: int, rng: random.Random) -> list[SubscriberPrefs]:
    regions = region_names()
    subscribers = []
    for i in range(n):
        kind = i % 10
        kw: dict[str, object] = {}
        if kind == 0:
            pass  # everything
        elif kind in (1, 2, 3):
            kw["regions"] = tuple(rng.sample(regions, rng.choice((1, 1, 2))))
        elif kind == 4:
            kw["countries"] = tuple(rng.sample(COUNTRIES, rng.choice((1, 2, 3))))
        elif kind in (5, 6):
            kw["topics"] = tuple(rng.sample(TOPICS, rng.choice((1, 2))))
            if rng.random() < 0.5:
                kw["regions"] = (rng.choice(regions),)
        elif kind == 7:
            kw["outlets"] = tuple(rng.sample(OUTLETS, 5))
        elif kind == 8:
            kw["keywords"] = tuple(rng.sample(KEYWORDS, 2))
        else:
            kw["regions"] = (rng.choice(regions),)
            kw["exclude_keywords"] = (rng.choice(KEYWORDS),)
        subscribers.append(
            SubscriberPrefs(
                email=f"reader{i}@example.org",
                name=f"Reader {i}",
                timezone=rng.choice(ZONES),
                group_by=rng.choice((None, None, "region", "topic")),
                limits=Limits(per_section=8, total=40),
                send_empty=True,
                **kw,  # type: ignore[arg-type]
            )
        )
    return subscribers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--articles", type=int, default=5_000)
    parser.add_argument("--stories", type=int, default=1_500)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--profile", action="store_true", help="print the top of a cProfile")
    parser.add_argument("--sort", default="cumulative", help="cProfile sort key")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    articles = make_articles(args.articles, args.stories, rng)
    subscribers = make_subscribers(args.subscribers, rng)
    resolver = {name: countries_for_region(name) for name in region_names()}
    renderer = Renderer()  # compiles and validates the templates: start-up, not per digest

    started = time.process_time()
    composed_pool = prepare(articles)  # once per window, as `digest build` does
    for p in subscribers:
        compose(composed_pool, p, (START, END), region_countries=resolver, now=END)
    compose_seconds = time.process_time() - started
    del composed_pool

    profiler = cProfile.Profile() if args.profile else None
    started = time.process_time()
    if profiler:
        profiler.enable()
    shown = 0
    pool = prepare(articles)
    for prefs in subscribers:
        digest = compose(pool, prefs, (START, END), region_countries=resolver, now=END)
        renderer.page(digest)
        renderer.email_html(digest)
        renderer.text(digest)
        shown += digest.shown_stories
    if profiler:
        profiler.disable()
    seconds = time.process_time() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "bench": "digest",
                "subscribers": len(subscribers),
                "articles": len(articles),
                "stories": len(pool.stories),
                "seconds": round(seconds, 2),
                "subscribers_per_s": round(len(subscribers) / seconds, 1),
                "compose_per_s": round(len(subscribers) / compose_seconds, 1),
                # Subscribers with the same filters share their sections (compose's memo).
                "distinct_filter_sets": len(
                    {
                        (
                            p.regions,
                            p.countries,
                            p.topics,
                            p.outlets,
                            p.keywords,
                            p.group_by,
                            *p.exclude_keywords,
                        )
                        for p in subscribers
                    }
                ),
                "peak_rss_mb": round(peak_kb / 1024, 1),
                "stories_shown": shown,
            }
        )
    )
    if profiler:
        pstats.Stats(profiler, stream=sys.stderr).sort_stats(args.sort).print_stats(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
