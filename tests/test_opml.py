"""OPML read/write: folders, category attribute, extra attributes, refusals, round trips."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from ingest.errors import OpmlError
from ingest.opml import (
    OpmlDocument,
    OpmlFeed,
    SkippedOutline,
    read_opml,
    read_opml_document,
    write_opml,
)

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"

NESTED = """<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>Мои ленты</title><dateCreated>Fri, 27 Nov 2026 06:00:00 GMT</dateCreated></head>
  <body>
    <outline type="rss" text="Top level" xmlUrl="https://top.example/rss"/>
    <outline text="Asia" title="Asia">
      <outline text="Western Asia">
        <outline type="rss" text="Al Jazeera" title="Al Jazeera"
                 xmlUrl="https://www.aljazeera.com/xml/rss/all.xml"
                 htmlUrl="https://www.aljazeera.com/" country="QA" language="en"
                 category="/country/Qatar, /topic/politics"/>
        <outline type="rss" text="BBC فارسی" xmlUrl="https://feeds.bbci.co.uk/persian/rss.xml"
                 language="fa"/>
      </outline>
      <outline type="rss" text="日本経済新聞" title="日経" xmlUrl="https://www.nikkei.com/rss"/>
    </outline>
    <outline text="Empty folder"/>
    <outline type="link" text="A web page" url="https://example.org/"/>
    <outline text="" xmlUrl="   "/>
  </body>
