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

Filters are decided per story, not per article: a story carries the union of its
articles' tags and text, so an outlet whose copy was tagged less precisely still counts as
"also reported by", and an exclude keyword in any copy drops the story. The outlets filter
is the exception: it drops other outlets' articles, since the subscriber asked not to see
them.

For many subscribers over one window, build a :class:`StoryPool` once with
:func:`prepare` and pass it instead of the articles.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
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


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    """``values`` without case-insensitive repeats, first spelling and order kept."""
    seen: set[str] = set()
    out = []
    for v in values:
        folded = v.casefold()
        if folded not in seen:
            seen.add(folded)
            out.append(v)
    return tuple(out)


def _when(a: DigestArticle) -> datetime:
    """When an article appeared: its published time, but never after we first saw it.

    An outlet's clock or feed can be wrong; a "published" in the future must not make a
    story look like the newest, nor show a time that has not come yet.
    """
    return min(a.published, a.first_seen)


def _story_key(a: DigestArticle) -> tuple[bool, int]:
    # (True, story id) or (False, article id): an article without a story is its own story.
    return (True, a.story_id) if a.story_id is not None else (False, a.id)


@dataclass(frozen=True, slots=True)
class _Story:
    """One story's articles and what filtering, grouping and ranking read from them.

    Everything here depends on the articles only, never on a subscriber, so a
    :class:`StoryPool` computes it once for all subscribers.
    """

    key: tuple[bool, int]
    #: Unique by article id, earliest first; ``members[0]`` represents the story.
    members: tuple[DigestArticle, ...]
    #: (outlet, url) of the other outlets, one each, earliest first.
    also: tuple[tuple[str, str], ...]
    outlets: frozenset[str]  # case-folded names
    regions: tuple[str, ...]
    topics: tuple[str, ...]
    countries: tuple[str, ...]
    regions_cf: frozenset[str]
    topics_cf: frozenset[str]
    country_set: frozenset[str]
    #: Every member's title and summary, normalized for keyword search.
    text: str
    first_seen_min: datetime
    first_seen_max: datetime
    #: (-outlets, -hour of the newest report, -its timestamp, representative id).
    base_rank: tuple[int, int, float, int]
    #: base_rank with a zero outlet priority inserted: the rank when none is set.
    rank0: tuple[int, int, int, float, int]
    #: Outlet key (case-folded name, or id as a string) -> bit mask of its members.
    outlet_masks: Mapping[str, int]

    @classmethod
    def of(cls, key: tuple[bool, int], articles: Iterable[DigestArticle]) -> _Story:
        members = tuple(sorted(articles, key=lambda a: (_when(a), a.first_seen, a.id)))
        rep = members[0]
        also: list[tuple[str, str]] = []
        outlets = {rep.outlet.casefold()}
        for a in members[1:]:
            if a.outlet.casefold() not in outlets:
                outlets.add(a.outlet.casefold())
                also.append((a.outlet, a.url))
        regions = _unique(r for a in members for r in a.regions)
        topics = _unique(t for a in members for t in a.topics)
        countries = _unique(c.upper() for a in members for c in a.countries)
        latest = max(_when(a) for a in members).timestamp()
        masks: dict[str, int] = {}
        for i, a in enumerate(members):
            for outlet_key in (a.outlet.casefold(), str(a.outlet_id)):
                masks[outlet_key] = masks.get(outlet_key, 0) | 1 << i
        hour = -int(latest // 3600)
        return cls(
            key=key,
            members=members,
            also=tuple(also),
            outlets=frozenset(outlets),
            regions=regions,
            topics=topics,
            countries=countries,
            regions_cf=_cf(regions),
            topics_cf=_cf(topics),
            country_set=frozenset(countries),
            text="\n".join(_searchable(a.title, a.summary) for a in members),
            first_seen_min=min(a.first_seen for a in members),
            first_seen_max=max(a.first_seen for a in members),
            # Exact timestamps almost never tie, so recency is compared by the hour, which
            # leaves room for the outlet priority (inserted per subscriber) to order
            # stories of the same hour.
            base_rank=(-len(outlets), hour, -latest, rep.id),
            rank0=(-len(outlets), hour, 0, -latest, rep.id),
            outlet_masks=masks,
        )

    def subset(self, keep: Callable[[DigestArticle], bool]) -> _Story | None:
        """The story made of the members ``keep`` accepts; None when none is left."""
        members = [a for a in self.members if keep(a)]
        if len(members) == len(self.members):
            return self
        return _Story.of(self.key, members) if members else None


@dataclass(frozen=True, slots=True)
class StoryPool:
    """A window's articles grouped into stories once, for composing many digests.

    ``compose`` and ``select`` accept a pool wherever they accept articles; building it
    once per run saves every subscriber the grouping and the text normalization. Its
    indexes (story positions by region, country, topic and outlet, and by keyword pattern,
    filled as subscribers ask) let each subscriber look only at the stories that can match.
    """

    stories: tuple[_Story, ...]
    by_region: Mapping[str, frozenset[int]] = field(default_factory=dict)  # case-folded
    by_country: Mapping[str, frozenset[int]] = field(default_factory=dict)
    by_topic: Mapping[str, frozenset[int]] = field(default_factory=dict)  # case-folded
    by_outlet: Mapping[str, frozenset[int]] = field(default_factory=dict)  # folded name, id
    #: The story ids of the pool (articles without a story left out).
    story_ids: frozenset[int] = frozenset()
    # Caches, not state (they only save work): keyword -> positions of the stories whose
    # text has it; (position, bit mask of kept members) -> the story cut to those articles;
    # (story object id, followup) -> its DigestItem (pooled stories live as long as the pool).
    _hits: dict[str, frozenset[int]] = field(default_factory=dict, compare=False, repr=False)
    _subsets: dict[tuple[int, int], _Story | None] = field(
        default_factory=dict, compare=False, repr=False
    )
    _items: dict[tuple[int, bool], DigestItem] = field(
        default_factory=dict, compare=False, repr=False
    )
    # (grouping, followed regions, topics, outlets) -> story object id -> its section.
    _places: dict[tuple[object, ...], dict[int, _Placement]] = field(
        default_factory=dict, compare=False, repr=False
    )
    # Subscribers with the same filters over the same window get the same sections:
    # (resolver id, window, filters, grouping, limits) -> (resolver, total, grouping,
    # sections, hidden). The resolver is kept to check the id still names it.
    _composed: dict[tuple[object, ...], tuple[object, int, GroupBy, tuple[Section, ...], int]] = (
        field(default_factory=dict, compare=False, repr=False)
    )
    # (start, end) -> positions of the stories wholly inside; story id -> position;
    # position -> the story chosen whole (see chosen()).
    _inside: dict[tuple[datetime, datetime], frozenset[int]] = field(
        default_factory=dict, compare=False, repr=False
    )
    _positions: dict[int, int] | None = field(default=None, compare=False, repr=False)
    _chosen: dict[int, _Chosen] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, stories: tuple[_Story, ...]) -> StoryPool:
        regions: dict[str, set[int]] = {}
        countries: dict[str, set[int]] = {}
        topics: dict[str, set[int]] = {}
        outlets: dict[str, set[int]] = {}
        for i, story in enumerate(stories):
            for name in story.regions_cf:
                regions.setdefault(name, set()).add(i)
            for code in story.country_set:
                countries.setdefault(code, set()).add(i)
            for name in story.topics_cf:
                topics.setdefault(name, set()).add(i)
            for a in story.members:
                outlets.setdefault(a.outlet.casefold(), set()).add(i)
                outlets.setdefault(str(a.outlet_id), set()).add(i)

        def freeze(index: dict[str, set[int]]) -> dict[str, frozenset[int]]:
            return {k: frozenset(v) for k, v in index.items()}

        return cls(
            stories,
            freeze(regions),
            freeze(countries),
            freeze(topics),
            freeze(outlets),
            frozenset(s.key[1] for s in stories if s.key[0]),
        )

    @property
    def articles(self) -> tuple[DigestArticle, ...]:
        """Every article of the pool, story by story."""
        return tuple(a for s in self.stories for a in s.members)

    def inside(self, start: datetime, end: datetime) -> frozenset[int]:
        """Positions of the stories whose articles were all first seen in [start, end)."""
        key = (start, end)
        found = self._inside.get(key)
        if found is None:
            found = self._inside[key] = frozenset(
                i
                for i, s in enumerate(self.stories)
                if s.first_seen_min >= start and s.first_seen_max < end
            )
        return found

    def positions_of(self, story_ids: AbstractSet[int]) -> frozenset[int]:
        """Positions of the stories with these ids."""
        if self._positions is None:
            object.__setattr__(
                self, "_positions", {s.key[1]: i for i, s in enumerate(self.stories) if s.key[0]}
            )
        positions = self._positions or {}
        return frozenset(positions[i] for i in story_ids if i in positions)

    def chosen(self, position: int) -> _Chosen:
        """The story at ``position`` as chosen whole, not a follow-up, ranked without
        priorities: one shared value (nothing changes a _Chosen once made)."""
        found = self._chosen.get(position)
        if found is None:
            story = self.stories[position]
            found = self._chosen[position] = _Chosen(story, False, story.rank0, True)
        return found

    def hits(self, keywords: Sequence[str]) -> frozenset[int]:
        """Positions of the stories whose whole text has any of ``keywords``.

        Cached per keyword: subscribers combine the same few keywords in many ways.
        """
        found: set[int] = set()
        for keyword in keywords:
            one = self._hits.get(keyword)
            if one is None:
                pattern = keyword_pattern((keyword,))
                one = frozenset(
                    i
                    for i, s in enumerate(self.stories)
                    if pattern is not None and pattern.search(s.text)
                )
                self._hits[keyword] = one
            found |= one
        return frozenset(found)

    def restricted(self, position: int, flt: _Filter) -> _Story | None:
        """The story at ``position`` without the outlets ``flt`` leaves out (cached)."""
        story = self.stories[position]
        if story.outlets <= flt.outlets:
            return story  # every outlet of the story is followed by name
        # Which members stay, as a bit mask: a few lookups per followed outlet instead of
        # a check per member.
        masks = story.outlet_masks
        kept = 0
        for outlet_key in flt.outlets:
            kept |= masks.get(outlet_key, 0)
        if kept == (1 << len(story.members)) - 1:
            return story
        key = (position, kept)
        found = self._subsets.get(key, self)
        if found is self:
            found = self._subsets[key] = story.subset(flt.outlet_allowed)
        return found  # type: ignore[return-value]

    def item(self, story: _Story, followup: bool, *, cacheable: bool) -> DigestItem:
        """The digest entry of a story, built once when the story is one the pool keeps
        (``cacheable``: a pooled story or a cached cut of one, never a per-call cut)."""
        if not cacheable:
            return _item(story, followup)
        key = (id(story), followup)
        found = self._items.get(key)
        if found is None:
            found = self._items[key] = _item(story, followup)
        return found

    def candidates(self, flt: _Filter) -> Sequence[int]:
        """Positions of the stories that may pass ``flt``, in pool order.

        Exact for whole stories on the region, country, topic, outlet and keyword filters;
        a story cut by an outlet filter or a window can only lose matches, so this is a
        superset for those, which compose checks again.
        """
        found: frozenset[int] | None = None

        def narrow(positions: frozenset[int]) -> None:
            nonlocal found
            found = positions if found is None else found & positions

        empty: frozenset[int] = frozenset()
        if flt.region_names or flt.countries:
            narrow(
                empty.union(
                    *(self.by_region.get(r, empty) for r in flt.region_names),
                    *(self.by_country.get(c, empty) for c in flt.countries),
                )
            )
        if flt.topics:
            narrow(empty.union(*(self.by_topic.get(t, empty) for t in flt.topics)))
        if flt.outlets:
            narrow(empty.union(*(self.by_outlet.get(o, empty) for o in flt.outlets)))
        if flt.include is not None:
            narrow(self.hits(flt.keywords))
        if found is None:
            return range(len(self.stories))
        return sorted(found)


