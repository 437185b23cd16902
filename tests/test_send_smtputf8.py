"""Internationalized addresses: IDNA domains, and UTF-8 local parts through SMTPUTF8.

Real aiosmtpd servers, one offering SMTPUTF8 and one not; what they received is parsed
back. A non-ASCII local part goes out with SMTPUTF8 where the server offers it, and fails
once, clearly and without retries or a bounce, where it does not.
"""

from __future__ import annotations

from dataclasses import replace
from email import message_from_string, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from digest.addresses import InvalidAddressError, WireAddress, wire_address
from digest.mailer import SmtpMailer, SmtpSetupError
from digest.render import Renderer, sample_digest
from digest.subscribers import InvalidSubscriberError, check_email, get_subscriber
from newsdigest.app import App
from newsdigest.config import parse_config
from newsdigest.digest_job import write_digest
from newsdigest.send_job import send_digests
from tests.test_mailer import Handler, MailServer
from tests.test_send import T0, Clock, config_data, deliveries

DECOMPOSED = "jo\u0308rg@example.de"  # o + combining diaeresis


@pytest.mark.parametrize(
    ("typed", "local", "domain", "smtputf8"),
    [
        ("reader@example.org", "reader", "example.org", False),
        ("  Reader@Example.org ", "Reader", "Example.org", False),
        ("reader@例子.中国", "reader", "xn--fsqu00a.xn--fiqs8s", False),
        ("reader@Bücher.example", "reader", "xn--bcher-kva.example", False),
        ("info@straße.de", "info", "xn--strae-oqa.de", False),  # IDNA 2008, not "strasse"
        ("jörg@example.de", "jörg", "example.de", True),
        (DECOMPOSED, "jörg", "example.de", True),  # NFC: one spelling, one subscriber
        ("用户@例子.中国", "用户", "例子.中国", True),  # as typed: it needs SMTPUTF8 anyway
        ("δοκιμή@παράδειγμα.δοκιμή", "δοκιμή", "παράδειγμα.δοκιμή", True),
    ],
)
def test_wire_address(typed: str, local: str, domain: str, smtputf8: bool) -> None:
    address = wire_address(typed)
    assert address == WireAddress(local, domain)
    assert address.needs_smtputf8 is smtputf8
    assert address.addr_spec.isascii() is not smtputf8


@pytest.mark.parametrize("typed", ["no-at-sign", "@example.org", "reader@", "a@例子..中国"])
def test_unusable_addresses_are_refused(typed: str) -> None:
    with pytest.raises(InvalidAddressError):
        wire_address(typed)


def test_subscribers_add_takes_utf8_local_parts_and_refuses_broken_idn_domains() -> None:
    assert check_email("jörg@example.de") == "jörg@example.de"
    assert check_email("用户@例子.中国") == "用户@例子.中国"
    assert check_email(DECOMPOSED) == "jörg@example.de"  # one spelling, one subscriber
    with pytest.raises(InvalidSubscriberError, match="internationalized domain"):
        check_email("jörg@例子..中国")


# ---------------------------------------------------------------- sending

PEOPLE = ["ada@example.org", "jörg@example.de", "用户@例子.中国", "reader@例子.中国"]


class RecordingHandler(Handler):
    """Also records the MAIL FROM parameters (SMTPUTF8, BODY=8BITMIME) of each message."""

    def __init__(self) -> None:
        super().__init__()
        self.mail_options: dict[str, list[str]] = {}

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        for rcpt in envelope.rcpt_tos:
            self.mail_options[rcpt] = list(envelope.mail_options)
        return await super().handle_DATA(server, session, envelope)


def open_app(tmp_path: Path, url: str, port: int, clock: Clock, **smtp: Any) -> App:
    data = config_data(tmp_path, url, port, **smtp)
    data["subscribers"] = [{"email": e, "name": f"Leser {i}"} for i, e in enumerate(PEOPLE)]
    return App.open(parse_config(data, "(test)", tmp_path), clock=clock)


def utf8_message(raw: bytes) -> EmailMessage:
    """A message as received: UTF-8 headers (RFC 6532) are read as text, not as bytes."""
    return message_from_string(raw.decode("utf-8"), policy=policy.default)  # type: ignore[return-value]


def received(server: MailServer) -> dict[str, str]:
    """Envelope recipient -> the To address of the message the server accepted."""
    found = {}
    for (_, rcpts), raw in zip(server.handler.envelopes, server.handler.raw, strict=True):
        to = utf8_message(raw)["To"].addresses[0].addr_spec
        assert f"<{to}>".encode() in raw  # literally, not as an encoded word
        found[rcpts[0]] = to
    return found


