"""Three `newsdigest run` daemons on one PostgreSQL share the feed farm's 500 feeds and
30 subscribers' digests, checked from what the farm served and what a real SMTP server
(aiosmtpd, in this process) received:

- every due feed is fetched exactly once per round: after a round every feed's
  last_fetched_at is past the round's start, and the farm served exactly 500 requests;
- every subscriber gets exactly one digest for their period (six time zones; the three
  daemons compete for every send), and further digest ticks send nothing more;
- a daemon killed with -9 while it holds feed leases and a digest claim loses nothing:
  its feed leases expire and the others fetch those feeds; its digest claim expires and
  another daemon sends that digest, with the Message-ID fixed at claim time. That is the
  ledger's promise (digest/ledger.py): a digest the server had taken before the killed
  sender could record it may arrive twice, always with one Message-ID; any other digest
  arrives once.

The daemons read the real clock. A subscriber's digest falls due when their local send
time passes (digest/window.py); to make it due during the test without waiting for a
minute to turn, each group of subscribers "joined yesterday" with a send time of the
minute that has just begun in their zone, so the daemons' next digest tick finds the
period ended and sends it.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiosmtpd.controller import Controller
from sqlalchemy import Engine, create_engine, func, select, text, update
from sqlalchemy.orm import Session

from digest.models import Delivery, Subscriber
from ingest.models import Article, Feed
from newsdigest.cli import main
from tests.farm import farm_opml, farm_post, farm_stats, run_farm
from tests.test_daemon import Daemon, _processes_running, free_port, wait_for

FEEDS = 500
CLAIM_BATCH = 25
#: Fetch rounds tried before giving up on seeing the victim hold feed leases.
ATTEMPTS = 5
#: Subscribers per group; one group is sent by three live daemons, the other across a kill.
GROUP = 15
#: Zones with whole-hour and odd offsets, both hemispheres.
ZONES = (
    "UTC",
    "Asia/Kolkata",
    "America/St_Johns",
    "Asia/Kathmandu",
    "Australia/Adelaide",
    "America/Los_Angeles",
)
#: The SMTP server holds each message this long before its 250, so a daemon is inside a
#: send long enough to be killed there.
SMTP_DELAY = 1.5
#: The longest the held inbox keeps a sender waiting (below the senders' SMTP timeout).
HOLD_LIMIT = 60.0
SECRET = "scaleout-secret-0123456789-abcdefghij"


@dataclass
class SlowInbox:
    """An aiosmtpd handler: records each message as soon as its DATA is in, then waits
    before the 250: ``delay`` seconds, or while the inbox is held. A sender killed during
    the wait never learns the message was taken, which is the window the ledger
    documents."""

    delay: float
    received: list[tuple[str, str]] = field(default_factory=list)  # (recipient, Message-ID)
    #: While set, no message gets its 250 (for at most HOLD_LIMIT seconds).
    held: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.received.append((rcpt.lower(), str(message["Message-ID"])))
        await asyncio.sleep(self.delay)
        waited = 0.0
        while self.held.is_set() and waited < HOLD_LIMIT:
            await asyncio.sleep(0.05)
            waited += 0.05
        return "250 2.0.0 Accepted"


def write_config(tmp_path: Path, database_url: str, smtp_port: int) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"database: '{database_url}'\n"
        f"secret: '{SECRET}'\n"
        "public_url: 'https://news.example.org'\n"
        "fetch:\n  allow_private_networks: true\n  parse_workers: 0\n  timeout: 10\n"
        "daemon:\n  fetch_tick_seconds: 1\n  digest_tick_seconds: 2\n"
        f"  claim_batch: {CLAIM_BATCH}\n  lease_seconds: 10\n  shutdown_timeout_seconds: 10\n"
        # Delivery does not depend on what a digest holds: an empty one is sent too.
        "digest:\n  send_empty: true\n"
        f"smtp:\n  host: 127.0.0.1\n  port: {smtp_port}\n  from: 'News <news@example.org>'\n"
        # A live sender renews its digest claims (every third of the lease), however slow
        # the send; the lease is how long the killed daemon's claim waits to be taken over.
        # The timeout outlasts the held inbox: a held send is slow, not failed.
        "  timeout: 90\n  lease_seconds: 30\n"
        f"output:\n  directory: '{tmp_path / 'out'}'\n",
        encoding="utf-8",
    )
    return path


def wait_round(engine: Engine, started: float, timeout: float = 300) -> None:
    """Until every feed was fetched after ``started`` (a time.time())."""
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


def make_all_due(engine: Engine) -> float:
    started = time.time()
    time.sleep(0.05)
    with engine.begin() as conn:
        conn.execute(update(Feed).values(next_due_at=func.now()))
    return started


def add_subscribers(engine: Engine, first: int, count: int) -> datetime:
    """``count`` subscribers in ZONES, due at the minute that has just begun in each zone,
    who joined a day before it; returns that minute (the period's end, UTC)."""
    send = datetime.now(UTC).replace(second=0, microsecond=0)
    joined = send - timedelta(days=1)
    with Session(engine) as session, session.begin():
        for i in range(first, first + count):
            zone = ZONES[i % len(ZONES)]
            session.add(
                Subscriber(
                    email=f"reader{i:02d}@example.org",
                    name=f"Reader {i}",
                    timezone=zone,
                    send_at=send.astimezone(ZoneInfo(zone)).strftime("%H:%M"),
                    created_at=joined,
                    updated_at=joined,
                )
            )
    return send


@dataclass(frozen=True)
class Row:
    email: str
    period_end: datetime
    status: str
    attempts: int
    message_id: str
    claimed_by: str | None


def ledger_rows(engine: Engine) -> list[Row]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                Subscriber.email,
                Delivery.period_end,
                Delivery.status,
                Delivery.attempts,
                Delivery.message_id,
                Delivery.claimed_by,
            ).join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        ).all()
    return [
        Row(r[0], r[1].astimezone(UTC), r[2], r[3], r[4], r[5])
        for r in rows  # UTCDateTime gives aware UTC on both engines
    ]


