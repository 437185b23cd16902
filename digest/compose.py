"""What goes in a subscriber's digest, and in which order: pure functions, no I/O.

``select`` keeps the stories a subscriber's filters let through; ``compose`` turns the
articles of a window into a :class:`~digest.types.Digest`: one entry per story, grouped
into sections, ranked, limited, with a subject line and a preheader.

Filters (every empty filter means "everything"; they combine with AND, the values of one
filter with OR):

- *where*: the followed regions and countries together. An article is in a followed
  region when the tagger named that region, or when it names a country the injected
  ``region_countries`` resolver puts in the region (so aliases and custom regions work
  through the resolver, and compose needs no tagging tables).
- *topics*, *outlets* (name, case-insensitive, or id as a string), *keywords* (title and
  summary; see :func:`keyword_pattern`), and *exclude_keywords*, which always win.

Filters are decided per story, not per article: a story is in when any of its articles
matches and none matches an exclude keyword, so an outlet whose copy of the story was
tagged less precisely still counts as "also reported by". The outlets filter is the
exception: it drops other outlets' articles, since the subscriber asked not to see them.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC, date, datetime

from digest.errors import InvalidTimeError
from digest.types import (
    Digest,
    DigestArticle,
    DigestItem,
    GroupBy,
    Section,
    SectionKind,
    SubscriberPrefs,
)
from digest.window import load_zone

#: Region name -> ISO country codes; a function or a mapping (e.g. the tagger's table).
RegionResolver = Callable[[str], AbstractSet[str]] | Mapping[str, AbstractSet[str]]

SUMMARY_CHARS = 300
PREHEADER_CHARS = 140
OTHER_SECTION_TITLE = "Other news"
EVERYTHING_SUBJECT = "Your news digest"

# English UI labels on purpose: strftime's %a/%b follow the process locale, which must not
# change what a subscriber receives.
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# Scripts whose words are separated by spaces and carry no attached prefixes: there a
# keyword must start a word ("oil" must not match "turmoil", "Iran" still matches
# "Iranian"). Elsewhere a word start is not marked (Chinese, Japanese, Thai) or words take
# attached prefixes (Arabic "والعراق" = "and Iraq", Hebrew "בירושלים" = "in Jerusalem"),
# so a keyword matches anywhere.
_WORD_START_SCRIPTS = ("LATIN", "CYRILLIC", "GREEK", "ARMENIAN", "GEORGIAN")
_SPACES = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """Text as keywords are matched against it: NFKC, case-folded, spaces collapsed."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


@functools.lru_cache(maxsize=1 << 16)
def _searchable(title: str, summary: str) -> str:
    # Cached because every subscriber's keyword filter reads the same day of articles.
    return normalize_text(f"{title}\n{summary}")


def _starts_word(ch: str) -> bool:
    return ch.isdigit() or unicodedata.name(ch, "").startswith(_WORD_START_SCRIPTS)


@functools.lru_cache(maxsize=4096)
def keyword_pattern(keywords: tuple[str, ...]) -> re.Pattern[str] | None:
    """One compiled pattern matching any keyword in :func:`normalize_text` output.

    Case-insensitive and Unicode-aware (case folding, so "STRASSE" finds "Straße");
    word-start anchored only in scripts that mark word starts (see ``_WORD_START_SCRIPTS``).
    None when there is no non-blank keyword.
    """
    parts = []
    for keyword in keywords:
        norm = normalize_text(keyword)
        if not norm:
            continue
        part = re.escape(norm)
        if _starts_word(norm[0]):
            part = r"(?<!\w)" + part
        parts.append(part)
    return re.compile("|".join(parts)) if parts else None


def _cf(values: Iterable[str]) -> frozenset[str]:
    return frozenset(v.casefold() for v in values)


def _resolve(region_countries: RegionResolver, region: str) -> frozenset[str]:
    if isinstance(region_countries, Mapping):
        found = region_countries.get(region)
        if found is None:
            folded = region.casefold()
            found = next(
                (v for k, v in region_countries.items() if k.casefold() == folded), frozenset()
            )
    else:
        found = region_countries(region)
    return frozenset(c.upper() for c in found)


