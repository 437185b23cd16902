"""The SMTP mailer against a real aiosmtpd server on loopback: TLS, AUTH, reuse, faults.

The server helpers here (:class:`MailServer`, :func:`self_signed`) are shared with the
send tests. Every assertion is about what the server actually accepted.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from digest.mailer import (
    Pacer,
    PermanentDeliveryError,
    SmtpMailer,
    SmtpOptions,
    SmtpSetupError,
    TemporaryDeliveryError,
    classify_reply,
)

# ---------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Cert:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


def self_signed(folder: Path) -> Cert:
    """A self-signed certificate for 127.0.0.1 and localhost, made with the openssl CLI."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not installed (apt-get install openssl)")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return Cert(cert, key)


@dataclass
class Handler:
    """Accepts and records messages, or answers with the scripted faults first.

    ``faults`` is consumed one per message: "421" / "451" / "550" (the reply to RCPT or
    DATA, per ``fault_at``), "drop" (the connection is closed during DATA, before the
    reply), "hang" (DATA waits until ``release`` is set, then the line is dropped).
    ``refuse`` maps a recipient to a permanent RCPT reply, every time.
    """

    faults: list[str] = field(default_factory=list)
    fault_at: str = "DATA"
    refuse: dict[str, str] = field(default_factory=dict)
    accepted: list[EmailMessage] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    peers: set[Any] = field(default_factory=set)
    auth: list[tuple[str, str]] = field(default_factory=list)
    in_data: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _fault(self, stage: str) -> str | None:
        with self.lock:
            if self.faults and self.fault_at == stage:
                return self.faults.pop(0)
        return None

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        fault = self._fault("RCPT")
        if fault == "421":
            return "421 4.3.2 Service shutting down, try later"
        if fault == "451":
            return "451 4.3.0 Local error, try later"
        if fault == "550":
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        fault = self._fault("DATA")
        if fault == "drop":
            server.transport.close()
            return "451 never seen: the line is gone"
        if fault == "hang":
            self.in_data.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 60)
            server.transport.close()
            return "451 never seen: the line is gone"
        if fault in ("421", "451", "550"):
            return {
                "421": "421 4.3.2 Closing, try later",
                "451": "451 4.3.0 Queue full, try later",
                "550": "550 5.7.1 Message refused",
            }[fault]
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.accepted.append(message)  # type: ignore[arg-type]
            self.raw.append(envelope.original_content or envelope.content)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self.peers.add(session.peer)
        return "250 2.0.0 Accepted"


def _authenticator(handler: Handler, user: str, password: str) -> Any:
    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        login = data.login.decode() if isinstance(data.login, bytes) else data.login
        secret = data.password.decode() if isinstance(data.password, bytes) else data.password
        ok = (login, secret) == (user, password)
        handler.auth.append((mechanism, login))
        return AuthResult(success=ok, handled=False)

    return check


class MailServer:
    """An aiosmtpd server on a loopback port that can be stopped and started again."""

    def __init__(self, handler: Handler | None = None, port: int | None = None, **kw: Any):
        self.handler = handler or Handler()
        self.port = port or free_port()
        self.kw = kw
        self.controller: Controller | None = None

    def start(self) -> MailServer:
        self.controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, ready_timeout=10, **self.kw
        )
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.handler.release.set()
            self.controller.stop()
            self.controller = None

    @property
    def accepted(self) -> list[EmailMessage]:
        return self.handler.accepted

    def options(self, **kw: Any) -> SmtpOptions:
        return SmtpOptions(host="127.0.0.1", port=self.port, timeout=10, **kw)


@pytest.fixture
def mail_server() -> Iterator[MailServer]:
    server = MailServer().start()
    yield server
    server.stop()


def message(n: int = 1, to: str = "reader@example.org") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "News <news@example.org>"
    msg["To"] = to
    msg["Subject"] = f"Digest {n}: Ближний Восток"
    msg["Message-ID"] = f"<digest.{n}@example.org>"
    msg.set_content(f"text {n}")
    msg.add_alternative(f"<p>html {n}</p>", subtype="html")
    return msg


