"""One fetch round: fetch -> parse -> normalize -> store, for a list of feeds.

The pipeline decides nothing: the fetcher, the parser, the normalizer, the schedule and
the store each do their part, and this module calls them in order. Parsing and
normalizing are CPU work, so they run in a process pool (both cores) while the event loop
keeps fetching; each feed's outcome is stored in one transaction on a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ingest import store
from ingest.dedupe import DedupeCandidate
from ingest.errors import FeedParseError
from ingest.fetch import Fetcher, FetchOptions
from ingest.normalize import NormalizedEntry, entry_key, normalize_entry
from ingest.parse import parse_feed
from ingest.records import OutletInfo
from ingest.schedule import ScheduleInput, ScheduleSettings, hints_from, next_due
from ingest.stories import dedupe_text
from ingest.tagging import Tag, TagRules, tag_article
from ingest.types import FeedRef, FetchResult, FetchStatus, ParsedFeed

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PipelineOptions:
    fetch: FetchOptions = field(default_factory=FetchOptions)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    #: Processes for parsing; 0 parses on a thread of this process.
    parse_workers: int = 0
    #: Below this many feeds a round parses in-process: starting the pool would cost more.
    pool_threshold: int = 20
    #: The tagger's rules with the config's extra topics and region aliases (None: defaults).
    tag_rules: TagRules | None = None


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
    #: New articles that joined a story already stored.
    joined: int = 0
    #: Seconds the HTTP fetch took.
    elapsed_s: float | None = None


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
    #: Fingerprint and MinHash signature of the text, for cross-feed de-duplication.
    candidate: DedupeCandidate | None = None


@dataclass(frozen=True, slots=True)
class PreparedFeed:
    """A parsed, normalized and tagged feed body, ready to store (made in a worker process)."""

    title: str | None
    entries: tuple[PreparedEntry, ...]
    #: The feed's own polling hints (ttl, sy:update*), as the schedule reads them.
    parsed_hints: ParsedFeed | None = None
    warning: str | None = None


def prepare(
    body: bytes,
    headers: dict[str, str],
    url: str,
    now: datetime,
    outlet_country: str | None,
    rules: TagRules | None = None,
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
            rules=rules,
        )
        key = entry_key(entry.guid, entry.url, entry.content_hash)
        candidate = DedupeCandidate.from_text(entry.url, dedupe_text(entry))
        entries.append(PreparedEntry(key, entry, tagged.tags, candidate))
    hints_only = replace(parsed, entries=())  # the schedule needs the feed's hints, not its entries
    return PreparedFeed(
        title=parsed.title, entries=tuple(entries), parsed_hints=hints_only, warning=parsed.warning
    )


def failure_reason(result: FetchResult, parse_error: str | None) -> str | None:
    """Why this fetch failed, or None when it worked (a 304 works)."""
    if parse_error is not None:
        return parse_error
    if result.status in (FetchStatus.OK, FetchStatus.NOT_MODIFIED):
        return None
    return result.error or str(result.status)


def decide_health(
    result: FetchResult,
    prepared: PreparedFeed | None,
    facts: store.ScheduleFacts,
    failed: bool,
    now: datetime,
    settings: ScheduleSettings,
) -> store.FeedHealth:
    """When the feed is next due, from this fetch and the feed's past (a pure function)."""
    decision = next_due(
        ScheduleInput(
            now=now,
            feed_key=str(result.feed.id),
            hints=hints_from(prepared.parsed_hints if prepared else None, result.headers, now),
            entry_times=facts.entry_times,
            error_count=facts.error_count + 1 if failed else 0,
            retry_after=result.retry_after,
            gone=result.status == FetchStatus.GONE,
        ),
        settings,
    )
    seconds = int(decision.interval.total_seconds()) if decision.interval else None
    return store.FeedHealth(next_due_at=decision.next_due_at, interval_seconds=seconds)


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
        # One writer at a time: SQLite allows no more, and de-duplication must see every
        # article stored before it (two concurrent transactions would miss each other).
        self._write_lock = threading.Lock()

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
                    self.options.tag_rules,
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
        error = failure_reason(result, parse_error)
        with self._write_lock, Session(self.engine) as session, session.begin():
            if prepared is not None:
                stats = store.save_entries(
                    session,
                    feed_id=result.feed.id,
                    outlet_id=outlet.id if outlet else None,
                    entries=[(p.key, p.entry, p.tags, p.candidate) for p in prepared.entries],
                    now=now,
                )
            facts = store.schedule_facts(session, result.feed.id)
            health = decide_health(
                result, prepared, facts, error is not None, now, self.options.schedule
            )
            store.record_fetch(
                session,
                result,
                now=now,
                health=health,
                error=error,
                new_entries=stats.new,
                title=prepared.title if prepared else None,
            )
        status = "parse_error" if parse_error else str(result.status)
        return FeedOutcome(
            feed_id=result.feed.id,
            url=result.feed.url,
            status=status,
            http_status=result.http_status,
            new=stats.new,
            updated=stats.updated,
            error=error,
            joined=stats.joined,
            elapsed_s=result.elapsed_s,
        )
