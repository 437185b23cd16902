"""The HTTP edge: fetch feed documents politely, within limits, and never raise for one feed.

Usage::

    async with Fetcher(FetchOptions(allow_private_networks=True)) as fetcher:
        async for result in fetcher.fetch_many(feeds):
            ...  # a FetchResult per feed, in completion order

One pooled ``httpx.AsyncClient`` serves the whole run. Redirects are followed by hand, so
that every hop is checked against the private-network rule and a permanent move (301/308
all the way) is reported for the store to record. The body is read as a stream and the
size limit is counted after decompression, so a gzip bomb stops at the limit.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import TracebackType
from urllib.parse import urljoin, urlsplit

import httpx

from ingest.errors import FetchError
from ingest.http_semantics import body_hash, parse_retry_after
from ingest.types import FeedRef, FetchResult, FetchStatus

DEFAULT_USER_AGENT = "newsdigest/0.1 (+https://github.com/newsdigest/newsdigest)"
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
_PERMANENT = {301, 308}
_TEMPORARY = {302, 303, 307}


@dataclass(frozen=True, slots=True)
class FetchOptions:
    """Limits and manners of the fetcher; defaults match config.yaml's."""

    timeout: float = 30.0  # total seconds for one feed, redirects and body included
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    concurrency: int = 100
    per_host: int = 2
    max_body_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    user_agent: str = DEFAULT_USER_AGENT
    allow_private_networks: bool = False


class _TooLarge(Exception):
    pass


def host_key(url: str) -> str:
    """The key the per-host limit is counted under."""
    return (urlsplit(url).hostname or "").lower()


def _refused_address(address: str) -> str | None:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for label, flag in (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
        ("unspecified", ip.is_unspecified),
    ):
        if flag:
            return label
    return None


