"""Leave out of a feed document the items its last stored body already had.

A feed that changed usually gained one to three entries and still lists the thirty it
listed before. Parsing, normalizing, tagging and fingerprinting those thirty again costs
about a millisecond each, only for the store to find them unchanged. So each stored body
leaves behind the hashes of its items (8 bytes each, ``feeds.item_hashes``), and the next
body is cut down to the items whose hash is new before feedparser sees it: an edited item
hashes differently and is parsed (an update), an unchanged one is not parsed at all.

Cutting is done on the XML tree (lxml, a C parser: about 0.3 ms for a 50 KB feed), never
on bytes, so CDATA, comments and namespaces cannot fool it. Whenever a document is not
plainly cuttable, :func:`split_xml` returns None and the whole document is parsed as
before: a document lxml cannot parse strictly (feedparser's lenient parser may still
recover it), one with a DOCTYPE, one not in UTF-8 or ASCII, or one whose HTTP charset
disagrees with its own. What feedparser reads of the items that remain is what it would
have read of them in the whole document (tests/test_known_items.py holds every corpus
document to that).

An item's hash covers its own markup only. A change in the channel around it (a new
``xml:base`` or language for the whole feed) does not make old items new again; the
body hash and the validators already say whether anything changed at all.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

#: Bytes per item hash. 64 bits: two different items of one feed colliding is a
#: one-in-10^17 event per pair, and costs only that item's update.
HASH_SIZE = 8
#: A feed whose last body had more items than this keeps no hashes (a podcast archive of
#: 5,000 episodes would store 40 KB per fetch for little gain).
MAX_ITEMS = 2_000

# Items by namespace: RSS 0.9x/2.0 (none), RSS 1.0, RSS 0.90, Atom 1.0, Atom 0.3.
_ITEM_TAGS = frozenset(
    {
        "item",
        "{http://purl.org/rss/1.0/}item",
        "{http://my.netscape.com/rdf/simple/0.9/}item",
        "{http://www.w3.org/2005/Atom}entry",
        "{http://purl.org/atom/ns#}entry",
    }
)
_CHANNEL_TAGS = frozenset(
    {
        "channel",
        "{http://purl.org/rss/1.0/}channel",
        "{http://my.netscape.com/rdf/simple/0.9/}channel",
    }
)
_CUTTABLE_ENCODINGS = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
_DECLARATION = re.compile(rb"^(\xef\xbb\xbf)?\s*<\?xml\s")


@dataclass(frozen=True, slots=True)
class ItemSplit:
    """A document cut down to its unseen items."""

    #: The hashes of every item of the whole document, in order (for the next fetch).
    hashes: bytes
    #: The document without the items whose hash was known (the original when none was).
    body: bytes
    #: How many items were left out.
    skipped: int


def pack(hashes: Iterable[bytes]) -> bytes | None:
    """The hashes as one stored value; None when there are none or too many to keep."""
    values = list(hashes)
    if not values or len(values) > MAX_ITEMS:
        return None
    return b"".join(values)


def unpack(blob: bytes | None) -> frozenset[bytes]:
    """The stored value back as a set of hashes (a malformed value: none)."""
    if not blob or len(blob) % HASH_SIZE:
        return frozenset()
    return frozenset(blob[i : i + HASH_SIZE] for i in range(0, len(blob), HASH_SIZE))


def item_hash(markup: bytes) -> bytes:
    return hashlib.blake2b(markup, digest_size=HASH_SIZE).digest()


def _charset(headers: dict[str, str]) -> str | None:
    match = _CHARSET.search(headers.get("content-type", ""))
    return match.group(1).lower() if match else None


def split_xml(body: bytes, headers: dict[str, str], known: frozenset[bytes]) -> ItemSplit | None:
    """Hash every item of an RSS/Atom document and cut out the known ones.

    Returns None when the document is not plainly cuttable (see the module's docstring):
    the caller then parses the whole of it and stores no hashes.
    """
    from lxml import etree  # imported here: a round of 304s never needs it

    charset = _charset(headers)
    if charset is not None and charset not in _CUTTABLE_ENCODINGS:
        return None
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        strip_cdata=False,
        remove_blank_text=False,
        remove_comments=False,
        remove_pis=False,
    )
    try:
        tree = etree.ElementTree(etree.fromstring(body, parser))
    except (etree.XMLSyntaxError, ValueError):
        return None
    info = tree.docinfo
    if info.doctype or (info.encoding or "utf-8").lower() not in _CUTTABLE_ENCODINGS:
        return None
    items = _items(tree.getroot())
    if not items or len(items) > MAX_ITEMS:
        return None
    hashes = [item_hash(etree.tostring(item, with_tail=False)) for item in items]
    drop = [item for item, digest in zip(items, hashes, strict=True) if digest in known]
    if not drop:
        return ItemSplit(b"".join(hashes), body, 0)
    for item in drop:
        parent = item.getparent()
        if parent is not None:
            parent.remove(item)
    # In the document's own encoding, declared as it was: feedparser weighs the HTTP
    # charset against the declaration, and must come to the same answer as for the whole.
    declared = _DECLARATION.match(body) is not None
    reduced = etree.tostring(tree, encoding=info.encoding or "utf-8", xml_declaration=declared)
    return ItemSplit(b"".join(hashes), reduced, len(drop))


def _items(root: Any) -> list[Any]:
    """The feed's items: children of the root (Atom, RSS 1.0) or of its channel (RSS 2.0)."""
    found = []
    for child in root:
        tag = child.tag
        if not isinstance(tag, str):  # comments and processing instructions
            continue
        if tag in _ITEM_TAGS:
            found.append(child)
        elif tag in _CHANNEL_TAGS:
            found.extend(c for c in child if isinstance(c.tag, str) and c.tag in _ITEM_TAGS)
    return found


def json_item_hashes(items: Sequence[Any]) -> list[bytes]:
    """One hash per JSON Feed item: of its canonical JSON (key order does not matter)."""
    return [
        item_hash(
            json.dumps(item, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode(
                "utf-8", "surrogatepass"
            )
        )
        for item in items
    ]
