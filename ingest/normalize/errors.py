"""Errors raised by the normalizer.

Bad *content* never raises (it is cleaned, capped or dropped with a note); these are for
values a caller asked us to interpret and that cannot be, such as a link that is not a
web URL. ``InvalidURLError`` is also a ``ValueError`` so generic callers can catch it.
"""

from __future__ import annotations


class NormalizeError(Exception):
    """Root of the normalizer's errors."""


class InvalidURLError(NormalizeError, ValueError):
    """A string that cannot be turned into an absolute http(s) URL.

    ``url`` holds (the start of) the offending value and ``reason`` says what is wrong
    with it, in words a user can act on.
    """

    #: How much of the offending value the message quotes; a 10 KB junk URL should not
    #: become a 10 KB log line.
    QUOTE_CHARS = 200

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        shown = url if len(url) <= self.QUOTE_CHARS else url[: self.QUOTE_CHARS] + "..."
        super().__init__(f"not a usable web link ({reason}): {shown!r}")
