"""When a subscriber's digest is due, and which articles it covers.

A subscriber's *period* ends at each scheduled send: ``send_at`` local wall-clock time in
their own time zone, every day or on one weekday. Consecutive periods tile time with no
gap and no overlap, also across DST changes. The *window* is what a digest covers:
everything first seen since the last delivered digest (24 h for the first one), capped.

Usage::

    p = period_for(time(7), "Asia/Baghdad", now)        # the period that ended last
    start, end = window(last_delivered_end, p)          # what the digest covers

All functions are pure: ``now`` is passed in, nothing reads the clock.
"""

from __future__ import annotations

import difflib
import functools
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple

from digest.errors import InvalidTimeError, UnknownTimeZoneError

DEFAULT_CAP = timedelta(days=7)
DEFAULT_FIRST = timedelta(hours=24)


@functools.lru_cache(maxsize=512)
def load_zone(name: str) -> zoneinfo.ZoneInfo:
    """The ZoneInfo for an IANA name; raises :class:`UnknownTimeZoneError` with suggestions."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        # ValueError: names like "../etc" that zoneinfo refuses outright.
        pass
    suggestions = tuple(
        difflib.get_close_matches(name, sorted(zoneinfo.available_timezones()), n=3)
    )
    raise UnknownTimeZoneError(name, suggestions)


@dataclass(frozen=True, slots=True)
class Period:
    """One scheduled period: from the previous send (inclusive) to this send (exclusive)."""

    #: The previous scheduled send (aware UTC).
    start: datetime
    #: This scheduled send (aware UTC).
    end: datetime
    #: The subscriber-local date of ``end``; with the subscriber, the delivery ledger's key.
    local_date: date


class Window(NamedTuple):
    """The half-open interval [start, end) of first_seen times a digest covers (aware UTC)."""

    start: datetime
    end: datetime


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidTimeError(f"{name} must be a timezone-aware datetime, got {value!r}")


def _zone(tz: str | zoneinfo.ZoneInfo) -> zoneinfo.ZoneInfo:
    return tz if isinstance(tz, zoneinfo.ZoneInfo) else load_zone(tz)


def send_instant(day: date, send_at: time, tz: str | zoneinfo.ZoneInfo) -> datetime:
    """The UTC instant of ``send_at`` on local date ``day``.

    On a DST change day the wall-clock time may not exist or may exist twice. We follow
    zoneinfo's fold=0 rule (PEP 495): a time in a skipped hour is read with the offset
    from before the change, so the send moves forward by the gap (02:30 on a day that
    jumps 02:00 -> 03:00 sends at 03:30); a repeated time sends at its first occurrence.
    Either way the send instants stay strictly increasing from day to day.
    """
    local = datetime.combine(day, send_at.replace(tzinfo=None, fold=0), tzinfo=_zone(tz))
    return local.astimezone(UTC)


def _last_send_date(
    send_at: time, zone: zoneinfo.ZoneInfo, now: datetime, weekly: int | None
) -> date:
    """The local date of the latest scheduled send at or before ``now``."""
    day = now.astimezone(zone).date()
    if weekly is not None:
        day -= timedelta(days=(day.weekday() - weekly) % 7)
    step = timedelta(days=7 if weekly is not None else 1)
    # Usually one step back at most; a loop because a send in a gap just before midnight
    # lands on the next local date.
    while send_instant(day, send_at, zone) > now:
        day -= step
    return day


def period_for(
    send_at: time,
    tz: str | zoneinfo.ZoneInfo,
    now: datetime,
    weekly: int | None = None,
) -> Period:
    """The period whose scheduled send is the latest one at or before ``now``.

    ``weekly`` is None for a daily digest, or 0..6 (Monday..Sunday) for a weekly one.
    ``period_for(p.end)`` is ``p`` again, and the period before ``p`` ends at ``p.start``.
    """
    _require_aware("now", now)
    if weekly is not None and not 0 <= weekly <= 6:
        raise InvalidTimeError("weekly must be a weekday number, 0 (Monday) to 6 (Sunday)")
    zone = _zone(tz)
    day = _last_send_date(send_at, zone, now, weekly)
    previous = day - timedelta(days=7 if weekly is not None else 1)
    return Period(
        start=send_instant(previous, send_at, zone),
        end=send_instant(day, send_at, zone),
        local_date=day,
    )


def next_send(
    send_at: time,
    tz: str | zoneinfo.ZoneInfo,
    now: datetime,
    weekly: int | None = None,
) -> datetime:
    """The first scheduled send strictly after ``now`` (aware UTC), for the scheduler."""
    current = period_for(send_at, tz, now, weekly)
    step = timedelta(days=7 if weekly is not None else 1)
    return send_instant(current.local_date + step, send_at, _zone(tz))


def window(
    last_delivered_end: datetime | None,
    period: Period,
    cap: timedelta = DEFAULT_CAP,
    first: timedelta = DEFAULT_FIRST,
) -> Window:
    """What a digest for ``period`` covers.

    From the end of the last delivered digest (``first`` before the period's end when
    there was none) to the period's end, never longer than ``cap``. A last delivery at or
    after the period's end gives an empty window rather than a negative one.
    """
    end = period.end
    if last_delivered_end is None:
        start = end - first
    else:
        _require_aware("last_delivered_end", last_delivered_end)
        start = last_delivered_end.astimezone(UTC)
    start = max(start, end - cap)
    return Window(start=min(start, end), end=end)
