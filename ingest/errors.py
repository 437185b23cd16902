"""The ingest exception tree.

    IngestError                  anything ingest raises on purpose
    ├── FeedError                one feed could not be fetched or read (carries the URL)
    │   ├── FetchError           network, HTTP status, limits, SSRF refusal
    │   └── FeedParseError       the body is not a feed we can read
    ├── OpmlError                an OPML file is unreadable
    └── StorageError             the store refused an operation
        ├── FeedExistsError
        └── FeedNotFoundError

A feed's expected failure is recorded on the feed and the run goes on; anything else
propagates. Messages are one line a user can act on.
"""

from __future__ import annotations


class IngestError(Exception):
    """Root of the errors ingest raises on purpose."""


class FeedError(IngestError):
    """One feed failed; ``url`` says which."""

    def __init__(self, message: str, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class FetchError(FeedError):
    """The feed could not be fetched: network, HTTP status, a limit, or a refused address."""


class FeedParseError(FeedError):
    """The body was fetched but is not a feed we can read."""


class OpmlError(IngestError):
    """An OPML document could not be read."""


class StorageError(IngestError):
    """The store refused an operation."""


class FeedExistsError(StorageError):
    """A feed with this URL is already followed."""


class FeedNotFoundError(StorageError):
    """No feed has this id or URL."""
