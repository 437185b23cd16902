"""The HTTP edge: fetch feed documents politely, within limits, and never raise for one feed.

Usage::

    async with Fetcher(FetchOptions(allow_private_networks=True)) as fetcher:
        async for result in fetcher.fetch_many(feeds):
            ...  # a FetchResult per feed, in completion order

One pooled client serves the whole run: an ``aiohttp.ClientSession`` by default, or an
``httpx.AsyncClient`` (``client="httpx"``). httpx's own pool spends most of its time in
pool bookkeeping at 100 concurrent requests (encode/httpx#3215), and even on aiohttp's
transport (httpx-aiohttp) its request and response objects cost about three times the CPU
of aiohttp alone: 0.56 s against 0.19 s per 1,000 conditional GETs on this machine, the
largest cost of a warm round. Both clients sit behind one small interface (``_Response``),
so the rules below are written once. Redirects are followed by hand, so that every hop is
checked against the private-network rule and a permanent move (301/308 all the way) is
reported for the store to record. The body is read as a stream and the size limit is
counted after decompression (with aiohttp, each chunk is inflated at most up to the
limit), so a gzip bomb stops at the limit.

SSRF: with the aiohttp transport, names are resolved by :class:`PublicOnlyResolver` inside
the connection itself, so the address that was checked is the address connected to (a DNS
answer that changes between a check and the connect cannot slip a private address in). IP
literals are checked before the request.

Politeness (``ingest.politeness``): at most ``per_host`` requests at once per registrable
domain, optionally spaced by ``min_delay_ms``; a 429 (or a 503 with Retry-After) slows every
feed of that domain for the rest of the round.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
import zlib
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import httpx

from ingest.errors import FetchError
from ingest.http_semantics import (
    DEFAULT_MAX_RETRY_AFTER,
    body_hash,
    bound_retry_after,
    parse_retry_after,
)
from ingest.politeness import DomainGate, domain_key
from ingest.types import FeedRef, FetchResult, FetchStatus

log = logging.getLogger(__name__)

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
    #: Minimum time between the starts of two requests to one registrable domain.
    min_delay_ms: int = 0
    #: The spacing used instead for a domain that answered 429 (or 503 with Retry-After).
    slowed_delay_ms: int = 1000
    #: Domains (``politeness.domain_key``) slowed from the start: they asked to wait lately.
    slowed_domains: frozenset[str] = field(default_factory=frozenset)
    #: A 429/503's Retry-After is honoured up to this long from now; a longer one is cut
    #: to it (and the feed's last error says so).
    max_retry_after: timedelta = DEFAULT_MAX_RETRY_AFTER
    #: "aiohttp" (the fast one, see the module's doc) or "httpx" (httpx's own pool).
    client: Literal["aiohttp", "httpx"] = "aiohttp"


class _TooLarge(Exception):
    pass


@dataclass(frozen=True, slots=True)
class _Response:
    """What the fetcher reads of a response, whichever client got it."""

    status: int
    reason: str
    #: Lower-cased names; repeated headers joined with ", ".
    headers: dict[str, str]
    #: The body, decompressed.
    chunks: AsyncIterator[bytes]


def _lower_headers(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in items:
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


def _decompressor(encoding: str, url: str) -> Any:
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj()
    raise FetchError(f"unsupported Content-Encoding {encoding!r} (we ask for gzip or deflate)", url)


async def _decoded(
    raw: AsyncIterator[bytes], encoding: str | None, limit: int, url: str
) -> AsyncIterator[bytes]:
    """The body of ``raw`` decompressed, never inflating more than ``limit`` + 1 bytes."""
    encoding = (encoding or "identity").strip().lower()
    if encoding in ("identity", ""):
        async for chunk in raw:
            yield chunk
        return
    inflate = _decompressor(encoding, url)
    first = True
    produced = 0
    async for chunk in raw:
        data = chunk
        while data:
            try:
                out = inflate.decompress(data, max(limit + 1 - produced, 1))
            except zlib.error as exc:
                if first and encoding == "deflate":  # some servers send raw deflate
                    inflate = zlib.decompressobj(-zlib.MAX_WBITS)
                    first = False
                    continue
                raise FetchError(f"cannot decode the response body: {exc}", url) from None
            first = False
            produced += len(out)
            if out:
                yield out
            if produced > limit:
                return  # the caller counts and stops at the limit
            data = inflate.unconsumed_tail
    tail = inflate.flush()
    if tail:
        yield tail


def host_key(url: str) -> str:
    """The key the per-host limit is counted under: the registrable domain."""
    return domain_key(url)


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
        _refuse(host, address, url)


def _refuse(host: str, address: str, url: str) -> None:
    label = _refused_address(address)
    if label:
        raise FetchError(
            f"refused: {host} resolves to {label} address {address} "
            "(set fetch.allow_private_networks: true to allow it)",
            url,
        )


class _RefusedAddress(OSError):
    """Raised inside aiohttp's connector; carries the one-line reason out through it."""


