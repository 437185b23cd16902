"""The outbox backend: each message as an .eml file in a folder, for set-ups without SMTP.

Usage::

    outbox = Outbox(Path("out/outbox"))
    outbox.send(message, sender="news@example.org", recipient="reader@example.org")
    outbox.path_for(message)      # out/outbox/<date>_<recipient>_<hash>.eml

The file name is derived from the Message-ID, and the ledger fixes the Message-ID per
(subscriber, period), so a resend after a crash replaces the file instead of adding a
second one. Files are written to a temporary name and renamed, so a reader never sees
half a message. Any mail client opens an .eml file; the envelope is kept in
X-Envelope-From / X-Envelope-To headers so the folder can be relayed later.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from email import policy
from email.message import EmailMessage
from pathlib import Path

from digest.mailer import SmtpSetupError


class Outbox:
    """A folder of .eml files that behaves like a mail server that always accepts."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path_for(self, message: EmailMessage, recipient: str | None = None) -> Path:
        """Where ``message`` is (or will be) written."""
        message_id = str(message.get("Message-ID", "")).strip()
        if not message_id:
            raise ValueError("an outbox message needs a Message-ID (it names the file)")
        to = recipient or str(message.get("To", ""))
        readable = re.sub(r"[^A-Za-z0-9._@-]+", "_", to.split("<")[-1].rstrip(">"))[:60]
        digest = hashlib.sha256(message_id.encode("utf-8")).hexdigest()[:16]
        return self.folder / f"{readable.strip('._') or 'message'}_{digest}.eml"

    def send(self, message: EmailMessage, *, sender: str, recipient: str) -> None:
        """Write the message atomically; the same Message-ID overwrites the same file."""
        target = self.path_for(message, recipient)
        # A non-ASCII local part cannot be encoded: such a message is written as UTF-8
        # (RFC 6532), as an SMTP server offering SMTPUTF8 would receive it.
        wire = policy.SMTP if (sender + recipient).isascii() else policy.SMTPUTF8
        copy = EmailMessage(policy=wire)
        for name, value in (("X-Envelope-From", sender), ("X-Envelope-To", recipient)):
            copy[name] = " ".join(value.splitlines())
        data = copy.as_bytes().rstrip(b"\r\n") + b"\r\n" + message.as_bytes(policy=wire)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=".eml")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise SmtpSetupError(
                f"cannot write to the outbox {self.folder}: {exc.strerror or exc}; "
                "check smtp.outbox and that the folder is writable"
            ) from exc

    def close(self) -> None:
        """Nothing to close (the Sender protocol asks for it)."""
