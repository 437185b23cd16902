"""Fault: ``newsdigest fetch`` killed with SIGKILL while it writes to SQLite.

A fetch round over many feeds runs as a subprocess; once its first feeds are stored and
the writer is busy with the next ones, it is killed with kill -9 (no handler runs, no
rollback, the WAL is left as it is). The database must pass ``PRAGMA integrity_check``,
and the next round must fetch every feed the killed round did not record, so that in
the end every feed is fetched and every article stored exactly once.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from newsdigest.db import open_database
from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

FEEDS = 60
ITEMS = 25
#: Feeds from FIRST on wait at a gate until the first ones are stored: the kill then
#: falls while the writer stores the rest.
FIRST = 5


def _rss(feed: int) -> bytes:
    items = "".join(
        f'<item><guid isPermaLink="false">f{feed}-{i}</guid>'
        f"<link>https://news.example/{feed}/{i}</link>"
        f"<title>Δελτίο {feed}.{i}: الأسواق في {feed} — report {i}</title>"
        f"<description>Desk {feed} item {i}: prices, harvest and roads; figures "
        f"{feed * 1000 + i}, {i * 7}. Το κείμενο {i}. النص {feed}.</description>"
        "<pubDate>Sat, 11 Jan 2025 05:00:00 GMT</pubDate></item>"
        for i in range(ITEMS)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Desk {feed}</title>{items}</channel></rss>"
    ).encode()


class GatedFeeds:
    def __init__(self) -> None:
        self.gate = threading.Event()

    def __call__(self, request: Request) -> Response:
        feed = int(request.path.strip("/").removesuffix(".xml").removeprefix("f"))
        if feed >= FIRST:
            self.gate.wait(timeout=120)
        return Response(_rss(feed), content_type="application/rss+xml; charset=utf-8")


def _count(db: Path, sql: str) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        return int(conn.execute(sql).fetchone()[0])


def _fetch(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "newsdigest.cli", "--config", str(config), "fetch"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_kill_9_during_a_write_leaves_a_sound_database_and_the_next_round_recovers(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    feeds = GatedFeeds()
    for feed in range(FEEDS):
        httpserver.expect_request(f"/f{feed}.xml").respond_with_handler(feeds)
    db = tmp_path / "news.db"
    listed = "\n".join(f"      - {httpserver.url_for(f'/f{feed}.xml')}" for feed in range(FEEDS))
    config = tmp_path / "config.yaml"
    config.write_text(
        f"database: 'sqlite:///{db}'\n"
        "fetch:\n  allow_private_networks: true\n  parse_workers: 0\n"
        "  timeout: 150\n  read_timeout: 150\n"
        f"outlets:\n  - name: Desk\n    feeds:\n{listed}\n",
        encoding="utf-8",
    )
    open_database(f"sqlite:///{db}").dispose()  # migrated, so the test can count

    killed = _fetch(config)
    try:
        deadline = time.monotonic() + 150
        while _count(db, "SELECT count(*) FROM articles") < FIRST * ITEMS:
            assert killed.poll() is None, f"the fetch ended early: {killed.communicate()}"
            assert time.monotonic() < deadline, "the first feeds were never stored"
            time.sleep(0.05)
        feeds.gate.set()
        # Kill as soon as the writer has committed one more feed: it is storing others.
        while _count(db, "SELECT count(*) FROM articles") <= FIRST * ITEMS:
            assert killed.poll() is None, f"the fetch ended early: {killed.communicate()}"
            assert time.monotonic() < deadline, "no feed was stored after the first ones"
            time.sleep(0.005)
        killed.send_signal(signal.SIGKILL)
        killed.communicate(timeout=30)
    finally:
        feeds.gate.set()
        if killed.poll() is None:
            killed.kill()
            killed.communicate()
    assert killed.returncode == -signal.SIGKILL
    stored_before = _count(db, "SELECT count(*) FROM feeds WHERE last_status = 'ok'")
    assert stored_before < FEEDS, "the round finished before the kill: make it longer"

    # The database is sound after the crash (the WAL is replayed on open).
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []

    # The next round (due feeds only) fetches what the killed round did not record.
    recovery = _fetch(config)
    out, err = recovery.communicate(timeout=300)
    assert recovery.returncode == 0, f"{out}\n{err}"
    assert _count(db, "SELECT count(*) FROM feeds WHERE last_status = 'ok'") == FEEDS
    # Every article stored exactly once, each in a story.
    assert _count(db, "SELECT count(*) FROM articles") == FEEDS * ITEMS
    assert _count(db, "SELECT count(DISTINCT guid) FROM articles") == FEEDS * ITEMS
    assert _count(db, "SELECT count(*) FROM articles WHERE story_id IS NULL") == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