def _public_only_resolver() -> Any:
    """An aiohttp resolver that refuses names with any non-public address (see module doc)."""
    from aiohttp.abc import AbstractResolver, ResolveResult
    from aiohttp.resolver import ThreadedResolver

    class PublicOnlyResolver(AbstractResolver):
        def __init__(self) -> None:
            self._inner = ThreadedResolver()

        async def resolve(
            self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
        ) -> list[ResolveResult]:
            answers = await self._inner.resolve(host, port, family)
            for answer in answers:
                try:
                    _refuse(host, answer["host"], host)
                except FetchError as exc:
                    raise _RefusedAddress(str(exc)) from None
            return answers

        async def close(self) -> None:
            await self._inner.close()

    return PublicOnlyResolver()


def _refusal_in(exc: BaseException) -> str | None:
    seen: BaseException | None = exc
    for _ in range(6):  # the chain is httpx error <- aiohttp error <- our OSError
        if seen is None:
            return None
        if isinstance(seen, _RefusedAddress):
            return str(seen)
        seen = seen.__cause__ or seen.__context__ or getattr(seen, "os_error", None)
    return None


def _is_ip_literal(url: str) -> bool:
    try:
        ipaddress.ip_address(urlsplit(url).hostname or "")
    except ValueError:
        return False
    return True


def _describe_aiohttp(exc: BaseException, options: FetchOptions) -> str:
    import aiohttp

    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return f"connect timeout after {options.connect_timeout:g} s"
    if isinstance(exc, aiohttp.SocketTimeoutError):
        return f"read timeout: no data for {options.read_timeout:g} s"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"DNS lookup failed: {exc.os_error}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect: {exc.os_error}"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return f"the response body was cut off: {exc}"
    return f"HTTP error: {exc or type(exc).__name__}"


def _describe(exc: BaseException, options: FetchOptions) -> str:
    if isinstance(exc, FetchError):
        return str(exc)
    refusal = _refusal_in(exc)
    if refusal:
        return refusal
    if type(exc).__module__.startswith("aiohttp"):
        return _describe_aiohttp(exc, options)
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


#: Feeds in progress at once in :meth:`Fetcher.fetch_many`, per global slot: enough to keep
#: every slot busy while some wait for their domain's turn, few enough to bound memory.
WINDOW_PER_SLOT = 4


def interleave_by_domain(feeds: Iterable[FeedRef]) -> list[FeedRef]:
    """The feeds round-robin over their registrable domains: each domain's first feed (in
    order of the domains' first appearance), then each one's second, and so on."""
    domains: dict[str, int] = {}
    seen: dict[str, int] = {}
    ranked = []
    for position, feed in enumerate(feeds):
        domain = domain_key(feed.url)
        order = domains.setdefault(domain, len(domains))
        rank = seen[domain] = seen.get(domain, -1) + 1
        ranked.append((rank, order, position, feed))
    ranked.sort(key=lambda r: r[:3])
    return [feed for *_, feed in ranked]


