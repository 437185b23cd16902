"""One fetch round: fetch -> parse -> normalize -> store, for a list of feeds.

The pipeline decides nothing: the fetcher, the parser, the normalizer, the schedule and
the store each do their part, and this module calls them in order. Parsing and
normalizing are CPU work, so they run in a process pool (both cores) while the event loop
keeps fetching; each feed's outcome is stored in one transaction on a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ingest import store
from ingest.errors import FeedParseError
from ingest.fetch import Fetcher, FetchOptions
from ingest.normalize import NormalizedEntry, entry_key, normalize_entry
from ingest.parse import parse_feed
from ingest.records import OutletInfo
from ingest.tagging import Tag, tag_article
from ingest.types import FeedRef, FetchResult, FetchStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PipelineOptions:
    fetch: FetchOptions = field(default_factory=FetchOptions)
    default_interval: timedelta = timedelta(hours=1)
    #: Processes for parsing; 0 parses on a thread of this process.
    parse_workers: int = 0
    #: Below this many feeds a round parses in-process: starting the pool would cost more.
    pool_threshold: int = 20


@dataclass(frozen=True, slots=True)
class FeedOutcome:
    """What happened to one feed in a round, for the summary table."""

    feed_id: int
    url: str
    status: str
    http_status: int | None = None
    new: int = 0
    updated: int = 0
    error: str | None = None


@dataclass(frozen=True, slots=True)
class RoundReport:
    outcomes: tuple[FeedOutcome, ...]

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def failed(self) -> tuple[FeedOutcome, ...]:
        return tuple(o for o in self.outcomes if o.error)

    @property
    def new_articles(self) -> int:
        return sum(o.new for o in self.outcomes)


@dataclass(frozen=True, slots=True)
class PreparedEntry:
    """One entry ready to store: its key in the feed, its normalized values, its tags."""

    key: str
    entry: NormalizedEntry
    tags: tuple[Tag, ...] = ()


@dataclass(frozen=True, slots=True)
class PreparedFeed:
    """A parsed, normalized and tagged feed body, ready to store (made in a worker process)."""

    title: str | None
    entries: tuple[PreparedEntry, ...]
    warning: str | None = None


def prepare(
    body: bytes, headers: dict[str, str], url: str, now: datetime, outlet_country: str | None
) -> PreparedFeed:
    """Parse, normalize and tag one feed body; a pure function of its inputs."""
    parsed = parse_feed(body, headers, url)
    entries = []
    for raw in parsed.entries:
        entry = normalize_entry(raw, feed_url=url, feed_language=parsed.language, now=now)
        tagged = tag_article(
            entry.title,
            entry.summary_text,
            entry.content_text,
            categories=entry.categories,
            outlet_country=outlet_country,
        )
        key = entry_key(entry.guid, entry.url, entry.content_hash)
        entries.append(PreparedEntry(key, entry, tagged.tags))
    return PreparedFeed(title=parsed.title, entries=tuple(entries), warning=parsed.warning)


def _next_due(result: FetchResult, now: datetime, options: PipelineOptions) -> store.FeedHealth:
    interval = options.default_interval
    if result.status == FetchStatus.GONE:
        return store.FeedHealth(next_due_at=None, interval_seconds=None)
    due = now + interval
    if result.retry_after is not None:
        due = max(due, result.retry_after)
    return store.FeedHealth(next_due_at=due, interval_seconds=int(interval.total_seconds()))


class Pipeline:
    """Runs fetch rounds against one database."""

    def __init__(
        self,
        engine: Engine,
        options: PipelineOptions | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.engine = engine
        self.options = options or PipelineOptions()
        self.clock = clock

    def due_feeds(self, *, all_feeds: bool = False) -> list[FeedRef]:
        with Session(self.engine) as session:
            return store.feed_refs(session, now=self.clock(), due_only=not all_feeds)

    async def run(
        self,
        feeds: Sequence[FeedRef],
        *,
        on_result: Callable[[FeedOutcome], None] | None = None,
    ) -> RoundReport:
        """Fetch, parse and store every feed; one feed's failure never stops the others."""
        outlets = await asyncio.to_thread(self._outlets, [f.id for f in feeds])
        executor: Executor | None = None
        if self.options.parse_workers > 0 and len(feeds) >= self.options.pool_threshold:
            executor = ProcessPoolExecutor(max_workers=self.options.parse_workers)
        outcomes: list[FeedOutcome] = []
        pending: set[asyncio.Task[FeedOutcome]] = set()
        try:
            async with Fetcher(self.options.fetch) as fetcher:
                async for result in fetcher.fetch_many(feeds):
                    task = asyncio.create_task(self._handle(result, outlets, executor))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
                    if on_result is not None:
                        task.add_done_callback(lambda t: on_result(t.result()))
                    task.add_done_callback(lambda t: outcomes.append(t.result()))
                if pending:
                    await asyncio.gather(*pending)
        finally:
            if executor is not None:
                executor.shutdown(cancel_futures=True)
        return RoundReport(tuple(sorted(outcomes, key=lambda o: o.feed_id)))

    def _outlets(self, feed_ids: list[int]) -> dict[int, OutletInfo | None]:
        with Session(self.engine) as session:
            return store.feed_outlets(session, feed_ids)

    async def _handle(
        self, result: FetchResult, outlets: dict[int, OutletInfo | None], executor: Executor | None
    ) -> FeedOutcome:
        now = self.clock()
        prepared: PreparedFeed | None = None
        parse_error: str | None = None
        if result.status == FetchStatus.OK and result.body is not None:
            loop = asyncio.get_running_loop()
            try:
                outlet = outlets.get(result.feed.id)
                prepared = await loop.run_in_executor(
                    executor,
                    prepare,
                    result.body,
                    result.headers,
                    result.final_url or result.feed.url,
                    now,
                    outlet.country if outlet else None,
                )
            except FeedParseError as exc:
                parse_error = str(exc)
            except Exception as exc:  # a parser bug must not stop the round
                log.exception("parsing %s failed", result.feed.url)
                parse_error = f"cannot parse: {type(exc).__name__}: {exc}"[:300]
            if prepared is not None and prepared.warning:
                log.info("feed %s parsed with a warning: %s", result.feed.url, prepared.warning)
        return await asyncio.to_thread(
            self._store, result, prepared, parse_error, outlets.get(result.feed.id), now
        )

    def _store(
        self,
        result: FetchResult,
        prepared: PreparedFeed | None,
        parse_error: str | None,
        outlet: OutletInfo | None,
        now: datetime,
    ) -> FeedOutcome:
        stats = store.SaveStats()
        with Session(self.engine) as session, session.begin():
            if prepared is not None:
                stats = store.save_entries(
                    session,
                    feed_id=result.feed.id,
                    outlet_id=outlet.id if outlet else None,
                    entries=[(p.key, p.entry, p.tags) for p in prepared.entries],
                    now=now,
                )
            store.record_fetch(
                session,
                result,
                now=now,
                health=_next_due(result, now, self.options),
                new_entries=stats.new,
                title=prepared.title if prepared else None,
                error=parse_error,
            )
        status = "parse_error" if parse_error else str(result.status)
        return FeedOutcome(
            feed_id=result.feed.id,
            url=result.feed.url,
            status=status,
            http_status=result.http_status,
            new=stats.new,
            updated=stats.updated,
            error=parse_error or result.error,
        )
