"""When a feed is next due: one pure decision, no clock, no network, no database.

The fetcher gathers the facts (:class:`ScheduleInput`) after each fetch, calls
:func:`next_due` with the configured :class:`ScheduleSettings`, and stores the returned
:class:`ScheduleDecision` on the feed; ``newsdigest fetch`` then takes the feeds whose
``next_due_at`` has passed. Usage::

    settings = ScheduleSettings(default_interval=timedelta(hours=1))
    hints = hints_from(parsed_feed, fetch_result.headers, now)
    decision = next_due(
        ScheduleInput(now=now, feed_key=str(feed.id), hints=hints,
                      entry_times=recent_entry_times, error_count=errors,
                      retry_after=fetch_result.retry_after),
        settings,
    )

The rules, in the order they apply:

1. A gone feed (410) has no next due time until it is re-enabled.
2. The base interval adapts to the feed: the median gap between its recent entries,
   within ``[min_interval, max_interval]``; the default interval until there are enough
   entries to tell.
3. The feed's own hints (``<ttl>``, ``sy:updatePeriod``/``sy:updateFrequency``,
   Cache-Control max-age, Expires) raise the floor: never sooner than the feed asks,
   but never beyond ``max_interval``.
4. Consecutive errors back off exponentially from that interval, capped at
   ``error_backoff_cap``; the caller passes ``error_count=0`` after a success, which is
   all a reset needs.
5. Deterministic jitter (from a hash of the feed key) spreads feeds that share an
   interval, so feeds added together do not stay in lockstep; it never leaves the bounds.
6. Retry-After is honoured: never due before it.
"""

from __future__ import annotations

import hashlib
import itertools
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ingest.http_semantics import (
    parse_cache_control_max_age,
    parse_expires,
    parse_sy_hints,
)
from ingest.types import ParsedFeed

DEFAULT_INTERVAL = timedelta(hours=1)
DEFAULT_MIN_INTERVAL = timedelta(minutes=10)
DEFAULT_MAX_INTERVAL = timedelta(days=1)
DEFAULT_ERROR_BACKOFF_CAP = timedelta(hours=24)
DEFAULT_JITTER = 0.10
#: Fewer gaps than this and the median says little; the default interval stays.
DEFAULT_MIN_GAPS = 2


@dataclass(frozen=True, slots=True)
class ScheduleSettings:
    """The configured bounds of the schedule; validated on construction."""

    default_interval: timedelta = DEFAULT_INTERVAL
    min_interval: timedelta = DEFAULT_MIN_INTERVAL
    max_interval: timedelta = DEFAULT_MAX_INTERVAL
    #: Consecutive errors never push the next attempt further than this (unless the
    #: feed's normal interval is already longer).
    error_backoff_cap: timedelta = DEFAULT_ERROR_BACKOFF_CAP
    #: Jitter spreads each interval by up to this fraction either way (0.1 = +/-10%).
    jitter: float = DEFAULT_JITTER
    #: How many gaps between entries are needed before the interval adapts.
    min_gaps: int = DEFAULT_MIN_GAPS

    def __post_init__(self) -> None:
        if self.min_interval <= timedelta(0):
            raise ValueError(f"min_interval must be positive, got {self.min_interval}")
        if not self.min_interval <= self.default_interval <= self.max_interval:
            raise ValueError(
                "intervals must satisfy min_interval <= default_interval <= max_interval, "
                f"got {self.min_interval}, {self.default_interval}, {self.max_interval}"
            )
        if self.error_backoff_cap < self.min_interval:
            raise ValueError(
                f"error_backoff_cap ({self.error_backoff_cap}) must not be shorter "
                f"than min_interval ({self.min_interval})"
            )
        if not 0.0 <= self.jitter < 1.0:
            raise ValueError(f"jitter must be in [0, 1), got {self.jitter}")
        if self.min_gaps < 1:
            raise ValueError(f"min_gaps must be at least 1, got {self.min_gaps}")


