"""Header parsers: every form the RFCs allow, and the malformed values servers send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ingest.http_semantics import (
    MAX_DELTA_SECONDS,
    RedirectKind,
    body_hash,
    parse_cache_control_max_age,
    parse_expires,
    parse_http_date,
    parse_retry_after,
    parse_sy_hints,
    redirect_decision,
)

NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
RFC_EXAMPLE = datetime(1994, 11, 6, 8, 49, 37, tzinfo=UTC)
FAR = NOW + timedelta(seconds=MAX_DELTA_SECONDS)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", NOW + timedelta(seconds=120)),
        ("  120\t", NOW + timedelta(seconds=120)),
        ("0", NOW),
        ("000090", NOW + timedelta(seconds=90)),
        (str(2**31 + 5), FAR),
        ("9" * 400, FAR),
        ("Sun, 06 Nov 1994 08:49:37 GMT", RFC_EXAMPLE),  # IMF-fixdate; in the past
        ("Sunday, 06-Nov-94 08:49:37 GMT", RFC_EXAMPLE),  # obsolete RFC 850
        ("Sun Nov  6 08:49:37 1994", RFC_EXAMPLE),  # obsolete asctime, no zone
        ("Wed, 15 Jan 2025 14:00:00 GMT", NOW + timedelta(hours=2)),
        ("Wed, 15 Jan 2025 16:00:00 +0200", NOW + timedelta(hours=2)),
        ("Wed, 15 Jan 2025 14:00:00 -0000", NOW + timedelta(hours=2)),
        (None, None),
        ("", None),
        ("   ", None),
        ("-5", None),
        ("1.5", None),
        ("+30", None),
        ("120 seconds", None),
        ("0x10", None),
        ("١٢٠", None),  # Arabic-Indic digits are not DIGIT
        ("soon", None),
        ("Mon, 01 Jan 99999999999 00:00:00 GMT", None),
        ("Sat, 01 Jan 10000 00:00:00 GMT", None),
        ("Wed, 32 Jan 2025 14:00:00 GMT", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: datetime | None) -> None:
    assert parse_retry_after(value, NOW) == expected


def test_retry_after_dates_are_aware_utc() -> None:
    parsed = parse_retry_after("Wed, 15 Jan 2025 16:00:00 +0200", NOW)
    assert parsed is not None and parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("max-age=300", timedelta(seconds=300)),
        ("public, max-age=300", timedelta(seconds=300)),
        ("MAX-AGE=60, must-revalidate", timedelta(seconds=60)),
        ('max-age="600"', timedelta(seconds=600)),
        ("max-age = 30", timedelta(seconds=30)),
        ("max-age=0", timedelta(0)),
        ("s-maxage=900, max-age=60", timedelta(seconds=60)),
        ("max-age=60, max-age=900", timedelta(seconds=60)),  # first one wins
        ("max-age=99999999999999999999", timedelta(seconds=MAX_DELTA_SECONDS)),
        ("s-maxage=900", None),
        ("no-cache, no-store", None),
        ("max-age=-1", None),
        ("max-age=1.5", None),
        ("max-age=", None),
        ("max-age", None),
        ("max-age=abc", None),
        ('max-age="60', None),
        ("", None),
        (None, None),
    ],
)
def test_parse_cache_control_max_age(value: str | None, expected: timedelta | None) -> None:
    assert parse_cache_control_max_age(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Wed, 15 Jan 2025 13:00:00 GMT", NOW + timedelta(hours=1)),
        ("Sun, 06 Nov 1994 08:49:37 GMT", RFC_EXAMPLE),
        ("0", NOW),  # RFC 9111 5.3: invalid means already expired
        ("-1", NOW),
        ("yesterday", NOW),
        ("", None),
        ("  ", None),
        (None, None),
    ],
)
def test_parse_expires(value: str | None, expected: datetime | None) -> None:
    assert parse_expires(value, NOW) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Sun, 06 Nov 1994 08:49:37 GMT", RFC_EXAMPLE),
        ("Sun, 06 Nov 1994 09:49:37 +0100", RFC_EXAMPLE),
        ("Fri, 31 Dec 9999 23:59:59 GMT", datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),
        ("Fri, 31 Dec 9999 23:59:59 -0100", None),  # past datetime.max in UTC
        ("Tue, 30 Feb 2025 10:00:00 GMT", None),
        # A localized weekday is ignored (the date itself is unambiguous) ...
        ("mer, 16 nov 2022 10:00:00 GMT", datetime(2022, 11, 16, 10, 0, tzinfo=UTC)),
        # ... but a localized month is not an HTTP-date (Portuguese "Set" = September).
        ("Seg, 24 Set 2018 10:00:00 GMT", None),
        (None, None),
    ],
)
def test_parse_http_date(value: str | None, expected: datetime | None) -> None:
    assert parse_http_date(value) == expected


@pytest.mark.parametrize(
    ("period", "frequency", "expected"),
    [
        ("hourly", 1, timedelta(hours=1)),
        ("hourly", 4, timedelta(minutes=15)),
        ("daily", None, timedelta(days=1)),
        (None, 2, timedelta(hours=12)),  # the module's default period is daily
        (" Weekly ", "7", timedelta(days=1)),
        ("monthly", 1, timedelta(days=30)),
        ("yearly", "365", timedelta(days=1)),
        (None, None, None),
        ("fortnightly", 1, None),
        ("", 1, None),
        ("daily", 0, None),
        ("daily", -3, None),
        ("daily", "two", None),
        ("daily", "1.5", None),
        ("daily", True, None),
        ("daily", "9" * 40, None),
    ],
)
def test_parse_sy_hints(
    period: str | None, frequency: int | str | None, expected: timedelta | None
) -> None:
    assert parse_sy_hints(period, frequency) == expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (301, RedirectKind.PERMANENT),
        (308, RedirectKind.PERMANENT),
        (302, RedirectKind.TEMPORARY),
        (303, RedirectKind.TEMPORARY),
        (307, RedirectKind.TEMPORARY),
        (300, None),
        (304, None),
        (200, None),
        (410, None),
    ],
)
def test_redirect_decision(status: int, expected: RedirectKind | None) -> None:
    assert redirect_decision(status) is expected


def test_redirect_kind_values_are_what_is_stored() -> None:
    assert [str(k) for k in RedirectKind] == ["permanent", "temporary"]


def test_body_hash() -> None:
    assert body_hash(b"") == (
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    body = "<rss><title>Новости</title></rss>".encode()
    assert body_hash(body) == body_hash(bytes(body))
    assert body_hash(body) != body_hash(body + b" ")
