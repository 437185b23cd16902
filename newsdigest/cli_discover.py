"""`feeds add` with a site URL: find the site's feeds before following one.

``newsdigest feeds add https://outlet.example/`` follows a URL whose path says "feed"
(``.xml``, ``.rss``, ``/feed``...) as it is, without a request. Any other URL is fetched:
when it answers with a feed it is followed; otherwise the feeds the page declares, then
the common paths (/feed, /rss, /atom.xml, /feed.json, ...) are tried, and the best one
that answers with a feed is followed (the others are printed). ``--list`` only prints
them; ``--pick N`` follows the Nth of that list instead. A URL that cannot be read now
(down, 404, no DNS) is followed as given, with a note: the fetch rounds retry it and
`feeds list` shows why it fails.
"""

from __future__ import annotations

import asyncio

from newsdigest.cli import err, fail, out


def resolve_feed_url(url: str, *, pick: int | None, list_only: bool) -> str | None:
    """The feed URL to follow for ``url``, or None when only listing (exits on failure)."""
    from ingest.discovery import looks_like_feed_url
    from ingest.errors import FetchError
    from ingest.feed_finder import find_feeds
    from newsdigest.app import fetch_options
    from newsdigest.cli import EXIT_FAILED, _config

    if pick is None and not list_only and looks_like_feed_url(url):
        return url  # no request needed: the fetch rounds will tell if it is not a feed
    options = fetch_options(_config())
    try:
        found = asyncio.run(find_feeds(url, options))
    except FetchError as exc:
        fail(str(exc), EXIT_FAILED)
    if found.unreadable is not None:
        if list_only:
            fail(f"cannot read {url}: {found.unreadable}", EXIT_FAILED)
        # A feed that is down today is still worth following: the rounds retry it.
        err.print(f"note: cannot read {url} now ({found.unreadable}); following it as given")
        return url
    if found.given_is_feed and not list_only:
        return found.feeds[0]
    titles = {link.url: link.title for link in found.declared}
    if list_only or len(found.feeds) > 1:
        out.print(f"feeds found for {found.page_url}:", highlight=False)
        for number, feed in enumerate(found.feeds, start=1):
            title = f"  ({titles[feed]})" if titles.get(feed) else ""
            out.print(f"  {number}. {feed}{title}", highlight=False, markup=False)
    if list_only:
        return None
    if pick is not None:
        if not 1 <= pick <= len(found.feeds):
            fail(f"--pick {pick}: choose 1 to {len(found.feeds)} (see --list)")
        return found.feeds[pick - 1]
    return found.feeds[0]