def test_a_server_offering_smtputf8_gets_every_address(tmp_path: Path, database_url: str) -> None:
    server = MailServer(RecordingHandler(), enable_SMTPUTF8=True).start()
    clock = Clock(T0)
    app = open_app(tmp_path, database_url, server.port, clock)
    try:
        clock.advance(days=1)
        report = send_digests(app, env={})
    finally:
        app.close()
        server.stop()
    assert report.count("sent") == 4, report.outcomes
    assert received(server) == {
        "ada@example.org": "ada@example.org",
        "jörg@example.de": "jörg@example.de",
        "用户@例子.中国": "用户@例子.中国",
        # An ASCII local part: the domain as A-labels, nothing that needs SMTPUTF8.
        "reader@xn--fsqu00a.xn--fiqs8s": "reader@xn--fsqu00a.xn--fiqs8s",
    }
    options = server.handler.mail_options  # type: ignore[attr-defined]
    assert "SMTPUTF8" in options["jörg@example.de"] and "SMTPUTF8" in options["用户@例子.中国"]
    assert "SMTPUTF8" not in options["ada@example.org"]
    assert "SMTPUTF8" not in options["reader@xn--fsqu00a.xn--fiqs8s"]


def test_a_server_without_smtputf8_fails_those_addresses_once_and_clearly(
    tmp_path: Path, database_url: str
) -> None:
    server = MailServer(enable_SMTPUTF8=False).start()  # aiosmtpd's Controller offers it
    clock = Clock(T0)
    app = open_app(tmp_path, database_url, server.port, clock)
    try:
        clock.advance(days=1)
        report = send_digests(app, env={}, sleep=lambda s: clock.advance(seconds=s))
        clock.advance(hours=2)  # any retry would be due by now
        again = send_digests(app, env={})
        rows = {r.email: r for r in deliveries(app)}
        with app.session() as session:
            people = {e: get_subscriber(session, e) for e in PEOPLE}
    finally:
        app.close()
        server.stop()
    outcomes = {o.email: o for o in report.outcomes}
    assert {e: o.outcome for e, o in outcomes.items()} == {
        "ada@example.org": "sent",
        "jörg@example.de": "failed",
        "用户@例子.中国": "failed",
        "reader@例子.中国": "sent",
    }
    assert again.outcomes == ()  # not retried: no server reply would change
    for email in ("jörg@example.de", "用户@例子.中国"):
        assert (rows[email].status, rows[email].attempts) == ("failed", 1)
        error = rows[email].last_error or ""
        assert "does not offer SMTPUTF8" in error and email in error
        assert (people[email].status, people[email].bounce_count) == ("active", 0)
    assert received(server) == {
        "ada@example.org": "ada@example.org",
        "reader@xn--fsqu00a.xn--fiqs8s": "reader@xn--fsqu00a.xn--fiqs8s",
    }


def test_the_outbox_writes_a_utf8_address_as_utf8(tmp_path: Path) -> None:
    clock = Clock(T0)
    app = open_app(tmp_path, f"sqlite:///{tmp_path / 'db'}", 25, clock, backend="outbox")
    try:
        clock.advance(days=1, hours=1)
        assert send_digests(app, env={}).count("sent") == 4
    finally:
        app.close()
    found = set()
    for path in (tmp_path / "out" / "outbox").glob("*.eml"):
        raw = path.read_bytes()
        message = utf8_message(raw)
        found.add(message["To"].addresses[0].addr_spec)  # type: ignore[union-attr]
        assert f"<{message['To'].addresses[0].addr_spec}>".encode() in raw  # no encoded word
        assert message["X-Envelope-To"] == message["To"].addresses[0].addr_spec  # type: ignore[union-attr]
    assert found == {
        "ada@example.org",
        "jörg@example.de",
        "用户@例子.中国",
        "reader@xn--fsqu00a.xn--fiqs8s",
    }


@pytest.mark.parametrize(
    ("email", "to"),
    [
        ("jörg@example.de", "jörg@example.de"),
        ("用户@例子.中国", "用户@例子.中国"),
        ("reader@例子.中国", "reader@xn--fsqu00a.xn--fiqs8s"),
        ("ada@example.org", "ada@example.org"),
    ],
)
def test_digest_build_writes_the_eml_as_digest_send_addresses_it(
    tmp_path: Path, email: str, to: str
) -> None:
    sample = sample_digest()
    digest = replace(sample, subscriber=replace(sample.subscriber, email=email))
    built = write_digest(
        tmp_path, digest, Renderer(), from_addr="News <news@example.org>", now=sample.period_end
    )
    assert built.eml is not None
    raw = built.eml.read_bytes()
    # Literally: an encoded word (=?utf-8?q?j=C3=B6rg?=) is no address, though a parser
    # may decode it back.
    assert f"<{to}>".encode() in raw
    assert utf8_message(raw)["To"].addresses[0].addr_spec == to  # type: ignore[union-attr]


def test_a_utf8_sender_without_smtputf8_is_a_setup_error() -> None:
    """Every message would fail alike: the run stops instead of failing each subscriber."""
    server = MailServer(enable_SMTPUTF8=False).start()
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "news@example.org", "ada@example.org", "x"
    message.set_content("x")
    try:
        with (
            SmtpMailer(server.options()) as mailer,
            pytest.raises(SmtpSetupError, match=r"smtp\.from"),
        ):
            mailer.send(message, sender="новости@example.org", recipient="ada@example.org")
    finally:
        server.stop()
    assert server.accepted == []
