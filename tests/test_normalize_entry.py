"""normalize_entry: key-ready, storable values from any parsed entry, bad ones included."""

from __future__ import annotations

import hashlib
import random
from dataclasses import FrozenInstanceError
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.normalize import (
    MAX_HTML_CHARS,
    DateFlag,
    KeyPolicy,
    NormalizedEntry,
    NormalizeSettings,
    normalize_entry,
)
from ingest.types import ParsedEntry

FEED = "https://news.example/feeds/world.xml"
NOW = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)
PUBLISHED = datetime(2025, 1, 8, 10, 0, tzinfo=UTC)

BODY = (
    "<p>The Iraqi prime minister arrived in Tehran on Wednesday for talks on trade, "
    "energy and security.</p><p>Both governments said the visit would be followed by "
    'meetings of ministers. <a href="/world/related?utm_source=feed">Related</a></p>'
    '<script>track()</script><img src="https://t.example/p.gif" width="1" height="1">'
)


def _entry(**changes: object) -> ParsedEntry:
    fields: dict[str, object] = {
        "guid": "urn:news-example:1001",
        "link": "/world/iraq-pm-tehran?utm_source=rss&utm_medium=feed",
        "title": "Iraqi PM visits Tehran",
        "summary_html": "<p>The prime minister arrived in Tehran.</p>",
        "content_html": BODY,
        "author": "Desk",
        "published": PUBLISHED,
        "categories": ("World", "Middle East"),
    }
    fields.update(changes)
    return ParsedEntry(**fields)  # type: ignore[arg-type]


def _normalize(entry: ParsedEntry, **kwargs: object) -> NormalizedEntry:
    return normalize_entry(entry, feed_url=FEED, feed_language=None, now=NOW, **kwargs)  # type: ignore[arg-type]


def test_a_good_entry() -> None:
    n = _normalize(_entry())
    assert n.url == "https://news.example/world/iraq-pm-tehran"
    assert n.title == "Iraqi PM visits Tehran"
    assert n.summary_text == "The prime minister arrived in Tehran."
    assert "track()" not in n.content_html and "p.gif" not in n.content_html
    assert 'href="https://news.example/world/related?utm_source=feed"' in n.content_html
    assert n.content_text.startswith("The Iraqi prime minister arrived in Tehran")
    assert "\n\nBoth governments" in n.content_text
    assert n.published == PUBLISHED and n.updated is None and n.date_flags == ()
    assert n.language == "en"
    assert n.categories == ("World", "Middle East")
    assert n.guid == "urn:news-example:1001"
    assert n.key == "g:urn:news-example:1001"
    expected = hashlib.sha256(f"{n.title}\n{n.content_text}".encode()).hexdigest()
    assert n.content_hash == expected
    assert n.notes == ()
    with pytest.raises(FrozenInstanceError):
        n.title = "changed"  # type: ignore[misc]


def test_declared_language_wins_and_feed_language_is_the_fallback() -> None:
    assert _normalize(_entry(language="en-gb")).language == "en-GB"
    result = normalize_entry(_entry(), feed_url=FEED, feed_language="en_US", now=NOW)
    assert result.language == "en-US"


def test_title_is_one_clean_line_and_capped() -> None:
    n = _normalize(_entry(title="Breaking:\r\n  Iraq &amp; Iran <b>sign</b>\x00 deal\t"))
    assert n.title == "Breaking: Iraq & Iran sign deal"
    long = _normalize(_entry(title="word " * 1000))
    assert long.title is not None and len(long.title) <= 1000


def test_no_title_no_link_no_guid() -> None:
    n = _normalize(_entry(title=None, link=None, guid=None))
    assert n.title is None and n.url is None and n.guid is None
    assert n.key == f"h:{n.content_hash}"


def test_unusable_link_is_dropped_with_a_note() -> None:
    n = _normalize(_entry(link="javascript:alert(1)", guid=None))
    assert n.url is None
    assert n.key.startswith("h:")
    assert any("link dropped" in note and "javascript" in note for note in n.notes)


