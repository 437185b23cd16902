"""Delivery claims held across a slow SMTP server: renewed while sending, checked before.

A claim's lease (smtp.lease_seconds) is how long a sender may hold a digest before
another takes it over. A live sender must keep it however slow the server is, and a
sender whose lease ran out must not send the digest it no longer owns.
"""

from __future__ import annotations

import asyncio
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from digest import ledger
from newsdigest.send_job import send_digests
from tests.test_ledger import LEASE, T0, add_subscriber, claim, status_of
from tests.test_mailer import Handler, MailServer
from tests.test_send import (
    SUBSCRIBERS,
    Clock,
    by_recipient,
    cli,
    cli_env,
    deliveries,
    open_app,
    run_senders,
    seed_subscribers,
    write_config,
)
from tests.test_send import (
    T0 as SEND_T0,
)

# ---------------------------------------------------------------- the ledger


def test_renewal_extends_only_this_senders_live_claims(engine: Engine) -> None:
    mine, theirs, expired = (add_subscriber(engine, f"{n}@example.org") for n in "abc")
    claim(engine, mine, worker="w1")
    claim(engine, theirs, worker="w2")
    claim(engine, expired, worker="w1", now=T0 - LEASE - timedelta(seconds=1))
    later = T0 + LEASE / 2
    with Session(engine) as session, session.begin():
        assert ledger.renew_claims(session, worker="w1", now=later, lease=LEASE) == 1
    assert status_of(engine, mine).lease_expires_at == later + LEASE
    assert status_of(engine, theirs).lease_expires_at == T0 + LEASE
    # A lease that ran out is not revived: another sender may hold the row by now.
    assert status_of(engine, expired).lease_expires_at == T0 - timedelta(seconds=1)


def test_a_claim_taken_over_is_not_confirmed_to_its_old_owner(engine: Engine) -> None:
    sid = add_subscriber(engine, "a@example.org")
    first = claim(engine, sid, worker="slow")
    assert first is not None
    with Session(engine) as session, session.begin():
        assert ledger.confirm(session, first, now=T0 + LEASE / 2, lease=LEASE)
    expiry = T0 + LEASE / 2 + LEASE
    with Session(engine) as session, session.begin():
        assert not ledger.confirm(session, first, now=expiry + timedelta(seconds=1), lease=LEASE)
    taken = claim(engine, sid, worker="fast", now=expiry + timedelta(seconds=1))
    assert taken is not None
    with Session(engine) as session, session.begin():
        assert not ledger.confirm(session, first, now=expiry, lease=LEASE)
        assert ledger.confirm(session, taken, now=expiry + timedelta(seconds=2), lease=LEASE)


# ---------------------------------------------------------------- the send loop


def test_a_sender_whose_lease_ran_out_before_sending_leaves_the_digest(
    tmp_path: Path, database_url: str
) -> None:
    """A stall longer than the lease between claim and send (here: the pacer's wait, with
    a clock that jumps past the lease, so no heartbeat could have renewed it)."""
    server = MailServer().start()
    clock = Clock(SEND_T0)
    app = open_app(
        tmp_path, database_url, server.port, clock, lease_seconds=60, messages_per_minute=1
    )
    try:
        clock.advance(days=1)
        stalled = send_digests(app, env={}, sleep=lambda _s: clock.advance(seconds=61))
        # The first message goes at once; the pacer holds each next one past its lease.
        assert [o.outcome for o in stalled.outcomes] == ["sent", "lost", "lost"]
        assert len(server.accepted) == 1
        assert [r.status for r in deliveries(app)].count("sending") == 2
        # Nothing is lost either: the next sender takes the expired claims over.
        resumed = send_digests(app, env={}, sleep=lambda _s: None)
        assert [(o.outcome, o.attempt) for o in resumed.outcomes] == [("sent", 2)] * 2
    finally:
        app.close()
        server.stop()
    assert by_recipient(server.accepted) == {s["email"]: 1 for s in SUBSCRIBERS}


# ---------------------------------------------------------------- a slow server


class SlowHandler(Handler):
    """Accepts every message, after ``delay`` seconds in DATA (other sessions go on)."""

    delay: float = 3.0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


def test_two_senders_and_a_server_slower_than_the_lease_send_each_digest_once(
    tmp_path: Path, database_url: str
) -> None:
    """Each message takes three leases to be accepted; both senders race over every row.

    Without the heartbeat, a sender that finishes one message finds the other's claim
    expired and sends that digest a second time.
    """
    server = MailServer(SlowHandler()).start()
    emails = seed_subscribers(database_url, 4)
    config = write_config(tmp_path, database_url, server.port, lease_seconds=1)
    try:
        results = run_senders(config, 2, timeout=300)
    finally:
        server.stop()
    assert [code for code, _, _ in results] == [0, 0], results
    assert by_recipient(server.accepted) == dict.fromkeys(emails, 1)
    listing = subprocess.run(
        cli(config, "deliveries", "list", "--json"), env=cli_env(), capture_output=True, text=True
    )
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.count('"status": "sent"') == len(emails), listing.stdout
