"""Email addresses as they go on the wire: IDNA domains, and when SMTPUTF8 is needed.

A subscriber's address is stored as typed (``jörg@example.de``, ``reader@例子.中国``,
``用户@例子.中国``). Sending needs one of two forms:

- the local part is ASCII: the domain is encoded to its A-labels (IDNA 2008 with UTS 46
  mapping, ``reader@xn--fsqu00a.xn--fiqs8s``), and the whole address is ASCII, so any
  SMTP server takes it;
- the local part is not ASCII: no encoding exists for it (RFC 6530), the address goes as
  UTF-8 and the server must offer SMTPUTF8 (RFC 6531); the mailer checks.

Usage::

    address = wire_address("reader@例子.中国")
    address.addr_spec        # 'reader@xn--fsqu00a.xn--fiqs8s'
    address.needs_smtputf8   # False
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import idna

from digest.errors import DigestError


class InvalidAddressError(DigestError):
    """An address that cannot be written on an envelope (no local part, a bad domain)."""


@dataclass(frozen=True, slots=True)
class WireAddress:
    """An address split and encoded for SMTP and the To header."""

    #: As typed (NFC): only ASCII for a server without SMTPUTF8.
    local: str
    #: A-labels when ``local`` is ASCII; otherwise as typed (NFC): it travels as UTF-8.
    domain: str

    @property
    def addr_spec(self) -> str:
        return f"{self.local}@{self.domain}"

    @property
    def needs_smtputf8(self) -> bool:
        """True when only a server offering SMTPUTF8 can carry it (a non-ASCII local part)."""
        return not self.addr_spec.isascii()


def wire_address(address: str) -> WireAddress:
    """The form of ``address`` to send to; raises InvalidAddressError saying what is wrong."""
    text = unicodedata.normalize("NFC", address.strip())
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        raise InvalidAddressError(f"not an email address: {address!r} (e.g. me@example.org)")
    if domain.isascii():
        return WireAddress(local, domain)
    try:
        encoded = idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise InvalidAddressError(
            f"the domain of {address!r} is not a valid internationalized domain name: {exc}"
        ) from None
    # With a UTF-8 local part the address needs SMTPUTF8 anyway, and there the domain may
    # stay as typed (RFC 6531 section 3.2), which is what the recipient reads in To.
    return WireAddress(local, encoded if local.isascii() else domain)
