"""Entry dates in UTC, with a first-seen fallback and future dates clamped."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

#: How far in the future a feed's date may be before we call it wrong: clocks drift
#: and some outlets stamp an article a few minutes ahead.
DEFAULT_MAX_SKEW = timedelta(minutes=15)


class DateFlag(enum.StrEnum):
    """Why a stored date is not simply the feed's date."""

    #: Neither published nor updated: ``published`` is the first-seen time.
    NO_DATE = "no_date"
    #: No published date: ``published`` is the feed's updated date.
    PUBLISHED_FROM_UPDATED = "published_from_updated"
    #: The feed's published date was beyond ``now + max_skew``: clamped to ``now``.
    PUBLISHED_IN_FUTURE = "published_in_future"
    #: The feed's updated date was beyond ``now + max_skew``: clamped to ``now``.
    UPDATED_IN_FUTURE = "updated_in_future"
    #: ``updated`` was earlier than ``published``: raised to ``published``.
    UPDATED_BEFORE_PUBLISHED = "updated_before_published"


@dataclass(frozen=True, slots=True)
class NormalizedDates:
    """An entry's dates, timezone-aware UTC.

    ``published`` is always set (see :class:`DateFlag` for how); ``updated`` is the
    feed's updated date or None; ``flags`` lists what was changed, in a fixed order.
    """

    published: datetime
    updated: datetime | None
    flags: tuple[DateFlag, ...] = ()


def to_utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime; a naive value is taken to be UTC already."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def normalize_dates(
    published: datetime | None,
    updated: datetime | None,
    first_seen: datetime,
    *,
    now: datetime,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
) -> NormalizedDates:
    """Decide an entry's stored dates.

    ``published`` falls back to ``updated``, then to ``first_seen`` (when we first saw the
    entry; pass ``now`` for a new one). A date later than ``now + max_skew`` is clamped
    to ``now`` and flagged; ``updated`` is never earlier than ``published``.
    """
    now = to_utc(now)
    limit = now + max_skew
    flags: set[DateFlag] = set()

    pub = to_utc(published) if published is not None else None
    upd = to_utc(updated) if updated is not None else None
    if pub is not None and pub > limit:
        pub = now
        flags.add(DateFlag.PUBLISHED_IN_FUTURE)
    if upd is not None and upd > limit:
        upd = now
        flags.add(DateFlag.UPDATED_IN_FUTURE)
    if pub is None:
        if upd is not None:
            pub = upd
            flags.add(DateFlag.PUBLISHED_FROM_UPDATED)
        else:
            pub = min(to_utc(first_seen), now)
            flags.add(DateFlag.NO_DATE)
    if upd is not None and upd < pub:
        upd = pub
        flags.add(DateFlag.UPDATED_BEFORE_PUBLISHED)
    return NormalizedDates(pub, upd, tuple(flag for flag in DateFlag if flag in flags))


#: Flags meaning ``published`` is not a date the feed gave and kept, so it may differ on
#: the next fetch: such a date cannot be part of an entry's identity (link + date keys).
UNSTABLE_DATE_FLAGS: frozenset[DateFlag] = frozenset(
    {DateFlag.NO_DATE, DateFlag.PUBLISHED_FROM_UPDATED, DateFlag.PUBLISHED_IN_FUTURE}
)