def wait_all_sent(engine: Engine, count: int, timeout: float = 120) -> None:
    def done() -> bool:
        rows = ledger_rows(engine)
        return len(rows) == count and all(r.status == "sent" for r in rows)

    wait_for(done, timeout=timeout)


def held_by(engine: Engine, pid: int) -> tuple[int, list[str]]:
    """Feed leases, and the Message-IDs of digest claims in flight, of the daemon ``pid``
    (its owner name is host:pid:tag, on leases and claims alike)."""
    owner = f"%:{pid}:%"
    with engine.connect() as conn:
        feeds = conn.execute(
            select(func.count(Feed.id)).where(Feed.lease_owner.like(owner))
        ).scalar_one()
        sending = conn.execute(
            select(Delivery.message_id).where(
                Delivery.status == "sending", Delivery.claimed_by.like(owner)
            )
        ).scalars()
        return feeds, list(sending)


def freeze_holding_leases(engine: Engine, victim: Daemon, started: float) -> int:
    """Stop (SIGSTOP) the daemon ``victim`` while it holds feed leases, and return how many
    it holds; 0 when every feed was fetched after ``started`` first (the round ended
    without it being caught holding one).

    A lease seen held may be released a moment later, before a kill would land; so the
    victim is stopped first, and what it had already sent the database is given time to
    land before its leases are counted again. Held then, they stay held until the kill."""
    since = datetime.fromtimestamp(started, UTC)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if held_by(engine, victim.proc.pid)[0]:
            victim.proc.send_signal(signal.SIGSTOP)
            time.sleep(0.3)
            held = held_by(engine, victim.proc.pid)[0]
            if held:
                return held
            victim.proc.send_signal(signal.SIGCONT)
        with engine.connect() as conn:
            missing = conn.execute(
                select(func.count(Feed.id)).where(Feed.last_fetched_at < since)
            ).scalar_one()
        if missing == 0:
            return 0
        time.sleep(0.01)
    raise AssertionError("the round did not end in time")


