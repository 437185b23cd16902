"""Exact-duplicate fingerprint: the same story text, however an outlet wrapped it."""

from __future__ import annotations

import hashlib

from ingest.dedupe.tokens import content_lines


def text_fingerprint(text: str) -> str:
    """Return a hash of ``text`` that ignores whitespace, case, punctuation and boilerplate.

    Two texts get the same fingerprint when their story lines (see
    ``tokens.content_lines``: NFKC + case-folded tokens, without share links, "Read
    more", "Originally published by ...", copyright and very short lines) are the same
    token sequence. The result is 32 hex characters (blake2b-128); a text with no
    letters or digits at all gets ``""``, which matches nothing.
    """
    return fingerprint_lines(content_lines(text))


def fingerprint_lines(lines: list[list[str]]) -> str:
    """:func:`text_fingerprint` of already computed ``tokens.content_lines``."""
    if not lines:
        return ""
    # Token boundaries matter ("ab c" != "a bc"); line boundaries do not (outlets rewrap).
    canonical = " ".join(" ".join(tokens) for tokens in lines)
    return hashlib.blake2b(canonical.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