@dataclass(frozen=True, slots=True)
class FeedHints:
    """What the feed and its last response said about how often to poll, parsed.

    Each is ``None`` when absent; unusable values (zero, negative) are ignored.
    """

    #: RSS ``<ttl>``, minutes.
    ttl_minutes: int | None = None
    #: ``sy:updatePeriod`` (hourly, daily, weekly, monthly, yearly).
    update_period: str | None = None
    #: ``sy:updateFrequency``: times per ``update_period``.
    update_frequency: int | None = None
    #: Cache-Control ``max-age`` of the last response.
    max_age: timedelta | None = None
    #: Expires of the last response (aware UTC).
    expires: datetime | None = None


@dataclass(frozen=True, slots=True)
class EntryRhythm:
    """What the schedule reads from a feed's recent entries, summed up (:func:`rhythm_of`).

    Small enough to keep on the feed: a fetch that brings no new entry (a 304, most fetches)
    decides from it without reading the feed's articles again.
    """

    #: The median gap between distinct entry times (None: no gap at all).
    median_gap: timedelta | None
    #: How many gaps there were (the median means little below ``min_gaps``).
    gaps: int
    #: The newest entry time (None: no entries).
    newest: datetime | None


def rhythm_of(entry_times: Sequence[datetime], now: datetime) -> EntryRhythm:
    """Sum up the times of a feed's recent entries. Entries dated in the future are left
    out: a feed that stamps items 2099 would otherwise look infinitely busy or quiet."""
    times = sorted({t for t in entry_times if t <= now})
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    return EntryRhythm(
        median_gap=statistics.median_low(gaps) if gaps else None,
        gaps=len(gaps),
        newest=times[-1] if times else None,
    )


@dataclass(frozen=True, slots=True)
class ScheduleInput:
    """The facts about one feed at the moment its next fetch is decided."""

    #: The current instant, aware.
    now: datetime
    #: The feed's id or URL: seeds the jitter, so the same feed always gets the same.
    feed_key: str
    hints: FeedHints = FeedHints()
    #: Publication (or first-seen) times of the feed's recent new entries, any order.
    entry_times: Sequence[datetime] = ()
    #: The same summed up (:func:`rhythm_of`); when given, ``entry_times`` is not read.
    rhythm: EntryRhythm | None = None
    #: Consecutive failed fetches, this one included; 0 after a success.
    error_count: int = 0
    #: Not due before this instant (from a 429/503 Retry-After).
    retry_after: datetime | None = None
    #: The feed answered 410 Gone.
    gone: bool = False


@dataclass(frozen=True, slots=True)
class ScheduleDecision:
    """When the feed is next due, the wait until then, and why (for ``feeds list``).

    ``next_due_at == now + interval``; both are ``None`` for a gone feed.
    """

    next_due_at: datetime | None
    interval: timedelta | None
    reason: str


def hints_from(feed: ParsedFeed | None, headers: Mapping[str, str], now: datetime) -> FeedHints:
    """Collect the polling hints of a parsed feed and its response headers (lower-cased)."""
    return FeedHints(
        ttl_minutes=feed.ttl_minutes if feed is not None else None,
        update_period=feed.update_period if feed is not None else None,
        update_frequency=feed.update_frequency if feed is not None else None,
        max_age=parse_cache_control_max_age(headers.get("cache-control")),
        expires=parse_expires(headers.get("expires"), now),
    )


def _hint_floor(hints: FeedHints, now: datetime) -> tuple[timedelta, str]:
    """The longest wait any hint asks for, and which hint asked."""
    asks: list[tuple[timedelta, str]] = []
    if hints.ttl_minutes is not None and hints.ttl_minutes > 0:
        asks.append((timedelta(minutes=hints.ttl_minutes), "ttl"))
    sy = parse_sy_hints(hints.update_period, hints.update_frequency)
    if sy is not None:
        asks.append((sy, "sy:updatePeriod"))
    if hints.max_age is not None and hints.max_age > timedelta(0):
        asks.append((hints.max_age, "max-age"))
    if hints.expires is not None and hints.expires > now:
        asks.append((hints.expires - now, "expires"))
    if not asks:
        return timedelta(0), ""
    return max(asks, key=lambda ask: ask[0])


