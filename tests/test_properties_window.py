"""Digest periods and windows cover every instant exactly once, right across DST changes.

tests/test_digest_window.py draws ``now`` uniformly over ten years, so it rarely lands on
a change day. Here every example is built around a real transition of a zone (found by
scanning zoneinfo, 2020-2030), with send times in the skipped or repeated hour as well
as ordinary ones: the periods around it tile time (each instant in exactly one), and so
do the windows of a run of deliveries, also when some digests were not sent.
"""

from __future__ import annotations

import functools
import itertools
from datetime import UTC, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from digest.window import Period, load_zone, next_send, period_for, window

ZONES = [
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Santiago",
    "America/Havana",  # changes at midnight: the skipped hour is 00:00-01:00
    "Australia/Lord_Howe",  # a half-hour change
    "Pacific/Chatham",  # UTC+12:45 / +13:45
    "Asia/Tehran",  # DST until 2022, none after
    "Africa/Casablanca",  # goes back an hour for Ramadan
]
SEND_TIMES = [time(0, 0), time(0, 30), time(1, 0), time(1, 30), time(2, 0), time(2, 30)]
SEND_TIMES += [time(3, 0), time(3, 45), time(7, 0), time(12, 0), time(23, 30), time(23, 59)]


@functools.cache
def transitions(zone_name: str) -> tuple[datetime, ...]:
    """The instants (UTC, to the minute) where ``zone_name``'s offset changes, 2020-2030."""
    zone = load_zone(zone_name)
    found = []
    day = datetime(2020, 1, 1, tzinfo=UTC)
    offset = day.astimezone(zone).utcoffset()
    while day < datetime(2030, 1, 1, tzinfo=UTC):
        following = day + timedelta(days=1)
        if following.astimezone(zone).utcoffset() != offset:
            moment = day
            while moment.astimezone(zone).utcoffset() == offset:
                moment += timedelta(minutes=1)
            found.append(moment)
            offset = moment.astimezone(zone).utcoffset()
        day = following
    return tuple(found)


def test_each_zone_has_transitions() -> None:
    # Guards the properties below against a scan that finds nothing to test around.
    for zone in ZONES:
        assert len(transitions(zone)) >= 4, zone


@st.composite
def around_a_change(draw: st.DrawFn) -> tuple[str, datetime, time, int | None]:
    zone = draw(st.sampled_from(ZONES))
    change = draw(st.sampled_from(transitions(zone)))
    send_at = draw(st.sampled_from(SEND_TIMES) | st.times().map(lambda t: t.replace(second=0)))
    weekly = draw(st.none() | st.integers(0, 6))
    return zone, change, send_at, weekly


def periods_around(
    zone: str, change: datetime, send_at: time, weekly: int | None, count: int
) -> list[Period]:
    """``count`` consecutive periods, starting two periods before ``change``."""
    step = timedelta(days=7 if weekly is not None else 1)
    current = period_for(send_at, zone, change - 2 * step, weekly)
    found = [current]
    while len(found) < count:
        current = period_for(send_at, zone, next_send(send_at, zone, current.end, weekly), weekly)
        found.append(current)
    return found


@settings(max_examples=100, deadline=None)
@given(case=around_a_change(), offset=st.floats(min_value=-1.9, max_value=1.9))
def test_every_instant_near_a_change_is_in_exactly_one_period(
    case: tuple[str, datetime, time, int | None], offset: float
) -> None:
    zone, change, send_at, weekly = case
    step = timedelta(days=7 if weekly is not None else 1)
    periods = periods_around(zone, change, send_at, weekly, count=6)
    for before, after in itertools.pairwise(periods):
        assert before.end == after.start  # no gap, no overlap
        assert before.local_date < after.local_date
    # An instant within two periods of the change, to the microsecond.
    instant = change + step * offset
    holding = [p for p in periods if p.start <= instant < p.end]
    assert len(holding) == 1
    # period_for names the period that ended last: the one before the holder.
    (holder,) = holding
    assert period_for(send_at, zone, holder.end, weekly) == holder
    assert period_for(send_at, zone, instant, weekly).end == holder.start
    assert next_send(send_at, zone, instant, weekly) == holder.end


@settings(max_examples=100, deadline=None)
@given(
    case=around_a_change(),
    delivered=st.lists(st.booleans(), min_size=8, max_size=8),
)
def test_the_windows_of_a_run_of_deliveries_tile_time(
    case: tuple[str, datetime, time, int | None], delivered: list[bool]
) -> None:
    zone, change, send_at, weekly = case
    periods = periods_around(zone, change, send_at, weekly, count=len(delivered))
    delivered[-1] = True  # the run ends with a digest sent
    last_end: datetime | None = periods[0].start  # a digest went out just before the run
    windows = []
    for period, sent in zip(periods, delivered, strict=True):
        if not sent:
            continue  # not sent (a failed run): its articles go into the next digest
        # A cap long enough for eight skipped weekly digests: capping is tested elsewhere.
        w = window(last_end, period, cap=timedelta(days=70))
        windows.append(w)
        last_end = w.end
    # Consecutive delivered windows meet exactly; together they span the whole run.
    assert windows[0].start == periods[0].start
    assert windows[-1].end == periods[-1].end
    for before, after in itertools.pairwise(windows):
        assert before.end == after.start
        assert before.start < before.end
    # An instant at the change itself, and on either side of it, is covered once.
    for instant in (change - timedelta(microseconds=1), change, change + timedelta(minutes=30)):
        if periods[0].start <= instant < periods[-1].end:
            assert sum(w.start <= instant < w.end for w in windows) == 1


@settings(max_examples=50, deadline=None)
@given(case=around_a_change(), skipped=st.integers(min_value=0, max_value=5))
def test_a_daily_digest_after_missed_days_covers_them_within_the_default_cap(
    case: tuple[str, datetime, time, int | None], skipped: int
) -> None:
    zone, change, send_at, _ = case
    periods = periods_around(zone, change, send_at, None, count=skipped + 2)
    # Sent for periods[0], nothing for ``skipped`` days, then sent again: one window
    # reaches back to where the last digest ended, a DST change in between or not.
    w = window(periods[0].end, periods[-1])
    assert (w.start, w.end) == (periods[0].end, periods[-1].end)
