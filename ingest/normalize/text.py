"""Small text cleaners shared by the normalizer: control characters, one-line fields, caps."""

from __future__ import annotations

import re

# C0 controls except TAB and LF, DEL, C1 controls, lone surrogates (they cannot be encoded
# to UTF-8, so a database driver would choke on them) and the two non-characters.
_JUNK = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_NEWLINES = re.compile("\r\n?")
# Either of the above: most text has neither, and one scan that finds nothing is half the
# cost of two (the normalizer scrubs each field, and each HTML text twice).
_JUNK_OR_CR = re.compile("[\r\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def scrub(text: str) -> str:
    """Return ``text`` with CR/CRLF turned into LF and control/junk code points removed.

    Binary junk decoded as text (NUL bytes, lone surrogates) comes out storable.
    """
    if _JUNK_OR_CR.search(text) is None:
        return text
    return _JUNK.sub("", _NEWLINES.sub("\n", text))


def cap(text: str, max_chars: int) -> str:
    """Keep at most ``max_chars`` characters of ``text``, cut at the end."""
    return text if len(text) <= max_chars else text[:max_chars].rstrip()


def one_line(text: str, max_chars: int) -> str:
    """Scrub ``text``, collapse every whitespace run (CR/LF included) to one space, cap it."""
    return cap(" ".join(scrub(text).split()), max_chars)
