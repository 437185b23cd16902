"""The archive: index pages, Atom feeds that parse cleanly, and paths that stay inside out/."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import feedparser
import lxml.html
import pytest

from digest.archive import (
    ArchiveEntry,
    ArchiveError,
    check_relative,
    digest_stem,
    entry_for,
    entry_from_json,
    entry_to_json,
    plan_site,
    read_entries,
    rebuild,
    write_file,
)
from digest.render import sample_digest

NOW = datetime(2025, 1, 10, 4, tzinfo=UTC)
HOSTILE = '<script>alert(1)</script> ]]> & "quotes" — العراق'


def entry(email: str, day: int, subject: str = "Middle East: 3", **kw: object) -> ArchiveEntry:
    end = datetime(2025, 1, day, 4, tzinfo=UTC)
    base = ArchiveEntry(
        email=email,
        name="",
        subject=subject,
        preheader="First headline · second",
        stories=3,
        period_start=end - timedelta(days=1),
        period_end=end,
        generated_at=end,
        edition=date(2025, 1, day),
        page=f"digests/2025-01-{day:02d}/{digest_stem(email)}.html",
        sections=(("Middle East", (("Iraqi PM visits Tehran", "https://a.example/1"),)),),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_stems_are_safe_and_unique() -> None:
    stems = {digest_stem(e) for e in ("a+b@x.org", "a_b@x.org", "a/b@x.org", "../@x.org")}
    assert len(stems) == 4
    for stem in stems:
        assert "/" not in stem and not stem.startswith(".")
    assert digest_stem("Me@Example.org") == digest_stem("me@example.org")
    assert digest_stem("قارئ@example.org").endswith(digest_stem("قارئ@example.org")[-8:])


@pytest.mark.parametrize(
    "path", ["", "../x.html", "/etc/passwd", "a/../../b", "a//b", "a\\..\\b", "./a", "a\x00b"]
)
def test_paths_outside_the_archive_are_refused(path: str) -> None:
    with pytest.raises(ArchiveError):
        check_relative(path)


def test_a_symlink_out_of_the_archive_is_refused(tmp_path: Path) -> None:
    root, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    root.mkdir()
    elsewhere.mkdir()
    os.symlink(elsewhere, root / "digests")
    with pytest.raises(ArchiveError, match="outside the archive"):
        write_file(root, "digests/x.html", "no")
    assert list(elsewhere.iterdir()) == []


def test_records_round_trip_and_hostile_records_are_skipped(tmp_path: Path) -> None:
    digest = sample_digest()
    record = entry_for(digest, "digests/2025-01-10/x.html", date(2025, 1, 10))
    assert entry_from_json(entry_to_json(record)) == record
    write_file(tmp_path, "digests/2025-01-10/x.json", entry_to_json(record))
    evil = replace(record, page="../../etc/passwd")
    (tmp_path / "digests/2025-01-10/evil.json").write_text(entry_to_json(evil), encoding="utf-8")
    (tmp_path / "digests/2025-01-10/broken.json").write_text("{", encoding="utf-8")
    entries, problems = read_entries(tmp_path)
    assert entries == [record]
    assert len(problems) == 2
    assert any("evil.json" in p and "not a path inside" in p for p in problems)


def parse(text: str) -> feedparser.FeedParserDict:
    parsed = feedparser.parse(text.encode("utf-8"))
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    return parsed


def test_atom_feeds_parse_cleanly_and_show_the_digests() -> None:
    entries = [
        entry("a@example.org", 9),
        entry("a@example.org", 10, subject=HOSTILE),
        entry("قارئ@example.org", 10, name="قارئ", subject="الشرق الأوسط: قصتان"),
    ]
    files = plan_site(entries, now=NOW)
    everyone = parse(files["feed.atom"])
    assert [e.title for e in everyone.entries] == [
        "الشرق الأوسط: قصتان",
        HOSTILE,
        "Middle East: 3",
    ] or [e.title for e in everyone.entries] == [
        HOSTILE,
        "الشرق الأوسط: قصتان",
        "Middle East: 3",
    ]
    hostile = next(e for e in everyone.entries if e.title == HOSTILE)
    assert hostile.link.endswith(f"digests/2025-01-10/{digest_stem('a@example.org')}.html")
    assert "Iraqi PM visits Tehran" in hostile.content[0].value
    assert len({e.id for e in everyone.entries}) == 3

    mine = parse(files[f"subscribers/{digest_stem('a@example.org')}.atom"])
    assert [e.title for e in mine.entries] == [HOSTILE, "Middle East: 3"]
    assert mine.entries[0].link.startswith("../digests/")
    assert "<script>" not in files["feed.atom"]

    assert len(parse(plan_site(entries, now=NOW, feed_entries=1)["feed.atom"]).entries) == 1


def test_the_same_digest_rebuilt_is_listed_once() -> None:
    first = entry("a@example.org", 10, subject="old")
    again = replace(first, subject="new", generated_at=first.generated_at + timedelta(hours=1))
    feed = parse(plan_site([first, again], now=NOW)["feed.atom"])
    assert [e.title for e in feed.entries] == ["new"]


def test_index_pages_link_every_edition_and_subscriber(tmp_path: Path) -> None:
    for e in (entry("a@example.org", 9), entry("b@example.org", 10, subject=HOSTILE)):
        write_file(tmp_path, e.page, "<p>digest</p>")
        write_file(tmp_path, e.page.replace(".html", ".json"), entry_to_json(e))
    report = rebuild(tmp_path, now=NOW)
    assert report.digests == 2 and report.problems == ()

    def links(path: Path) -> list[Path]:
        doc = lxml.html.fromstring(path.read_bytes())
        return [(path.parent / href).resolve() for href in doc.xpath("//a/@href")]

    index = tmp_path / "index.html"
    targets = links(index)
    assert tmp_path / "digests/2025-01-09/index.html" in targets
    assert tmp_path / f"subscribers/{digest_stem('b@example.org')}.html" in targets
    for page in [
        index,
        *tmp_path.glob("digests/*/index.html"),
        *tmp_path.glob("subscribers/*.html"),
    ]:
        for target in links(page):
            assert target.exists(), f"{page} links to missing {target}"
    edition = (tmp_path / "digests/2025-01-10/index.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;" in edition and "<script>" not in edition
