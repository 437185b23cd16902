"""Three `newsdigest run` daemons on one PostgreSQL share the feed farm's 500 feeds:
every due feed is fetched exactly once per round, and a daemon killed with -9 loses
nothing: its leases expire and the others fetch its feeds."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from sqlalchemy import create_engine, func, select, text, update

from ingest.models import Article, Feed
from newsdigest.cli import main
from tests.farm import farm_opml, farm_post, farm_stats, run_farm
from tests.test_daemon import Daemon, _processes_running, wait_for

FEEDS = 500


def write_config(tmp_path: Path, database_url: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"database: '{database_url}'\n"
        "fetch:\n  allow_private_networks: true\n  parse_workers: 0\n  timeout: 10\n"
        "daemon:\n  fetch_tick_seconds: 1\n  digest_tick_seconds: 3600\n  claim_batch: 25\n"
        "  lease_seconds: 15\n  shutdown_timeout_seconds: 10\n",
        encoding="utf-8",
    )
    return path


def wait_round(engine, started: float, timeout: float = 300) -> None:  # type: ignore[no-untyped-def]
    """Until every feed was fetched after ``started`` (a time.time())."""
    from datetime import UTC, datetime

    since = datetime.fromtimestamp(started, UTC)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            missing = conn.execute(
                select(func.count(Feed.id)).where(
                    (Feed.last_fetched_at.is_(None)) | (Feed.last_fetched_at < since)
                )
            ).scalar_one()
        if missing == 0:
            return
        time.sleep(0.5)
    raise AssertionError(f"{missing} feeds not fetched in time")


def make_all_due(engine) -> float:  # type: ignore[no-untyped-def]
    started = time.time()
    time.sleep(0.05)
    with engine.begin() as conn:
        conn.execute(update(Feed).values(next_due_at=func.now()))
    return started


def test_three_daemons_fetch_each_due_feed_once_and_survive_a_kill(
    tmp_path: Path, postgres_url: str
) -> None:
    with run_farm(tmp_path, "--feeds", str(FEEDS), "--hosts", "10", "--latency-ms", "20") as farm:
        config = write_config(tmp_path, postgres_url)
        assert (
            main(
                [
                    "--config",
                    str(config),
                    "feeds",
                    "import",
                    str(farm_opml(farm, tmp_path / "f.opml")),
                ]
            )
            == 0
        )
        engine = create_engine(postgres_url)
        daemons = [Daemon(config, name=f"d{i}") for i in range(3)]
        try:
            for d in daemons:
                d.wait_started()
            # Round 1 (cold): every feed once, all 200.
            farm_post(farm, "/stats/reset")
            wait_round(engine, make_all_due(engine) - 3600)
            cold = farm_stats(farm)
            assert cold["by_status"] == {"200": FEEDS}, cold
            with engine.connect() as conn:
                articles = conn.execute(select(func.count(Article.id))).scalar_one()
            assert articles > FEEDS * 20

            # Rounds 2 and 3 (warm): every feed once, all 304.
            for _ in range(2):
                farm_post(farm, "/stats/reset")
                wait_round(engine, make_all_due(engine))
                warm = farm_stats(farm)
                assert warm["by_status"] == {"304": FEEDS}, warm

            # Round 4: kill -9 one daemon while it holds leases.
            farm_post(farm, "/stats/reset")
            victim = daemons[0]
            started = make_all_due(engine)
            owner_prefix = f"%:{victim.proc.pid}:%"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with engine.connect() as conn:
                    held = conn.execute(
                        select(func.count(Feed.id)).where(Feed.lease_owner.like(owner_prefix))
                    ).scalar_one()
                if held:
                    break
                time.sleep(0.05)
            assert held, "the victim never held a lease"
            victim.proc.send_signal(signal.SIGKILL)
            victim.proc.wait(timeout=10)
            wait_round(engine, started)
            after = farm_stats(farm)
            # Each feed at least once; at most the victim's one claimed batch twice.
            assert FEEDS <= after["requests"] <= FEEDS + 25, after
            with engine.connect() as conn:
                assert conn.execute(select(func.count(Article.id))).scalar_one() == articles
                orphaned = conn.execute(
                    select(func.count(Feed.id)).where(Feed.lease_owner.like(owner_prefix))
                ).scalar_one()
            assert orphaned == 0  # taken over after expiry, then released by the fetch
        finally:
            codes = [d.stop() for d in daemons]
            engine.dispose()
        assert codes[1:] == [0, 0], [d.log for d in daemons[1:]]
        # No parse worker outlives its daemon.
        wait_for(lambda: not _processes_running(str(config)), timeout=30)
    final = create_engine(postgres_url)
    with final.connect() as conn:
        leased = conn.execute(text("SELECT count(*) FROM feeds WHERE lease_owner IS NOT NULL"))
        assert leased.scalar_one() == 0
    final.dispose()
