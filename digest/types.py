"""The named, frozen values of the digest stages.

store -> :class:`DigestArticle` (+ :class:`SubscriberPrefs`) -> select/compose ->
:class:`Digest` (of :class:`Section` of :class:`DigestItem`) -> render.
None of them holds a session, an ORM row or a template; all datetimes are aware UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from types import MappingProxyType
from typing import Literal

from digest.errors import InvalidPrefsError
from digest.window import load_zone

#: How sections are formed. ``outlet`` is the fallback when articles carry no regions.
GroupBy = Literal["region", "topic", "outlet"]
GROUP_BY_VALUES: tuple[GroupBy, ...] = ("region", "topic", "outlet")

#: What a section is keyed on; ``other`` holds stories with no usable tag.
SectionKind = Literal["region", "topic", "outlet", "other"]

DEFAULT_SEND_AT = time(7, 0)
DEFAULT_PER_SECTION = 8
DEFAULT_TOTAL = 40


@dataclass(frozen=True, slots=True)
class DigestArticle:
    """One stored article as the digest needs it."""

    #: The article's id in the store.
    id: int
    #: The story (cluster of reports of the same event) it belongs to; None: its own story.
    story_id: int | None
    #: The headline, plain text.
    title: str
    #: The article's canonical URL.
    url: str
    #: The outlet's display name.
    outlet: str
    #: The outlet's id in the store.
    outlet_id: int
    #: When the outlet says it was published (aware UTC; the store falls back to first_seen).
    published: datetime
    #: When we first stored it (aware UTC); windows are cut on this.
    first_seen: datetime
    #: A plain-text summary (already sanitized); may be empty.
    summary: str = ""
    #: BCP 47 language tag of the article (e.g. "ar", "en"), when known.
    language: str | None = None
    #: ISO 3166-1 alpha-2 codes the tagger found, most relevant first.
    countries: tuple[str, ...] = ()
    #: Region names the tagger derived (UN M49 sub-regions, "Middle East", ...).
    regions: tuple[str, ...] = ()
    #: Topic names the tagger found ("diplomacy", "politics", ...).
    topics: tuple[str, ...] = ()
    #: True when the outlet revised the article after we first stored it.
    updated: bool = False


@dataclass(frozen=True, slots=True)
class Limits:
    """How many stories a digest shows; None means no limit."""

    #: At most this many stories per section; the rest become "and N more".
    per_section: int | None = DEFAULT_PER_SECTION
    #: At most this many stories in the whole digest.
    total: int | None = DEFAULT_TOTAL

    def __post_init__(self) -> None:
        for name in ("per_section", "total"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InvalidPrefsError(f"limit {name} must be at least 1, or None for no limit")


@dataclass(frozen=True, slots=True)
class SubscriberPrefs:
    """What one subscriber wants, and when. Every empty filter means "everything"."""

    #: Where the digest goes; also the subscriber's key.
    email: str
    #: Display name (may be empty).
    name: str = ""
    #: IANA time zone name, e.g. "Asia/Baghdad".
    timezone: str = "UTC"
    #: Local wall-clock time of the daily (or weekly) send.
    send_at: time = DEFAULT_SEND_AT
    #: None: daily. 0..6 (Monday..Sunday): weekly on that day.
    weekly: int | None = None
    #: Followed regions; resolved to countries through the injected resolver.
    regions: tuple[str, ...] = ()
    #: Followed countries (ISO 3166-1 alpha-2).
    countries: tuple[str, ...] = ()
    #: Followed topics.
    topics: tuple[str, ...] = ()
    #: Only these outlets (names, or ids as strings); empty: all outlets.
    outlets: tuple[str, ...] = ()
    #: A story must mention one of these (title or summary; case-insensitive).
    keywords: tuple[str, ...] = ()
    #: A story mentioning any of these is left out, whatever else matches.
    exclude_keywords: tuple[str, ...] = ()
    #: Section grouping; None picks "region" when articles carry regions, else "outlet".
    group_by: GroupBy | None = None
    #: Per-section and total limits.
    limits: Limits = field(default_factory=Limits)
    #: Outlet name -> priority (higher ranks first among otherwise equal stories).
    outlet_priority: Mapping[str, int] = field(default_factory=dict)
    #: Send a digest even when nothing matched.
    send_empty: bool = False
    #: Show an already delivered story again when another outlet has since reported it.
    repeat_grown: bool = True

    def __post_init__(self) -> None:
        # A read-only view keeps the "frozen" promise for the one mutable-typed field.
        object.__setattr__(self, "outlet_priority", MappingProxyType(dict(self.outlet_priority)))
        if self.group_by is not None and self.group_by not in GROUP_BY_VALUES:
            raise InvalidPrefsError(f"group_by must be one of {', '.join(GROUP_BY_VALUES)}")
        load_zone(self.timezone)  # an unknown zone is refused here, not at send time
        if self.weekly is not None and not 0 <= self.weekly <= 6:
            raise InvalidPrefsError("weekly must be a weekday number, 0 (Monday) to 6 (Sunday)")

    @property
    def follows_everything(self) -> bool:
        """True when no region, country, topic, outlet or keyword filter is set."""
        return not (self.regions or self.countries or self.topics or self.outlets or self.keywords)


@dataclass(frozen=True, slots=True)
class DigestItem:
    """One story in a digest, shown through its representative (earliest) article."""

    #: The story id, or None for an article that is its own story.
    story_id: int | None
    #: The representative article's id.
    article_id: int
    #: The representative article's headline.
    headline: str
    #: The representative article's URL.
    url: str
    #: The representative article's outlet.
    outlet: str
    #: The representative article's publication time (aware UTC).
    time: datetime
    #: A short plain-text summary (may be empty).
    summary: str
    #: The other outlets that carried the story: (outlet, url), one per outlet, earliest first.
    also_reported_by: tuple[tuple[str, str], ...] = ()
    #: Region and topic labels of the story.
    tags: tuple[str, ...] = ()
    #: ISO country codes of the story.
    countries: tuple[str, ...] = ()
    #: The representative article's language tag, for the lang attribute.
    language: str | None = None
    #: An article of the story was revised after it was first stored.
    updated: bool = False
    #: The story was in an earlier digest and has grown since.
    followup: bool = False

    @property
    def outlet_count(self) -> int:
        """How many outlets carried the story."""
        return 1 + len(self.also_reported_by)


@dataclass(frozen=True, slots=True)
class Section:
    """A group of stories under one heading."""

    #: The heading shown to the subscriber.
    title: str
    #: The stories shown, best first.
    items: tuple[DigestItem, ...]
    #: How many more stories of this section the limits left out.
    more_count: int = 0
    #: What the section is keyed on.
    kind: SectionKind = "other"
    #: True when the subscriber follows this region/topic/outlet.
    followed: bool = False


@dataclass(frozen=True, slots=True)
class Digest:
    """One subscriber's digest for one window, ready to render."""

    #: Whose digest it is (its time zone formats the times).
    subscriber: SubscriberPrefs
    #: The window's start (aware UTC, inclusive).
    period_start: datetime
    #: The window's end (aware UTC, exclusive).
    period_end: datetime
    #: The sections, in reading order; sections whose stories were all cut are omitted.
    sections: tuple[Section, ...]
    #: How many stories matched (shown plus cut by limits).
    total_stories: int
    #: E.g. "Middle East & diplomacy: 12 stories, Fri 10 Jan".
    subject: str
    #: The first headlines, for the inbox preview line.
    preheader: str
    #: When it was composed (aware UTC).
    generated_at: datetime
    #: The grouping used (after the automatic choice).
    group_by: GroupBy = "outlet"
    #: Stories cut by the total limit in sections that show nothing.
    more_count: int = 0
    #: Why this digest should not be sent (empty and not send_empty); None: send it.
    skip_reason: str | None = None

    @property
    def shown_stories(self) -> int:
        """How many stories the sections show."""
        return sum(len(s.items) for s in self.sections)

    @property
    def is_empty(self) -> bool:
        """True when no story matched."""
        return self.total_stories == 0