def prepare(articles: Iterable[DigestArticle] | StoryPool) -> StoryPool:
    """Group articles into stories (in order of first appearance); a pool is returned as is.

    The same article given twice (an update next to its original) is kept once, and
    marked updated when either copy is.
    """
    if isinstance(articles, StoryPool):
        return articles
    grouped: dict[tuple[bool, int], dict[int, DigestArticle]] = {}
    for a in articles:
        members = grouped.setdefault(_story_key(a), {})
        known = members.get(a.id)
        if known is not None and known.updated and not a.updated:
            continue
        members[a.id] = a
    return StoryPool.of(tuple(_Story.of(key, m.values()) for key, m in grouped.items()))


@dataclass(frozen=True, slots=True)
class _Filter:
    """A subscriber's filters, prepared once per select/compose call."""

    regions: tuple[tuple[str, frozenset[str]], ...]  # (casefolded name, its countries)
    region_names: frozenset[str]
    countries: frozenset[str]  # followed countries plus those of followed regions
    topics: frozenset[str]
    outlets: frozenset[str]
    include: re.Pattern[str] | None
    exclude: re.Pattern[str] | None
    keywords: tuple[str, ...] = ()
    exclude_keywords: tuple[str, ...] = ()

    @classmethod
    def of(cls, prefs: SubscriberPrefs, region_countries: RegionResolver) -> _Filter:
        regions = tuple((r.casefold(), _resolve(region_countries, r)) for r in prefs.regions)
        countries = frozenset(c.upper() for c in prefs.countries).union(*(cs for _, cs in regions))
        return cls(
            regions=regions,
            region_names=frozenset(name for name, _ in regions),
            countries=countries,
            topics=_cf(prefs.topics),
            outlets=_cf(prefs.outlets),
            include=keyword_pattern(tuple(prefs.keywords)),
            exclude=keyword_pattern(tuple(prefs.exclude_keywords)),
            keywords=tuple(prefs.keywords),
            exclude_keywords=tuple(prefs.exclude_keywords),
        )

    def outlet_allowed(self, a: DigestArticle) -> bool:
        return a.outlet.casefold() in self.outlets or str(a.outlet_id) in self.outlets

    def restrict(self, story: _Story) -> _Story | None:
        """The story without the outlets the subscriber left out."""
        return story.subset(self.outlet_allowed) if self.outlets else story

    def matches(self, story: _Story) -> bool:
        if (self.regions or self.countries) and (
            self.region_names.isdisjoint(story.regions_cf)
            and self.countries.isdisjoint(story.country_set)
        ):
            return False
        if self.topics and self.topics.isdisjoint(story.topics_cf):
            return False
        if self.include is not None and not self.include.search(story.text):
            return False
        return self.exclude is None or not self.exclude.search(story.text)


