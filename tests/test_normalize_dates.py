"""normalize_dates: UTC, first-seen fallback, future dates clamped and flagged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ingest.normalize import DateFlag, NormalizedDates, normalize_dates

NOW = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)
SEEN = datetime(2025, 1, 10, 9, 30, tzinfo=UTC)
TEHRAN = timezone(timedelta(hours=3, minutes=30))
D = datetime(2025, 1, 8, 10, 0, tzinfo=UTC)

CASES = [
    # (published, updated, expected)
    (D, None, NormalizedDates(D, None, ())),
    (D, D + timedelta(hours=2), NormalizedDates(D, D + timedelta(hours=2), ())),
    (
        datetime(2025, 1, 8, 13, 30, tzinfo=TEHRAN),
        None,
        NormalizedDates(D, None, ()),
    ),
    (datetime(2025, 1, 8, 10, 0), None, NormalizedDates(D, None, ())),  # naive: taken as UTC
    (None, None, NormalizedDates(SEEN, None, (DateFlag.NO_DATE,))),
    (None, D, NormalizedDates(D, D, (DateFlag.PUBLISHED_FROM_UPDATED,))),
    # within the skew: kept as given
    (NOW + timedelta(minutes=14), None, NormalizedDates(NOW + timedelta(minutes=14), None, ())),
    # beyond the skew: clamped to now
    (
        NOW + timedelta(minutes=16),
        None,
        NormalizedDates(NOW, None, (DateFlag.PUBLISHED_IN_FUTURE,)),
    ),
    (
        NOW + timedelta(days=365),
        NOW + timedelta(days=366),
        NormalizedDates(NOW, NOW, (DateFlag.PUBLISHED_IN_FUTURE, DateFlag.UPDATED_IN_FUTURE)),
    ),
    (D, NOW + timedelta(days=1), NormalizedDates(D, NOW, (DateFlag.UPDATED_IN_FUTURE,))),
    (D, D - timedelta(days=1), NormalizedDates(D, D, (DateFlag.UPDATED_BEFORE_PUBLISHED,))),
]


@pytest.mark.parametrize(("published", "updated", "expected"), CASES)
def test_normalize_dates(
    published: datetime | None, updated: datetime | None, expected: NormalizedDates
) -> None:
    result = normalize_dates(published, updated, SEEN, now=NOW)
    assert result == expected
    assert result.published.tzinfo is UTC


def test_max_skew_is_configurable() -> None:
    ahead = NOW + timedelta(minutes=5)
    strict = normalize_dates(ahead, None, SEEN, now=NOW, max_skew=timedelta(0))
    assert strict == NormalizedDates(NOW, None, (DateFlag.PUBLISHED_IN_FUTURE,))


def test_first_seen_in_the_future_is_not_trusted_either() -> None:
    result = normalize_dates(None, None, NOW + timedelta(hours=1), now=NOW)
    assert result.published == NOW