class Fetcher:
    """Fetches feeds with one pooled client; results, never exceptions, per feed."""

    def __init__(self, options: FetchOptions | None = None) -> None:
        self.options = options or FetchOptions()
        self._client: httpx.AsyncClient | None = None
        self._session: Any = None  # aiohttp.ClientSession, imported when used
        self._global = asyncio.Semaphore(self.options.concurrency)
        self.gate = DomainGate(
            per_domain=self.options.per_host,
            min_delay=self.options.min_delay_ms / 1000,
            slowed_delay=self.options.slowed_delay_ms / 1000,
            slowed=self.options.slowed_domains,
        )

    async def __aenter__(self) -> Fetcher:
        o = self.options
        if o.client == "aiohttp":
            self._session = self._aiohttp_session()
            return self
        limits = httpx.Limits(
            max_connections=o.concurrency, max_keepalive_connections=o.concurrency
        )
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(o.read_timeout, connect=o.connect_timeout),
            limits=limits,
            headers={"User-Agent": o.user_agent, "Accept": ACCEPT},
            follow_redirects=False,
        )
        return self

    def _aiohttp_session(self) -> Any:
        import aiohttp

        o = self.options
        connector = aiohttp.TCPConnector(
            limit=o.concurrency,
            limit_per_host=0,  # the DomainGate limits per outlet, not per host name
            resolver=None if o.allow_private_networks else _public_only_resolver(),
            # aiohttp's default verified context (the system CA store), built when aiohttp is
            # imported: a second one (httpx.create_ssl_context, certifi) costs ~0.1 s a run.
            ssl=True,
        )
        # aiohttp's own decompression is off (`_decoded` inflates within the size limit);
        # cookies are not kept between feeds.
        return aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=o.connect_timeout, sock_read=o.read_timeout
            ),
            headers={
                "User-Agent": o.user_agent,
                "Accept": ACCEPT,
                "Accept-Encoding": "gzip, deflate",
            },
        )

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    @asynccontextmanager
    async def _open(self, url: str, headers: dict[str, str]) -> AsyncIterator[_Response]:
        """GET ``url`` (no redirect followed) with the run's client."""
        limit = self.options.max_body_bytes
        if self._session is not None:
            async with self._session.get(url, headers=headers, allow_redirects=False) as r:
                lower = _lower_headers(r.headers.items())
                chunks = _decoded(r.content.iter_any(), lower.get("content-encoding"), limit, url)
                yield _Response(r.status, r.reason or "", lower, chunks)
            return
        if self._client is None:
            raise RuntimeError("use Fetcher as an async context manager")
        async with self._client.stream("GET", url, headers=headers) as response:
            yield _Response(
                response.status_code,
                response.reason_phrase,
                _lower_headers(response.headers.items()),
                response.aiter_bytes(),
            )

    async def fetch_many(
        self, feeds: Iterable[FeedRef], *, window: int | None = None
    ) -> AsyncIterator[FetchResult]:
        """Fetch every feed concurrently within the limits; yield results as they finish.

        At most ``window`` feeds (default: four per global slot) are in progress or
        finished but not yet taken at once, and more start only as results are taken: a
        caller that stops taking (its parsers are behind) stops the fetching, so a cold
        round of 10,000 feeds never holds 10,000 bodies. Feeds are taken round-robin over
        their domains, so that a run of one outlet's feeds cannot fill the window while
        the other outlets wait.
        """
        queue = iter(interleave_by_domain(feeds))
        limit = max(1, window or WINDOW_PER_SLOT * self.options.concurrency)
        finished: asyncio.Queue[asyncio.Task[FetchResult]] = asyncio.Queue()
        active: set[asyncio.Task[FetchResult]] = set()

        def top_up() -> None:
            while len(active) < limit:
                feed = next(queue, None)
                if feed is None:
                    return
                task = asyncio.create_task(self.fetch(feed))
                task.add_done_callback(finished.put_nowait)
                active.add(task)

        top_up()
        try:
            while active:
                task = await finished.get()
                active.discard(task)
                top_up()
                yield task.result()
        finally:
            for task in active:
                task.cancel()

    async def fetch(self, feed: FeedRef) -> FetchResult:
        """Fetch one feed; every failure becomes a FetchResult with a one-line reason."""
        started = time.monotonic()
        # The domain's slot first, then a global one: a task waiting for a busy outlet
        # must not hold one of the global slots other outlets could use.
        async with self.gate.slot(feed.url), self._global:
            try:
                async with asyncio.timeout(self.options.timeout):
                    result = await self._fetch(feed)
            except Exception as exc:  # one feed's failure never stops the others
                result = FetchResult(
                    feed=feed, status=FetchStatus.FAILED, error=_describe(exc, self.options)
                )
        if result.status == FetchStatus.RETRY_LATER and (
            result.http_status == 429 or result.retry_after is not None
        ):
            self.gate.slow_down(feed.url)
        elapsed = time.monotonic() - started
        return replace(result, elapsed_s=elapsed)

    async def _fetch(self, feed: FeedRef) -> FetchResult:
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
            if not self.options.allow_private_networks and (
                self.options.client == "httpx" or _is_ip_literal(url)
            ):
                # The aiohttp transport checks names as it connects (PublicOnlyResolver).
                await check_public_address(url)
            async with self._open(url, headers) as response:
                status = response.status
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
        self, feed: FeedRef, response: _Response, url: str, moved: bool
    ) -> FetchResult:
        status = response.status
        lower = response.headers
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
            wait = bound_retry_after(
                parse_retry_after(lower.get("retry-after"), now), now, self.options.max_retry_after
            )
            when = f", retry after {wait.until:%Y-%m-%d %H:%M} UTC" if wait else ""
            if wait is not None and wait.capped:
                hours = self.options.max_retry_after.total_seconds() / 3600
                when += (
                    f" (capped: the server asked for {wait.asked:%Y-%m-%d %H:%M} UTC, beyond "
                    f"fetch.max_retry_after_hours = {hours:g})"
                )
                log.warning("%s: HTTP %d Retry-After%s", feed.url, status, when)
            return FetchResult(
                status=FetchStatus.RETRY_LATER,
                error=f"HTTP {status} {response.reason}{when}",
                retry_after=wait.until if wait else None,
                **common,  # type: ignore[arg-type]
            )
        if status != 200:
            return FetchResult(
                status=FetchStatus.FAILED,
                error=f"HTTP {status} {response.reason}".rstrip(),
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

    async def _read_limited(self, response: _Response) -> bytes:
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
        async for chunk in response.chunks:
            size += len(chunk)
            if size > limit:
                raise _TooLarge
            chunks.append(chunk)
        return b"".join(chunks)