def select(
    articles: Iterable[DigestArticle] | StoryPool,
    prefs: SubscriberPrefs,
    region_countries: RegionResolver,
) -> list[DigestArticle]:
    """The articles of the stories ``prefs`` lets through.

    Story by story in order of first appearance, earliest article first. See the module
    docstring for how filters combine; ``region_countries`` maps a region name to the ISO
    codes of its countries (a function or a mapping).
    """
    flt = _Filter.of(prefs, region_countries)
    chosen: list[DigestArticle] = []
    for story in prepare(articles).stories:
        kept = flt.restrict(story)
        if kept is not None and flt.matches(kept):
            chosen.extend(kept.members)
    return chosen


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


def _item(story: _Story, followup: bool) -> DigestItem:
    rep = story.members[0]
    return DigestItem(
        story_id=rep.story_id,
        article_id=rep.id,
        headline=_SPACES.sub(" ", rep.title).strip(),
        url=rep.url,
        outlet=rep.outlet,
        time=_when(rep),
        summary=shorten(rep.summary),
        also_reported_by=story.also,
        tags=story.regions + story.topics,
        countries=story.countries,
        language=rep.language,
        updated=any(a.updated for a in story.members),
        followup=followup,
    )


@dataclass(frozen=True, slots=True)
class _Placement:
    kind: SectionKind
    title: str
    followed_index: int | None  # position in the subscriber's list, None: not followed
    #: (kind, case-folded title): the stories of one section share it.
    key: tuple[str, str] = ("", "")

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", (self.kind, self.title.casefold()))