def test_three_daemons_fetch_each_feed_and_send_each_digest_once_and_survive_a_kill(
    tmp_path: Path, postgres_url: str
) -> None:
    inbox = SlowInbox(SMTP_DELAY)
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port(), ready_timeout=10)
    smtp.start()
    try:
        with run_farm(
            tmp_path, "--feeds", str(FEEDS), "--hosts", "10", "--latency-ms", "5"
        ) as farm:
            config = write_config(tmp_path, postgres_url, smtp.port)
            opml = farm_opml(farm, tmp_path / "f.opml")
            assert main(["--config", str(config), "feeds", "import", str(opml)]) == 0
            engine = create_engine(postgres_url)
            # Nothing is due until round 1 makes it so: a daemon that starts early would
            # otherwise fetch feeds before the farm's counts are reset.
            with engine.begin() as conn:
                conn.execute(update(Feed).values(next_due_at=func.now() + timedelta(days=1)))
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

                # Rounds 2 and 3 (warm): every feed once, all 304; meanwhile the first
                # group's digests fall due and the three daemons compete to send them
                # (until round 4 and beyond: every send is checked at the end).
                for n in range(2):
                    farm_post(farm, "/stats/reset")
                    started = make_all_due(engine)
                    if n == 0:
                        first_send = add_subscribers(engine, 0, GROUP)
                    wait_round(engine, started)
                    warm = farm_stats(farm)
                    assert warm["by_status"] == {"304": FEEDS}, warm

                # Round 4: the second group falls due while the inbox holds every message,
                # so each daemon's first claim of the group stays in flight; then every feed
                # falls due, and the victim is killed with -9 while it holds feed leases and
                # that digest claim. A fetch round is short: if it ends before the victim
                # is seen holding leases, the feeds fall due again.
                victim = daemons[0]
                inbox.held.set()
                second_send = add_subscribers(engine, GROUP, GROUP)
                wait_for(lambda: held_by(engine, victim.proc.pid)[1], timeout=60)
                feeds_held = 0
                for _ in range(ATTEMPTS):
                    farm_post(farm, "/stats/reset")
                    started = make_all_due(engine)
                    feeds_held = freeze_holding_leases(engine, victim, started)
                    if feeds_held:
                        break
                assert feeds_held, f"the victim held no feed lease in {ATTEMPTS} rounds"
                victim.proc.send_signal(signal.SIGKILL)  # stopped, it is killed all the same
                victim.proc.wait(timeout=10)
                inbox.held.clear()
                # What it died holding: nobody touches it before its lease runs out.
                orphaned_at_kill, in_flight = held_by(engine, victim.proc.pid)
                assert in_flight, "the victim's held digest claim is gone"
                assert orphaned_at_kill == feeds_held, (orphaned_at_kill, feeds_held)
                wait_round(engine, started)
                after = farm_stats(farm)
                # Each feed at least once; a feed the victim fetched but did not record (it
                # still held its lease) at most twice.
                assert FEEDS <= after["requests"] <= FEEDS + orphaned_at_kill, after
                wait_all_sent(engine, 2 * GROUP)
                # A few more digest ticks on every live daemon: nothing more goes out.
                time.sleep(4)
                with engine.connect() as conn:
                    assert conn.execute(select(func.count(Article.id))).scalar_one() == articles
                    orphaned = conn.execute(
                        select(func.count(Feed.id)).where(
                            Feed.lease_owner.like(f"%:{victim.proc.pid}:%")
                        )
                    ).scalar_one()
                assert orphaned == 0  # taken over after expiry, then released by the fetch
            finally:
                codes = [d.stop() for d in daemons]
                rows = ledger_rows(engine)
                engine.dispose()
            assert codes[1:] == [0, 0], [d.log for d in daemons[1:]]
            # No parse worker outlives its daemon.
            wait_for(lambda: not _processes_running(str(config)), timeout=30)
    finally:
        smtp.stop()

    # Exactly one ledger row per subscriber and period, each sent.
    emails = {f"reader{i:02d}@example.org" for i in range(2 * GROUP)}
    assert sorted(r.email for r in rows) == sorted(emails)
    assert {r.status for r in rows} == {"sent"}, rows
    for r in rows:
        expected = first_send if int(r.email[6:8]) < GROUP else second_send
        assert r.period_end == expected, (r, expected)
    by_email = {r.email: r for r in rows}
    resent = [r for r in rows if r.message_id in in_flight]
    assert len(resent) == len(in_flight) and all(r.attempts == 2 for r in resent), resent
    assert all(r.attempts == 1 for r in rows if r.message_id not in in_flight), rows

    # What the SMTP server received: per recipient, only the ledger's Message-ID for the
    # period; once each, except a digest in flight on the killed daemon (at most twice).
    counts = Counter(inbox.received)
    assert {email for email, _ in counts} == emails
    for (email, message_id), n in counts.items():
        assert message_id == by_email[email].message_id, (email, message_id)
        # The Message-ID names the period (digest/ledger.py message_id_for).
        assert f".{by_email[email].period_end:%Y%m%dT%H%MZ}@" in message_id, message_id
        assert n == 1 or (n == 2 and message_id in in_flight), (email, message_id, n)
    final = create_engine(postgres_url)
    with final.connect() as conn:
        leased = conn.execute(text("SELECT count(*) FROM feeds WHERE lease_owner IS NOT NULL"))
        assert leased.scalar_one() == 0
    final.dispose()