async def check_public_address(url: str) -> None:
    """Refuse a URL whose host is or resolves to a non-public address (SSRF)."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        raise FetchError(f"no host in URL {url!r}", url)
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise FetchError(f"DNS lookup failed for {host}: {exc.strerror}", url) from None
        addresses = sorted({str(info[4][0]) for info in infos})
    for address in addresses:
        label = _refused_address(address)
        if label:
            raise FetchError(
                f"refused: {host} resolves to {label} address {address} "
                "(set fetch.allow_private_networks: true to allow it)",
                url,
            )


def _describe(exc: BaseException, options: FetchOptions) -> str:
    if isinstance(exc, FetchError):
        return str(exc)
    if isinstance(exc, httpx.ConnectTimeout):
        return f"connect timeout after {options.connect_timeout:g} s"
    if isinstance(exc, httpx.ReadTimeout):
        return f"read timeout: no data for {options.read_timeout:g} s"
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return f"took longer than {options.timeout:g} s in total"
    if isinstance(exc, _TooLarge):
        return f"body larger than {options.max_body_bytes:,} bytes (after decompression)"
    if isinstance(exc, httpx.ConnectError):
        reason = str(exc) or type(exc).__name__
        return f"cannot connect: {reason}"
    if isinstance(exc, httpx.DecodingError):
        return f"cannot decode the response body: {exc}"
    if isinstance(exc, httpx.HTTPError):
        return f"HTTP error: {exc or type(exc).__name__}"
    return f"{type(exc).__name__}: {exc}"


class Fetcher:
    """Fetches feeds with one pooled client; results, never exceptions, per feed."""

    def __init__(self, options: FetchOptions | None = None) -> None:
        self.options = options or FetchOptions()
        self._client: httpx.AsyncClient | None = None
        self._global = asyncio.Semaphore(self.options.concurrency)
        self._per_host: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(self.options.per_host)
        )

    async def __aenter__(self) -> Fetcher:
        o = self.options
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(o.read_timeout, connect=o.connect_timeout),
            limits=httpx.Limits(
                max_connections=o.concurrency, max_keepalive_connections=o.concurrency
            ),
            headers={"User-Agent": o.user_agent, "Accept": ACCEPT},
            follow_redirects=False,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def fetch_many(self, feeds: Iterable[FeedRef]) -> AsyncIterator[FetchResult]:
        """Fetch every feed concurrently within the limits; yield results as they finish."""
        tasks = [asyncio.create_task(self.fetch(feed)) for feed in feeds]
        try:
            for next_done in asyncio.as_completed(tasks):
                yield await next_done
        finally:
            for task in tasks:
                task.cancel()

    async def fetch(self, feed: FeedRef) -> FetchResult:
        """Fetch one feed; every failure becomes a FetchResult with a one-line reason."""
        started = time.monotonic()
        async with self._global, self._per_host[host_key(feed.url)]:
            try:
                async with asyncio.timeout(self.options.timeout):
                    result = await self._fetch(feed)
            except Exception as exc:  # one feed's failure never stops the others
                result = FetchResult(
                    feed=feed, status=FetchStatus.FAILED, error=_describe(exc, self.options)
                )
        elapsed = time.monotonic() - started
        return replace(result, elapsed_s=elapsed)

    async def _fetch(self, feed: FeedRef) -> FetchResult:
        client = self._client
        if client is None:
            raise RuntimeError("use Fetcher as an async context manager")
        headers: dict[str, str] = {}
        if feed.etag:
            headers["If-None-Match"] = feed.etag
        if feed.last_modified:
            headers["If-Modified-Since"] = feed.last_modified
        url = feed.url
        seen = {url}
        permanent = True
        for _hop in range(self.options.max_redirects + 1):
            if urlsplit(url).scheme not in ("http", "https"):
                raise FetchError(f"unsupported URL scheme in {url!r}", url)
            if not self.options.allow_private_networks:
                await check_public_address(url)
            async with client.stream("GET", url, headers=headers) as response:
                status = response.status_code
                if status in _PERMANENT | _TEMPORARY:
                    location = response.headers.get("location")
                    if not location:
                        raise FetchError(f"HTTP {status} redirect without a Location", url)
                    permanent = permanent and status in _PERMANENT
                    url = urljoin(url, location.strip())
                    if url in seen:
                        raise FetchError(f"redirect loop at {url}", feed.url)
                    seen.add(url)
                    continue
                return await self._finish(feed, response, url, permanent and url != feed.url)
        raise FetchError(f"more than {self.options.max_redirects} redirects", feed.url)

    async def _finish(
        self, feed: FeedRef, response: httpx.Response, url: str, moved: bool
    ) -> FetchResult:
        status = response.status_code
        lower = {k.lower(): v for k, v in response.headers.items()}
        common = {
            "feed": feed,
            "http_status": status,
            "final_url": url,
            "permanent_url": url if moved else None,
            "headers": lower,
        }
        now = datetime.now(UTC)
        if status == 304:
            return FetchResult(status=FetchStatus.NOT_MODIFIED, **common)  # type: ignore[arg-type]
        if status == 410:
            return FetchResult(
                status=FetchStatus.GONE,
                error="HTTP 410 Gone: the outlet removed this feed",
                **common,  # type: ignore[arg-type]
            )
        if status in (429, 503):
            retry_at = parse_retry_after(lower.get("retry-after"), now)
            when = f", retry after {retry_at:%Y-%m-%d %H:%M} UTC" if retry_at else ""
            return FetchResult(
                status=FetchStatus.RETRY_LATER,
                error=f"HTTP {status} {response.reason_phrase}{when}",
                retry_after=retry_at,
                **common,  # type: ignore[arg-type]
            )
        if status != 200:
            return FetchResult(
                status=FetchStatus.FAILED,
                error=f"HTTP {status} {response.reason_phrase}".rstrip(),
                **common,  # type: ignore[arg-type]
            )
        body = await self._read_limited(response)
        digest = body_hash(body)
        validators = {
            "etag": lower.get("etag"),
            "last_modified": lower.get("last-modified"),
            "body_hash": digest,
        }
        if feed.body_hash == digest:
            # Neither validator helped, but the bytes are the same: nothing to parse.
            return FetchResult(status=FetchStatus.NOT_MODIFIED, **common, **validators)  # type: ignore[arg-type]
        return FetchResult(status=FetchStatus.OK, body=body, **common, **validators)  # type: ignore[arg-type]

    async def _read_limited(self, response: httpx.Response) -> bytes:
        limit = self.options.max_body_bytes
        declared = response.headers.get("content-length")
        if (
            declared
            and declared.isdigit()
            and "content-encoding" not in response.headers
            and int(declared) > limit
        ):
            raise _TooLarge
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise _TooLarge
            chunks.append(chunk)
        return b"".join(chunks)
