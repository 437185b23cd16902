"""The next-due computation stays within its bounds for any response headers.

tests/test_schedule.py checks ``next_due`` against generated, already parsed hints. Here
the hints come the way they do in production: raw header strings (well-formed, borderline
and junk) through ``ingest.http_semantics`` and ``hints_from``. A server's mistake must
neither raise nor push a feed outside ``[min_interval, max_interval]``; only a
Retry-After may delay it further, and then exactly to the instant it names.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.http_semantics import (
    MAX_DELTA_SECONDS,
    parse_cache_control_max_age,
    parse_expires,
    parse_http_date,
    parse_retry_after,
)
from ingest.schedule import ScheduleInput, ScheduleSettings, hints_from, next_due, rhythm_of

NOW = datetime(2025, 3, 30, 0, 59, 30, tzinfo=UTC)  # one DST change is seconds away in Europe
SETTINGS = settings(max_examples=100, deadline=None)
BOUNDS = ScheduleSettings(
    default_interval=timedelta(hours=1),
    min_interval=timedelta(minutes=10),
    max_interval=timedelta(days=1),
    error_backoff_cap=timedelta(hours=24),
)

_DATES = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30))
_GMT = _DATES.map(lambda d: d.strftime("%a, %d %b %Y %H:%M:%S GMT"))
_NUMBERS = st.integers(min_value=-(10**20), max_value=10**20).map(str)
# Values a header really carries, near misses, and anything at all (including controls).
_JUNK = st.text(max_size=60)
_HEADER = st.one_of(
    _GMT,
    _NUMBERS,
    _JUNK,
    st.sampled_from(
        [
            "0",
            "-1",
            "",
            "   ",
            "Thu, 01 Jan 1970 00:00:00 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Fri, 31 Dec 9999 23:59:59 GMT",
            "Mon, 32 Foo 2025 25:61:61 GMT",
            "Sun, 30 Mar 2025 01:30:00 +0100",
            "Sun, 30 Mar 2025 02:30:00 CEST",
            "1e9",
            "12.5",
            "٣٦٠٠",  # Arabic-Indic digits: not delta-seconds
            "３６００",  # full-width digits
        ]
    ),
)
_CACHE_CONTROL = st.one_of(
    _JUNK,
    st.lists(
        st.one_of(
            st.sampled_from(["public", "no-cache", "private", "s-maxage=9", "max-age"]),
            _NUMBERS.map(lambda n: f"max-age={n}"),
            _NUMBERS.map(lambda n: f'MAX-AGE="{n}"'),
            _JUNK.map(lambda j: f"max-age={j}"),
        ),
        max_size=4,
    ).map(", ".join),
)
_MAYBE = st.none() | _HEADER


def _headers(cache_control: str | None, expires: str | None) -> dict[str, str]:
    found = {"cache-control": cache_control, "expires": expires}
    return {k: v for k, v in found.items() if v is not None}


@SETTINGS
@given(value=_MAYBE)
def test_header_parsers_never_raise_and_return_aware_utc(value: str | None) -> None:
    for parsed in (parse_http_date(value), parse_expires(value, NOW)):
        assert parsed is None or parsed.utcoffset() == timedelta(0)
    retry = parse_retry_after(value, NOW)
    assert retry is None or retry.utcoffset() == timedelta(0)
    if value is not None and value.strip().isascii() and value.strip().isdigit():
        # delta-seconds: capped, so "now + delta" is always a real instant
        assert retry is not None and retry - NOW <= timedelta(seconds=MAX_DELTA_SECONDS)


@SETTINGS
@given(value=st.none() | _CACHE_CONTROL)
def test_max_age_is_none_or_within_the_rfc_cap(value: str | None) -> None:
    age = parse_cache_control_max_age(value)
    assert age is None or timedelta(0) <= age <= timedelta(seconds=MAX_DELTA_SECONDS)


@SETTINGS
@given(
    cache_control=st.none() | _CACHE_CONTROL,
    expires=_MAYBE,
    retry_after=_MAYBE,
    error_count=st.integers(min_value=0, max_value=200),
    key=st.text(max_size=20),
)
def test_next_due_is_within_bounds_for_any_headers(
    cache_control: str | None,
    expires: str | None,
    retry_after: str | None,
    error_count: int,
    key: str,
) -> None:
    hints = hints_from(None, _headers(cache_control, expires), NOW)
    wait_until = parse_retry_after(retry_after, NOW)
    decision = next_due(
        ScheduleInput(
            now=NOW,
            feed_key=key,
            hints=hints,
            error_count=error_count,
            retry_after=wait_until,
        ),
        BOUNDS,
    )
    assert decision.next_due_at is not None and decision.interval is not None
    assert decision.next_due_at.utcoffset() == timedelta(0)
    assert decision.next_due_at == NOW + decision.interval
    assert decision.interval >= BOUNDS.min_interval
    ceiling = max(BOUNDS.max_interval, BOUNDS.error_backoff_cap if error_count else timedelta(0))
    if wait_until is not None and wait_until > NOW + ceiling:
        # Only Retry-After may wait longer, and then exactly until the instant it names.
        assert decision.next_due_at == wait_until
    else:
        assert decision.interval <= ceiling
        if wait_until is not None:
            assert decision.next_due_at >= wait_until


_ENTRY_TIMES = st.lists(
    st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2025, 6, 1)).map(
        lambda d: d.replace(tzinfo=UTC)
    ),
    max_size=25,
)


@SETTINGS
@given(times=_ENTRY_TIMES, later=st.integers(min_value=0, max_value=90 * 86400))
def test_the_stored_rhythm_decides_as_the_entry_times_it_sums_up(
    times: list[datetime], later: int
) -> None:
    """A fetch that brings no new entry decides from the feed's stored rhythm (summed up
    when its entries last changed) as it would from the entries themselves, however much
    later it comes: the silence since the newest entry keeps counting."""
    stored = rhythm_of(times, NOW)
    when = NOW + timedelta(seconds=later)
    past = [t for t in times if t <= NOW]  # entries dated after the summing-up are left out
    for errors in (0, 3):
        from_times = next_due(
            ScheduleInput(now=when, feed_key="7", entry_times=past, error_count=errors), BOUNDS
        )
        from_rhythm = next_due(
            ScheduleInput(now=when, feed_key="7", rhythm=stored, error_count=errors), BOUNDS
        )
        assert from_rhythm == from_times
