"""Selection and composition of a digest: filters, stories, grouping, ranking, limits."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from digest.compose import (
    compose,
    keyword_pattern,
    normalize_text,
    prepare,
    select,
    shorten,
    subject_for,
)
from digest.errors import InvalidPrefsError, InvalidTimeError, UnknownTimeZoneError
from digest.types import DigestArticle, Limits, SubscriberPrefs

START = datetime(2025, 1, 9, 4, tzinfo=UTC)
END = datetime(2025, 1, 10, 4, tzinfo=UTC)
WINDOW = (START, END)

# Injected region resolution: compose never reads the tagger's tables itself.
REGIONS = {
    "Middle East": frozenset({"IQ", "IR", "EG", "SY"}),
    "MENA": frozenset({"IQ", "EG", "MA"}),
    "Western Europe": frozenset({"FR", "DE", "CH"}),
}


def resolve(region: str) -> frozenset[str]:
    folded = {name.casefold(): countries for name, countries in REGIONS.items()}
    return folded.get(region.casefold(), frozenset())


def art(
    id: int,
    title: str = "",
    *,
    story: int | None = None,
    outlet: str = "Alpha",
    outlet_id: int | None = None,
    hours: float = 1.0,
    seen_hours: float | None = None,
    summary: str = "",
    countries: tuple[str, ...] = (),
    regions: tuple[str, ...] = (),
    topics: tuple[str, ...] = (),
    language: str | None = None,
    updated: bool = False,
) -> DigestArticle:
    published = START + timedelta(hours=hours)
    seen = START + timedelta(hours=seen_hours if seen_hours is not None else hours)
    return DigestArticle(
        id=id,
        story_id=story,
        title=title or f"Story {id}",
        url=f"https://{outlet.lower().replace(' ', '-')}.example/{id}",
        outlet=outlet,
        outlet_id=outlet_id if outlet_id is not None else sum(map(ord, outlet)),
        published=published,
        first_seen=seen,
        summary=summary,
        language=language,
        countries=countries,
        regions=regions,
        topics=topics,
        updated=updated,
    )


def prefs(**kw) -> SubscriberPrefs:
    kw.setdefault("email", "reader@example.org")
    kw.setdefault("timezone", "Asia/Baghdad")
    return SubscriberPrefs(**kw)


def run(articles, p: SubscriberPrefs | None = None, **kw):
    return compose(
        articles,
        p or prefs(),
        kw.pop("window", WINDOW),
        region_countries=kw.pop("region_countries", resolve),
        now=END,
        **kw,
    )


def shown(digest) -> list[tuple[str, list[int]]]:
    return [(s.title, [i.article_id for i in s.items]) for s in digest.sections]


# -- select -------------------------------------------------------------------------------

FILTER_ARTICLES = [
    art(
        1,
        "Iraqi PM visits Tehran",
        outlet="Alpha",
        outlet_id=1,
        countries=("IQ", "IR"),
        regions=("Middle East", "Western Asia"),
        topics=("diplomacy",),
    ),
    art(
        2,
        "Élections en France",
        outlet="Beta",
        outlet_id=2,
        countries=("FR",),
        regions=("Western Europe",),
        topics=("politics",),
        language="fr",
    ),
    art(
        3,
        "日本の石油輸入が増加",
        outlet="Gamma",
        outlet_id=3,
        countries=("JP",),
        regions=("Eastern Asia",),
        topics=("economy",),
        language="ja",
    ),
    art(4, "Turmoil in markets", outlet="Alpha", outlet_id=1),
    art(
        5,
        "Cairo talks",
        outlet="Beta",
        outlet_id=2,
        countries=("EG",),
        regions=("Northern Africa",),
        topics=("conflict-security",),
    ),
    art(6, "والعراق يوقع اتفاق تعاون", outlet="Delta", outlet_id=4, language="ar"),
    art(7, "Нефть и Иран", outlet="Delta", outlet_id=4, language="ru"),
    art(8, "STRASSE gesperrt", outlet="Gamma", outlet_id=3, language="de"),
    art(9, "Oil prices rise", outlet="Gamma", outlet_id=3, summary="Brent up."),
]

SELECT_CASES = [
    ("no filter means everything", {}, [1, 2, 3, 4, 5, 6, 7, 8, 9]),
    ("region by tag and by its countries", {"regions": ("Middle East",)}, [1, 5]),
    ("region alias resolved by the injected resolver", {"regions": ("MENA",)}, [1, 5]),
    ("region name is case-insensitive", {"regions": ("middle east",)}, [1, 5]),
    ("country codes, any case", {"countries": ("fr",)}, [2]),
    (
        "regions and countries add up",
        {"regions": ("Middle East",), "countries": ("FR",)},
        [1, 2, 5],
    ),
    ("topic, case-insensitive", {"topics": ("Economy",)}, [3]),
    ("region AND topic", {"regions": ("Middle East",), "topics": ("diplomacy",)}, [1]),
    ("outlet by name", {"outlets": ("alpha",)}, [1, 4]),
    ("outlet by id", {"outlets": ("2",)}, [2, 5]),
    ("keyword starts a word: no 'turmoil'", {"keywords": ("oil",)}, [9]),
    ("keyword in the summary", {"keywords": ("brent",)}, [9]),
    ("keyword in Japanese, no word boundaries", {"keywords": ("石油",)}, [3]),
    ("keyword in Arabic, after an attached prefix", {"keywords": ("العراق",)}, [6]),
    ("keyword in Cyrillic, case-folded", {"keywords": ("иран",)}, [7]),
    ("keyword case-folded beyond ASCII (ß = ss)", {"keywords": ("Straße",)}, [8]),
    ("keyword with accents, another case", {"keywords": ("ÉLECTIONS",)}, [2]),
    (
        "exclude wins over a region",
        {"regions": ("Middle East",), "exclude_keywords": ("cairo",)},
        [1],
    ),
    ("exclude wins over a keyword", {"keywords": ("oil",), "exclude_keywords": ("prices",)}, []),
    ("blank keywords are ignored", {"keywords": (" ",)}, [1, 2, 3, 4, 5, 6, 7, 8, 9]),
]


@pytest.mark.parametrize(
    ("filters", "expected"), [c[1:] for c in SELECT_CASES], ids=[c[0] for c in SELECT_CASES]
)
def test_select_filters(filters, expected):
    chosen = select(FILTER_ARTICLES, prefs(**filters), resolve)
    assert [a.id for a in chosen] == expected


def test_select_accepts_a_mapping_resolver():
    chosen = select(FILTER_ARTICLES, prefs(regions=("mena",)), REGIONS)
    assert [a.id for a in chosen] == [1, 5]


def test_select_decides_per_story():
    tagged = art(1, "PM visit", story=10, outlet="Alpha", countries=("IQ",))
    untagged = art(2, "PM visit", story=10, outlet="Beta")
    other = art(3, "Unrelated", outlet="Beta")
    everything = [tagged, untagged, other]
    # The untagged copy rides along with its story...
    assert [a.id for a in select(everything, prefs(regions=("Middle East",)), resolve)] == [1, 2]
    # ...an exclude keyword in any copy drops the whole story...
    spoiled = art(2, "PM visit", story=10, outlet="Beta", summary="sponsored")
    p = prefs(regions=("Middle East",), exclude_keywords=("sponsored",))
    assert select([tagged, spoiled, other], p, resolve) == []
    # ...and the outlets filter drops other outlets' copies.
    p = prefs(regions=("Middle East",), outlets=("Alpha",))
    assert [a.id for a in select(everything, p, resolve)] == [1]


def test_keyword_pattern_normalizes_compatibility_forms():
    pattern = keyword_pattern(("ｏｉｌ",))  # fullwidth letters, NFKC -> "oil"
    assert pattern is not None and pattern.search(normalize_text("OIL output"))
    assert keyword_pattern(("", "  ")) is None


# -- stories --------------------------------------------------------------------------------


def test_one_entry_per_story_through_its_earliest_article():
    digest = run(
        [
            art(2, "Le Premier ministre irakien à Téhéran", story=7, outlet="Beta", hours=3),
            art(1, "Iraqi PM visits Tehran", story=7, outlet="Alpha", hours=2, summary="Talks."),
            art(3, "رئيس الوزراء العراقي في طهران", story=7, outlet="Gamma", hours=4),
            art(4, "Second Alpha copy", story=7, outlet="Alpha", hours=5),
            art(5, "Standalone", outlet="Beta", hours=6),
            art(6, "Standalone too", outlet="Beta", hours=7),
        ]
    )
    items = [i for s in digest.sections for i in s.items]
    assert digest.total_stories == 3
    seed = next(i for i in items if i.story_id == 7)
    assert (seed.headline, seed.outlet, seed.summary) == (
        "Iraqi PM visits Tehran",
        "Alpha",
        "Talks.",
    )
    # One link per other outlet, earliest first; the representative's outlet is not repeated.
    assert seed.also_reported_by == (
        ("Beta", "https://beta.example/2"),
        ("Gamma", "https://gamma.example/3"),
    )
    assert seed.outlet_count == 3
    assert sorted(i.article_id for i in items if i.story_id is None) == [5, 6]


def test_a_middle_east_follower_sees_the_seed_story_once_in_the_first_section():
    tags = {
        "countries": ("IQ", "IR"),
        "regions": ("Western Asia", "Southern Asia", "Middle East"),
        "topics": ("diplomacy", "politics"),
    }
    articles = [
        art(1, "Iraqi PM arrives in Tehran", story=7, outlet="Alpha", hours=1, **tags),
        art(2, "Iraqi PM arrives in Tehran", story=7, outlet="Beta", hours=2),
        art(3, "Iraqi PM arrives in Tehran", story=7, outlet="Gamma", hours=3, **tags),
        art(4, "Paris weather", countries=("FR",), regions=("Western Europe",), hours=4),
        art(5, "Damascus market", countries=("SY",), regions=("Western Asia",), hours=5),
    ]
    digest = run(articles, prefs(regions=("Middle East",)))
    first = digest.sections[0]
    assert first.title == "Middle East" and first.followed
    assert [i.story_id for i in first.items].count(7) == 1
    assert first.items[0].also_reported_by == (
        ("Beta", "https://beta.example/2"),
        ("Gamma", "https://gamma.example/3"),
    )
    assert all(i.story_id != 7 for s in digest.sections[1:] for i in s.items)


def test_updated_article_appears_once_and_is_marked():
    original = art(1, "Talks begin", hours=1)
    revised = art(1, "Talks begin (updated)", hours=1, updated=True)
    digest = run([original, revised])
    (section,) = digest.sections
    assert len(section.items) == 1 and section.items[0].updated


def test_window_edges():
    before = art(1, story=5, outlet="Alpha", hours=-30)  # context only
    inside = art(2, story=5, outlet="Beta", hours=2)
    old_alone = art(3, outlet="Gamma", hours=-2)
    after = art(4, story=5, outlet="Delta", hours=25)  # first seen after the window
    digest = run([before, inside, old_alone, after])
    (item,) = [i for s in digest.sections for i in s.items]
    assert item.article_id == 1  # the earliest article stays the representative
    assert item.also_reported_by == (("Beta", "https://beta.example/2"),)


@pytest.mark.parametrize(
    ("earlier_outlet", "repeat_grown", "shown_again"),
    [
        ("Alpha", True, False),  # only Alpha again: the story did not grow
        ("Beta", True, True),  # Alpha is new since the last digest
        ("Beta", False, False),  # grown, but the subscriber asked for no repeats
    ],
)
def test_delivered_stories_return_only_when_grown(earlier_outlet, repeat_grown, shown_again):
    articles = [
        art(1, story=9, outlet=earlier_outlet, hours=-5),
        art(2, story=9, outlet="Alpha", hours=3),
        art(3, "Fresh", outlet="Gamma", hours=4),
    ]
    digest = run(articles, prefs(repeat_grown=repeat_grown), delivered_story_ids={9})
    items = {i.story_id: i for s in digest.sections for i in s.items}
    assert (9 in items) is shown_again
    if shown_again:
        assert items[9].followup
    assert digest.total_stories == (2 if shown_again else 1)


# -- grouping, ranking, limits -------------------------------------------------------------

GROUPING_ARTICLES = [
    art(1, countries=("IQ",), regions=("Middle East",), topics=("diplomacy",), hours=1),
    art(2, countries=("FR",), regions=("Western Europe",), topics=("politics",), hours=2),
    art(3, countries=("JP",), regions=("Eastern Asia",), topics=("economy",), hours=3),
    art(4, topics=("economy",), hours=4),
    art(5, outlet="Beta", hours=5),
    art(6, countries=("EG",), regions=("Northern Africa",), topics=("diplomacy",), hours=6),
]

GROUPING_CASES = [
    (
        "by region: followed first, others by recency, then topics, then untagged",
        {"regions": ("Middle East", "Western Europe"), "countries": ("JP",), "keywords": ()},
        [("Middle East", [6, 1]), ("Western Europe", [2]), ("Eastern Asia", [3])],
    ),
    (
        "by region with everything followed",
        {},
        [
            ("Northern Africa", [6]),
            ("Eastern Asia", [3]),
            ("Western Europe", [2]),
            ("Middle East", [1]),
            ("Economy", [4]),
            ("Other news", [5]),
        ],
    ),
    (
        "by topic first, followed topic first",
        {"group_by": "topic", "topics": ("economy", "diplomacy")},
        [("Economy", [4, 3]), ("Diplomacy", [6, 1])],
    ),
    (
        "by topic, untagged stories fall back to regions, then other",
        {"group_by": "topic", "outlets": ("Alpha", "Beta")},
        [("Diplomacy", [6, 1]), ("Economy", [4, 3]), ("Politics", [2]), ("Other news", [5])],
    ),
    (
        "by outlet, followed outlet order",
        {"group_by": "outlet", "outlets": ("Beta", "Alpha")},
        [("Beta", [5]), ("Alpha", [6, 4, 3, 2, 1])],
    ),
]


@pytest.mark.parametrize(
    ("filters", "expected"), [c[1:] for c in GROUPING_CASES], ids=[c[0] for c in GROUPING_CASES]
)
def test_grouping(filters, expected):
    assert shown(run(GROUPING_ARTICLES, prefs(**filters))) == expected


def test_without_regions_the_default_groups_by_outlet():
    digest = run([art(1, outlet="Alpha"), art(2, outlet="Beta", hours=2), art(3, outlet="Alpha")])
    assert digest.group_by == "outlet"
    assert shown(digest) == [("Beta", [2]), ("Alpha", [1, 3])]


RANKING_CASES = [
    (
        "more outlets beat recency",
        [
            art(1, story=1, hours=1),
            art(2, story=1, outlet="Beta", hours=1),
            art(3, story=None, hours=9),
        ],
        {},
        [1, 3],
    ),
    ("same outlets: the more recent hour first", [art(1, hours=1), art(2, hours=5)], {}, [2, 1]),
    (
        "same hour: outlet priority decides",
        [art(1, outlet="Alpha", hours=5.5), art(2, outlet="Beta", hours=5.1)],
        {"outlet_priority": {"beta": 10}},
        [2, 1],
    ),
    (
        "a future publication date does not jump the queue",
        [art(1, hours=20), art(2, hours=400, seen_hours=2)],
        {},
        [1, 2],
    ),
]


@pytest.mark.parametrize(
    ("articles", "filters", "expected"),
    [c[1:] for c in RANKING_CASES],
    ids=[c[0] for c in RANKING_CASES],
)
def test_ranking(articles, filters, expected):
    digest = run(articles, prefs(group_by="outlet", **filters))
    if len(digest.sections) == 1:
        assert [i.article_id for i in digest.sections[0].items] == expected
    else:  # one section per outlet: the sections follow their best story
        assert [s.items[0].article_id for s in digest.sections] == expected


@pytest.mark.parametrize(
    ("limits", "expected", "more", "digest_more"),
    [
        (
            Limits(per_section=None, total=None),
            [("Middle East", 4, 0), ("Eastern Asia", 2, 0)],
            0,
            0,
        ),
        (Limits(per_section=3, total=None), [("Middle East", 3, 1), ("Eastern Asia", 2, 0)], 1, 0),
        (Limits(per_section=3, total=4), [("Middle East", 3, 1), ("Eastern Asia", 1, 1)], 2, 0),
        (Limits(per_section=5, total=4), [("Middle East", 4, 0)], 0, 2),
    ],
)
def test_limits(limits, expected, more, digest_more):
    articles = [art(i, regions=("Middle East",), hours=i) for i in range(1, 5)] + [
        art(i, regions=("Eastern Asia",), hours=i) for i in range(5, 7)
    ]
    digest = run(articles, prefs(regions=("Middle East", "Eastern Asia"), limits=limits))
    assert [(s.title, len(s.items), s.more_count) for s in digest.sections] == expected
    assert sum(s.more_count for s in digest.sections) == more
    assert digest.more_count == digest_more
    assert digest.total_stories == 6


# -- subject, preheader, empty ----------------------------------------------------------------

SUBJECT_CASES = [
    (
        "regions and topics",
        {"regions": ("Middle East",), "topics": ("diplomacy",)},
        12,
        "Middle East & diplomacy: 12 stories, Fri 10 Jan",
    ),
    ("everything", {}, 12, "Your news digest: 12 stories, Fri 10 Jan"),
    ("one story", {"topics": ("économie",)}, 1, "économie: 1 story, Fri 10 Jan"),
    ("nothing", {"regions": ("Middle East",)}, 0, "Middle East: no new stories, Fri 10 Jan"),
    (
        "three names",
        {"regions": ("A", "B"), "topics": ("c",)},
        2,
        "A, B & c: 2 stories, Fri 10 Jan",
    ),
    ("many names", {"regions": ("A", "B", "C", "D")}, 2, "A, B & 2 more: 2 stories, Fri 10 Jan"),
    ("non-Latin", {"regions": ("الشرق الأوسط",)}, 3, "الشرق الأوسط: 3 stories, Fri 10 Jan"),
    (
        "line breaks never survive",
        {"regions": ("Evil\r\nBcc: x@example.org",)},
        1,
        "Evil Bcc: x@example.org: 1 story, Fri 10 Jan",
    ),
]


@pytest.mark.parametrize(
    ("filters", "total", "expected"),
    [c[1:] for c in SUBJECT_CASES],
    ids=[c[0] for c in SUBJECT_CASES],
)
def test_subject(filters, total, expected):
    assert subject_for(prefs(**filters), total, date(2025, 1, 10)) == expected


def test_subject_date_is_the_subscribers_local_date():
    late = (START, datetime(2025, 1, 9, 20, tzinfo=UTC))  # already Friday in Auckland
    auckland = run([art(1)], prefs(timezone="Pacific/Auckland"), window=late)
    los_angeles = run([art(1)], prefs(timezone="America/Los_Angeles"), window=late)
    assert auckland.subject.endswith("Fri 10 Jan")
    assert los_angeles.subject.endswith("Thu 9 Jan")


def test_preheader_lists_the_first_headlines():
    digest = run([art(1, "Ceasefire holds", hours=2), art(2, "Markets calm", hours=1)])
    assert digest.preheader == "Ceasefire holds · Markets calm"


@pytest.mark.parametrize(("send_empty", "reason"), [(False, True), (True, False)])
def test_empty_digest_says_why_it_is_not_sent(send_empty, reason):
    digest = run([art(1, "Sports")], prefs(keywords=("ceasefire",), send_empty=send_empty))
    assert digest.is_empty and digest.sections == ()
    assert (digest.skip_reason is not None) is reason
    if reason:
        assert "send_empty" in digest.skip_reason


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 10, "short"),
        ("one two three four five six", 15, "one two three…"),
        ("東京都で大規模な会議が開かれました", 8, "東京都で大規模…"),
        ("a  b\n c", 10, "a b c"),
    ],
)
def test_shorten(text, limit, expected):
    assert shorten(text, limit) == expected


def test_bad_inputs_are_refused_with_our_errors():
    with pytest.raises(InvalidTimeError):
        run([art(1)], window=(datetime(2025, 1, 9), END))
    with pytest.raises(InvalidTimeError, match="precedes"):
        run([art(1)], window=(END, START))
    with pytest.raises(UnknownTimeZoneError):
        prefs(timezone="Mars/Olympus")
    with pytest.raises(InvalidPrefsError):
        prefs(group_by="colour")
    with pytest.raises(InvalidPrefsError):
        Limits(per_section=0)


@pytest.mark.parametrize(
    "filters",
    [{}, {"regions": ("Middle East",)}, {"outlets": ("Beta",)}, {"group_by": "topic"}],
    ids=["everything", "region", "outlet", "by topic"],
)
def test_a_shared_pool_composes_the_same_digest(filters):
    articles = [*GROUPING_ARTICLES, art(7, story=3, outlet="Beta", hours=8, regions=("X",))]
    pool = prepare(articles)
    assert run(pool, prefs(**filters)) == run(articles, prefs(**filters))
    assert select(pool, prefs(**filters), resolve) == select(articles, prefs(**filters), resolve)
    assert prepare(pool) is pool
