"""The seed data: the outlets OPML and the offline snapshot feeds.

The demo and most ingest tests lean on these files, so a broken or drifting seed
should fail here, with the file named, rather than somewhere downstream.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import feedparser
import lxml.html
import pycountry
import pytest
from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
OPML = SEEDS / "outlets.opml"
SNAPSHOTS = SEEDS / "snapshots"
SHARED_SEED = ROOT / ".." / "shared" / "seeds" / "000_b5996843343eba00.txt"

SEED_TITLE = (
    "Iraqi Prime Minister visits Iran to strengthen regional unity and resist external interference"
)
SEED_LINK = (
    "https://peoplesdispatch.org/2025/01/10/"
    "iraqi-prime-minister-visits-iran-to-strengthen-regional-unity-and-resist-external-interference/"
)
REPUBLISHER = "orinoco-tribune"
SEPARATE_REPORT = "al-jazeera"
HOSTILE = "rnz-pacific"

# Every snapshot item is dated inside this window (inclusive), in UTC.
FIRST_DAY = date(2025, 1, 8)
LAST_DAY = date(2025, 1, 10)

# One folder per inhabited continent (Asia split three ways), plus multinational outlets.
REGION_FOLDERS = (
    "International",
    "Middle East",
    "Africa",
    "Latin America",
    "South Asia",
    "East and South-east Asia",
    "Europe",
    "North America",
    "Oceania",
)


def slug(name: str) -> str:
    """The snapshot file stem for an outlet name (the rule seeds/README.md states).

    Accents are folded first so that "Página/12" gives "pagina-12", not "p-gina-12".
    """
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")


def opml_feeds() -> list[etree._Element]:
    tree = etree.parse(str(OPML))
    return tree.xpath("/opml/body//outline[@xmlUrl]")


def outlets_by_slug() -> dict[str, etree._Element]:
    return {slug(o.get("text")): o for o in opml_feeds()}


def snapshot_paths() -> list[Path]:
    return sorted(SNAPSHOTS.glob("*.xml"))


def parsed(stem: str) -> feedparser.FeedParserDict:
    return feedparser.parse((SNAPSHOTS / f"{stem}.xml").read_bytes())


def html_text(markup: str) -> str:
    if not markup.strip():
        return ""
    return lxml.html.fragment_fromstring(markup, create_parent="div").text_content()


def entry_texts(entry: feedparser.FeedParserDict) -> Iterator[str]:
    yield entry.get("title", "")
    yield html_text(entry.get("summary", ""))
    for content in entry.get("content", []):
        yield html_text(content.value)


def words(text: str) -> list[str]:
    # Curly and straight apostrophes must compare equal, or a copied sentence with
    # its quotes retyped would slip through.
    return re.findall(r"\w+(?:'\w+)*", text.replace("’", "'").lower())


# --- slug rule -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Peoples Dispatch", "peoples-dispatch"),
        ("Al Jazeera", "al-jazeera"),
        ("Mail & Guardian", "mail-guardian"),
        ("Página/12", "pagina-12"),
        ("El País América", "el-pais-america"),
        ("  RNZ  Pacific ", "rnz-pacific"),
    ],
)
def test_slug_rule(name: str, expected: str) -> None:
    assert slug(name) == expected


# --- OPML ------------------------------------------------------------------------


def test_opml_is_opml_2_with_enough_feeds() -> None:
    root = etree.parse(str(OPML)).getroot()
    assert root.tag == "opml"
    assert root.get("version") == "2.0"
    assert len(opml_feeds()) >= 18


@pytest.mark.parametrize("region", REGION_FOLDERS)
def test_opml_has_region_folder_with_feeds(region: str) -> None:
    tree = etree.parse(str(OPML))
    folders = tree.xpath("/opml/body/outline[@text=$r]", r=region)
    assert len(folders) == 1, f"expected one top-level folder {region!r}"
    assert folders[0].xpath("outline[@xmlUrl]"), f"folder {region!r} has no feeds"


def test_opml_feed_outlines_are_complete() -> None:
    for outline in opml_feeds():
        name = outline.get("text")
        assert name, "a feed outline without text"
        assert outline.get("title") == name
        assert outline.get("type") == "rss", name
        for attr in ("xmlUrl", "htmlUrl"):
            url = urlsplit(outline.get(attr, ""))
            assert url.scheme == "https" and url.netloc, f"{name}: bad {attr}"
        country = outline.get("country", "")
        assert pycountry.countries.get(alpha_2=country) is not None, f"{name}: {country!r}"
        primary = outline.get("language", "").split("-")[0]
        assert pycountry.languages.get(alpha_2=primary) is not None, f"{name}: language"


def test_opml_names_and_feed_urls_are_unique() -> None:
    feeds = opml_feeds()
    assert len({o.get("xmlUrl") for o in feeds}) == len(feeds)
    assert len({slug(o.get("text")) for o in feeds}) == len(feeds)


def test_opml_has_non_english_feeds() -> None:
    languages = {o.get("language").split("-")[0] for o in opml_feeds()}
    non_english = languages - {"en"}
    assert len(non_english) >= 3, non_english


# --- snapshots -------------------------------------------------------------------


@pytest.mark.parametrize("path", snapshot_paths(), ids=lambda p: p.stem)
def test_snapshot_parses_cleanly(path: Path) -> None:
    feed = feedparser.parse(path.read_bytes())
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert 4 <= len(feed.entries) <= 8
    ids = [e.id for e in feed.entries]
    assert len(set(ids)) == len(ids), "duplicate guid/id"
    for entry in feed.entries:
        assert entry.title and entry.summary, entry.id
        assert urlsplit(entry.link).scheme == "https", entry.id
        day = datetime(*entry.published_parsed[:6], tzinfo=UTC).date()
        assert FIRST_DAY <= day <= LAST_DAY, entry.id
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", entry.summary.strip()) if s]
        assert 2 <= len(sentences) <= 5, entry.id


@pytest.mark.parametrize("path", snapshot_paths(), ids=lambda p: p.stem)
def test_snapshot_belongs_to_an_opml_outlet_on_its_domain(path: Path) -> None:
    outlets = outlets_by_slug()
    assert path.stem in outlets, f"{path.name} matches no OPML outlet"
    outlet = outlets[path.stem]
    feed = feedparser.parse(path.read_bytes())
    declared = feed.feed.get("language", "")
    assert declared.split("-")[0] == outlet.get("language"), path.name
    home = urlsplit(outlet.get("htmlUrl")).netloc.removeprefix("www.")
    for entry in feed.entries:
        assert urlsplit(entry.link).netloc.removeprefix("www.") == home, entry.link


def test_snapshots_cover_both_formats_and_seven_outlets() -> None:
    versions = {feedparser.parse(p.read_bytes()).version for p in snapshot_paths()}
    assert {"rss20", "atom10"} <= versions
    assert len(snapshot_paths()) == 7


def test_full_bodies_are_article_length() -> None:
    bodies = [
        words(html_text(c.value))
        for p in snapshot_paths()
        for e in feedparser.parse(p.read_bytes()).entries
        for c in e.get("content", [])
    ]
    assert len(bodies) >= 5
    # The republished copy carries its own header and share footer on top of the text.
    assert all(150 <= len(b) <= 450 for b in bodies), [len(b) for b in bodies]


def test_a_snapshot_is_in_spanish() -> None:
    feed = parsed("pagina-12")
    assert feed.feed.language.startswith("es")
    assert any("ó" in e.title or "ñ" in e.title for e in feed.entries)


def test_a_snapshot_is_in_a_non_latin_script() -> None:
    feed = parsed("bbc-arabic")
    assert feed.feed.language == "ar"
    for entry in feed.entries:
        letters = [c for c in entry.title if c.isalpha()]
        arabic = [c for c in letters if unicodedata.name(c, "").startswith("ARABIC")]
        assert len(arabic) > 0.9 * len(letters), entry.title


# --- the seed story, its republication, a separate report, the hostile item --------


def seed_entry() -> feedparser.FeedParserDict:
    matches = [e for e in parsed("peoples-dispatch").entries if e.link == SEED_LINK]
    assert len(matches) == 1
    return matches[0]


def test_seed_story_is_in_peoples_dispatch() -> None:
    entry = seed_entry()
    assert entry.title == SEED_TITLE
    assert entry.id == SEED_LINK
    assert entry.published_parsed[:3] == (2025, 1, 10)
    body = " ".join(entry_texts(entry))
    for actor in ("Iraq", "Iran", "al-Sudani", "Pezeshkian", "Tehran", "Baghdad"):
        assert actor in body
    assert "joint economic zone" in body


def test_seed_story_is_republished_under_another_url() -> None:
    original = seed_entry()
    copies = [e for e in parsed(REPUBLISHER).entries if e.title == SEED_TITLE]
    assert len(copies) == 1
    copy = copies[0]
    assert urlsplit(copy.link).netloc != urlsplit(SEED_LINK).netloc
    assert copy.id not in (original.id, SEED_LINK)
    copy_html = copy.content[0].value
    assert "Originally published by" in html_text(copy_html)
    assert "Share this" in html_text(copy_html)
    # The article text itself is unchanged: every paragraph of the original is in the copy.
    for paragraph in lxml.html.fragments_fromstring(original.content[0].value):
        assert paragraph.text_content() in html_text(copy_html)


def test_a_separate_report_on_the_same_visit_is_a_different_story() -> None:
    reports = [
        e
        for e in parsed(SEPARATE_REPORT).entries
        if "Iraq" in e.title and "economic zone" in " ".join(entry_texts(e))
    ]
    assert len(reports) == 1
    report = reports[0]
    assert report.title != SEED_TITLE
    seed_words, report_words = set(words(seed_entry().summary)), set(words(report.summary))
    assert len(seed_words & report_words) < 0.5 * len(report_words)


def test_hostile_item_is_escaped_text_with_tracking_parameters() -> None:
    tree = etree.parse(str(SNAPSHOTS / f"{HOSTILE}.xml"))
    items = tree.xpath("//item[contains(title, '<script>')]")
    assert len(items) == 1
    item = items[0]
    title = item.find("title")
    assert "<script>alert(1)</script>" in title.text
    assert len(title) == 0, "the script must be text, not an XML element"
    query = parse_qs(urlsplit(item.findtext("link")).query)
    assert {"utm_source", "utm_medium", "fbclid"} <= set(query)


# --- the seed article's sentences are not copied -------------------------------------


@pytest.mark.shared
def test_no_sentence_of_the_shared_seed_is_copied() -> None:
    if not SHARED_SEED.is_file():
        pytest.skip("../shared is not present (it is in CI)")
    lines = SHARED_SEED.read_text(encoding="utf-8").splitlines()
    # Line 1 is the headline, which the snapshots carry on purpose: a title is a fact
    # the de-duplicator matches on, not prose we wrote.
    body = "\n".join(lines[1:])
    sentences = [
        " ".join(w)
        for chunk in re.split(r"(?<=[.!?”\"])\s+|\n+", body)
        if len(w := words(chunk)) >= 8
    ]
    assert len(sentences) > 20, "the seed file did not split into sentences"
    for path in snapshot_paths():
        text = " ".join(
            " ".join(words(t))
            for e in feedparser.parse(path.read_bytes()).entries
            for t in entry_texts(e)
        )
        haystack = f" {text} "
        copied = [s for s in sentences if f" {s} " in haystack]
        assert not copied, f"{path.name} copies the seed: {copied[0]!r}"


@pytest.mark.shared
def test_no_ten_word_run_of_the_shared_seed_is_copied() -> None:
    # Stricter than whole sentences: catches a sentence copied with one word changed.
    # Ten words is long enough that names and stock phrases ("the wars in Gaza and
    # Lebanon") do not trip it; the longest shared run when this was written was 7.
    if not SHARED_SEED.is_file():
        pytest.skip("../shared is not present (it is in CI)")
    seed = words("\n".join(SHARED_SEED.read_text(encoding="utf-8").splitlines()[1:]))
    runs = {tuple(seed[i : i + 10]) for i in range(len(seed) - 9)}
    for path in snapshot_paths():
        for entry in feedparser.parse(path.read_bytes()).entries:
            text = words(" ".join(entry_texts(entry)))
            shared = runs & {tuple(text[i : i + 10]) for i in range(len(text) - 9)}
            assert not shared, f"{path.name} {entry.id}: {' '.join(min(shared))!r}"
