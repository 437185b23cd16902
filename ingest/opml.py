"""OPML 2.0 subscription lists, read and written so that a round trip loses nothing.

Each feed outline (one with an ``xmlUrl``) becomes an :class:`OpmlFeed` carrying its
folder path (the titles of the outlines it sits in), its OPML ``category`` attribute,
its title and every other attribute (``country``, ``language``, ``description``...).
:func:`write_opml` nests the feeds back into their folders. Usage::

    feeds = read_opml(path.read_bytes())
    data = write_opml(feeds, title="My feeds")

Reading is defensive: no DTD is loaded, nothing is fetched, and a document that
declares entities is refused (libxml2 expands entities in attribute values even with
``resolve_entities=False``, so "billion laughs" must be stopped before parsing).
Spec: http://opml.org/spec2.opml
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from lxml import etree

from ingest.errors import OpmlError

#: Outline attributes that OpmlFeed holds in named fields; every other one is kept in
#: ``OpmlFeed.attributes``.
_NAMED = frozenset({"text", "title", "xmlUrl", "htmlUrl", "category", "type"})

#: An ``&`` that does not start an entity or character reference. Real exports (13 of
#: the 25 awesome-rss-feeds country files) put raw ``&`` in xmlUrl query strings; escaping
#: it is the one repair that cannot change what any well-formed document means.
_BARE_AMPERSAND = re.compile(rb"&(?!(?:[A-Za-z_][A-Za-z0-9._-]*|#[0-9]+|#x[0-9A-Fa-f]+);)")
_ENTITY_DECLARATION = re.compile(rb"<!ENTITY", re.IGNORECASE)
#: Characters XML 1.0 cannot carry at all, not even escaped.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True, slots=True)
class OpmlFeed:
    """One feed of an OPML file."""

    xml_url: str
    title: str | None = None
    html_url: str | None = None
    #: The folder path: titles of the enclosing outlines, outermost first.
    categories: tuple[str, ...] = ()
    #: The outline's own ``category`` attribute, split at commas; each is usually a
    #: slash path such as ``/country/Australia``.
    tags: tuple[str, ...] = ()
    #: Every other attribute, verbatim (``country``, ``language``, ``description``,
    #: ``type`` when it is not ``rss``; ``text`` when it differs from ``title``).
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SkippedOutline:
    """An outline that was not imported, and why."""

    text: str | None
    categories: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class OpmlDocument:
    """A whole OPML file as read: its title, its feeds, what was skipped or repaired."""

    title: str | None
    feeds: tuple[OpmlFeed, ...]
    skipped: tuple[SkippedOutline, ...] = ()
    #: Repairs made to read the file at all (one line each).
    warnings: tuple[str, ...] = ()


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def _error_line(exc: etree.XMLSyntaxError) -> str:
    # lxml's msg already names line and column ("... line 20, column 27").
    message = (exc.msg or str(exc) or "unknown syntax error").strip()
    return message.splitlines()[0][:200]


def _parse(data: bytes) -> tuple[etree._Element, tuple[str, ...]]:
    if not data.strip():
        raise OpmlError("not an OPML file: it is empty")
    if _ENTITY_DECLARATION.search(data):
        raise OpmlError("refused: the OPML file declares XML entities (entity expansion is unsafe)")
    try:
        return etree.fromstring(data, _parser()), ()
    except etree.XMLSyntaxError as exc:
        first_error = exc
    repaired, count = _BARE_AMPERSAND.subn(b"&amp;", data)
    if count:
        try:
            root = etree.fromstring(repaired, _parser())
        except etree.XMLSyntaxError:
            pass
        else:
            return root, (f"escaped {count} bare '&' character(s) to read the file",)
    raise OpmlError(f"not well-formed XML: {_error_line(first_error)}")


def _local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _value(outline: etree._Element, name: str) -> str | None:
    raw = outline.get(name)
    if raw is None:
        return None
    text = raw.strip()
    return text or None


def _tags(value: str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(t for t in (part.strip() for part in value.split(",")) if t)


def _feed(outline: etree._Element, xml_url: str, folders: tuple[str, ...]) -> OpmlFeed:
    text = _value(outline, "text")
    title = _value(outline, "title") or text
    attributes = {
        str(name): str(value) for name, value in outline.attrib.items() if name not in _NAMED
    }
    kind = outline.get("type")
    if kind is not None and kind != "rss":
        attributes["type"] = kind  # "rss" is what write_opml puts back when absent
    if text is not None and text != title:
        attributes["text"] = text
    return OpmlFeed(
        xml_url=xml_url,
        title=title,
        html_url=_value(outline, "htmlUrl"),
        categories=folders,
        tags=_tags(outline.get("category")),
        attributes=attributes,
    )


def _walk(
    parent: etree._Element,
    folders: tuple[str, ...],
    feeds: list[OpmlFeed],
    skipped: list[SkippedOutline],
) -> None:
    for outline in parent:
        if _local(outline.tag) != "outline":
            continue
        name = _value(outline, "title") or _value(outline, "text")
        children = [c for c in outline if _local(c.tag) == "outline"]
        xml_url = _value(outline, "xmlUrl")
        if xml_url is not None:
            feeds.append(_feed(outline, xml_url, folders))
        elif not children:
            kind = outline.get("type")
            detail = f" (type={kind})" if kind and kind != "rss" else ""
            skipped.append(SkippedOutline(name, folders, f"no xmlUrl{detail}: not a feed"))
        if children:
            # A nameless folder carries no category: its feeds join the enclosing one.
            _walk(outline, (*folders, name) if name else folders, feeds, skipped)


def read_opml_document(data: bytes) -> OpmlDocument:
    """Read an OPML 1.0/2.0 file; raise :class:`OpmlError` (one line) if it is unreadable."""
    root, warnings = _parse(data)
    if _local(root.tag) != "opml":
        raise OpmlError(f"not an OPML file: the root element is <{_local(root.tag)}>, not <opml>")
    head = next((c for c in root if _local(c.tag) == "head"), None)
    body = next((c for c in root if _local(c.tag) == "body"), None)
    if body is None:
        raise OpmlError("not an OPML file: it has no <body>")
    title = None
    if head is not None:
        title_el = next((c for c in head if _local(c.tag) == "title"), None)
        if title_el is not None and title_el.text and title_el.text.strip():
            title = title_el.text.strip()
    feeds: list[OpmlFeed] = []
    skipped: list[SkippedOutline] = []
    _walk(body, (), feeds, skipped)
    return OpmlDocument(title, tuple(feeds), tuple(skipped), warnings)


def read_opml(data: bytes) -> list[OpmlFeed]:
    """The feeds of an OPML file, in document order (see :func:`read_opml_document`)."""
    return list(read_opml_document(data).feeds)


def _xml_text(value: str) -> str:
    return _NOT_XML.sub("", value)


def _set(element: etree._Element, name: str, value: str) -> None:
    try:
        element.set(name, _xml_text(value))
    except ValueError:
        raise OpmlError(f"cannot write attribute {name[:80]!r}: not an XML name") from None


def write_opml(feeds: Iterable[OpmlFeed], title: str | None = None) -> bytes:
    """Serialize feeds as an OPML 2.0 document (UTF-8), nested into their folders.

    Folders appear in the order their first feed does; within a folder, feeds keep
    their order. Characters XML cannot carry (most C0 controls) are dropped.
    """
    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    if title is not None:
        etree.SubElement(head, "title").text = _xml_text(title)
    body = etree.SubElement(root, "body")
    folders: dict[tuple[str, ...], etree._Element] = {(): body}
    for feed in feeds:
        parent = body
        for depth in range(1, len(feed.categories) + 1):
            path = feed.categories[:depth]
            if path not in folders:
                folder = etree.SubElement(parent, "outline")
                _set(folder, "text", path[-1])
                _set(folder, "title", path[-1])
                folders[path] = folder
            parent = folders[path]
        outline = etree.SubElement(parent, "outline")
        _set(outline, "text", feed.attributes.get("text", feed.title or ""))
        if feed.title is not None:
            _set(outline, "title", feed.title)
        _set(outline, "type", feed.attributes.get("type", "rss"))
        _set(outline, "xmlUrl", feed.xml_url)
        if feed.html_url is not None:
            _set(outline, "htmlUrl", feed.html_url)
        if feed.tags:
            _set(outline, "category", ",".join(feed.tags))
        for name, value in feed.attributes.items():
            if name not in _NAMED:
                _set(outline, name, value)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