def test_a_10kb_guid_is_replaced_by_its_hash() -> None:
    guid = "x" * 10_240
    n = _normalize(_entry(guid=guid))
    assert n.guid == "sha256:" + hashlib.sha256(guid.encode()).hexdigest()
    assert any("guid was 10240 characters" in note for note in n.notes)


def test_a_link_with_100_tracking_params() -> None:
    junk = "&".join(f"utm_x{i}=1&fbclid={i}" for i in range(50))
    n = _normalize(_entry(link=f"https://news.example/a?id=9&{junk}"))
    assert n.url == "https://news.example/a?id=9"


def test_huge_content_is_capped_with_a_note() -> None:
    n = _normalize(_entry(content_html="<p>start</p>" + "<p>filler</p>" * 100_000))
    assert n.content_text.startswith("start")
    assert len(n.content_html) <= MAX_HTML_CHARS + 100  # closing tags may be added
    assert any("kept the first" in note for note in n.notes)


def test_entry_without_date_gets_first_seen_and_a_flag() -> None:
    seen = NOW - timedelta(hours=3)
    n = _normalize(_entry(published=None), first_seen=seen)
    assert n.published == seen and n.date_flags == (DateFlag.NO_DATE,)


def test_link_date_key_ignores_dates_we_made_up() -> None:
    dated = _normalize(_entry())
    undated = _normalize(_entry(published=None))
    future = _normalize(_entry(published=NOW + timedelta(days=2)))
    assert dated.key_for(KeyPolicy.LINK_DATE).startswith("d:https://news.example/world/")
    assert undated.key_for(KeyPolicy.LINK_DATE) == f"l:{undated.url}"
    assert future.key_for(KeyPolicy.LINK_DATE) == f"l:{future.url}"
    assert dated.key_for(KeyPolicy.LINK) == f"l:{dated.url}"


def test_edited_text_changes_the_hash_but_not_the_key() -> None:
    before = _normalize(_entry())
    after = _normalize(_entry(content_html=BODY.replace("Wednesday", "Thursday")))
    assert before.key == after.key
    assert before.content_hash != after.content_hash


def test_summary_only_entry() -> None:
    n = _normalize(_entry(content_html=None))
    assert n.content_text == "The prime minister arrived in Tehran."
    assert n.summary_text == n.content_text


def test_settings_are_applied() -> None:
    custom = NormalizeSettings(extra_tracking_params=("id",), max_title_chars=10)
    n = _normalize(_entry(link="https://news.example/a?id=9&p=2"), settings=custom)
    assert n.url == "https://news.example/a?p=2"
    assert n.title == "Iraqi PM v"


def test_binary_junk_everywhere_is_stored_safely() -> None:
    rng = random.Random(4)
    junk = bytes(rng.randrange(256) for _ in range(4000)).decode("latin-1") + "\ud800"
    n = _normalize(
        _entry(guid=junk, link=junk, title=junk, summary_html=junk, content_html=junk, author=junk)
    )
    for value in (n.title, n.summary_text, n.content_html, n.content_text, n.author, n.guid):
        if value is not None:
            value.encode("utf-8")
            assert "\x00" not in value


_soup = st.text(alphabet=st.characters(codec="utf-8"), max_size=80) | st.text(
    alphabet=st.sampled_from(list("<>/&;#\"'= abp\n\x00")), max_size=80
)


@settings(max_examples=100, deadline=None)
@given(
    guid=st.none() | _soup,
    link=st.none() | _soup,
    title=st.none() | _soup,
    html=st.none() | _soup,
    published=st.none() | st.datetimes(timezones=st.just(UTC)),
)
def test_never_raises_for_bad_content(
    guid: str | None,
    link: str | None,
    title: str | None,
    html: str | None,
    published: datetime | None,
) -> None:
    entry = ParsedEntry(guid=guid, link=link, title=title, content_html=html, published=published)
    n = _normalize(entry)
    assert n.key
    assert n.published <= NOW + timedelta(minutes=15)
