"""A Retry-After is honoured up to fetch.max_retry_after_hours, never for a year.

The bound is a pure decision (table-driven here); the end-to-end test runs `fetch` and
`feeds list` against a real local server that asks for a year's wait.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from ingest.http_semantics import (
    DEFAULT_MAX_RETRY_AFTER,
    MAX_DELTA_SECONDS,
    bound_retry_after,
    parse_retry_after,
)
from tests.test_cli import run, write_config

NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
DAY = NOW + DEFAULT_MAX_RETRY_AFTER


@pytest.mark.parametrize(
    ("header", "limit", "until", "capped"),
    [
        pytest.param(None, 24 * H, None, False, id="no header"),
        pytest.param("soon", 24 * H, None, False, id="malformed: no wait"),
        pytest.param("120", 24 * H, NOW + timedelta(seconds=120), False, id="seconds, short"),
        pytest.param("86400", 24 * H, DAY, False, id="exactly the limit"),
        pytest.param("86401", 24 * H, DAY, True, id="a second beyond"),
        pytest.param("31536000", 24 * H, DAY, True, id="a year in seconds"),
        pytest.param(str(MAX_DELTA_SECONDS * 10), 24 * H, DAY, True, id="beyond 2**31"),
        pytest.param("Wed, 15 Jan 2025 14:00:00 GMT", 24 * H, NOW + 2 * H, False, id="date"),
        pytest.param("Fri, 15 Jan 2027 12:00:00 GMT", 24 * H, DAY, True, id="date years ahead"),
        pytest.param(
            "Sun, 06 Nov 1994 08:49:37 GMT",
            24 * H,
            datetime(1994, 11, 6, 8, 49, 37, tzinfo=UTC),
            False,
            id="date in the past: no wait",
        ),
        pytest.param("7200", 1 * H, NOW + H, True, id="a lower limit"),
        pytest.param("7200", 72 * H, NOW + 2 * H, False, id="a higher limit"),
        pytest.param("31536000", 72 * H, NOW + 72 * H, True, id="a higher limit, capped"),
    ],
)
def test_retry_after_is_bounded(
    header: str | None, limit: timedelta, until: datetime | None, capped: bool
) -> None:
    asked = parse_retry_after(header, NOW)
    wait = bound_retry_after(asked, NOW, limit)
    if until is None:
        assert wait is None
        return
    assert wait is not None
    assert (wait.until, wait.capped, wait.asked) == (until, capped, asked)


def test_the_bound_is_utc_whatever_the_zone_of_now() -> None:
    now = NOW.astimezone(timezone(timedelta(hours=5)))
    wait = bound_retry_after(NOW + 400 * DEFAULT_MAX_RETRY_AFTER, now)
    assert wait is not None and wait.until == DAY and wait.until.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("retry_after", "extra", "limit"),
    [
        pytest.param("31536000", "", 24 * H, id="a year in seconds, default limit"),
        pytest.param(
            format_datetime(datetime.now(UTC) + timedelta(days=3 * 365), usegmt=True),
            "  max_retry_after_hours: 2\n",
            2 * H,
            id="a date years ahead, configured limit",
        ),
    ],
)
def test_a_year_long_retry_after_parks_the_feed_for_the_limit_only(
    tmp_path: Path,
    sqlite_url: str,
    httpserver: HTTPServer,
    capsys: pytest.CaptureFixture[str],
    retry_after: str,
    extra: str,
    limit: timedelta,
) -> None:
    config = write_config(tmp_path, sqlite_url)
    if extra:  # under the fetch: section write_config opens
        text = config.read_text(encoding="utf-8").replace("fetch:\n", f"fetch:\n{extra}", 1)
        config.write_text(text, encoding="utf-8")
    httpserver.expect_request("/busy.xml").respond_with_data(
        "slow down", status=429, headers={"Retry-After": retry_after}
    )
    assert run(config, "feeds", "add", httpserver.url_for("/busy.xml")) == 0
    before = datetime.now(UTC).replace(microsecond=0)
    run(config, "fetch")
    after = datetime.now(UTC)
    capsys.readouterr()
    assert run(config, "feeds", "list", "--json") == 0
    [feed] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    next_due = datetime.fromisoformat(feed["next_due_at"])
    # Clock bounds around the fetch, not a duration measured: the wait is the limit.
    assert before + limit <= next_due <= after + limit
    assert "capped" in feed["last_error"] and "max_retry_after_hours" in feed["last_error"]
    assert f"retry after {next_due:%Y-%m-%d %H:%M} UTC" in feed["last_error"]
    assert len(httpserver.log) == 1
