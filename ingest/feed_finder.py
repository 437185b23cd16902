"""Find the feeds of a site URL by fetching through the :class:`~ingest.fetch.Fetcher`.

Usage::

    found = asyncio.run(find_feeds("https://outlet.example/", FetchOptions()))
    found.feeds        # verified feed URLs, best first; found.feeds[0] is the one to add

The given URL itself, when it is a feed, is the only answer. Otherwise the page's declared
feeds (``<link rel="alternate">``) and then the common paths are fetched, and only URLs
that answer with a feed document are kept. Every request goes through the Fetcher: the
same time and size limits, politeness and SSRF rule as a fetch round.
"""

from __future__ import annotations

from dataclasses import dataclass

from ingest.discovery import FeedLink, candidate_urls, classify_document, declared_feeds
from ingest.errors import FetchError
from ingest.fetch import Fetcher, FetchOptions
from ingest.types import FeedRef, FetchResult, FetchStatus


@dataclass(frozen=True, slots=True)
class FoundFeeds:
    """What discovery found for a URL."""

    #: The URL asked about, after redirects.
    page_url: str
    #: True when the URL asked about is itself a feed.
    given_is_feed: bool
    #: Feed URLs that answered with a feed document, best first.
    feeds: tuple[str, ...]
    #: What the page declared (verified or not), for the listing.
    declared: tuple[FeedLink, ...] = ()
    #: Set when the URL itself could not be read (down, 404, refused): nothing was checked.
    unreadable: str | None = None


def _is_feed(result: FetchResult) -> bool:
    return (
        result.status == FetchStatus.OK
        and result.body is not None
        and classify_document(result.body, result.headers.get("content-type")) == "feed"
    )


async def find_feeds(url: str, options: FetchOptions) -> FoundFeeds:
    """The feeds of ``url`` (a feed or a site's page).

    A URL that cannot be read comes back with ``unreadable`` set (the caller decides);
    a page with no feed to be found raises FetchError naming the URLs tried.
    """
    async with Fetcher(options) as fetcher:
        page = await fetcher.fetch(FeedRef(id=0, url=url))
        if page.status != FetchStatus.OK or page.body is None:
            reason = page.error or str(page.status)
            return FoundFeeds(page_url=url, given_is_feed=False, feeds=(), unreadable=reason)
        final = page.final_url or url
        if _is_feed(page):
            return FoundFeeds(page_url=final, given_is_feed=True, feeds=(url,))
        kind = classify_document(page.body, page.headers.get("content-type"))
        content_type = page.headers.get("content-type")
        declared = declared_feeds(page.body, final, content_type) if kind == "html" else []
        candidates = candidate_urls(final, declared)
        refs = [FeedRef(id=i, url=u) for i, u in enumerate(candidates)]
        verified: dict[int, str] = {}
        async for result in fetcher.fetch_many(refs):
            if _is_feed(result):
                # The URL asked for, not the redirect target: a temporary redirect may
                # change, and a permanent one is followed by the fetch rounds anyway.
                verified[result.feed.id] = result.feed.url
    if not verified:
        tried = ", ".join(candidates)
        raise FetchError(f"no feed found for {url} (tried {tried})", url)
    return FoundFeeds(
        page_url=final,
        given_is_feed=False,
        feeds=tuple(verified[i] for i in sorted(verified)),
        declared=tuple(declared),
    )
