"""What HTTP response headers and a feed's own polling hints mean, as pure functions.

Each parser takes the raw header value (``None`` when the header is absent) and returns
a typed value, or ``None`` when the value is missing or malformed: a junk header is
ignored, never an error, because a server's mistake must not fail the fetch.

References: RFC 9110 (Retry-After, HTTP-date, redirects), RFC 9111 (Cache-Control,
Expires), RSS 1.0 Syndication module (sy:updatePeriod / sy:updateFrequency).
"""

from __future__ import annotations

import email.utils
import enum
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

#: RFC 9111 section 1.2.2: a delta-seconds value greater than 2**31 is treated as 2**31.
#: It also keeps ``now + delta`` far from ``datetime.max``.
MAX_DELTA_SECONDS = 2**31

#: Longest Retry-After delta we accept (digits); anything longer is junk, not a request
#: to wait for centuries, and parsing it as int would be wasted work.
_MAX_DELTA_DIGITS = 12

_DELTA_SECONDS = re.compile(r"[0-9]+")

#: The longest a Retry-After may keep a feed waiting unless configured otherwise
#: (``fetch.max_retry_after_hours``): the same day as the error backoff's cap.
DEFAULT_MAX_RETRY_AFTER = timedelta(hours=24)

#: ``max-age=123`` or ``max-age="123"`` inside a Cache-Control list (case-insensitive).
_MAX_AGE = re.compile(r"""^\s*max-age\s*=\s*(?:"([0-9]+)"|([0-9]+))\s*$""", re.IGNORECASE)

#: sy:updatePeriod values and their length. A month and a year are approximate, which is
#: all a polling interval needs.
SY_PERIODS: dict[str, timedelta] = {
    "hourly": timedelta(hours=1),
    "daily": timedelta(days=1),
    "weekly": timedelta(weeks=1),
    "monthly": timedelta(days=30),
    "yearly": timedelta(days=365),
}


class RedirectKind(enum.StrEnum):
    """Whether a redirect moves the feed for good (store the new URL) or only this once."""

    PERMANENT = "permanent"  # 301, 308
    TEMPORARY = "temporary"  # 302, 303, 307


_REDIRECTS: dict[int, RedirectKind] = {
    301: RedirectKind.PERMANENT,
    308: RedirectKind.PERMANENT,
    302: RedirectKind.TEMPORARY,
    303: RedirectKind.TEMPORARY,
    307: RedirectKind.TEMPORARY,
}


def redirect_decision(status: int) -> RedirectKind | None:
    """Classify a redirect status; ``None`` for a status that is not a redirect.

    300 (Multiple Choices) and 304 (Not Modified) are 3xx but not redirects to follow.
    """
    return _REDIRECTS.get(status)


