"""Sending messages through an SMTP server, one reused connection at a time.

Usage::

    with SmtpMailer(SmtpOptions(host="smtp.example.org", port=587, security="starttls",
                                username="digest", password=secret)) as mailer:
        mailer.send(message, sender="news@example.org", recipient="reader@example.org")

The connection opens at the first message and is kept for the next ones; when the server
has dropped it (idle timeout, 421), the mailer reconnects. Every failure becomes one of
our errors, sorted by what the caller should do:

    DeliveryError
    ├── TemporaryDeliveryError    try again later: refused, timeout, dropped, 4xx
    ├── PermanentDeliveryError    this recipient will not take it: 5xx to RCPT or DATA
    │   └── SmtpUtf8UnsupportedError  the address needs SMTPUTF8, the server lacks it
    └── SmtpSetupError            no message can go out until the set-up is fixed
                                  (login refused, STARTTLS missing, sender refused)

smtplib is blocking, which suits the sender: the send loop is sequential on purpose (one
connection, paced), so an async client would buy nothing but a dependency.
"""

from __future__ import annotations

import contextlib
import smtplib
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Literal, Protocol

from digest.errors import DigestError

Security = Literal["none", "starttls", "ssl"]


class DeliveryError(DigestError):
    """A message could not be handed to the mail system."""


class TemporaryDeliveryError(DeliveryError):
    """Worth trying again later: connection refused or dropped, timeout, a 4xx reply."""


