"""Being kind to outlets: one limit per registrable domain, a minimum delay, and slowing down.

Usage::

    gate = DomainGate(per_domain=2, min_delay=0.0, slowed_delay=1.0)
    async with gate.slot("https://feeds.example.com/rss"):   # waits for the domain's turn
        ...                                                  # fetch
    gate.slow_down("https://www.example.com/atom")           # after a 429: the whole outlet

``feeds.example.com`` and ``www.example.com`` are one outlet, so they share one limit: the
key is the registrable domain (the public suffix plus one label), from the public suffix
list bundled with tldextract (never downloaded: the fetcher must work offline and must not
make requests we did not ask for). IP addresses and single-label hosts key by themselves.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit


@lru_cache(maxsize=1)
def _extractor() -> Callable[[str], object]:
    # Imported and built on first use (~0.1 s): a round over IP-addressed hosts never pays it.
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


@lru_cache(maxsize=65536)
def domain_of_host(host: str) -> str:
    """The registrable domain of a host name; an IP address or a bare name is its own key."""
    host = host.strip("[]").rstrip(".").lower()
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if "." not in host:
        return host
    result = _extractor()(host)
    registrable = getattr(result, "top_domain_under_public_suffix", "")
    return str(registrable or host)


def domain_key(url: str) -> str:
    """The key a URL's politeness limit is counted under (see :func:`domain_of_host`)."""
    return domain_of_host(urlsplit(url).hostname or "")


@dataclass
class _Domain:
    semaphore: asyncio.Semaphore
    next_start: float = 0.0
    slowed: bool = False


class DomainGate:
    """Per-domain concurrency and pacing for one fetch round (one event loop)."""

    def __init__(
        self,
        *,
        per_domain: int,
        min_delay: float = 0.0,
        slowed_delay: float = 1.0,
        slowed: Iterable[str] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_domain = per_domain
        self.min_delay = min_delay
        self.slowed_delay = slowed_delay
        self._clock = clock
        self._domains: dict[str, _Domain] = {}
        for key in slowed:
            self._domain(key).slowed = True

    def _domain(self, key: str) -> _Domain:
        domain = self._domains.get(key)
        if domain is None:
            domain = self._domains[key] = _Domain(asyncio.Semaphore(self.per_domain))
        return domain

    def is_slowed(self, url: str) -> bool:
        domain = self._domains.get(domain_key(url))
        return bool(domain and domain.slowed)

    def slow_down(self, url: str) -> None:
        """The outlet asked us to wait (429): its feeds go one at a time, spaced, from now on."""
        self._domain(domain_key(url)).slowed = True

    @asynccontextmanager
    async def slot(self, url: str) -> AsyncIterator[None]:
        """Wait for this URL's domain to have a free slot and its delay to have passed."""
        domain = self._domain(domain_key(url))
        async with domain.semaphore:
            # Request starts on one domain are spaced by the delay (the larger one once the
            # outlet has asked us to slow down), on top of the concurrency limit.
            delay = max(self.min_delay, self.slowed_delay if domain.slowed else 0.0)
            if delay > 0:
                now = self._clock()
                start = max(now, domain.next_start)
                domain.next_start = start + delay  # reserved before awaiting: no race
                if start > now:
                    await asyncio.sleep(start - now)
            yield