@dataclass(frozen=True, slots=True)
class _Filter:
    """A subscriber's filters, prepared once per select/compose call."""

    regions: tuple[tuple[str, frozenset[str]], ...]  # (casefolded name, its countries)
    countries: frozenset[str]  # followed countries plus those of followed regions
    topics: frozenset[str]
    outlets: frozenset[str]
    include: re.Pattern[str] | None
    exclude: re.Pattern[str] | None

    @classmethod
    def of(cls, prefs: SubscriberPrefs, region_countries: RegionResolver) -> _Filter:
        regions = tuple((r.casefold(), _resolve(region_countries, r)) for r in prefs.regions)
        countries = frozenset(c.upper() for c in prefs.countries).union(*(cs for _, cs in regions))
        return cls(
            regions=regions,
            countries=countries,
            topics=_cf(prefs.topics),
            outlets=_cf(prefs.outlets),
            include=keyword_pattern(tuple(prefs.keywords)),
            exclude=keyword_pattern(tuple(prefs.exclude_keywords)),
        )

    def outlet_allowed(self, a: DigestArticle) -> bool:
        return not self.outlets or (
            a.outlet.casefold() in self.outlets or str(a.outlet_id) in self.outlets
        )

    def matches(self, a: DigestArticle) -> bool:
        if self.regions or self.countries:
            in_region = bool(self.regions) and not _cf(a.regions).isdisjoint(
                name for name, _ in self.regions
            )
            if not in_region and self.countries.isdisjoint(c.upper() for c in a.countries):
                return False
        if self.topics and self.topics.isdisjoint(t.casefold() for t in a.topics):
            return False
        return self.include is None or bool(self.include.search(_searchable(a.title, a.summary)))

    def excluded(self, a: DigestArticle) -> bool:
        return self.exclude is not None and bool(
            self.exclude.search(_searchable(a.title, a.summary))
        )


def _story_key(a: DigestArticle) -> tuple[bool, int]:
    # (True, story id) or (False, article id): an article without a story is its own story.
    return (True, a.story_id) if a.story_id is not None else (False, a.id)


def _select(articles: Iterable[DigestArticle], flt: _Filter) -> list[DigestArticle]:
    allowed = [a for a in articles if flt.outlet_allowed(a)]
    matched: set[tuple[bool, int]] = set()
    excluded: set[tuple[bool, int]] = set()
    for a in allowed:
        key = _story_key(a)
        if flt.excluded(a):
            excluded.add(key)
        elif key not in matched and flt.matches(a):
            matched.add(key)
    keep = matched - excluded
    return [a for a in allowed if _story_key(a) in keep]


def select(
    articles: Iterable[DigestArticle],
    prefs: SubscriberPrefs,
    region_countries: RegionResolver,
) -> list[DigestArticle]:
    """The articles of the stories ``prefs`` lets through, in their input order.

    See the module docstring for how filters combine; ``region_countries`` maps a region
    name to the ISO codes of its countries (a function or a mapping).
    """
    return _select(articles, _Filter.of(prefs, region_countries))


def shorten(text: str, limit: int = SUMMARY_CHARS) -> str:
    """``text`` with spaces collapsed, cut at a word boundary near ``limit`` with an ellipsis.

    Text without spaces (Chinese, Japanese, Thai) is cut at ``limit`` characters.
    """
    text = _SPACES.sub(" ", text).strip()
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-–—") + "…"


def _when(a: DigestArticle) -> datetime:
    """When an article appeared: its published time, but never after we first saw it.

    An outlet's clock or feed can be wrong; a "published" in the future must not make a
    story look like the newest, nor show a time that has not come yet.
    """
    return min(a.published, a.first_seen)


@dataclass(frozen=True, slots=True)
class _Story:
    """A story's articles, reduced to what grouping, ranking and rendering need."""

    item: DigestItem
    regions: tuple[str, ...]
    topics: tuple[str, ...]
    countries: frozenset[str]
    rank: tuple[int, int, int, float, int]


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    seen: set[str] = set()
    out = []
    for v in values:
        if v.casefold() not in seen:
            seen.add(v.casefold())
            out.append(v)
    return tuple(out)