def _as_utc(moment: datetime) -> datetime:
    # HTTP dates are always GMT; email.utils returns a naive datetime for "-0000" and
    # asctime forms, which here still means UTC.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_http_date(value: str | None) -> datetime | None:
    """Parse an HTTP-date (IMF-fixdate, RFC 850 or asctime form) to an aware UTC datetime.

    Returns ``None`` for a missing, malformed or out-of-range value.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    try:
        return _as_utc(parsed)
    except (ValueError, OverflowError):
        return None


def _delta(seconds: int) -> timedelta:
    return timedelta(seconds=min(seconds, MAX_DELTA_SECONDS))


def _add(now: datetime, delta: timedelta) -> datetime:
    try:
        return now + delta
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC)


def parse_retry_after(value: str | None, now: datetime) -> datetime | None:
    """The instant a Retry-After header asks us to wait for, as aware UTC.

    Accepts delta-seconds (``"120"``) and an HTTP-date. A date in the past is returned
    as is (it asks for no wait). Negative, fractional or otherwise malformed values
    give ``None``.
    """
    if value is None:
        return None
    text = value.strip()
    if _DELTA_SECONDS.fullmatch(text):
        if len(text.lstrip("0")) > _MAX_DELTA_DIGITS:
            return _add(now, _delta(MAX_DELTA_SECONDS))
        return _add(now, _delta(int(text)))
    return parse_http_date(text)


@dataclass(frozen=True, slots=True)
class RetryWait:
    """When a feed that answered 429/503 may be fetched again, and what its server asked."""

    #: The instant honoured (aware UTC): the server's, or ``now + limit`` when it asked more.
    until: datetime
    #: The instant the Retry-After header named.
    asked: datetime
    #: True when ``asked`` lay beyond the limit and ``until`` was brought forward to it.
    capped: bool


def bound_retry_after(
    asked: datetime | None, now: datetime, limit: timedelta = DEFAULT_MAX_RETRY_AFTER
) -> RetryWait | None:
    """Honour a parsed Retry-After up to ``limit`` from ``now``; None when there was none.

    A server answering ``Retry-After: 31536000`` (or a date years ahead), by mistake or
    not, would otherwise park the feed for a year; past the limit the feed is asked again
    and may repeat its answer.
    """
    if asked is None:
        return None
    latest = _add(now, limit)
    if asked > latest:
        return RetryWait(latest.astimezone(UTC), asked, capped=True)
    return RetryWait(asked, asked, capped=False)


def parse_cache_control_max_age(value: str | None) -> timedelta | None:
    """The ``max-age`` of a Cache-Control header, or ``None`` when absent or malformed.

    ``s-maxage`` is for shared caches and is ignored. When ``max-age`` appears more than
    once the first is used (RFC 9111 section 4.2.1 allows either that or treating the
    response as stale). Values above 2**31 seconds are treated as 2**31.
    """
    if value is None:
        return None
    for directive in value.split(","):
        name = directive.split("=", 1)[0].strip().lower()
        if name != "max-age":
            continue
        match = _MAX_AGE.match(directive)
        if match is None:
            return None
        digits = match.group(1) or match.group(2)
        if len(digits.lstrip("0")) > _MAX_DELTA_DIGITS:
            return _delta(MAX_DELTA_SECONDS)
        return _delta(int(digits))
    return None


def parse_expires(value: str | None, now: datetime) -> datetime | None:
    """The instant an Expires header says the response goes stale, as aware UTC.

    RFC 9111 section 5.3: an invalid date, notably ``"0"`` or ``"-1"``, means "already
    expired", so a present but malformed value gives ``now``. An absent or blank header
    gives ``None``.
    """
    if value is None or not value.strip():
        return None
    parsed = parse_http_date(value)
    return now if parsed is None else parsed


def parse_sy_hints(period: str | None, frequency: int | str | None) -> timedelta | None:
    """The polling interval an RSS Syndication module hint asks for.

    ``sy:updatePeriod`` (hourly, daily, weekly, monthly, yearly; default daily) divided by
    ``sy:updateFrequency`` (times per period; default 1). ``None`` when neither is given
    or a value is unusable (unknown period, frequency not a positive integer).
    """
    if period is None and frequency is None:
        return None
    if period is None:
        length = SY_PERIODS["daily"]
    else:
        found = SY_PERIODS.get(period.strip().lower())
        if found is None:
            return None
        length = found
    if frequency is None:
        times = 1
    elif isinstance(frequency, bool):
        return None
    elif isinstance(frequency, int):
        times = frequency
    else:
        text = frequency.strip()
        if not _DELTA_SECONDS.fullmatch(text) or len(text) > _MAX_DELTA_DIGITS:
            return None
        times = int(text)
    if times <= 0:
        return None
    return length / times


def body_hash(body: bytes) -> str:
    """A stable fingerprint of a response body, for servers that send no validators.

    Prefixed with the algorithm so a stored hash stays comparable if it ever changes.
    """
    return "sha256:" + hashlib.sha256(body).hexdigest()
