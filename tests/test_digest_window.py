"""Periods and windows: DST change days, time zones on both sides of UTC midnight, tiling."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.errors import InvalidTimeError, UnknownTimeZoneError
from digest.window import Period, load_zone, next_send, period_for, send_instant, window


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# (case, zone, send_at, weekly, now, expected start, expected end, expected local date)
PERIODS = [
    (
        "London spring forward: a 23 h day",
        "Europe/London",
        time(7),
        None,
        utc(2025, 3, 30, 12),
        utc(2025, 3, 29, 7),
        utc(2025, 3, 30, 6),
        date(2025, 3, 30),
    ),
    (
        "London, send_at in the skipped hour moves forward by the gap",
        "Europe/London",
        time(1, 30),
        None,
        utc(2025, 3, 30, 12),
        utc(2025, 3, 29, 1, 30),
        utc(2025, 3, 30, 1, 30),
        date(2025, 3, 30),
    ),
    (
        "London, send_at in the repeated hour sends at its first occurrence",
        "Europe/London",
        time(1, 30),
        None,
        utc(2025, 10, 26, 12),
        utc(2025, 10, 25, 0, 30),
        utc(2025, 10, 26, 0, 30),
        date(2025, 10, 26),
    ),
    (
        "London, the day after the autumn change is 25 h",
        "Europe/London",
        time(7),
        None,
        utc(2025, 10, 26, 12),
        utc(2025, 10, 25, 6),
        utc(2025, 10, 26, 7),
        date(2025, 10, 26),
    ),
    (
        "New York spring forward",
        "America/New_York",
        time(7),
        None,
        utc(2025, 3, 9, 12),
        utc(2025, 3, 8, 12),
        utc(2025, 3, 9, 11),
        date(2025, 3, 9),
    ),
    (
        "New York, 02:30 does not exist on 9 March: 03:30 EDT",
        "America/New_York",
        time(2, 30),
        None,
        utc(2025, 3, 9, 12),
        utc(2025, 3, 8, 7, 30),
        utc(2025, 3, 9, 7, 30),
        date(2025, 3, 9),
    ),
    (
        "New York, 01:30 twice on 2 November: the first (EDT)",
        "America/New_York",
        time(1, 30),
        None,
        utc(2025, 11, 2, 12),
        utc(2025, 11, 1, 5, 30),
        utc(2025, 11, 2, 5, 30),
        date(2025, 11, 2),
    ),
    (
        "Sydney, DST ends 6 April: a 25 h day",
        "Australia/Sydney",
        time(7),
        None,
        utc(2025, 4, 6, 0),
        utc(2025, 4, 4, 20),
        utc(2025, 4, 5, 21),
        date(2025, 4, 6),
    ),
    (
        "Sydney, 02:30 skipped on 5 October: 03:30 AEDT",
        "Australia/Sydney",
        time(2, 30),
        None,
        utc(2025, 10, 5, 0),
        utc(2025, 10, 3, 16, 30),
        utc(2025, 10, 4, 16, 30),
        date(2025, 10, 5),
    ),
    (
        "Auckland (UTC+13): Friday's 07:00 is Thursday 18:00 UTC",
        "Pacific/Auckland",
        time(7),
        None,
        utc(2025, 1, 9, 18, 30),
        utc(2025, 1, 8, 18),
        utc(2025, 1, 9, 18),
        date(2025, 1, 10),
    ),
    (
        "Auckland, a minute before the send: still the previous period",
        "Pacific/Auckland",
        time(7),
        None,
        utc(2025, 1, 9, 17, 59),
        utc(2025, 1, 7, 18),
        utc(2025, 1, 8, 18),
        date(2025, 1, 9),
    ),
    (
        "Los Angeles (UTC-8): Thursday's 22:00 is Friday 06:00 UTC",
        "America/Los_Angeles",
        time(22),
        None,
        utc(2025, 1, 10, 6, 30),
        utc(2025, 1, 9, 6),
        utc(2025, 1, 10, 6),
        date(2025, 1, 9),
    ),
    (
        "Baghdad (UTC+3), now exactly at the send",
        "Asia/Baghdad",
        time(7),
        None,
        utc(2025, 1, 10, 4),
        utc(2025, 1, 9, 4),
        utc(2025, 1, 10, 4),
        date(2025, 1, 10),
    ),
    (
        "Baghdad weekly on Friday, asked on Monday",
        "Asia/Baghdad",
        time(7),
        4,
        utc(2025, 1, 13, 9),
        utc(2025, 1, 3, 4),
        utc(2025, 1, 10, 4),
        date(2025, 1, 10),
    ),
    (
        "London weekly on Sunday across the spring change: 7 days less an hour",
        "Europe/London",
        time(7),
        6,
        utc(2025, 4, 1),
        utc(2025, 3, 23, 7),
        utc(2025, 3, 30, 6),
        date(2025, 3, 30),
    ),
]


@pytest.mark.parametrize(
    ("zone", "send_at", "weekly", "now", "start", "end", "local_date"),
    [case[1:] for case in PERIODS],
    ids=[case[0] for case in PERIODS],
)
def test_period_for(zone, send_at, weekly, now, start, end, local_date):
    assert period_for(send_at, zone, now, weekly) == Period(start, end, local_date)


def test_period_accepts_a_zoneinfo_and_any_aware_now():
    now = datetime(2025, 1, 10, 14, tzinfo=load_zone("Asia/Tokyo"))  # 05:00 UTC
    assert period_for(time(7), load_zone("Asia/Baghdad"), now).end == utc(2025, 1, 10, 4)


def test_next_send_is_the_following_period_end():
    now = utc(2025, 3, 29, 12)
    assert next_send(time(7), "Europe/London", now) == utc(2025, 3, 30, 6)


@pytest.mark.parametrize(
    ("last", "cap", "first", "expected_start"),
    [
        (None, timedelta(days=7), timedelta(hours=24), utc(2025, 1, 9, 4)),
        (None, timedelta(days=7), timedelta(hours=6), utc(2025, 1, 9, 22)),
        (utc(2025, 1, 7, 4), timedelta(days=7), timedelta(hours=24), utc(2025, 1, 7, 4)),
        (utc(2024, 12, 1), timedelta(days=7), timedelta(hours=24), utc(2025, 1, 3, 4)),
        (utc(2024, 12, 1), timedelta(days=2), timedelta(hours=24), utc(2025, 1, 8, 4)),
        (utc(2025, 1, 11), timedelta(days=7), timedelta(hours=24), utc(2025, 1, 10, 4)),
    ],
    ids=["first digest", "first, custom", "since last", "capped", "custom cap", "late: empty"],
)
def test_window(last, cap, first, expected_start):
    period = Period(utc(2025, 1, 9, 4), utc(2025, 1, 10, 4), date(2025, 1, 10))
    assert window(last, period, cap=cap, first=first) == (expected_start, utc(2025, 1, 10, 4))


def test_naive_datetimes_are_refused():
    with pytest.raises(InvalidTimeError, match="timezone-aware"):
        period_for(time(7), "UTC", datetime(2025, 1, 1))
    period = Period(utc(2025, 1, 9), utc(2025, 1, 10), date(2025, 1, 10))
    with pytest.raises(InvalidTimeError):
        window(datetime(2025, 1, 9), period)


def test_unknown_zone_suggests_close_names():
    with pytest.raises(UnknownTimeZoneError, match="Europe/London") as info:
        period_for(time(7), "Europe/Londn", utc(2025, 1, 1))
    assert "Europe/London" in info.value.suggestions


ZONES = [
    "UTC",
    "Europe/London",
    "America/New_York",
    "Australia/Sydney",
    "Pacific/Auckland",
    "America/Los_Angeles",
    "Asia/Baghdad",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Asia/Kathmandu",
    "Pacific/Chatham",
]


@settings(max_examples=300, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    send_at=st.times().map(lambda t: t.replace(second=0, microsecond=0)),
    weekly=st.none() | st.integers(0, 6),
    now=st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
    ),
)
def test_consecutive_periods_tile_time(zone, send_at, weekly, now):
    p = period_for(send_at, zone, now, weekly)
    assert p.start < p.end <= now < next_send(send_at, zone, now, weekly)
    # The period ending at p.end is p itself; the one just before ends where p starts.
    assert period_for(send_at, zone, p.end, weekly) == p
    before = period_for(send_at, zone, p.end - timedelta(microseconds=1), weekly)
    assert before.end == p.start
    assert send_instant(p.local_date, send_at, zone) == p.end
    nominal = timedelta(days=7 if weekly is not None else 1)
    assert abs((p.end - p.start) - nominal) <= timedelta(hours=2)