def _observed_interval(rhythm: EntryRhythm, now: datetime, min_gaps: int) -> timedelta | None:
    """The median gap between distinct recent entries, stretched while the feed is silent."""
    if rhythm.median_gap is None or rhythm.newest is None or rhythm.gaps < min_gaps:
        return None
    # The silence since the last entry is a lower bound on the gap now under way. Half
    # of it, rather than all, lets a feed that went quiet drift toward max_interval
    # while still noticing within a reasonable time that it came back.
    silence = now - rhythm.newest
    return max(rhythm.median_gap, silence / 2)


def _jitter_fraction(feed_key: str, salt: int, spread: float) -> float:
    """A deterministic fraction in [-spread, +spread) for this feed and attempt."""
    digest = hashlib.blake2b(f"{feed_key}\x00{salt}".encode(), digest_size=8).digest()
    unit = int.from_bytes(digest, "big") / 2**64  # [0, 1)
    return (2.0 * unit - 1.0) * spread


def _jittered(interval: timedelta, fraction: float, low: timedelta, high: timedelta) -> timedelta:
    """Spread ``interval`` by ``fraction``, staying in ``[low, high]``.

    At a bound the jitter is reflected instead of clamped: otherwise every feed sitting
    at max_interval (all the quiet ones) would share one exact interval again.
    """
    candidate = interval * (1.0 + fraction)
    if candidate > high or candidate < low:
        candidate = interval * (1.0 - fraction)
    return min(max(candidate, low), high)


def _describe(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 86400 == 0 and seconds >= 86400:
        return f"{seconds // 86400}d"
    if seconds % 3600 == 0 and seconds >= 3600:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0 and seconds >= 60:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def next_due(facts: ScheduleInput, settings: ScheduleSettings | None = None) -> ScheduleDecision:
    """Decide when the feed is next due. Pure: the same facts give the same decision."""
    settings = settings or ScheduleSettings()
    if facts.now.tzinfo is None:
        raise ValueError("ScheduleInput.now must be timezone-aware")
    if facts.retry_after is not None and facts.retry_after.tzinfo is None:
        raise ValueError("ScheduleInput.retry_after must be timezone-aware")
    now = facts.now.astimezone(UTC)
    if facts.gone:
        return ScheduleDecision(None, None, "gone (410): not fetched until re-enabled")

    rhythm = facts.rhythm or rhythm_of(facts.entry_times, now)
    observed = _observed_interval(rhythm, now, settings.min_gaps)
    if observed is None:
        interval = settings.default_interval
        why = "default interval"
    else:
        interval = min(max(observed, settings.min_interval), settings.max_interval)
        why = f"adapted to a median gap of {_describe(observed)}"

    asked, by = _hint_floor(facts.hints, now)
    floor = max(settings.min_interval, min(asked, settings.max_interval))
    if interval < floor:
        interval = floor
        why = f"the feed asks for {_describe(asked)} ({by})"
    high = settings.max_interval

    errors = max(facts.error_count, 0)
    if errors:
        # The first failure retries at the normal interval (one glitch costs nothing),
        # then each further one doubles it. Computed in float seconds so that a
        # thousand errors cannot overflow timedelta; the cap takes over long before.
        cap = max(settings.error_backoff_cap, interval)
        backoff = interval.total_seconds() * 2.0 ** min(errors - 1, 64)
        interval = min(timedelta(seconds=min(backoff, cap.total_seconds())), cap)
        high = cap
        why = f"backing off after {errors} consecutive error{'s' if errors > 1 else ''}"

    fraction = _jitter_fraction(facts.feed_key, errors, settings.jitter)
    interval = _jittered(interval, fraction, floor, high)
    due = now + interval

    if facts.retry_after is not None and facts.retry_after > due:
        # Honour it exactly: no jitter, which could only make it earlier or later
        # than what the server asked.
        due = facts.retry_after.astimezone(UTC)
        interval = due - now
        why = "the server asked to retry after this time (Retry-After)"
    return ScheduleDecision(due, interval, why)
