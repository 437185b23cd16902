"""The next-due decision: table-driven cases, jitter, validation and a property test."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.schedule import (
    FeedHints,
    ScheduleDecision,
    ScheduleInput,
    ScheduleSettings,
    hints_from,
    next_due,
)
from ingest.types import ParsedFeed

NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
M = timedelta(minutes=1)
D = timedelta(days=1)

#: Jitter off, so the table can state exact intervals.
EXACT = ScheduleSettings(
    default_interval=H, min_interval=10 * M, max_interval=D, error_backoff_cap=24 * H, jitter=0.0
)


def every(gap: timedelta, count: int, last_ago: timedelta = timedelta(0)) -> tuple[datetime, ...]:
    """``count`` entry times ``gap`` apart, the newest ``last_ago`` before NOW."""
    newest = NOW - last_ago
    return tuple(newest - i * gap for i in range(count))


CASES: list[tuple[str, dict[str, Any], ScheduleSettings, timedelta, str]] = [
    ("no history: default", {}, EXACT, H, "default"),
    ("one gap is not enough", {"entry_times": every(5 * M, 2)}, EXACT, H, "default"),
    (
        "publishes every 30 min",
        {"entry_times": every(30 * M, 6, last_ago=10 * M)},
        EXACT,
        30 * M,
        "median gap of 30m",
    ),
    ("publishes every 2 min: min_interval", {"entry_times": every(2 * M, 10)}, EXACT, 10 * M, ""),
    ("publishes every 3 days: max_interval", {"entry_times": every(3 * D, 5)}, EXACT, D, ""),
    (
        "hourly publisher silent for 10 h: half the silence",
        {"entry_times": every(H, 8, last_ago=10 * H)},
        EXACT,
        5 * H,
        "median gap of 5h",
    ),
    (
        "irregular gaps: median, not mean",
        {"entry_times": (NOW, NOW - 20 * M, NOW - 40 * M, NOW - 60 * M, NOW - 20 * H)},
        EXACT,
        20 * M,
        "median gap of 20m",
    ),
    (
        "entries dated in the future are ignored",
        {"entry_times": (NOW + 500 * D, NOW + 501 * D, NOW + 502 * D, NOW + 503 * D)},
        EXACT,
        H,
        "default",
    ),
    (
        "duplicate timestamps count once",
        {"entry_times": (NOW, NOW, NOW, NOW - 30 * M)},
        EXACT,
        H,
        "default",
    ),
    ("ttl 120 raises the floor", {"hints": FeedHints(ttl_minutes=120)}, EXACT, 2 * H, "ttl"),
    ("ttl below the default does not lower it", {"hints": FeedHints(ttl_minutes=5)}, EXACT, H, ""),
    ("ttl 0 is ignored", {"hints": FeedHints(ttl_minutes=0)}, EXACT, H, "default"),
    (
        "ttl raises an adapted interval",
        {"entry_times": every(20 * M, 6), "hints": FeedHints(ttl_minutes=45)},
        EXACT,
        45 * M,
        "asks for 45m (ttl)",
    ),
    (
        "sy daily",
        {"hints": FeedHints(update_period="daily", update_frequency=1)},
        EXACT,
        D,
        "sy:updatePeriod",
    ),
    (
        "sy hourly x2 is below the default",
        {"hints": FeedHints(update_period="hourly", update_frequency=2)},
        EXACT,
        H,
        "default",
    ),
    (
        "sy weekly is bounded by max_interval",
        {"hints": FeedHints(update_period="weekly")},
        EXACT,
        D,
        "sy:updatePeriod",
    ),
    (
        "sy with an unknown period is ignored",
        {"hints": FeedHints(update_period="fortnightly")},
        EXACT,
        H,
        "default",
    ),
    ("max-age 3 h", {"hints": FeedHints(max_age=3 * H)}, EXACT, 3 * H, "max-age"),
    (
        "Expires in 90 min",
        {"hints": FeedHints(expires=NOW + 90 * M)},
        EXACT,
        90 * M,
        "expires",
    ),
    ("Expires in the past", {"hints": FeedHints(expires=NOW - H)}, EXACT, H, "default"),
    (
        "the longest hint wins",
        {"hints": FeedHints(ttl_minutes=90, max_age=2 * H, expires=NOW + 30 * M)},
        EXACT,
        2 * H,
        "max-age",
    ),
    ("first error retries at the interval", {"error_count": 1}, EXACT, H, "1 consecutive error"),
    ("second error doubles", {"error_count": 2}, EXACT, 2 * H, "2 consecutive errors"),
    ("third error doubles again", {"error_count": 3}, EXACT, 4 * H, ""),
    ("sixth error hits the cap", {"error_count": 6}, EXACT, 24 * H, ""),
    ("a thousand errors stay at the cap", {"error_count": 1000}, EXACT, 24 * H, ""),
    (
        "backoff from an adapted interval",
        {"entry_times": every(15 * M, 6), "error_count": 3},
        EXACT,
        60 * M,
        "",
    ),
    (
        "a lower cap",
        {"error_count": 10},
        replace(EXACT, error_backoff_cap=6 * H),
        6 * H,
        "",
    ),
    (
        "normal interval above the cap is kept while failing",
        {"hints": FeedHints(ttl_minutes=48 * 60), "error_count": 5},
        replace(EXACT, max_interval=3 * D),
        2 * D,
        "",
    ),
    (
        "Retry-After later than the interval is honoured exactly",
        {"retry_after": NOW + 3 * H + 7 * timedelta(seconds=1)},
        EXACT,
        3 * H + 7 * timedelta(seconds=1),
        "Retry-After",
    ),
    (
        "Retry-After sooner than the interval: the interval",
        {"retry_after": NOW + 5 * M},
        EXACT,
        H,
        "default",
    ),
    (
        "Retry-After beyond max_interval and the cap is still honoured",
        {"retry_after": NOW + 3 * D, "error_count": 2},
        EXACT,
        3 * D,
        "Retry-After",
    ),
    (
        "Retry-After in another time zone",
        {"retry_after": datetime(2025, 1, 15, 20, 0, tzinfo=timezone(timedelta(hours=5)))},
        EXACT,
        3 * H,
        "Retry-After",
    ),
]


@pytest.mark.parametrize(
    ("facts", "settings", "interval", "reason"),
    [pytest.param(f, s, i, r, id=name) for name, f, s, i, r in CASES],
)
def test_next_due_table(
    facts: dict[str, Any], settings: ScheduleSettings, interval: timedelta, reason: str
) -> None:
    decision = next_due(ScheduleInput(now=NOW, feed_key="feed-1", **facts), settings)
    assert decision.interval == interval
    assert decision.next_due_at == NOW + interval
    assert reason in decision.reason


def test_gone_has_no_next_due() -> None:
    decision = next_due(ScheduleInput(now=NOW, feed_key="1", gone=True, error_count=3))
    assert decision == ScheduleDecision(None, None, decision.reason)
    assert "410" in decision.reason


def test_one_success_resets_the_backoff() -> None:
    failing = next_due(ScheduleInput(now=NOW, feed_key="1", error_count=5), EXACT)
    recovered = next_due(ScheduleInput(now=NOW, feed_key="1", error_count=0), EXACT)
    assert failing.interval == 16 * H
    assert recovered.interval == H


def test_next_due_is_utc_when_now_is_not() -> None:
    tokyo_now = NOW.astimezone(timezone(timedelta(hours=9)))
    decision = next_due(ScheduleInput(now=tokyo_now, feed_key="1"), EXACT)
    assert decision.next_due_at == NOW + H
    assert decision.next_due_at is not None and decision.next_due_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "facts",
    [
        {"now": datetime(2025, 1, 1)},
        {"now": NOW, "retry_after": datetime(2025, 1, 1)},
    ],
    ids=["naive now", "naive retry_after"],
)
def test_naive_datetimes_are_refused(facts: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_due(ScheduleInput(feed_key="1", **facts))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"min_interval": timedelta(0)}, "min_interval must be positive"),
        ({"default_interval": 5 * M}, "min_interval <= default_interval"),
        ({"max_interval": 30 * M}, "default_interval <= max_interval"),
        ({"error_backoff_cap": M}, "error_backoff_cap"),
        ({"jitter": 1.0}, "jitter"),
        ({"jitter": -0.1}, "jitter"),
        ({"min_gaps": 0}, "min_gaps"),
    ],
)
def test_invalid_settings_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        replace(ScheduleSettings(), **changes)


# --- jitter ---------------------------------------------------------------------------

JITTERED = replace(EXACT, jitter=0.1)
KEYS = [f"https://outlet-{i}.example/feed" for i in range(200)]


def test_jitter_is_deterministic_per_feed() -> None:
    first = [next_due(ScheduleInput(now=NOW, feed_key=k), JITTERED) for k in KEYS]
    again = [next_due(ScheduleInput(now=NOW, feed_key=k), JITTERED) for k in KEYS]
    assert first == again


def test_jitter_spreads_feeds_added_together() -> None:
    intervals = [next_due(ScheduleInput(now=NOW, feed_key=k), JITTERED).interval for k in KEYS]
    assert all(i is not None and 0.9 * H <= i <= 1.1 * H for i in intervals)
    assert len(set(intervals)) > 190
    # Both sides of the nominal interval are used.
    assert any(i is not None and i < H for i in intervals)
    assert any(i is not None and i > H for i in intervals)


@pytest.mark.parametrize(
    ("entry_times", "low", "high"),
    [
        (every(3 * D, 5), 0.9 * D, D),  # all quiet feeds sit at max_interval
        (every(M, 10), 10 * M, 11 * M),  # all busy feeds sit at min_interval
    ],
    ids=["at max_interval", "at min_interval"],
)
def test_jitter_at_a_bound_is_reflected_not_clamped(
    entry_times: tuple[datetime, ...], low: timedelta, high: timedelta
) -> None:
    intervals = {
        next_due(ScheduleInput(now=NOW, feed_key=k, entry_times=entry_times), JITTERED).interval
        for k in KEYS
    }
    assert all(i is not None and low <= i <= high for i in intervals)
    assert len(intervals) > 190


def test_jitter_differs_between_backoff_attempts() -> None:
    # The same feed's retries are not all shifted by the same fraction.
    fractions = {
        next_due(ScheduleInput(now=NOW, feed_key="f", error_count=n), JITTERED).interval
        / (H * 2 ** (n - 1))
        for n in range(1, 5)
    }
    assert len(fractions) == 4


# --- hints_from -----------------------------------------------------------------------


def test_hints_from_a_parsed_feed_and_headers() -> None:
    feed = ParsedFeed(
        title="Ελληνικά νέα",
        link=None,
        language="el",
        entries=(),
        ttl_minutes=30,
        update_period="hourly",
        update_frequency=2,
    )
    headers = {"cache-control": "public, max-age=600", "expires": "Wed, 15 Jan 2025 13:00:00 GMT"}
    assert hints_from(feed, headers, NOW) == FeedHints(
        ttl_minutes=30,
        update_period="hourly",
        update_frequency=2,
        max_age=10 * M,
        expires=NOW + H,
    )


def test_hints_from_headers_alone() -> None:
    assert hints_from(None, {"expires": "0"}, NOW) == FeedHints(expires=NOW)
    assert hints_from(None, {}, NOW) == FeedHints()


# --- property -------------------------------------------------------------------------

seconds = st.integers(min_value=1, max_value=400 * 86400).map(lambda s: timedelta(seconds=s))


@st.composite
def settings_strategy(draw: st.DrawFn) -> ScheduleSettings:
    bounds = sorted(draw(st.lists(seconds, min_size=3, max_size=3)))
    cap = draw(seconds.filter(lambda c: c >= bounds[0]))
    jitter = draw(st.floats(min_value=0.0, max_value=0.5))
    return ScheduleSettings(
        min_interval=bounds[0],
        default_interval=bounds[1],
        max_interval=bounds[2],
        error_backoff_cap=cap,
        jitter=jitter,
        min_gaps=draw(st.integers(min_value=1, max_value=5)),
    )


offsets = st.integers(min_value=-800 * 86400, max_value=800 * 86400).map(
    lambda s: NOW + timedelta(seconds=s)
)
hints_strategy = st.builds(
    FeedHints,
    ttl_minutes=st.none() | st.integers(min_value=-(10**6), max_value=10**9),
    update_period=st.none() | st.sampled_from(["hourly", "daily", "weekly", "yearly", "x"]),
    update_frequency=st.none() | st.integers(min_value=-5, max_value=10**6),
    max_age=st.none()
    | st.integers(min_value=0, max_value=2**31).map(lambda s: timedelta(seconds=s)),
    expires=st.none() | offsets,
)


@given(
    settings=settings_strategy(),
    hints=hints_strategy,
    entry_times=st.lists(offsets, max_size=30),
    error_count=st.integers(min_value=0, max_value=10_000),
    retry_after=st.none() | offsets,
    gone=st.booleans(),
    key=st.text(max_size=40),
)
def test_decision_stays_within_bounds(
    settings: ScheduleSettings,
    hints: FeedHints,
    entry_times: list[datetime],
    error_count: int,
    retry_after: datetime | None,
    gone: bool,
    key: str,
) -> None:
    facts = ScheduleInput(
        now=NOW,
        feed_key=key,
        hints=hints,
        entry_times=tuple(entry_times),
        error_count=error_count,
        retry_after=retry_after,
        gone=gone,
    )
    decision = next_due(facts, settings)
    if gone:
        assert decision.next_due_at is None and decision.interval is None
        return
    assert decision.next_due_at is not None and decision.interval is not None
    assert decision.next_due_at == NOW + decision.interval
    assert decision.interval >= settings.min_interval
    if retry_after is not None:
        assert decision.next_due_at >= retry_after
    server_waits = retry_after is not None and decision.next_due_at == retry_after
    if server_waits and decision.interval > settings.min_interval:
        return  # the server's wait governs, whatever its length
    ceiling = settings.max_interval
    if error_count:
        ceiling = max(settings.max_interval, settings.error_backoff_cap)
    assert decision.interval <= ceiling
    # Never sooner than the feed asks (up to max_interval).
    if hints.max_age is not None:
        assert decision.interval >= min(hints.max_age, settings.max_interval)
    if hints.ttl_minutes is not None and hints.ttl_minutes > 0:
        assert decision.interval >= min(timedelta(minutes=hints.ttl_minutes), settings.max_interval)
    if hints.expires is not None and hints.expires > NOW:
        assert decision.interval >= min(hints.expires - NOW, settings.max_interval)