</opml>
""".encode()


def test_nested_folders_titles_and_attributes() -> None:
    document = read_opml_document(NESTED)
    assert document.title == "Мои ленты"
    assert document.warnings == ()
    assert document.feeds == (
        OpmlFeed(xml_url="https://top.example/rss", title="Top level"),
        OpmlFeed(
            xml_url="https://www.aljazeera.com/xml/rss/all.xml",
            title="Al Jazeera",
            html_url="https://www.aljazeera.com/",
            categories=("Asia", "Western Asia"),
            tags=("/country/Qatar", "/topic/politics"),
            attributes={"country": "QA", "language": "en"},
        ),
        OpmlFeed(
            xml_url="https://feeds.bbci.co.uk/persian/rss.xml",
            title="BBC فارسی",
            categories=("Asia", "Western Asia"),
            attributes={"language": "fa"},
        ),
        OpmlFeed(
            xml_url="https://www.nikkei.com/rss",
            title="日経",
            categories=("Asia",),
            attributes={"text": "日本経済新聞"},  # text differs from title: kept
        ),
    )


def test_outlines_without_xml_url_are_skipped_with_a_reason() -> None:
    assert read_opml_document(NESTED).skipped == (
        SkippedOutline("Empty folder", (), "no xmlUrl: not a feed"),
        SkippedOutline("A web page", (), "no xmlUrl (type=link): not a feed"),
        SkippedOutline(None, (), "no xmlUrl: not a feed"),
    )


def test_read_opml_is_the_feed_list() -> None:
    assert read_opml(NESTED) == list(read_opml_document(NESTED).feeds)


def test_nested_round_trip_loses_nothing() -> None:
    feeds = read_opml(NESTED)
    written = write_opml(feeds, title="Мои ленты")
    assert read_opml_document(written) == OpmlDocument(
        title="Мои ленты", feeds=tuple(feeds), skipped=(), warnings=()
    )


def test_written_document_shape() -> None:
    feeds = [
        OpmlFeed("https://a.example/rss", "A", categories=("News", "World")),
        OpmlFeed("https://b.example/rss", "B"),
        OpmlFeed("https://c.example/rss", "C", categories=("News",), tags=("/x", "/y")),
        OpmlFeed("https://d.example/rss", "D", categories=("News", "World")),
    ]
    root = etree.fromstring(write_opml(feeds, title="t"))
    assert root.get("version") == "2.0"
    assert root.findtext("head/title") == "t"
    # Folders nest, appear once, in first-use order; feeds keep their order inside them.
    news = root.find("body/outline[@text='News']")
    assert news is not None
    assert [o.get("text") for o in news] == ["World", "C"]
    assert [o.get("xmlUrl") for o in news[0]] == ["https://a.example/rss", "https://d.example/rss"]
    assert news[1].get("category") == "/x,/y"
    assert {o.get("type") for o in root.iter("outline") if o.get("xmlUrl")} == {"rss"}
    assert [o.get("text") for o in root.find("body")] == ["News", "B"]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("outline", "expected"),
    [
        ('text="T"', OpmlFeed("https://x.example/", "T")),
        ('title="T"', OpmlFeed("https://x.example/", "T")),
        ('text="  T  " title="T"', OpmlFeed("https://x.example/", "T")),
        ('text="T" title=""', OpmlFeed("https://x.example/", "T")),
        ('text=""', OpmlFeed("https://x.example/", None)),
        ('text="T" type="RSS"', OpmlFeed("https://x.example/", "T", attributes={"type": "RSS"})),
        ('text="T" type="atom"', OpmlFeed("https://x.example/", "T", attributes={"type": "atom"})),
        ('text="T" category=",, a ,b,"', OpmlFeed("https://x.example/", "T", tags=("a", "b"))),
        (
            'text="T" description="  spaced  "',
            OpmlFeed("https://x.example/", "T", attributes={"description": "  spaced  "}),
        ),
        (
            'xmlns:nd="urn:x" nd:region="Middle East" text="T"',
            OpmlFeed("https://x.example/", "T", attributes={"{urn:x}region": "Middle East"}),
        ),
    ],
)
def test_outline_attributes(outline: str, expected: OpmlFeed) -> None:
    data = f'<opml><body><outline xmlUrl=" https://x.example/ " {outline}/></body></opml>'
    feeds = read_opml(data.encode())
    assert feeds == [expected]
    assert read_opml(write_opml(feeds)) == feeds


def test_a_feed_outline_with_children_and_a_nameless_folder() -> None:
    data = b"""<opml><body>
      <outline text="Parent" xmlUrl="https://p.example/rss">
        <outline text="Child" xmlUrl="https://c.example/rss"/>
      </outline>
      <outline><outline text="Orphan" xmlUrl="https://o.example/rss"/></outline>
    </body></opml>"""
    assert [(f.title, f.categories) for f in read_opml(data)] == [
        ("Parent", ()),
        ("Child", ("Parent",)),
        ("Orphan", ()),
    ]


def test_bare_ampersands_are_repaired_with_a_warning() -> None:
    data = b"""<?xml version="1.0"?><opml version="1.0"><body>
      <outline text="Q &amp; A" xmlUrl="https://x.example/rss?a=1&b=2&amp;c=3&#38;d=4"/>
    </body></opml>"""
    document = read_opml_document(data)
    assert document.feeds[0].xml_url == "https://x.example/rss?a=1&b=2&c=3&d=4"
    assert document.feeds[0].title == "Q & A"
    assert document.warnings == ("escaped 1 bare '&' character(s) to read the file",)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "not an OPML file: it is empty"),
        (b"  \n ", "not an OPML file: it is empty"),
        (b"<opml><body><outline", "not well-formed XML: Couldn't find end of Start Tag"),
        (b'<opml><body><outline text="a "quoted" b"/></body></opml>', "not well-formed XML"),
        (b"<rss version='2.0'><channel/></rss>", "the root element is <rss>, not <opml>"),
        (b"<opml><head/></opml>", "it has no <body>"),
        (b"\x00\x01binary", "not well-formed XML"),
        (b"<html><body>not opml</body></html>", "root element is <html>"),
        (
            b'<!DOCTYPE opml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
            b'<opml><body><outline text="&b;" xmlUrl="https://x/"/></body></opml>',
            "declares XML entities",
        ),
        (
            b'<!DOCTYPE opml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
            b'<opml><body><outline text="&xxe;" xmlUrl="https://x/"/></body></opml>',
            "declares XML entities",
        ),
        (
            b"<opml><body>" + b'<outline text="f">' * 300 + b"</outline>" * 300 + b"</body></opml>",
            "Excessive depth",
        ),
    ],
    ids=[
        "empty",
        "blank",
        "truncated",
        "raw quotes",
        "rss",
        "no body",
        "binary",
        "html",
        "billion laughs",
        "xxe",
        "too deep",
    ],
)
def test_broken_files_raise_one_line_opml_errors(data: bytes, reason: str) -> None:
    with pytest.raises(OpmlError) as caught:
        read_opml_document(data)
    message = str(caught.value)
    assert reason in message
    assert "\n" not in message


def test_an_external_dtd_is_not_fetched() -> None:
    # Nothing listens on the discard port; loading the DTD would fail or hang the test.
    data = b"""<?xml version="1.0"?>
