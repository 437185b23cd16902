"""Fault: PostgreSQL restarts in the middle of a fetch round.

The machine's shared PostgreSQL is never touched: the test starts a private cluster
(initdb as the ``postgres`` user when run as root) on a free port, runs ``newsdigest
fetch`` against slow local feeds as a subprocess, restarts the cluster while the round
is storing, and checks that the round still finishes with every feed stored and every
article there once. Skipped when no PostgreSQL server binaries are installed (never
under CI=true, where that is a failure).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session
from werkzeug import Request, Response

from ingest.models import Article, Feed
from newsdigest.app import App
from newsdigest.config import load_config
from newsdigest.db import open_database
from tests.conftest import IN_CI, ROOT

FEEDS = 30
ITEMS = 3
#: The first feeds answer at once; the rest wait at a gate the test opens once the first
#: feeds' articles are stored and the database is down, then answer one every DELAY
#: seconds (the server answers one request at a time): writes meet a dead database.
FIRST = 10
DELAY = 0.1


def _initdb() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    path = found[-1] if found else shutil.which("initdb")
    return Path(path) if path else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrivatePostgres:
    """A throw-away PostgreSQL cluster in a temporary folder, on its own port."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        # Not under pytest's tmp_path: its parents are private to root, and the server
        # runs as the postgres user, who must reach the folder.
        self.folder = Path(tempfile.mkdtemp(prefix="newsdigest-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self.as_postgres = os.geteuid() == 0  # initdb refuses to run as root
        if self.as_postgres:
            shutil.chown(self.folder, user="postgres", group="postgres")
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{args[0]} {args[1]} failed: {done.stderr}\n{tail}")

    def _pg_ctl(self, action: str, *extra: str) -> None:
        options = f"-k {self.folder} -p {self.port} -c listen_addresses=127.0.0.1"
        self._run(
            "pg_ctl", action, "-D", str(self.data), "-l", str(self.folder / "server.log"),
            "-w", "-o", options, *extra,
        )  # fmt: skip

    def start(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8")
        self._pg_ctl("start")

    def stop_server(self) -> None:
        """Stop, closing every client connection (what a restart or failover does)."""
        self._pg_ctl("stop", "-m", "fast")

    def start_server(self) -> None:
        self._pg_ctl("start")

    def stop(self) -> None:
        try:
            self._pg_ctl("stop", "-m", "immediate")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivatePostgres]:
    initdb = _initdb()
    if initdb is None:
        reason = "no PostgreSQL server binaries (initdb) to start a private cluster"
        if IN_CI:
            pytest.fail(f"{reason}; CI must install them")
        pytest.skip(reason)
    server = PrivatePostgres(initdb.parent)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _rss(feed: int) -> bytes:
    items = "".join(
        f'<item><guid isPermaLink="false">f{feed}-{i}</guid>'
        f"<link>https://news.example/{feed}/{i}</link>"
        f"<title>Report {i} of desk {feed}: Λάρισα, القاهرة, Kraków</title>"
        f"<description>Desk {feed} files report {i} on the harvest, the roads and the "
        f"markets, with numbers {feed * 100 + i} and quotes.</description></item>"
        for i in range(ITEMS)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Desk {feed}</title>{items}</channel></rss>"
    ).encode()


class GatedFeeds:
    """The feeds' HTTP handler: feeds from FIRST on wait until ``gate`` is opened."""

    def __init__(self) -> None:
        self.gate = threading.Event()

    def __call__(self, request: Request) -> Response:
        feed = int(request.path.strip("/").removesuffix(".xml").removeprefix("f"))
        if feed >= FIRST:
            self.gate.wait(timeout=120)
            time.sleep(DELAY)
        return Response(_rss(feed), content_type="application/rss+xml; charset=utf-8")


def _config(tmp_path: Path, database: str, feeds: list[str]) -> Path:
    listed = "\n".join(f"      - {url}" for url in feeds)
    path = tmp_path / "config.yaml"
    path.write_text(
        f"database: '{database}'\n"
        "fetch:\n  allow_private_networks: true\n  parse_workers: 0\n"
        "  timeout: 150\n  read_timeout: 150\n"
        f"output:\n  directory: {tmp_path / 'out'}\n"
        f"outlets:\n  - name: Desk\n    feeds:\n{listed}\n",
        encoding="utf-8",
    )
    return path


def _newsdigest(config: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "newsdigest.cli", "--config", str(config), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _stored(url: str) -> tuple[int, int, set[str | None]]:
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            articles = session.scalar(select(func.count()).select_from(Article)) or 0
            distinct = session.scalar(select(func.count(func.distinct(Article.guid)))) or 0
            statuses = set(session.scalars(select(Feed.last_status)))
    finally:
        engine.dispose()
    return articles, distinct, statuses


def test_a_fetch_round_survives_a_postgresql_restart(
    private_postgres: PrivatePostgres, httpserver: HTTPServer, tmp_path: Path
) -> None:
    feeds = GatedFeeds()
    for feed in range(FEEDS):
        httpserver.expect_request(f"/f{feed}.xml").respond_with_handler(feeds)
    urls = [httpserver.url_for(f"/f{feed}.xml") for feed in range(FEEDS)]
    config = _config(tmp_path, private_postgres.url, urls)
    open_database(private_postgres.url).dispose()  # migrated, so the test can count

    fetch = _newsdigest(config, "fetch", "--all")
    try:
        # The round is under way: the first feeds are stored, the others are waiting.
        deadline = time.monotonic() + 150
        while _stored(private_postgres.url)[0] < FIRST * ITEMS:
            assert fetch.poll() is None, f"the fetch ended early: {fetch.communicate()}"
            assert time.monotonic() < deadline, "the first feeds were never stored"
            time.sleep(0.1)
        # Stop the database (every connection is closed), let the other feeds arrive
        # while it is down, then start it again: the round's writes meet a dead server.
        private_postgres.stop_server()
        feeds.gate.set()
        _wait_for(httpserver, FIRST + 4, fetch)
        private_postgres.start_server()
        out, err = fetch.communicate(timeout=180)
    finally:
        feeds.gate.set()
        if fetch.poll() is None:
            fetch.kill()
            fetch.communicate()
    assert fetch.returncode == 0, f"fetch failed after the restart:\n{out}\n{err}"
    assert "lost the database connection" in err  # a write did meet the dead server
    # No article lost, none twice, every feed's fetch recorded as a success.
    assert _stored(private_postgres.url) == (FEEDS * ITEMS, FEEDS * ITEMS, {"ok"})

    # The next round sees the same articles: nothing new, nothing duplicated.
    app = App.open(load_config(config))
    try:
        report = app.fetch(all_feeds=True)
    finally:
        app.close()
    assert (report.failed, report.new_articles) == ((), 0)
    assert _stored(private_postgres.url)[:2] == (FEEDS * ITEMS, FEEDS * ITEMS)


def _wait_for(server: HTTPServer, served: int, fetch: subprocess.Popen[str]) -> None:
    """Wait until ``server`` has answered ``served`` requests (while the fetch runs)."""
    deadline = time.monotonic() + 120
    while len(server.log) < served:
        assert fetch.poll() is None, f"the fetch ended early: {fetch.communicate()}"
        assert time.monotonic() < deadline, f"only {len(server.log)} feeds served"
        time.sleep(0.02)