def _build_story(
    articles: Sequence[DigestArticle],
    followup: bool,
    priority: Mapping[str, int],
) -> _Story:
    ordered = sorted(articles, key=lambda a: (_when(a), a.first_seen, a.id))
    rep = ordered[0]
    also: list[tuple[str, str]] = []
    outlets = {rep.outlet.casefold()}
    for a in ordered[1:]:
        if a.outlet.casefold() not in outlets:
            outlets.add(a.outlet.casefold())
            also.append((a.outlet, a.url))
    regions = _unique(r for a in ordered for r in a.regions)
    topics = _unique(t for a in ordered for t in a.topics)
    countries = _unique(c.upper() for a in ordered for c in a.countries)
    latest = max(_when(a) for a in ordered)
    best_priority = max(priority.get(o, 0) for o in outlets)
    # Exact timestamps almost never tie, so recency is compared by the hour, which leaves
    # room for the outlet priority to order stories of the same hour.
    rank = (
        -len(outlets),
        -int(latest.timestamp() // 3600),
        -best_priority,
        -latest.timestamp(),
        rep.id,
    )
    item = DigestItem(
        story_id=rep.story_id,
        article_id=rep.id,
        headline=_SPACES.sub(" ", rep.title).strip(),
        url=rep.url,
        outlet=rep.outlet,
        time=_when(rep),
        summary=shorten(rep.summary),
        also_reported_by=tuple(also),
        tags=regions + topics,
        countries=countries,
        language=rep.language,
        updated=any(a.updated for a in ordered),
        followup=followup,
    )
    return _Story(item, regions, topics, frozenset(countries), rank)


@dataclass(frozen=True, slots=True)
class _Placement:
    kind: SectionKind
    title: str
    followed_index: int | None  # position in the subscriber's list, None: not followed


def _place(story: _Story, group_by: GroupBy, prefs: SubscriberPrefs, flt: _Filter) -> _Placement:
    def by_region() -> _Placement | None:
        story_regions = _cf(story.regions)
        for i, (name, countries) in enumerate(flt.regions):
            if name in story_regions or not countries.isdisjoint(story.countries):
                return _Placement("region", prefs.regions[i], i)
        return _Placement("region", story.regions[0], None) if story.regions else None

    def by_topic() -> _Placement | None:
        story_topics = _cf(story.topics)
        for i, name in enumerate(prefs.topics):
            if name.casefold() in story_topics:
                return _Placement("topic", _heading(name), i)
        return _Placement("topic", _heading(story.topics[0]), None) if story.topics else None

    if group_by == "outlet":
        outlet = story.item.outlet
        index = next(
            (i for i, o in enumerate(prefs.outlets) if o.casefold() == outlet.casefold()), None
        )
        return _Placement("outlet", outlet, index)
    first, second = (by_region, by_topic) if group_by == "region" else (by_topic, by_region)
    return first() or second() or _Placement("other", OTHER_SECTION_TITLE, None)


def _heading(name: str) -> str:
    """A topic tag as a heading: "diplomacy" -> "Diplomacy" (scripts without case unchanged)."""
    return name[:1].upper() + name[1:]


def _date_label(day: date) -> str:
    return f"{_WEEKDAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]}"


def _join_names(names: Sequence[str]) -> str:
    if len(names) <= 2:
        return " & ".join(names)
    if len(names) == 3:
        return f"{names[0]}, {names[1]} & {names[2]}"
    return f"{names[0]}, {names[1]} & {len(names) - 2} more"


def subject_for(prefs: SubscriberPrefs, total_stories: int, day: date) -> str:
    """E.g. "Middle East & diplomacy: 12 stories, Fri 10 Jan".

    Named after the followed regions and topics; "Your news digest" when the subscriber
    follows neither. CR and LF never reach the result, so it is safe as a header.
    """
    names = [n for n in (*prefs.regions, *prefs.topics) if n.strip()]
    who = _join_names(names) if names else EVERYTHING_SUBJECT
    if total_stories == 0:
        count = "no new stories"
    else:
        count = f"{total_stories} {'story' if total_stories == 1 else 'stories'}"
    return _SPACES.sub(" ", f"{who}: {count}, {_date_label(day)}").strip()


def preheader_for(sections: Sequence[Section], limit: int = PREHEADER_CHARS) -> str:
    """The first headlines, joined with " · " and shortened, for the inbox preview line."""
    headlines = [item.headline for s in sections for item in s.items]
    if not headlines:
        return "Nothing new matched your filters this time."
    return shorten(" · ".join(headlines[:5]), limit)


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidTimeError(f"{name} must be a timezone-aware datetime, got {value!r}")


def _group_by(prefs: SubscriberPrefs, articles: Sequence[DigestArticle]) -> GroupBy:
    if prefs.group_by is not None:
        return prefs.group_by
    # Until the tagger has run (the foundations build), outlets are the only grouping.
    return "region" if any(a.regions for a in articles) else "outlet"


def compose(
    articles: Iterable[DigestArticle],
    prefs: SubscriberPrefs,
    window: tuple[datetime, datetime],
    *,
    region_countries: RegionResolver,
    delivered_story_ids: AbstractSet[int] = frozenset(),
    now: datetime,
) -> Digest:
    """The subscriber's digest of the stories first seen in ``window`` = (start, end).

    ``articles`` may also hold earlier articles of the same stories: they count as other
    outlets and tell whether a story delivered before (``delivered_story_ids``) has grown
    (a new outlet since the window's start). Articles first seen at or after ``end`` are
    ignored. Each story is shown once, through its earliest article.
    """
    start, end = window
    for name, value in (("window start", start), ("window end", end), ("now", now)):
        _require_aware(name, value)
    if end < start:
        raise InvalidTimeError(f"window end {end.isoformat()} precedes its start")
    start, end = start.astimezone(UTC), end.astimezone(UTC)

    flt = _Filter.of(prefs, region_countries)
    chosen = _select((a for a in articles if a.first_seen < end), flt)
    group_by = _group_by(prefs, chosen)

    by_story: dict[tuple[bool, int], dict[int, DigestArticle]] = {}
    for a in chosen:
        story = by_story.setdefault(_story_key(a), {})
        # The same article twice (an update next to its original): one entry, still updated.
        if a.id in story and story[a.id].updated and not a.updated:
            continue
        story[a.id] = a

    priority = {k.casefold(): v for k, v in prefs.outlet_priority.items()}
    stories: list[_Story] = []
    for (is_story, key), members in by_story.items():
        arts = list(members.values())
        fresh = [a for a in arts if a.first_seen >= start]
        if not fresh:
            continue
        followup = False
        if is_story and key in delivered_story_ids:
            earlier = {a.outlet.casefold() for a in arts if a.first_seen < start}
            grew = any(a.outlet.casefold() not in earlier for a in fresh)
            if not (prefs.repeat_grown and grew):
                continue
            followup = True
        stories.append(_build_story(arts, followup, priority))

    sections, hidden = _sections(stories, group_by, prefs, flt)
    day = end.astimezone(load_zone(prefs.timezone)).date()
    total = len(stories)
    skip_reason = None
    if total == 0 and not prefs.send_empty:
        skip_reason = (
            f"nothing matched the filters between {start:%Y-%m-%d %H:%M} and "
            f"{end:%Y-%m-%d %H:%M} UTC, and send_empty is off"
        )
    return Digest(
        subscriber=prefs,
        period_start=start,
        period_end=end,
        sections=sections,
        total_stories=total,
        subject=subject_for(prefs, total, day),
        preheader=preheader_for(sections),
        generated_at=now.astimezone(UTC),
        group_by=group_by,
        more_count=hidden,
        skip_reason=skip_reason,
    )


def _sections(
    stories: Sequence[_Story], group_by: GroupBy, prefs: SubscriberPrefs, flt: _Filter
) -> tuple[tuple[Section, ...], int]:
    """Sections in reading order with the limits applied, and the stories cut entirely."""
    groups: dict[tuple[str, str], tuple[_Placement, list[_Story]]] = {}
    for story in stories:
        place = _place(story, group_by, prefs, flt)
        groups.setdefault((place.kind, place.title.casefold()), (place, []))[1].append(story)

    kind_order = {group_by: 0, "other": 2}

    def section_order(group: tuple[_Placement, list[_Story]]) -> tuple[object, ...]:
        # Followed sections first, in the subscriber's order; then by their best story.
        place, members = group
        return (
            kind_order.get(place.kind, 1),
            place.followed_index is None,
            place.followed_index or 0,
            min(s.rank for s in members),
            place.title.casefold(),
        )

    limits = prefs.limits
    left = limits.total
    out: list[Section] = []
    hidden = 0
    for place, members in sorted(groups.values(), key=section_order):
        members.sort(key=lambda s: s.rank)
        take = len(members)
        if limits.per_section is not None:
            take = min(take, limits.per_section)
        if left is not None:
            take = min(take, left)
            left -= take
        if take == 0:
            hidden += len(members)
            continue
        out.append(
            Section(
                title=place.title,
                items=tuple(s.item for s in members[:take]),
                more_count=len(members) - take,
                kind=place.kind,
                followed=place.followed_index is not None,
            )
        )
    return tuple(out), hidden