@functools.lru_cache(maxsize=1 << 14)
def _placement(kind: SectionKind, title: str, followed_index: int | None) -> _Placement:
    # Interned: few distinct placements, and each story of each digest needs one.
    return _Placement(kind, title, followed_index)


def _by_region(story: _Story, prefs: SubscriberPrefs, flt: _Filter) -> _Placement | None:
    for i, (name, countries) in enumerate(flt.regions):
        if name in story.regions_cf or not countries.isdisjoint(story.country_set):
            return _placement("region", prefs.regions[i], i)
    return _placement("region", story.regions[0], None) if story.regions else None


def _by_topic(story: _Story, prefs: SubscriberPrefs) -> _Placement | None:
    for i, name in enumerate(prefs.topics):
        if name.casefold() in story.topics_cf:
            return _placement("topic", _heading(name), i)
    return _placement("topic", _heading(story.topics[0]), None) if story.topics else None


def _place(story: _Story, group_by: GroupBy, prefs: SubscriberPrefs, flt: _Filter) -> _Placement:
    if not flt.regions and not prefs.topics and group_by != "outlet":
        # Nothing followed: the story's first tags decide (most subscribers, so kept short).
        if group_by == "region" and story.regions:
            return _placement("region", story.regions[0], None)
        if story.topics:
            return _placement("topic", _heading(story.topics[0]), None)
        if story.regions:
            return _placement("region", story.regions[0], None)
        return _placement("other", OTHER_SECTION_TITLE, None)
    if group_by == "outlet":
        outlet = story.members[0].outlet
        index = next(
            (i for i, o in enumerate(prefs.outlets) if o.casefold() == outlet.casefold()), None
        )
        return _placement("outlet", outlet, index)
    if group_by == "region":
        found = _by_region(story, prefs, flt) or _by_topic(story, prefs)
    else:
        found = _by_topic(story, prefs) or _by_region(story, prefs, flt)
    return found or _placement("other", OTHER_SECTION_TITLE, None)


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


