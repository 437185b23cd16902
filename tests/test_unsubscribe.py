"""Unsubscribe tokens: bound to one subscriber, refused when altered, links on public_url."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from digest.unsubscribe import (
    InvalidTokenError,
    WeakSecretError,
    make_token,
    set_list_unsubscribe,
    token_subscriber_id,
    unsubscribe_mailto,
    unsubscribe_url,
    verify_token,
)

SECRET = "0123456789abcdef-secret"


@pytest.mark.parametrize(
    ("sid", "email"),
    [(1, "a@example.org"), (42, "Ада@пример.рф"), (9_000_000_000, "読者@例え.jp")],
)
def test_a_token_verifies_for_its_own_subscriber_only(sid: int, email: str) -> None:
    token = make_token(SECRET, sid, email)
    assert token_subscriber_id(token) == sid
    assert verify_token(SECRET, token, email)
    assert verify_token(SECRET, token, email.upper())  # one mailbox, any case
    assert not verify_token(SECRET, token, "someone.else@example.org")
    assert not verify_token("another-secret-of-16+", token, email)
    assert token == make_token(SECRET, sid, email)  # deterministic: old links keep working


def test_a_token_for_a_cannot_unsubscribe_b() -> None:
    a = make_token(SECRET, 1, "a@example.org")
    b_sig = make_token(SECRET, 2, "b@example.org").split(".")[1]
    assert not verify_token(SECRET, f"2.{a.split('.')[1]}", "b@example.org")  # A's signature
    assert not verify_token(SECRET, a, "b@example.org")
    assert verify_token(SECRET, f"2.{b_sig}", "b@example.org")


def _flip(text: str, index: int) -> str:
    ch = text[index]
    return text[:index] + ("B" if ch != "B" else "C") + text[index + 1 :]


@pytest.mark.parametrize(
    "alter",
    [
        lambda t: _flip(t, len(t) - 1),  # last signature character
        lambda t: _flip(t, len(t) - 20),  # one in the middle
        lambda t: "3" + t[1:],  # another id, same signature
        lambda t: t[:-1],  # cut short
        lambda t: t + "A",  # too long
        lambda t: t.replace(".", ""),  # no separator
        lambda t: "0" + t,  # a leading zero: not the canonical id
        lambda t: "",
        lambda t: "1.' OR 1=1 --",
    ],
)
def test_an_altered_token_is_refused(alter) -> None:  # type: ignore[no-untyped-def]
    token = make_token(SECRET, 1, "a@example.org")
    altered = alter(token)
    assert altered != token
    assert not verify_token(SECRET, altered, "a@example.org")


@pytest.mark.parametrize("token", ["", "abc", "1.short", "-1." + "A" * 43, "1." + "A" * 42])
def test_malformed_tokens_name_no_subscriber(token: str) -> None:
    with pytest.raises(InvalidTokenError, match="link"):
        token_subscriber_id(token)


def test_a_short_secret_is_refused_with_a_way_to_make_one() -> None:
    with pytest.raises(WeakSecretError, match=r"secrets\.token_urlsafe"):
        make_token("short", 1, "a@example.org")


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("https://news.example.org", "https://news.example.org/unsubscribe/"),
        ("https://news.example.org/digest/", "https://news.example.org/digest/unsubscribe/"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/unsubscribe/"),
    ],
)
def test_links_are_built_on_public_url(base: str, expected: str) -> None:
    token = make_token(SECRET, 7, "a@example.org")
    assert unsubscribe_url(base, token) == expected + token


def test_the_mailto_link_carries_the_token_in_its_subject() -> None:
    token = make_token(SECRET, 7, "a@example.org")
    assert unsubscribe_mailto("list@example.org", token) == (
        f"mailto:list@example.org?subject=unsubscribe%20{token}"
    )


def test_list_unsubscribe_stays_literal_and_folds_between_urls() -> None:
    token = make_token(SECRET, 7, "a@example.org")
    msg = EmailMessage()
    msg["Subject"] = "Дайджест"
    msg["List-Unsubscribe"] = "<https://old.example/x>"
    long_url = unsubscribe_url("https://a-rather-long-host-name.example.org/news/digest", token)
    set_list_unsubscribe(
        msg, unsubscribe_mailto("list@example.org", token), long_url + "\r\nBcc: x@evil.example"
    )
    msg.set_content("body")
    wire = msg.as_bytes(policy=policy.SMTP)
    head = wire.split(b"\r\n\r\n")[0].decode("ascii")
    assert "=?utf-8?" not in head.split("List-Unsubscribe:")[1]  # no encoded words
    assert f"<{long_url}Bcc: x@evil.example>" in head.replace("\r\n ", " ")
    assert "\r\nBcc:" not in head
    assert head.count("List-Unsubscribe:") == 1
    parsed = message_from_bytes(wire, policy=policy.default)
    assert parsed["List-Unsubscribe"].startswith("<mailto:list@example.org?subject=")