class PermanentDeliveryError(DeliveryError):
    """The server refused this message or recipient for good (a 5xx reply)."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class SmtpUtf8UnsupportedError(PermanentDeliveryError):
    """The address has a non-ASCII local part and the server does not offer SMTPUTF8.

    Retrying cannot help and the mailbox did not refuse anything: it is no bounce.
    """


class SmtpSetupError(DeliveryError):
    """The SMTP set-up is wrong (login, TLS, sender address): fix the config, then resend."""


class Sender(Protocol):
    """Where a rendered message goes: an SMTP server or an outbox folder."""

    def send(self, message: EmailMessage, *, sender: str, recipient: str) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class SmtpOptions:
    host: str = "localhost"
    port: int = 25
    security: Security = "none"
    username: str | None = None
    #: Never shown in a repr (the options end up in log lines and tracebacks).
    password: str | None = field(default=None, repr=False)
    #: Seconds per network operation (connect, each command).
    timeout: float = 30.0
    #: Extra CAs (PEM) to trust; None: the system's.
    ca_file: Path | None = None
    #: The name we greet the server with; None: this host's fully qualified name.
    local_hostname: str | None = None


def classify_reply(code: int) -> type[DeliveryError]:
    """What an SMTP reply code means for this message (RFC 5321 section 4.2.1)."""
    if 400 <= code < 500:
        return TemporaryDeliveryError
    if 500 <= code < 600:
        return PermanentDeliveryError
    # Anything else (a garbled reply, smtplib's -1 for a dropped line) is worth a retry.
    return TemporaryDeliveryError


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())[:300]


class SmtpMailer:
    """One SMTP connection, reused for many messages and reopened when it drops."""

    def __init__(self, options: SmtpOptions) -> None:
        self.options = options
        self._smtp: smtplib.SMTP | None = None
        #: Connections opened so far (the benchmark and the tests read it).
        self.connections = 0

    def __enter__(self) -> SmtpMailer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.options.ca_file is not None:
            context.load_verify_locations(cafile=str(self.options.ca_file))
        return context

    def _where(self) -> str:
        return f"{self.options.host}:{self.options.port}"

    def _connect(self) -> smtplib.SMTP:
        o = self.options
        try:
            if o.security == "ssl":
                smtp = smtplib.SMTP_SSL(
                    o.host,
                    o.port,
                    local_hostname=o.local_hostname,
                    timeout=o.timeout,
                    context=self._tls_context(),
                )
            else:
                smtp = smtplib.SMTP(
                    o.host, o.port, local_hostname=o.local_hostname, timeout=o.timeout
                )
        except smtplib.SMTPConnectError as exc:
            raise classify_reply(exc.smtp_code)(
                f"{self._where()} refused the connection: {exc.smtp_code} {_text(exc.smtp_error)}"
            ) from exc
        except ssl.SSLError as exc:
            raise SmtpSetupError(f"TLS with {self._where()} failed: {exc}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise TemporaryDeliveryError(f"cannot connect to {self._where()}: {exc}") from exc
        # Each command waits for its reply, so Nagle's algorithm only adds delayed-ACK stalls
        # (about 40 ms a message on Linux loopback).
        with contextlib.suppress(OSError, AttributeError):
            smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self._greet(smtp)
        except BaseException:
            _quietly_close(smtp)
            raise
        self.connections += 1
        return smtp

    def _greet(self, smtp: smtplib.SMTP) -> None:
        o = self.options
        try:
            smtp.ehlo()
            if o.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise SmtpSetupError(
                        f"{self._where()} does not offer STARTTLS; set smtp.security to "
                        "'ssl' (port 465) or 'none' (only on a trusted network)"
                    )
                smtp.starttls(context=self._tls_context())
                smtp.ehlo()
            if o.username:
                if not (o.username + (o.password or "")).isascii():
                    # smtplib encodes AUTH as ASCII (Python 3.11-3.13): say so, not crash.
                    raise SmtpSetupError(
                        "smtp.username and the password must be ASCII for this SMTP client; "
                        "use an ASCII app password"
                    )
                smtp.login(o.username, o.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            raise SmtpSetupError(
                f"{self._where()} refused the login of {o.username!r}: "
                f"{exc.smtp_code} {_text(exc.smtp_error)}; check smtp.username and the password"
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise SmtpSetupError(f"{self._where()}: {exc}") from exc
        except ssl.SSLError as exc:
            raise SmtpSetupError(
                f"TLS with {self._where()} failed: {exc}; set smtp.ca_file for a private CA"
            ) from exc
        except smtplib.SMTPResponseException as exc:
            raise classify_reply(exc.smtp_code)(
                f"{self._where()} refused the greeting: {exc.smtp_code} {_text(exc.smtp_error)}"
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise TemporaryDeliveryError(f"{self._where()} dropped the connection: {exc}") from exc

    def send(self, message: EmailMessage, *, sender: str, recipient: str) -> None:
        """Hand one message to the server, or raise a :class:`DeliveryError`."""
        reused = self._smtp is not None
        try:
            self._send_once(message, sender, recipient)
        except _Dropped as dropped:
            self.close()
            if not reused:
                raise TemporaryDeliveryError(str(dropped)) from dropped.__cause__
            # Servers close idle connections; a kept one found dead is reopened once at
            # once. A line that broke before the server's final reply to DATA means the
            # message was not accepted (RFC 5321 section 4.1.1.4), so this does not repeat it.
            try:
                self._send_once(message, sender, recipient)
            except _Dropped as again:
                self.close()
                raise TemporaryDeliveryError(str(again)) from again.__cause__

    def _send_once(self, message: EmailMessage, sender: str, recipient: str) -> None:
        if self._smtp is None:
            self._smtp = self._connect()
        smtp = self._smtp
        if not (sender + recipient).isascii() and not smtp.has_extn("smtputf8"):
            # smtplib would raise SMTPNotSupportedError; say what it means and what to do.
            if not sender.isascii():  # every message would fail: the set-up is wrong
                raise SmtpSetupError(
                    f"{self._where()} does not offer SMTPUTF8, which the sender {sender} "
                    "needs (its part before the @ is not ASCII); use an ASCII smtp.from"
                )
            raise SmtpUtf8UnsupportedError(
                f"{self._where()} does not offer SMTPUTF8, which the address {recipient} "
                "needs (its part before the @ is not ASCII): send through a server that "
                "offers SMTPUTF8 (RFC 6531), or subscribe an ASCII address"
            )
        try:
            refused = smtp.send_message(message, from_addr=sender, to_addrs=[recipient])
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            self._after_refusal(code)
            raise classify_reply(code)(
                f"{self._where()} refused the recipient {recipient}: {code} {_text(reply)}"
            ) from exc
        except smtplib.SMTPSenderRefused as exc:
            self._after_refusal(exc.smtp_code)
            if classify_reply(exc.smtp_code) is PermanentDeliveryError:
                raise SmtpSetupError(
                    f"{self._where()} refuses the sender {sender}: {exc.smtp_code} "
                    f"{_text(exc.smtp_error)}; check smtp.from"
                ) from exc
            raise TemporaryDeliveryError(
                f"{self._where()} deferred the sender: {exc.smtp_code} {_text(exc.smtp_error)}"
            ) from exc
        except smtplib.SMTPDataError as exc:
            self._after_refusal(exc.smtp_code)
            error = classify_reply(exc.smtp_code)
            text = f"{self._where()} refused the message: {exc.smtp_code} {_text(exc.smtp_error)}"
            if error is PermanentDeliveryError:
                raise PermanentDeliveryError(text, exc.smtp_code) from exc
            raise error(text) from exc
        except smtplib.SMTPServerDisconnected as exc:
            raise _Dropped(f"{self._where()} closed the connection: {exc}") from exc
        except smtplib.SMTPResponseException as exc:
            self._after_refusal(exc.smtp_code)
            raise classify_reply(exc.smtp_code)(
                f"{self._where()}: {exc.smtp_code} {_text(exc.smtp_error)}"
            ) from exc
        except TimeoutError as exc:
            self.close()
            raise TemporaryDeliveryError(
                f"{self._where()} did not answer within {self.options.timeout:g} s"
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise _Dropped(f"{self._where()} connection failed: {exc}") from exc
        if refused:
            code, reply = next(iter(refused.values()))
            raise classify_reply(code)(
                f"{self._where()} refused the recipient {recipient}: {code} {_text(reply)}"
            )

    def _after_refusal(self, code: int) -> None:
        # smtplib already closed the socket on a 421; anything else leaves it usable.
        if code == 421 and self._smtp is not None:
            self.close()

    def close(self) -> None:
        """Say QUIT when the connection is still up; never raises."""
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            _quietly_close(smtp)


class _Dropped(Exception):
    """The connection broke mid-conversation (internal: becomes a temporary error)."""


def _quietly_close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()


@dataclass
class Pacer:
    """Keeps sends at most ``per_minute`` a minute, evenly spaced; None: no limit.

    The clock and the sleep are injected so tests need not wait.
    """

    per_minute: int | None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _next: float | None = None

    def wait(self) -> float:
        """Sleep until the next send may start; returns the seconds slept."""
        if not self.per_minute:
            return 0.0
        now = self.clock()
        delay = 0.0 if self._next is None else max(0.0, self._next - now)
        if delay:
            self.sleep(delay)
        self._next = max(now, self._next or now) + 60.0 / self.per_minute
        return delay