def _group_by(prefs: SubscriberPrefs, stories: Sequence[_Chosen]) -> GroupBy:
    if prefs.group_by is not None:
        return prefs.group_by
    # Until the tagger has run (the foundations build), outlets are the only grouping.
    return "region" if any(c.story.regions for c in stories) else "outlet"


@dataclass(slots=True)
class _Chosen:
    """A story that made it into this subscriber's digest, with its rank for them.

    Not frozen: thousands are made per digest and a frozen dataclass's __init__ is slower.
    """

    story: _Story
    followup: bool
    rank: tuple[int, int, int, float, int]
    #: The story object is kept by the pool, so its DigestItem can be cached there.
    cacheable: bool = False


def _by_rank(c: _Chosen) -> tuple[int, int, int, float, int]:
    return c.rank


def _in_window(story: _Story, start: datetime, end: datetime) -> _Story | None:
    """The story as of ``end``, when it has an article first seen in [start, end)."""
    if story.first_seen_min >= start and story.first_seen_max < end:
        return story  # the usual case: the pool holds just this window
    if story.first_seen_max >= end:
        trimmed = story.subset(lambda a: a.first_seen < end)
        if trimmed is None:
            return None
        story = trimmed
    return story if story.first_seen_max >= start else None


def compose(
    articles: Iterable[DigestArticle] | StoryPool,
    prefs: SubscriberPrefs,
    window: tuple[datetime, datetime],
    *,
    region_countries: RegionResolver,
    delivered_story_ids: AbstractSet[int] = frozenset(),
    now: datetime,
) -> Digest:
    """The subscriber's digest of the stories first seen in ``window`` = (start, end).

    ``articles`` (or a :class:`StoryPool` of them, to share the work between subscribers)
    may also hold earlier articles of the same stories: they count as other outlets and
    tell whether a story delivered before (``delivered_story_ids``) has grown (a new
    outlet since the window's start). Articles first seen at or after ``end`` are
    ignored. Each story is shown once, through its earliest article.
    """
    start, end = window
    for name, value in (("window start", start), ("window end", end), ("now", now)):
        _require_aware(name, value)
    if end < start:
        raise InvalidTimeError(f"window end {end.isoformat()} precedes its start")
    start, end = start.astimezone(UTC), end.astimezone(UTC)

    pool = prepare(articles)
    # A digest depends on the filters, the window and which of the pool's stories were
    # delivered before: subscribers alike in these share it.
    delivered = frozenset(delivered_story_ids) & pool.story_ids
    memo_key = (
        id(region_countries),
        start,
        end,
        prefs.regions,
        prefs.countries,
        prefs.topics,
        prefs.outlets,
        prefs.keywords,
        prefs.exclude_keywords,
        prefs.group_by,
        prefs.limits,
        tuple(sorted(prefs.outlet_priority.items())),
        delivered,
        prefs.repeat_grown and bool(delivered),
    )
    memo = pool._composed.get(memo_key)
    if memo is not None and memo[0] is region_countries:
        _, total, group_by, sections, hidden = memo
    else:
        flt = _Filter.of(prefs, region_countries)
        priority = {k.casefold(): v for k, v in prefs.outlet_priority.items()}
        chosen: list[_Chosen] = []
        excluded = pool.hits(flt.exclude_keywords) if flt.exclude is not None else frozenset()
        stories = pool.stories
        # The usual case, decided with set lookups: a whole pooled story, inside the window,
        # not delivered before, ranked without outlet priorities.
        plain = pool.inside(start, end) - excluded if not flt.outlets and not priority else None
        if plain is not None and delivered:
            plain -= pool.positions_of(delivered)
        for i in pool.candidates(flt):
            if plain is not None and i in plain:
                chosen.append(pool.chosen(i))
                continue
            pooled = stories[i]
            story: _Story | None = pooled
            if flt.outlets:
                story = pool.restricted(i, flt)
            kept = story
            if story is not None and not (
                story.first_seen_min >= start and story.first_seen_max < end
            ):
                story = _in_window(story, start, end)
            if story is None:
                continue
            if story is pooled:
                # candidates() already decided the positive filters for a whole story.
                if i in excluded:
                    continue
            elif not flt.matches(story):
                continue
            followup = False
            if story.key[0] and story.key[1] in delivered:
                earlier = {a.outlet.casefold() for a in story.members if a.first_seen < start}
                grew = any(
                    a.outlet.casefold() not in earlier
                    for a in story.members
                    if a.first_seen >= start
                )
                if not (prefs.repeat_grown and grew):
                    continue
                followup = True
            if priority:
                outlets, hour, latest, rep_id = story.base_rank
                best = max(priority.get(o, 0) for o in story.outlets)
                rank = (outlets, hour, -best, latest, rep_id)
            else:
                rank = story.rank0
            chosen.append(_Chosen(story, followup, rank, story is kept))

        # Best first: a section's stories are then in order as they are grouped.
        chosen.sort(key=_by_rank)
        group_by = _group_by(prefs, chosen)
        sections, hidden = _sections(chosen, group_by, prefs, flt, pool)
        total = len(chosen)
        pool._composed[memo_key] = (region_countries, total, group_by, sections, hidden)
    day = end.astimezone(load_zone(prefs.timezone)).date()
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
    chosen: Sequence[_Chosen],
    group_by: GroupBy,
    prefs: SubscriberPrefs,
    flt: _Filter,
    pool: StoryPool,
) -> tuple[tuple[Section, ...], int]:
    """Sections in reading order with the limits applied, and the stories cut entirely.

    ``chosen`` is sorted best first, so each section's stories are too.
    """
    # A story's section depends on the story and what the subscriber follows, which many
    # subscribers share: the pool keeps the placements of each set of follows.
    follows = (group_by, prefs.regions, flt.regions, prefs.topics, prefs.outlets)
    places = pool._places.get(follows)
    if places is None:
        places = pool._places[follows] = {}
    groups: dict[tuple[str, str], tuple[_Placement, list[_Chosen]]] = {}
    for c in chosen:
        if c.cacheable:
            place = places.get(id(c.story))
            if place is None:
                place = places[id(c.story)] = _place(c.story, group_by, prefs, flt)
        else:
            place = _place(c.story, group_by, prefs, flt)
        group = groups.get(place.key)
        if group is None:
            groups[place.key] = (place, [c])
        else:
            group[1].append(c)

    kind_order = {group_by: 0, "other": 2}

    def section_order(group: tuple[_Placement, list[_Chosen]]) -> tuple[object, ...]:
        # Followed sections first, in the subscriber's order; then by their best story.
        place, members = group
        return (
            kind_order.get(place.kind, 1),
            place.followed_index is None,
            place.followed_index or 0,
            members[0].rank,
            place.key[1],
        )

    limits = prefs.limits
    left = limits.total
    out: list[Section] = []
    hidden = 0
    for place, members in sorted(groups.values(), key=section_order):
        take = len(members)
        if limits.per_section is not None:
            take = min(take, limits.per_section)
        if left is not None:
            take = min(take, left)
            left -= take
        if take == 0:
            hidden += len(members)
            continue
        # Only the stories shown become items: the rest are counted, not built.
        shown = members[:take]
        out.append(
            Section(
                title=place.title,
                items=tuple(pool.item(c.story, c.followup, cacheable=c.cacheable) for c in shown),
                more_count=len(members) - take,
                kind=place.kind,
                followed=place.followed_index is not None,
            )
        )
    return tuple(out), hidden
