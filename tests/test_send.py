"""`digest send` end to end against a real aiosmtpd server: once per subscriber and period.

Each test asserts on what the server accepted (parsed with the email package) and on the
ledger. Subscribers send an empty digest (digest.send_empty) unless a test needs stories:
delivery does not care what the digest holds, only that exactly one arrives.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import update
from sqlalchemy.orm import Session

from digest import ledger
from digest.models import Subscriber
from digest.unsubscribe import verify_token
from newsdigest.app import App
from newsdigest.config import parse_config
from newsdigest.db import open_database
from newsdigest.send_job import send_digests, write_demo_outbox
from tests.test_mailer import Handler, MailServer

SECRET = "test-secret-0123456789-abcdefghij"
T0 = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[1]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


SUBSCRIBERS = [
    {"email": "ada@example.org", "name": "Ada Reader", "timezone": "UTC", "send_at": "07:00"},
    {
        "email": "layla@example.org",
        "name": "ليلى القارئة",
        "timezone": "Asia/Baghdad",
        "regions": ["Middle East"],
    },
    {"email": "kenji@example.org", "name": "山田 健二", "timezone": "Asia/Tokyo"},
]


def config_data(tmp_path: Path, database_url: str, port: int, **smtp: Any) -> dict[str, Any]:
    return {
        "database": database_url,
        "secret": SECRET,
        "public_url": "https://news.example.org/digest",
        "smtp": {
            "host": "127.0.0.1",
            "port": port,
            "from": "Новости <news@example.org>",
            "reply_to": "editor@example.org",
            "timeout": 10,
            "retry_base_seconds": 0.01,
            "retry_max_seconds": 0.05,
            "retry_wait_seconds": 5,
            "max_attempts": 3,
            **smtp,
        },
        "digest": {"send_empty": True},
        "subscribers": SUBSCRIBERS,
        "output": {"directory": str(tmp_path / "out")},
    }


@pytest.fixture
def server() -> Iterator[MailServer]:
    s = MailServer().start()
    yield s
    s.stop()


def open_app(tmp_path: Path, database_url: str, port: int, clock: Clock, **smtp: Any) -> App:
    data = config_data(tmp_path, database_url, port, **smtp)
    # Subscribed a day before the sends the tests make.
    return App.open(parse_config(data, "(test)", tmp_path), clock=clock)


def by_recipient(messages: list[EmailMessage]) -> Counter[str]:
    return Counter(m["To"].addresses[0].addr_spec for m in messages)


def deliveries(app: App, status: str | None = None) -> list[ledger.DeliveryRecord]:
    with app.session() as session:
        return ledger.list_deliveries(session, status=status)  # type: ignore[arg-type]


# ---------------------------------------------------------------- the happy path


def test_each_subscriber_gets_one_digest_with_the_right_headers(
    tmp_path: Path, database_url: str, server: MailServer
) -> None:
    clock = Clock(T0)
    app = open_app(tmp_path, database_url, server.port, clock)
    try:
        with app.session() as session, session.begin():
            # A name with CR/LF (stored by hand: the CLI would refuse it) must not make a header.
            session.execute(
                update(Subscriber)
                .where(Subscriber.email == "ada@example.org")
                .values(name="Ada\r\nBcc: victim@example.org")
            )
        clock.advance(days=1)
        report = send_digests(app, env={})
        assert report.count("sent") == 3 and not report.unfinished
        assert send_digests(app, env={}).outcomes == ()  # run twice: nothing the second time
        clock.advance(hours=2)
        assert send_digests(app, env={}).outcomes == ()
        rows = {r.email: r for r in deliveries(app)}
    finally:
        app.close()

    assert by_recipient(server.accepted) == {s["email"]: 1 for s in SUBSCRIBERS}
    assert all(r.status == "sent" and r.attempts == 1 for r in rows.values())
    for message, raw in zip(server.accepted, server.handler.raw, strict=True):
        to = message["To"].addresses[0]
        row = rows[to.addr_spec]
        assert message["Message-ID"] == row.message_id
        assert str(message["From"]) == "Новости <news@example.org>"
        assert message["Reply-To"] == "editor@example.org"
        assert message["List-Id"].endswith("<digest.example.org>")
        assert message["Date"].datetime == clock.now - timedelta(hours=2)
        assert "Bcc" not in message and b"\nBcc:" not in raw
        # Every header line of the wire form is ASCII: non-ASCII went through RFC 2047.
        head = raw.split(b"\r\n\r\n", 1)[0]
        assert head.isascii()
        assert b"List-Unsubscribe: <mailto:editor@example.org?subject=unsubscribe" in head
        mailto, https = [u.strip(" <>") for u in message["List-Unsubscribe"].split(",")]
        assert https.startswith("https://news.example.org/digest/unsubscribe/")
        token = https.rsplit("/", 1)[1]
        assert verify_token(SECRET, token, to.addr_spec)
        assert mailto.endswith(token)
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message.get_content_type() == "multipart/alternative"
        parts = [p.get_content_type() for p in message.iter_parts()]
        assert parts == ["text/plain", "text/html"]
        text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
        assert https in text and https in html
    names = {
        m["To"].addresses[0].addr_spec: m["To"].addresses[0].display_name for m in server.accepted
    }
    assert names["layla@example.org"] == "ليلى القارئة"
    assert names["kenji@example.org"] == "山田 健二"
    assert names["ada@example.org"] == "Ada Bcc: victim@example.org"


def test_a_paused_subscriber_gets_nothing(tmp_path: Path, server: MailServer) -> None:
    clock = Clock(T0)
    app = open_app(tmp_path, f"sqlite:///{tmp_path / 'db'}", server.port, clock)
    try:
        with app.session() as session, session.begin():
            session.execute(
                update(Subscriber)
                .where(Subscriber.email != "ada@example.org")
                .values(status="paused")
            )
        clock.advance(days=1)
        send_digests(app, env={})
    finally:
        app.close()
    assert by_recipient(server.accepted) == {"ada@example.org": 1}


def test_dry_run_claims_and_sends_nothing(tmp_path: Path, server: MailServer) -> None:
    clock = Clock(T0)
    app = open_app(tmp_path, f"sqlite:///{tmp_path / 'db'}", server.port, clock)
    try:
        clock.advance(days=1)
        report = send_digests(app, env={}, dry_run=True)
        assert [o.outcome for o in report.outcomes] == ["would send"] * 3
        assert deliveries(app) == []
        only = send_digests(app, env={}, email="KENJI@example.org")
        assert [o.email for o in only.outcomes] == ["kenji@example.org"]
        held = send_digests(app, env={}, dry_run=True)
        assert Counter(o.outcome for o in held.outcomes) == {"would send": 2, "held": 1}
    finally:
        app.close()
    assert by_recipient(server.accepted) == {"kenji@example.org": 1}


# ---------------------------------------------------------------- faults


@pytest.mark.parametrize(
    ("faults", "fault_at"),
    [
        (["421"], "RCPT"),
        (["451"], "RCPT"),
        (["421"], "DATA"),
        (["451", "451"], "DATA"),
        (["drop"], "DATA"),
    ],
)
def test_temporary_faults_are_retried_and_one_digest_arrives(
    tmp_path: Path, faults: list[str], fault_at: str
) -> None:
    server = MailServer(Handler(faults=list(faults), fault_at=fault_at)).start()
    clock = Clock(T0)
    app = open_app(tmp_path, f"sqlite:///{tmp_path / 'db'}", server.port, clock)
    try:
        clock.advance(days=1)
        report = send_digests(app, env={}, sleep=lambda s: clock.advance(seconds=s))
        rows = deliveries(app)
    finally:
        app.close()
        server.stop()
    assert by_recipient(server.accepted) == {s["email"]: 1 for s in SUBSCRIBERS}
    assert report.count("retry") == len(faults) and report.count("sent") == 3
    assert [r.status for r in rows] == ["sent"] * 3
    # Each fault hits one subscriber's first try; each is retried once.
    assert sorted(r.attempts for r in rows) == [1] * (3 - len(faults)) + [2] * len(faults)
    # A resend carries the Message-ID fixed at the first claim.
    assert {m["Message-ID"] for m in server.accepted} == {r.message_id for r in rows}


def test_server_down_then_the_next_run_delivers(tmp_path: Path) -> None:
    server = MailServer()  # not started: connection refused
    clock = Clock(T0)
    app = open_app(
        tmp_path, f"sqlite:///{tmp_path / 'db'}", server.port, clock, retry_wait_seconds=0
    )
    try:
        clock.advance(days=1)
        first = send_digests(app, env={})
        assert first.count("retry") == 3 and first.unfinished
        pending = deliveries(app, "pending")
        assert len(pending) == 3 and all("cannot connect" in (r.last_error or "") for r in pending)
        server.start()
        assert send_digests(app, env={}).outcomes == ()  # not due yet: backoff
        clock.advance(seconds=1)
        second = send_digests(app, env={})
        assert second.count("sent") == 3
        assert send_digests(app, env={}).outcomes == ()
    finally:
        app.close()
        server.stop()
    assert by_recipient(server.accepted) == {s["email"]: 1 for s in SUBSCRIBERS}
    assert {m["Message-ID"] for m in server.accepted} == {r.message_id for r in pending}


def test_temporary_failures_stop_at_max_attempts(tmp_path: Path) -> None:
    server = MailServer(Handler(faults=["451"] * 100, fault_at="RCPT")).start()
    clock = Clock(T0)
    app = open_app(tmp_path, f"sqlite:///{tmp_path / 'db'}", server.port, clock, max_attempts=2)
    try:
        clock.advance(days=1)
        report = send_digests(app, env={}, sleep=lambda s: clock.advance(seconds=s))
        assert report.count("failed") == 3
        clock.advance(hours=1)
        assert send_digests(app, env={}).outcomes == ()  # failed is final for the period
        rows = deliveries(app)
    finally:
        app.close()
        server.stop()
    assert server.accepted == []
    assert all(r.status == "failed" and r.attempts == 2 for r in rows)
    assert all("gave up after 2 attempts" in (r.last_error or "") for r in rows)


def test_permanent_550_fails_and_marks_bouncing_after_the_limit(
    tmp_path: Path, server: MailServer
) -> None:
    server.handler.refuse["kenji@example.org"] = "550 5.1.1 No such user"
    clock = Clock(T0)
    app = open_app(tmp_path, f"sqlite:///{tmp_path / 'db'}", server.port, clock, bounce_limit=2)
    try:
        statuses = []
        for _day in range(3):
            clock.advance(days=1)
            report = send_digests(app, env={})
            statuses.append({o.email: o.outcome for o in report.outcomes}.get("kenji@example.org"))
        with app.session() as session:
            kenji = session.query(Subscriber).filter_by(email="kenji@example.org").one()
            status, bounces = kenji.status, kenji.bounce_count
        failed = deliveries(app, "failed")
    finally:
        app.close()
    assert statuses == ["failed", "failed", None]  # the third day: bouncing, not tried
    assert (status, bounces) == ("bouncing", 2)
    assert len(failed) == 2 and all("550" in (r.last_error or "") for r in failed)
    assert by_recipient(server.accepted) == {"ada@example.org": 3, "layla@example.org": 3}


def test_a_crash_after_acceptance_resends_with_the_same_message_id(
    tmp_path: Path, server: MailServer
) -> None:
    """The documented window: accepted by SMTP, then the sender died before the ledger."""
    clock = Clock(T0)
    app = open_app(tmp_path, f"sqlite:///{tmp_path / 'db'}", server.port, clock, lease_seconds=60)
    try:
        clock.advance(days=1)

        class DiesAfterSending:
            def __init__(self, inner: Any) -> None:
                self.inner = inner

            def send(self, message: EmailMessage, *, sender: str, recipient: str) -> None:
                self.inner.send(message, sender=sender, recipient=recipient)
                raise KeyboardInterrupt  # the process is killed right after the 250

            def close(self) -> None:
                self.inner.close()

        from newsdigest.send_job import make_sender

        dying = DiesAfterSending(make_sender(app.config))
        with pytest.raises(KeyboardInterrupt):
            send_digests(app, env={}, sender=dying)
        dying.close()
        claimed = deliveries(app, "sending")
        assert len(claimed) == 1
        assert send_digests(app, env={}).count("sent") == 2  # the live claim is left alone
        clock.advance(seconds=61)  # its lease runs out
        resumed = send_digests(app, env={})
        assert [(o.outcome, o.attempt) for o in resumed.outcomes] == [("sent", 2)]
    finally:
        app.close()
    counts = Counter(m["Message-ID"] for m in server.accepted)
    assert counts[claimed[0].message_id] == 2  # twice, with one Message-ID: mail systems dedupe
    assert sorted(counts.values()) == [1, 1, 2]


# ---------------------------------------------------------------- processes


def write_config(tmp_path: Path, database_url: str, port: int, **smtp: Any) -> Path:
    data = config_data(tmp_path, database_url, port, **smtp)
    data["subscribers"] = []
    del data["secret"]  # from the environment, as in production
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def seed_subscribers(database_url: str, count: int) -> list[str]:
    """Subscribers who joined three days ago and are due at 00:00 UTC every day."""
    engine = open_database(database_url)
    joined = datetime.now(UTC) - timedelta(days=3)
    emails = [f"reader{i:03d}@example.org" for i in range(count)]
    with Session(engine) as session, session.begin():
        for email in emails:
            session.add(
                Subscriber(
                    email=email,
                    name=f"Читатель {email[6:9]}",
                    timezone="UTC",
                    send_at="00:00",
                    created_at=joined,
                    updated_at=joined,
                )
            )
    engine.dispose()
    return emails


#: As the console script runs it. (`python -m newsdigest.cli` would load cli.py twice, as
#: __main__ and as newsdigest.cli, and the sub-commands would not see --config.)
_ENTRY = "import sys; from newsdigest.cli import main; sys.exit(main(sys.argv[1:]))"


def cli(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-c", _ENTRY, "--config", str(config), *args]


def cli_env() -> dict[str, str]:
    return {**os.environ, "NEWSDIGEST_SECRET": SECRET, "PYTHONPATH": str(ROOT)}


def run_senders(config: Path, count: int, timeout: float) -> list[tuple[int, str, str]]:
    """Run ``count`` `digest send` processes at once; each one's exit code, stdout, stderr."""
    runs = [
        subprocess.Popen(
            cli(config, "digest", "send"),
            env=cli_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    outputs = [p.communicate(timeout=timeout) for p in runs]
    return [(p.returncode, out, err) for p, (out, err) in zip(runs, outputs, strict=True)]


def test_a_restart_of_the_sending_process_between_attempts(tmp_path: Path) -> None:
    server = MailServer(Handler(faults=["hang"], fault_at="DATA")).start()
    url = f"sqlite:///{tmp_path / 'db'}"
    [email] = seed_subscribers(url, 1)
    config = write_config(tmp_path, url, server.port, lease_seconds=1)
    try:
        first = subprocess.Popen(
            cli(config, "digest", "send"),
            env=cli_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert server.handler.in_data.wait(60), "the first run never reached DATA"
        first.kill()  # mid-DATA, the claim made and committed
        first.wait(30)
        server.handler.release.set()
        time.sleep(1.2)  # the 1-second lease runs out (a wait, not a timing assertion)
        second = subprocess.run(
            cli(config, "digest", "send"), env=cli_env(), capture_output=True, text=True
        )
        assert second.returncode == 0, second.stderr
        third = subprocess.run(
            cli(config, "digest", "send"), env=cli_env(), capture_output=True, text=True
        )
        assert third.returncode == 0, third.stderr
        listing = subprocess.run(
            cli(config, "deliveries", "list", "--json"),
            env=cli_env(),
            capture_output=True,
            text=True,
        )
    finally:
        server.stop()
    assert by_recipient(server.accepted) == {email: 1}
    [row] = [yaml.safe_load(line) for line in listing.stdout.splitlines()]
    assert (row["status"], row["attempts"]) == ("sent", 2)
    assert server.accepted[0]["Message-ID"] == row["message_id"]


def test_two_processes_never_send_the_same_digest(tmp_path: Path, database_url: str) -> None:
    server = MailServer().start()
    emails = seed_subscribers(database_url, 40)
    config = write_config(tmp_path, database_url, server.port)
    try:
        results = run_senders(config, 2, timeout=120)
    finally:
        server.stop()
    assert [code for code, _, _ in results] == [0, 0], results
    assert by_recipient(server.accepted) == dict.fromkeys(emails, 1)


def test_send_refuses_to_start_without_a_secret(tmp_path: Path, capsys: Any) -> None:
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'db'}", 25)
    env = {k: v for k, v in os.environ.items() if k != "NEWSDIGEST_SECRET"}
    proc = subprocess.run(
        cli(config, "digest", "send"), env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert "NEWSDIGEST_SECRET" in proc.stderr and "secret:" in proc.stderr
    assert "Traceback" not in proc.stderr


# ---------------------------------------------------------------- the outbox


def test_the_outbox_backend_writes_one_eml_per_digest(tmp_path: Path) -> None:
    clock = Clock(T0)
    data = config_data(tmp_path, f"sqlite:///{tmp_path / 'db'}", 25, backend="outbox")
    del data["public_url"]
    app = App.open(parse_config(data, "(test)", tmp_path), clock=clock)
    try:
        clock.advance(days=1)
        report = send_digests(app, env={})
        assert report.count("sent") == 3
        assert report.warnings and "public_url" in report.warnings[0]
        assert send_digests(app, env={}).outcomes == ()
    finally:
        app.close()
    files = sorted((tmp_path / "out" / "outbox").glob("*.eml"))
    assert len(files) == 3
    from email import message_from_bytes, policy

    for path in files:
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert message["X-Envelope-To"] == message["To"].addresses[0].addr_spec
        # public_url unset: links point at `newsdigest serve` here, without one-click POST
        assert "<http://127.0.0.1:8080/unsubscribe/" in message["List-Unsubscribe"]
        assert "List-Unsubscribe-Post" not in message


def test_the_demo_outbox_holds_tomorrows_digests(tmp_path: Path) -> None:
    clock = Clock(T0)
    data = config_data(tmp_path, f"sqlite:///{tmp_path / 'db'}", 25)
    del data["secret"]
    app = App.open(parse_config(data, "(test)", tmp_path), clock=clock)
    try:
        report = write_demo_outbox(app)
    finally:
        app.close()
    assert report.count("sent") == 3
    assert len(list((tmp_path / "out" / "outbox").glob("*.eml"))) == 3


def test_a_digest_later_than_the_catch_up_window_is_missed_once_and_rolls_over(
    tmp_path: Path, server: MailServer
) -> None:
    clock = Clock(T0)
    app = open_app(tmp_path, f"sqlite:///{tmp_path / 'late.db'}", server.port, clock)
    try:
        # Ada's 07:00 UTC digest: the daemon comes back at 07:00 + 1 day + 5 h (within a
        # 6 h window: sent), then 07:00 + 2 days + 8 h (beyond it: missed, not sent).
        clock.now = datetime(2025, 1, 11, 12, 0, tzinfo=UTC)
        grace = timedelta(hours=6)
        sent = send_digests(app, env={}, email="ada@example.org", max_lateness=grace)
        assert [o.outcome for o in sent.outcomes] == ["sent"]
        clock.now = datetime(2025, 1, 12, 15, 0, tzinfo=UTC)
        missed = send_digests(app, env={}, email="ada@example.org", max_lateness=grace)
        assert [o.outcome for o in missed.outcomes] == ["missed"]
        assert "catch-up window" in missed.outcomes[0].detail
        assert send_digests(app, env={}, email="ada@example.org", max_lateness=grace).outcomes == ()
        # The next day's digest covers the missed day too.
        clock.now = datetime(2025, 1, 13, 7, 1, tzinfo=UTC)
        send_digests(app, env={}, email="ada@example.org", max_lateness=grace)
        rows = sorted(deliveries(app), key=lambda r: r.period_end)
    finally:
        app.close()
    assert [r.status for r in rows] == ["sent", "missed", "sent"]
    assert rows[2].period_start == rows[0].period_end
    assert by_recipient(server.accepted) == {"ada@example.org": 2}