<!DOCTYPE opml SYSTEM "http://127.0.0.1:9/opml.dtd">
<opml><body><outline text="x" xmlUrl="https://x.example/"/></body></opml>"""
    assert [f.xml_url for f in read_opml(data)] == ["https://x.example/"]


def test_writing_drops_characters_xml_cannot_carry() -> None:
    feeds = [OpmlFeed("https://x.example/", "a\x00b\x1bc", attributes={"note": "x\x0cy"})]
    assert read_opml(write_opml(feeds, title="t\x01")) == [
        OpmlFeed("https://x.example/", "abc", attributes={"note": "xy"})
    ]


def test_writing_an_invalid_attribute_name_is_an_opml_error() -> None:
    with pytest.raises(OpmlError, match="not an XML name"):
        write_opml([OpmlFeed("https://x.example/", "T", attributes={"bad name": "v"})])


# --- property: any feed list survives a round trip ------------------------------------

#: Text XML can carry, stripped (reading strips titles and URLs), no lone surrogates.
xml_text = st.text(
    st.characters(
        blacklist_categories=("Cs",),
        blacklist_characters="\x7f",
        min_codepoint=0x20,
    )
    | st.sampled_from("\t\n\r"),
    max_size=30,
)
stripped = xml_text.map(str.strip).filter(bool)
tag = stripped.filter(lambda t: "," not in t)
attribute_names = st.sampled_from(["country", "language", "description", "version", "nd-extra"])
feeds_strategy = st.lists(
    st.builds(
        OpmlFeed,
        xml_url=stripped.map(lambda s: "https://example.org/" + s),
        title=st.none() | stripped,
        html_url=st.none() | stripped,
        categories=st.lists(stripped, max_size=3).map(tuple),
        tags=st.lists(tag, max_size=3).map(tuple),
        attributes=st.dictionaries(attribute_names, xml_text, max_size=3),
    ),
    max_size=12,
)


def _counted(feeds: list[OpmlFeed]) -> Counter[str]:
    return Counter(repr(f) for f in feeds)


@given(feeds=feeds_strategy, title=st.none() | stripped)
def test_round_trip_property(feeds: list[OpmlFeed], title: str | None) -> None:
    written = write_opml(feeds, title=title)
    document = read_opml_document(written)
    # Grouping into folders may reorder feeds across folders; nothing is lost or changed.
    assert _counted(list(document.feeds)) == _counted(feeds)
    assert document.title == title
    assert document.skipped == ()
    # Writing what was read gives the same bytes: the second trip is exact.
    assert write_opml(document.feeds, title=title) == written


# --- the shared corpus ----------------------------------------------------------------


def corpus_files() -> list[Any]:
    root = SHARED / "corpus" / "opml"
    files = sorted(root.rglob("*.opml"))
    if not files:
        return [pytest.param(None, id="absent")]
    return [pytest.param(p, id=str(p.relative_to(root))) for p in files]


@pytest.mark.shared
@pytest.mark.parametrize("path", corpus_files())
def test_corpus_files_read_or_raise_opml_error_and_round_trip(path: Path | None) -> None:
    if path is None:
        pytest.skip("../shared is not present (it is in CI)")
    try:
        document = read_opml_document(path.read_bytes())
    except OpmlError as exc:
        # Only Russia.opml has raw quotes inside an attribute: no safe repair exists.
        assert path.name == "Russia.opml", exc
        assert "line 20" in str(exc)
        return
    assert document.feeds
    assert all(f.xml_url.startswith("http") for f in document.feeds)
    again = read_opml_document(write_opml(document.feeds, document.title))
    assert _counted(list(again.feeds)) == _counted(list(document.feeds))


@pytest.mark.shared
def test_merged_country_file_keeps_folder_and_category() -> None:
    path = SHARED / "corpus" / "opml" / "news-by-country.opml"
    if not path.exists():
        pytest.skip("../shared is not present (it is in CI)")
    feeds = read_opml(path.read_bytes())
    assert len(feeds) == 256
    assert all(f.tags == (f"/country/{f.categories[0]}",) for f in feeds)
    iran = [f for f in feeds if f.categories == ("Iran",)]
    assert iran and all(f.title for f in iran)
