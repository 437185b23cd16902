"""Signed unsubscribe tokens and the links built on them.

A token is ``<subscriber id>.<signature>``: the signature is an HMAC-SHA256 over the
subscriber's id *and* email, keyed with the deployment's secret, so a token for A cannot
unsubscribe B, an altered id or signature is refused, and a token outlives nothing: once
the subscriber row is gone (and its id perhaps reused by someone else) the email no
longer matches. Tokens never expire, because an unsubscribe link must work in a
years-old message.

Usage::

    token = make_token(secret, subscriber.id, subscriber.email)
    url = unsubscribe_url(public_url, token)      # GET: a confirmation page; POST: RFC 8058
    sid = token_subscriber_id(token)               # untrusted until verify_token(...)
    verify_token(secret, token, email_of[sid])     # True or False

Pure functions: no clock, no database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from email import policy as email_policy
from email.headerregistry import HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote

from digest.errors import DigestError

#: Bump when the signed text changes, so old tokens are refused rather than misread.
_DOMAIN = b"newsdigest-unsubscribe-v1"
#: Shorter secrets are refused: an HMAC key is only as strong as it is long.
MIN_SECRET_LENGTH = 16
_TOKEN = re.compile(r"^([1-9][0-9]{0,18})\.([A-Za-z0-9_-]{43})$")
UNSUBSCRIBE_PATH = "/unsubscribe/"


class InvalidTokenError(DigestError, ValueError):
    """An unsubscribe token that is malformed (the link was cut or altered)."""


class WeakSecretError(DigestError, ValueError):
    """The signing secret is missing or too short to sign links with."""


def _key(secret: str) -> bytes:
    if len(secret) < MIN_SECRET_LENGTH:
        raise WeakSecretError(
            f"the secret must be at least {MIN_SECRET_LENGTH} characters long; "
            "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return secret.encode("utf-8")


def _signature(secret: str, subscriber_id: int, email: str) -> str:
    # The email is case-folded: "A@x.org" and "a@x.org" are one mailbox in practice.
    text = b"\x00".join((_DOMAIN, str(subscriber_id).encode(), email.strip().lower().encode()))
    digest = hmac.new(_key(secret), text, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def make_token(secret: str, subscriber_id: int, email: str) -> str:
    """The unsubscribe token of one subscriber (URL-safe, 45 to 63 characters)."""
    if subscriber_id < 1:
        raise ValueError(f"a subscriber id is positive, not {subscriber_id}")
    return f"{subscriber_id}.{_signature(secret, subscriber_id, email)}"


def token_subscriber_id(token: str) -> int:
    """The subscriber id a token names; not yet trusted (call :func:`verify_token`)."""
    match = _TOKEN.match(token.strip())
    if match is None:
        raise InvalidTokenError(
            "this unsubscribe link is incomplete or altered; use the link from the email as is"
        )
    return int(match.group(1))


def verify_token(secret: str, token: str, email: str) -> bool:
    """True when ``token`` was signed with ``secret`` for this subscriber id and email."""
    try:
        subscriber_id = token_subscriber_id(token)
    except InvalidTokenError:
        return False
    expected = make_token(secret, subscriber_id, email)
    return hmac.compare_digest(expected.encode("ascii"), token.strip().encode("ascii"))


def unsubscribe_url(public_url: str, token: str) -> str:
    """The one-click URL: GET shows a confirmation page, POST unsubscribes (RFC 8058)."""
    return f"{public_url.rstrip('/')}{UNSUBSCRIBE_PATH}{quote(token, safe='')}"


def unsubscribe_mailto(mailbox: str, token: str) -> str:
    """A mailto: URL asking ``mailbox`` to unsubscribe (the List-Unsubscribe fallback)."""
    return f"mailto:{quote(mailbox, safe='@')}?subject={quote('unsubscribe ' + token, safe='')}"


class _UrlListHeader(UnstructuredHeader):
    """A header of <URL> items folded between items, never RFC 2047-encoded.

    The email package folds a long unstructured header by turning it into encoded words,
    which no mail client reads as URLs; List-Unsubscribe must stay literal (RFC 2369).
    """

    def fold(self, *, policy: Any) -> str:
        items = [item.strip() for item in re.split(r"(?<=>)\s*,\s*", str(self)) if item.strip()]
        return f"{self.name}: " + f",{policy.linesep} ".join(items) + policy.linesep


_registry = HeaderRegistry()
_registry.map_to_type("list-unsubscribe", _UrlListHeader)
#: The default policy, except that List-Unsubscribe keeps its URLs literal.
MESSAGE_POLICY = email_policy.default.clone(header_factory=_registry)


def set_list_unsubscribe(message: EmailMessage, *urls: str) -> None:
    """Replace List-Unsubscribe with ``urls`` (mailto: first, then https), literal.

    Each URL is stripped of CR, LF and angle brackets, so none can end the header.
    """
    clean = ["".join(ch for ch in url if ch not in "\r\n<>").strip() for url in urls]
    message.policy = MESSAGE_POLICY  # only changes how headers set from now on are made
    del message["List-Unsubscribe"]
    message["List-Unsubscribe"] = ", ".join(f"<{url}>" for url in clean if url)
