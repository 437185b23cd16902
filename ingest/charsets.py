"""Feeds that say they are UTF-8 and are not: find the encoding they really use.

A server that declares UTF-8 (in Content-Type, in the XML declaration, or by declaring
nothing, which for XML means UTF-8) may still send legacy bytes: a site moved to a new
server or CMS, a proxy that adds ``charset=utf-8``. feedparser then falls back to
windows-1252, which is right for Western European text but turns Cyrillic, Greek or
Arabic into mojibake ("Âûáîðû" for "Выборы"); when a feed's server changes like this
between fetches, the garbled text would replace the stored one as an "update".

:func:`recode_to_utf8` decides what the bytes are and hands feedparser a real UTF-8
document: UTF-8 with a few broken bytes stays UTF-8 (the broken ones replaced); anything
else is identified by ``charset-normalizer``, preferring among equally clean readings
the legacy encodings the web uses most (windows-1252 first, as feedparser and WHATWG do).
A document that declares another encoding is left alone: its declaration is all there
is to go by.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_UTF8 = frozenset({"utf-8", "utf8"})
_CHARSET = re.compile(r"""charset\s*=\s*["']?([\w.:-]+)["']?""", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""^(\s*<\?xml[^>]*?encoding\s*=\s*["'])([\w.:-]+)(["'])""")
#: Tie-break among readings charset-normalizer finds equally clean: the Windows code
#: pages and KOI8-R in rough order of how often they are met on the web.
_PREFERRED = (
    "cp1252",
    "cp1250",
    "cp1251",
    "cp1256",
    "cp1253",
    "cp1254",
    "cp1255",
    "cp1257",
    "cp1258",
    "koi8_r",
    "koi8_u",
)
#: UTF-8 whose valid non-ASCII characters outnumber its broken sequences this many times
#: over is UTF-8 with a few bad bytes, not a legacy encoding.
_MOSTLY_UTF8 = 10


def recode_to_utf8(body: bytes, headers: Mapping[str, str]) -> tuple[bytes, dict[str, str]] | None:
    """The body re-encoded as UTF-8 and headers that say so, or None to leave it as is.

    Only a body that claims UTF-8 (or claims nothing) and does not decode as UTF-8 is
    recoded. UTF-16 and UTF-32 (NUL bytes among the first characters) are left to
    feedparser, which reads their byte-order marks.
    """
    if b"\0" in body[:64]:
        return None
    try:
        body.decode("utf-8")
        return None
    except UnicodeDecodeError:
        pass
    content_type = headers.get("content-type", "")
    header = _CHARSET.search(content_type)
    xml = _XML_ENCODING.match(body[:512])
    declared = {header.group(1).lower()} if header else set()
    if xml:
        declared.add(xml.group(2).decode("ascii").lower())
    if declared - _UTF8:
        return None
    recoded = _decode(body).encode("utf-8")
    if xml:
        recoded = _XML_ENCODING.sub(rb"\g<1>utf-8\g<3>", recoded, count=1)
    fixed = dict(headers)
    if header:
        fixed["content-type"] = _CHARSET.sub("charset=utf-8", content_type, count=1)
    return recoded, fixed


def _decode(body: bytes) -> str:
    loose = body.decode("utf-8", errors="replace")
    broken = loose.count("\ufffd")
    valid = sum(1 for char in loose if ord(char) > 127) - broken
    if valid >= _MOSTLY_UTF8 * broken:
        return loose
    # Imported here: only documents that reach this point pay for it.
    from charset_normalizer import from_bytes

    matches = from_bytes(body)
    if not matches:
        return body.decode("cp1252", errors="replace")  # what feedparser would have done
    least = min(match.chaos for match in matches)
    clean = {match.encoding for match in matches if match.chaos <= least}
    for encoding in _PREFERRED:
        if encoding in clean:
            return body.decode(encoding)
    return str(matches[0])  # charset-normalizer's best reading