def send(mailer: SmtpMailer, n: int = 1, to: str = "reader@example.org") -> None:
    mailer.send(message(n, to), sender="news@example.org", recipient=to)


# ---------------------------------------------------------------- pure parts


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (421, TemporaryDeliveryError),
        (450, TemporaryDeliveryError),
        (451, TemporaryDeliveryError),
        (452, TemporaryDeliveryError),
        (550, PermanentDeliveryError),
        (552, PermanentDeliveryError),
        (554, PermanentDeliveryError),
        (-1, TemporaryDeliveryError),
    ],
)
def test_reply_codes_are_classified(code: int, expected: type) -> None:
    assert classify_reply(code) is expected


@pytest.mark.parametrize(
    ("per_minute", "expected_sleeps"),
    [
        (None, []),
        (60, [1.0, 1.0]),  # one a second: the 2nd and 3rd sends wait a second each
        (120, [0.5, 0.5]),
    ],
)
def test_pacer_spaces_sends_evenly(per_minute: int | None, expected_sleeps: list[float]) -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = Pacer(per_minute, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        pacer.wait()
    assert slept == pytest.approx(expected_sleeps)


def test_pacer_does_not_wait_after_a_pause() -> None:
    now = [0.0]
    pacer = Pacer(60, clock=lambda: now[0], sleep=lambda s: pytest.fail("slept"))
    pacer.wait()
    now[0] += 5  # slower than the limit by itself
    assert pacer.wait() == 0.0


# ---------------------------------------------------------------- against the server


def test_one_connection_carries_many_messages(mail_server: MailServer) -> None:
    with SmtpMailer(mail_server.options()) as mailer:
        for n in range(5):
            send(mailer, n)
        assert mailer.connections == 1
    assert [m["Message-ID"] for m in mail_server.accepted] == [
        f"<digest.{n}@example.org>" for n in range(5)
    ]
    assert len(mail_server.handler.peers) == 1
    first = mail_server.accepted[0]
    assert first.get_content_type() == "multipart/alternative"
    assert str(first["Subject"]) == "Digest 0: Ближний Восток"
    assert mail_server.handler.envelopes[0] == ("news@example.org", ["reader@example.org"])


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_starttls_with_a_self_signed_certificate_and_auth(tmp_path: Path, mechanism: str) -> None:
    cert = self_signed(tmp_path)
    handler = Handler()
    other = "LOGIN" if mechanism == "PLAIN" else "PLAIN"
    server = MailServer(
        handler,
        tls_context=cert.server_context(),
        require_starttls=True,
        auth_required=True,
        auth_exclude_mechanism=[other],
        authenticator=_authenticator(handler, "digest", "s3cret-pass"),
    ).start()
    try:
        options = server.options(
            security="starttls", username="digest", password="s3cret-pass", ca_file=cert.cert
        )
        with SmtpMailer(options) as mailer:
            send(mailer, 1)
            send(mailer, 2)
    finally:
        server.stop()
    assert handler.auth == [(mechanism, "digest")]
    assert [m["Message-ID"] for m in server.accepted] == [
        "<digest.1@example.org>",
        "<digest.2@example.org>",
    ]


def test_implicit_tls(tmp_path: Path) -> None:
    cert = self_signed(tmp_path)
    server = MailServer(ssl_context=cert.server_context()).start()
    try:
        with SmtpMailer(server.options(security="ssl", ca_file=cert.cert)) as mailer:
            send(mailer)
    finally:
        server.stop()
    assert len(server.accepted) == 1


def test_an_untrusted_certificate_is_a_setup_error(tmp_path: Path) -> None:
    cert = self_signed(tmp_path)
    server = MailServer(tls_context=cert.server_context(), require_starttls=True).start()
    try:
        with (
            SmtpMailer(server.options(security="starttls")) as mailer,
            pytest.raises(SmtpSetupError, match="ca_file"),
        ):
            send(mailer)
    finally:
        server.stop()
    assert server.accepted == []


def test_a_refused_login_is_a_setup_error(tmp_path: Path) -> None:
    cert = self_signed(tmp_path)
    handler = Handler()
    server = MailServer(
        handler,
        tls_context=cert.server_context(),
        auth_required=True,
        authenticator=_authenticator(handler, "digest", "right"),
    ).start()
    try:
        options = server.options(
            security="starttls", username="digest", password="wrong", ca_file=cert.cert
        )
        with SmtpMailer(options) as mailer, pytest.raises(SmtpSetupError, match="'digest'"):
            send(mailer)
    finally:
        server.stop()
    assert server.accepted == []


def test_non_ascii_credentials_are_a_setup_error_not_a_crash(tmp_path: Path) -> None:
    cert = self_signed(tmp_path)
    handler = Handler()
    server = MailServer(
        handler,
        tls_context=cert.server_context(),
        authenticator=_authenticator(handler, "digest", "пароль"),
    ).start()
    try:
        options = server.options(
            security="starttls", username="digest", password="пароль", ca_file=cert.cert
        )
        with SmtpMailer(options) as mailer, pytest.raises(SmtpSetupError, match="ASCII"):
            send(mailer)
    finally:
        server.stop()


def test_starttls_asked_but_not_offered_is_a_setup_error(mail_server: MailServer) -> None:
    with (
        SmtpMailer(mail_server.options(security="starttls")) as mailer,
        pytest.raises(SmtpSetupError, match="STARTTLS"),
    ):
        send(mailer)


def test_server_down_is_temporary() -> None:
    with (
        SmtpMailer(SmtpOptions(host="127.0.0.1", port=free_port(), timeout=5)) as mailer,
        pytest.raises(TemporaryDeliveryError, match="cannot connect"),
    ):
        send(mailer)


@pytest.mark.parametrize(
    ("fault", "fault_at", "error", "match"),
    [
        ("421", "RCPT", TemporaryDeliveryError, "421"),
        ("451", "RCPT", TemporaryDeliveryError, "451"),
        ("550", "RCPT", PermanentDeliveryError, "550"),
        ("421", "DATA", TemporaryDeliveryError, "421"),
        ("451", "DATA", TemporaryDeliveryError, "451"),
        ("550", "DATA", PermanentDeliveryError, "550"),
        ("drop", "DATA", TemporaryDeliveryError, "closed the connection|connection failed"),
    ],
)
def test_faults_then_recovery_on_the_same_mailer(
    fault: str, fault_at: str, error: type, match: str
) -> None:
    handler = Handler(faults=[fault], fault_at=fault_at)
    server = MailServer(handler).start()
    try:
        with SmtpMailer(server.options()) as mailer:
            with pytest.raises(error, match=match):
                send(mailer, 1)
            send(mailer, 2)  # the next message goes through (reconnecting if needed)
    finally:
        server.stop()
    assert [m["Message-ID"] for m in server.accepted] == ["<digest.2@example.org>"]


def test_a_connection_the_server_dropped_is_reopened(mail_server: MailServer) -> None:
    with SmtpMailer(mail_server.options()) as mailer:
        send(mailer, 1)
        # The server restarts (it dropped every connection): the kept one is dead.
        mail_server.stop()
        mail_server.start()
        send(mailer, 2)
        assert mailer.connections == 2
    assert [m["Message-ID"] for m in mail_server.accepted] == [
        "<digest.1@example.org>",
        "<digest.2@example.org>",
    ]


def test_a_recipient_refused_for_good_leaves_the_connection_usable(
    mail_server: MailServer,
) -> None:
    mail_server.handler.refuse["gone@example.org"] = "550 5.1.1 No such user"
    with SmtpMailer(mail_server.options()) as mailer:
        with pytest.raises(PermanentDeliveryError) as info:
            send(mailer, 1, to="gone@example.org")
        send(mailer, 2)
        assert mailer.connections == 1
    assert info.value.code is None or info.value.code == 550
    assert [m["To"] for m in mail_server.accepted] == ["reader@example.org"]
