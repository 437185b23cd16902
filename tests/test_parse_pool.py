"""The daemon's kept parse workers (ingest.pipeline.ParsePool): reused across rounds,
replaced when a worker dies, and no feed pays for a dead worker."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime, timedelta

from pytest_httpserver import HTTPServer
from sqlalchemy import Engine
from werkzeug import Request, Response

from ingest.fetch import FetchOptions
from ingest.pipeline import ParsePool, Pipeline, PipelineOptions, RoundReport
from tests.test_pipeline_rounds import follow, titles

FEEDS = 20  # PipelineOptions.pool_threshold: fewer feeds parse in-process
START = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)


def serve_changing_feeds(httpserver: HTTPServer, rounds: list[int]) -> list[str]:
    """FEEDS feeds whose one entry is new in every round (``rounds[0]`` is the round)."""

    def feed(request: Request) -> Response:
        n, r = request.path.rsplit("/", 1)[-1], rounds[0]
        body = (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>F</title>'
            f"<item><guid>{n}-{r}</guid><title>Feed {n} round {r}</title>"
            f"<link>https://news.example/{n}/{r}</link>"
            f"<description>Entry {r} of feed {n}.</description></item></channel></rss>"
        )
        return Response(body, content_type="application/rss+xml")

    for i in range(FEEDS):
        httpserver.expect_request(f"/feed/{i}").respond_with_handler(feed)
    return [httpserver.url_for(f"/feed/{i}") for i in range(FEEDS)]


def run_round(engine: Engine, pool: ParsePool, now: datetime) -> RoundReport:
    pipeline = Pipeline(
        engine,
        PipelineOptions(
            fetch=FetchOptions(allow_private_networks=True, timeout=10), parse_workers=2
        ),
        clock=lambda: now,
        pool=pool,
    )
    return asyncio.run(pipeline.run(pipeline.due_feeds(all_feeds=True)))


def broken_known(executor: ProcessPoolExecutor) -> None:
    """Wait until the executor knows a worker died: submitting then fails at once."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            executor.submit(os.getpid).result(timeout=30)
        except BrokenProcessPool:
            return
        time.sleep(0.05)
    raise AssertionError("the executor did not notice its workers died")


def test_kept_workers_serve_every_round_and_are_replaced_when_they_die(
    engine: Engine, httpserver: HTTPServer
) -> None:
    rounds = [1]
    follow(engine, *serve_changing_feeds(httpserver, rounds))
    pool = ParsePool(2)
    try:
        report = run_round(engine, pool, START)
        assert report.failed == () and report.new_articles == FEEDS
        first = pool.executor()
        workers = {p.pid for p in multiprocessing.active_children()}
        assert workers  # the round parsed in worker processes

        rounds[0] = 2
        report = run_round(engine, pool, START + timedelta(hours=1))
        assert report.failed == () and report.new_articles == FEEDS
        assert pool.executor() is first  # the same workers, not a pool per round
        assert first.submit(os.getpid).result(timeout=30) in workers

        # The workers die (killed, out of memory): the next round starts new ones, and
        # no feed is charged with a parse error for it.
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        broken_known(first)  # as when the daemon's next batch comes seconds later
        rounds[0] = 3
        report = run_round(engine, pool, START + timedelta(hours=2))
        assert report.failed == () and report.new_articles == FEEDS
        assert pool.executor() is not first
        assert {f"Feed {i} round 3" for i in range(FEEDS)} <= titles(engine)
    finally:
        pool.close()
    assert len(titles(engine)) == 3 * FEEDS
