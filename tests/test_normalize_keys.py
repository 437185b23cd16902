"""entry_key and the per-feed key policy (guid -> link -> link+date)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingest.normalize import KeyPolicy, choose_key_policy, entry_key, key_for_policy
from ingest.normalize.keys import MAX_KEY_CHARS

H = "ab" * 32


@pytest.mark.parametrize(
    ("guid", "link", "expected"),
    [
        ("urn:uuid:1", "https://ex.com/a", "g:urn:uuid:1"),
        ("  tag:ex.com,2025:1 ", None, "g:tag:ex.com,2025:1"),
        (None, "https://ex.com/a", "l:https://ex.com/a"),
        ("   ", "https://ex.com/a", "l:https://ex.com/a"),
        (None, None, f"h:{H}"),
        ("", "", f"h:{H}"),
        # a guid that is a URL is still a guid: kinds never collide
        ("https://ex.com/a", None, "g:https://ex.com/a"),
    ],
)
def test_entry_key(guid: str | None, link: str | None, expected: str) -> None:
    assert entry_key(guid, link, H) == expected


def test_overlong_keys_are_hashed_and_bounded() -> None:
    key = entry_key(None, "https://ex.com/" + "a" * 5000, H)
    assert key.startswith("l#") and len(key) <= MAX_KEY_CHARS


WHEN = datetime(2025, 1, 8, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("policy", "guid", "link", "published", "expected"),
    [
        (KeyPolicy.GUID, "g1", "https://ex.com/a", WHEN, "g:g1"),
        (KeyPolicy.LINK, "g1", "https://ex.com/a", WHEN, "l:https://ex.com/a"),
        (KeyPolicy.LINK, "g1", None, WHEN, f"h:{H}"),
        (
            KeyPolicy.LINK_DATE,
            "g1",
            "https://ex.com/a",
            WHEN,
            "d:https://ex.com/a|2025-01-08T10:00:00+00:00",
        ),
        (KeyPolicy.LINK_DATE, "g1", "https://ex.com/a", None, "l:https://ex.com/a"),
        (KeyPolicy.LINK_DATE, None, None, None, f"h:{H}"),
    ],
)
def test_key_for_policy(
    policy: KeyPolicy,
    guid: str | None,
    link: str | None,
    published: datetime | None,
    expected: str,
) -> None:
    key = key_for_policy(policy, guid=guid, link=link, published=published, content_hash=H)
    assert key == expected


def _doc(n: int, *, bad_guids: int = 0, bad_links: int = 0) -> list[tuple[str | None, str | None]]:
    """n entries; the first bad_guids repeat one guid, the first bad_links share one link."""
    return [
        (
            "dup-guid" if i < bad_guids else f"guid-{i}",
            "https://ex.com/" if i < bad_links else f"https://ex.com/{i}",
        )
        for i in range(n)
    ]


POLICY_CASES = [
    # (name, observed, previous, expected)
    ("empty document", [], [], KeyPolicy.GUID),
    ("all unique", _doc(40), [], KeyPolicy.GUID),
    ("2 of 40 repeated guids is 5%, not above", _doc(40, bad_guids=2), [], KeyPolicy.GUID),
    ("3 of 40 is above 5%", _doc(40, bad_guids=3), [], KeyPolicy.LINK),
    ("2 of 10 sharing a guid is above 5%", _doc(10, bad_guids=2), [], KeyPolicy.LINK),
    ("every guid the same", _doc(20, bad_guids=20), [], KeyPolicy.LINK),
    ("no guids at all", [(None, f"https://ex.com/{i}") for i in range(10)], [], KeyPolicy.LINK),
    ("blank guids", [(" ", f"https://ex.com/{i}") for i in range(10)], [], KeyPolicy.LINK),
    (
        "guids and links both repeated",
        _doc(20, bad_guids=20, bad_links=20),
        [],
        KeyPolicy.LINK_DATE,
    ),
    ("guids bad, no links", [("same", None)] * 10, [], KeyPolicy.LINK_DATE),
    (
        "links shared but guids fine: keep guids",
        _doc(20, bad_links=20),
        [],
        KeyPolicy.GUID,
    ),
    (
        "new guids on every fetch",
        [(f"fetch2-{i}", f"https://ex.com/{i}") for i in range(20)],
        [(f"fetch1-{i}", f"https://ex.com/{i}") for i in range(20)],
        KeyPolicy.LINK,
    ),
    (
        "stable guids across fetches",
        _doc(20),
        _doc(20),
        KeyPolicy.GUID,
    ),
    (
        "new entries since the last fetch are not churn",
        _doc(20),
        [(f"old-{i}", f"https://ex.com/old/{i}") for i in range(20)],
        KeyPolicy.GUID,
    ),
]


@pytest.mark.parametrize(
    ("observed", "previous", "expected"),
    [case[1:] for case in POLICY_CASES],
    ids=[case[0] for case in POLICY_CASES],
)
def test_choose_key_policy(
    observed: list[tuple[str | None, str | None]],
    previous: list[tuple[str | None, str | None]],
    expected: KeyPolicy,
) -> None:
    assert choose_key_policy(observed, previous) is expected
