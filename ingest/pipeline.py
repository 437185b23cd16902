"""One fetch round: fetch -> parse -> normalize -> store, for a list of feeds.

The pipeline decides nothing: the fetcher, the parser, the normalizer, the schedule and
the store each do their part, and this module calls them in order. Parsing and
normalizing are CPU work, so they run in a process pool (both cores) while the event loop
keeps fetching. One writer stores the outcomes on a worker thread, in batches: whatever
arrived while the previous batch was being written goes into one transaction (a warm round
of 10,000 feeds is a handful of transactions, not 10,000); if a batch fails, its feeds
are stored one by one, so one feed's failure never loses another's data.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from ingest import round_state
from ingest.errors import FeedParseError
from ingest.fetch import Fetcher, FetchOptions
from ingest.politeness import domain_key
from ingest.records import OutletInfo, SaveStats
from ingest.round_state import FetchRecord, ScheduleFacts
from ingest.schedule import ScheduleInput, ScheduleSettings, hints_from, next_due
from ingest.types import FeedRef, FetchResult, FetchStatus, ParsedFeed

# The store (de-duplication, numpy), the parser, the normalizer and the tagger are imported
# where a body has to be parsed or stored: a round of 304s loads none of them, and they
# load while the first responses arrive (see `_WarmUp`).
if TYPE_CHECKING:
    from ingest.dedupe import DedupeCandidate
    from ingest.normalize import NormalizedEntry
    from ingest.search_text import SearchDocument
    from ingest.tagging import Tag, TagRules

log = logging.getLogger(__name__)

#: Seconds to wait before each new attempt at a write transaction whose database
#: connection was lost: about 15 s in all, longer than a PostgreSQL restart takes.
RECONNECT_WAITS: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)


def _connection_lost(exc: DBAPIError) -> bool:
    """Whether ``exc`` means the database went away, not that the statement was wrong.

    Either SQLAlchemy saw the connection die under a statement (it then invalidates the
    pool), or no connection could be made at all (no statement ran: refused, starting
    up, shutting down).
    """
    return exc.connection_invalidated or (
        isinstance(exc, OperationalError) and exc.statement is None
    )


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
    #: A write transaction holds at most this many feeds, and stops growing past this many
    #: entries: few transactions in a warm round, short ones in a cold round.
    batch_feeds: int = 500
    batch_entries: int = 2000
    #: Fetched bodies that may wait for parsing and storing at once; past it, fetching
    #: pauses. A few write batches' worth: the parse workers and the writer stay busy,
    #: and memory stays bounded whatever the round's size.
    max_unstored_bodies: int = 200


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
    #: Title and text folded for the search index (folded here, in the parse worker).
    search: SearchDocument | None = None


@dataclass(frozen=True, slots=True)
class PreparedFeed:
    """A parsed, normalized and tagged feed body, ready to store (made in a worker process)."""

    title: str | None
    entries: tuple[PreparedEntry, ...]
    #: The feed's own polling hints (ttl, sy:update*), as the schedule reads them.
    parsed_hints: ParsedFeed | None = None
    warning: str | None = None
    #: Every item's hash, stored for the next fetch (``ingest.known_items``).
    item_hashes: bytes | None = None


def save_prepared(
    session: Session,
    prepared: PreparedFeed,
    *,
    feed_id: int,
    outlet_id: int | None,
    now: datetime,
) -> SaveStats:
    """Store a prepared feed's entries with the search documents folded for them."""
    return save_prepared_feeds(session, [(prepared, feed_id, outlet_id)], now=now)[0]


def save_prepared_feeds(
    session: Session,
    feeds: Sequence[tuple[PreparedFeed, int, int | None]],
    *,
    now: datetime,
) -> list[SaveStats]:
    """Store prepared feeds' entries, (prepared, feed id, outlet id) each, together
    (``ingest.store.save_feeds``): their new entries are placed in stories at once."""
    from ingest import store  # only a feed with a body needs the store (slow to import)

    return store.save_feeds(
        session,
        [
            store.FeedEntries(
                feed_id,
                outlet_id,
                [(p.key, p.entry, p.tags, p.candidate) for p in prepared.entries],
                [p.search for p in prepared.entries],
            )
            for prepared, feed_id, outlet_id in feeds
        ],
        now=now,
    )


def prepare(
    body: bytes,
    headers: dict[str, str],
    url: str,
    now: datetime,
    outlet_country: str | None,
    rules: TagRules | None = None,
    known_hashes: bytes | None = None,
) -> PreparedFeed:
    """Parse, normalize and tag one feed body; a pure function of its inputs.

    ``known_hashes`` holds the item hashes of the feed's last stored body: those items are
    left out unparsed (``ingest.known_items``), since the store would find them unchanged.
    """
    # Imported here: a round of 304s never needs them (and `fetch` starts faster).
    from ingest.dedupe import DedupeCandidate
    from ingest.known_items import unpack
    from ingest.normalize import entry_key, normalize_entry
    from ingest.parse import parse_feed
    from ingest.search_text import search_document
    from ingest.stories import dedupe_text
    from ingest.tagging import tag_article

    parsed = parse_feed(body, headers, url, unpack(known_hashes))
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
        search = search_document(entry.title, entry.content_text)
        entries.append(PreparedEntry(key, entry, tagged.tags, candidate, search))
    # The schedule needs the feed's hints, not its entries.
    hints_only = replace(parsed, entries=(), item_hashes=None)
    return PreparedFeed(
        title=parsed.title,
        entries=tuple(entries),
        parsed_hints=hints_only,
        warning=parsed.warning,
        item_hashes=parsed.item_hashes,
    )


#: A one-entry feed whose parsing loads everything `prepare` needs (see `_WarmUp`).
_WARM_UP_FEED = (
    b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>w</title>'
    b"<item><guid>w-1</guid><title>Warm-up</title><link>https://warm-up.invalid/1</link>"
    b"<description>Warm-up of the parse worker.</description></item></channel></rss>"
)


def warm_up_worker(rules: TagRules | None) -> None:
    """Load the parser, normalizer, de-duplicator and tagger in this process (a parse
    worker's first task), so that the first real feed does not pay for it."""
    try:
        prepare(
            _WARM_UP_FEED,
            {"content-type": "application/rss+xml"},
            "https://warm-up.invalid/feed",
            datetime.now(UTC),
            None,
            rules,
        )
    except Exception:  # a warm-up must never fail a round; the real parse will report
        log.exception("warming up the parser failed")


class _WarmUp:
    """Loads the parser, the normalizer and the tagger before the first parse of a round.

    This process loads them first (on a thread; once per process, a later round finds them
    loaded), and only then may a body go to the pool (:meth:`parent_warm`). A pool forks
    its workers at its first task (Linux), so they inherit what is loaded instead of each
    spending about a second of CPU loading it again (the language model is 0.6 s of it):
    with two workers, a round of a hundred changed feeds spent more CPU on that than on
    parsing. Each worker then gets a warm-up task of its own, which finds everything
    loaded when it was forked, and loads it where workers are spawned instead.
    """

    def __init__(self, executor: Executor | None, workers: int, rules: TagRules | None) -> None:
        self.executor = executor
        self.workers = workers if executor is not None else 0
        self.rules = rules
        self._parent: asyncio.Task[None] | None = None
        self._workers: list[asyncio.Future[None]] = []

    def start(self) -> None:
        if self._parent is None:
            self._parent = asyncio.get_running_loop().create_task(self._warm())

    async def _warm(self) -> None:
        await asyncio.to_thread(warm_up_worker, self.rules)
        loop = asyncio.get_running_loop()
        try:
            self._workers = [
                loop.run_in_executor(self.executor, warm_up_worker, self.rules)
                for _ in range(self.workers)
            ]
        except BrokenProcessPool:
            # A kept pool whose worker died since the last round: the first parse finds
            # out too and replaces it (`Pipeline._parse`); a warm-up is only a head start.
            log.info("the parse pool is broken; it is replaced at the first parse")

    async def parent_warm(self) -> None:
        """Return once this process is warm (and the workers' warm-ups are queued)."""
        self.start()
        if self._parent is not None:
            await asyncio.shield(self._parent)

    async def finished(self) -> None:
        if self._parent is not None:
            await asyncio.gather(self._parent, return_exceptions=True)
        if self._workers:
            await asyncio.gather(*self._workers, return_exceptions=True)


class ParsePool:
    """Parse workers that outlive a round: the daemon keeps one for its life.

    Starting a worker and loading the parser, the normalizer and the tagger in it costs
    about a second of CPU; a daemon that claims a batch of feeds every few seconds paid it
    for every batch (a new pool per round), which is most of why two daemons on two cores
    fetched no more than one. A pool whose worker died (killed, out of memory) is
    replaced on first use after it broke.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    max_workers=self.workers, initializer=_parse_worker_init
                )
            return self._executor

    def discard(self, executor: Executor) -> None:
        """Drop a broken executor (the next :meth:`executor` call starts a new one)."""
        with self._lock:
            if self._executor is executor:
                self._executor = None
        executor.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(cancel_futures=True)


def _parse_worker_init() -> None:
    """Parse workers take the default signal handling, not the daemon's: forked from a
    process that catches SIGTERM to shut down gracefully, they would otherwise ignore it
    and outlive it. Ctrl-C goes to the parent, which stops them."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def failure_reason(result: FetchResult, parse_error: str | None) -> str | None:
    """Why this fetch failed, or None when it worked (a 304 works)."""
    if parse_error is not None:
        return parse_error
    if result.status in (FetchStatus.OK, FetchStatus.NOT_MODIFIED):
        return None
    return result.error or str(result.status)


def decide_record(
    result: FetchResult,
    prepared: PreparedFeed | None,
    facts: ScheduleFacts,
    error: str | None,
    now: datetime,
    settings: ScheduleSettings,
    *,
    new_entries: int = 0,
    status: str | None = None,
) -> FetchRecord:
    """What to record of this fetch, next due time included (a pure function of the fetch
    and the feed's past)."""
    body = prepared.parsed_hints if prepared else None
    hints = hints_from(body, result.headers, now)
    if body is None:  # no body (a 304, an error): the last body's hints still hold
        hints = replace(
            hints,
            ttl_minutes=facts.ttl_minutes,
            update_period=facts.update_period,
            update_frequency=facts.update_frequency,
        )
    decision = next_due(
        ScheduleInput(
            now=now,
            feed_key=str(result.feed.id),
            hints=hints,
            rhythm=facts.rhythm,
            error_count=facts.error_count + 1 if error is not None else 0,
            retry_after=result.retry_after,
            gone=result.status == FetchStatus.GONE,
        ),
        settings,
    )
    seconds = int(decision.interval.total_seconds()) if decision.interval else None
    return FetchRecord(
        result=result,
        next_due_at=decision.next_due_at,
        interval_seconds=seconds,
        error=error,
        new_entries=new_entries,
        title=prepared.title if prepared else None,
        status=status,
        item_hashes=prepared.item_hashes if prepared else None,
        body_hints=_storable_hints(body) if body is not None else None,
        rhythm=facts.rhythm if facts.rhythm_changed else None,
    )


def _storable_hints(body: ParsedFeed) -> tuple[int | None, str | None, int | None]:
    """The body's hints as the feeds table holds them: a value no column can hold (a ttl of
    10^12 minutes, a 5 KB period) is dropped, not allowed to fail the feed's write."""

    def small(value: int | None) -> int | None:
        return value if value is not None and 0 <= value < 2**31 else None

    period = body.update_period if body.update_period and len(body.update_period) <= 20 else None
    return small(body.ttl_minutes), period, small(body.update_frequency)


class Pipeline:
    """Runs fetch rounds against one database."""

    def __init__(
        self,
        engine: Engine,
        options: PipelineOptions | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        pool: ParsePool | None = None,
    ) -> None:
        self.engine = engine
        self.options = options or PipelineOptions()
        self.clock = clock
        #: Parse workers kept across rounds (the daemon's); None: a pool per round.
        self.pool = pool
        # One writer at a time: SQLite allows no more, and de-duplication must see every
        # article stored before it (two concurrent transactions would miss each other).
        self._write_lock = threading.Lock()

    def due_feeds(self, *, all_feeds: bool = False) -> list[FeedRef]:
        with self.engine.connect() as conn:
            return round_state.feed_refs(conn, now=self.clock(), due_only=not all_feeds)

    async def run(
        self,
        feeds: Sequence[FeedRef],
        *,
        on_result: Callable[[FeedOutcome], None] | None = None,
        more: Callable[[], Sequence[FeedRef]] | None = None,
        refill_below: int = 0,
    ) -> RoundReport:
        """Fetch, parse and store every feed; one feed's failure never stops the others.

        Fetched feeds go to parsing (a process pool) and then to one writer, which stores
        whatever has arrived since its last write in one transaction (see ``_write_batch``).

        ``more`` streams a round: called (on a thread) whenever no more than
        ``refill_below`` of the feeds given so far are still to be fetched, it returns
        the next feeds to fetch in the same round, until it returns none. The daemon
        claims its next batch of due feeds so: the fetch window stays full, and one
        slow feed no longer holds up the next claim as a round per batch did (one event
        loop, HTTP client and writer serve them all).
        """
        outlets, slowed_urls = await asyncio.to_thread(self._round_facts, [f.id for f in feeds])
        slowed = frozenset(domain_key(url) for url in slowed_urls)
        executor: Executor | None = None
        owned = False  # a pool of this round only, shut down at its end
        if self.options.parse_workers > 0 and len(feeds) >= self.options.pool_threshold:
            if self.pool is not None:
                executor = self.pool.executor()
            else:
                executor = ProcessPoolExecutor(
                    max_workers=self.options.parse_workers, initializer=_parse_worker_init
                )
                owned = True
        # Loading the parser, the normalizer and the tagger takes about a second (see
        # `_WarmUp`). A feed never fetched before will have a body: start now, in parallel
        # with the first requests; otherwise at the first body (`_parse`), so a round of
        # 304s loads nothing and starts no worker.
        warm = _WarmUp(executor, self.options.parse_workers, self.options.tag_rules)
        if any(not (f.etag or f.last_modified or f.body_hash) for f in feeds):
            warm.start()
        outcomes: list[FeedOutcome] = []
        ready: asyncio.Queue[_Fetched | None] = asyncio.Queue()
        # Bodies fetched and not yet stored: each holds a place from its arrival until the
        # writer has stored it, and with none free the round stops taking fetch results
        # (and so stops fetching: `Fetcher.fetch_many`). Without it a cold round of 10,000
        # feeds held most of its bodies and parsed entries at once (1.4 GB).
        backlog = asyncio.Semaphore(max(1, self.options.max_unstored_bodies))
        writer = asyncio.create_task(self._writer(ready, outlets, outcomes, on_result, backlog))
        parsing: set[asyncio.Task[None]] = set()
        fetch_options = replace(
            self.options.fetch, slowed_domains=self.options.fetch.slowed_domains | slowed
        )
        # Fetching streams (one per batch of feeds) and the claim of the next batch.
        active: set[asyncio.Task[None]] = set()
        unfetched = len(feeds)
        claiming = False
        exhausted = more is None

        async def take(result: FetchResult) -> None:
            nonlocal unfetched, claiming
            unfetched -= 1
            if not exhausted and not claiming and unfetched <= refill_below:
                claiming = True
                active.add(asyncio.create_task(claim()))
            if result.status == FetchStatus.OK and result.body is not None:
                await _take_place(backlog, writer)
                task = asyncio.create_task(self._parse(result, outlets, executor, ready, warm))
                parsing.add(task)
                task.add_done_callback(parsing.discard)
            else:
                ready.put_nowait(_Fetched(result))

        async def stream(batch: Sequence[FeedRef]) -> None:
            async for result in fetcher.fetch_many(batch):
                await take(result)

        async def claim() -> None:
            nonlocal unfetched, claiming, exhausted
            assert more is not None
            facts: dict[int, OutletInfo | None] = {}
            slowed_now: tuple[str, ...] = ()
            try:
                batch = list(await asyncio.to_thread(more))
                if batch:
                    facts, slowed_now = await asyncio.to_thread(
                        self._round_facts, [f.id for f in batch]
                    )
            except Exception:  # what was claimed so far is still fetched and stored
                log.exception("claiming more feeds failed; finishing those in hand")
                batch = []
            claiming = False
            if not batch:
                exhausted = True
                return
            outlets.update(facts)
            for url in slowed_now:
                fetcher.gate.slow_down(url)
            unfetched += len(batch)
            active.add(asyncio.create_task(stream(batch)))

        try:
            async with Fetcher(fetch_options) as fetcher:
                active.add(asyncio.create_task(stream(feeds)))
                while active:
                    done, _ = await asyncio.wait(active, return_when=asyncio.FIRST_COMPLETED)
                    for task in done:
                        active.discard(task)
                        task.result()  # a stream's own error (the writer's, raised there)
                if parsing:
                    await asyncio.gather(*parsing)
            await warm.finished()
            ready.put_nowait(None)
            await writer
        finally:
            for task in active:
                task.cancel()
            writer.cancel()
            if executor is not None and owned:
                executor.shutdown(cancel_futures=True)
        return RoundReport(tuple(sorted(outcomes, key=lambda o: o.feed_id)))

    def _round_facts(
        self, feed_ids: list[int]
    ) -> tuple[dict[int, OutletInfo | None], tuple[str, ...]]:
        """Each feed's outlet, and the URLs of feeds whose server asked us to wait."""
        with self.engine.connect() as conn:
            facts = round_state.round_facts(conn, feed_ids, now=self.clock())
        return facts.outlets, facts.slowed_urls

    async def _parse(
        self,
        result: FetchResult,
        outlets: dict[int, OutletInfo | None],
        executor: Executor | None,
        ready: asyncio.Queue[_Fetched | None],
        warm: _WarmUp,
    ) -> None:
        now = self.clock()
        prepared: PreparedFeed | None = None
        parse_error: str | None = None
        loop = asyncio.get_running_loop()
        await warm.parent_warm()
        outlet = outlets.get(result.feed.id)
        args = (
            result.body,
            result.headers,
            result.final_url or result.feed.url,
            now,
            outlet.country if outlet else None,
            self.options.tag_rules,
            result.feed.item_hashes,
        )
        kept = self.pool is not None and executor is not None
        # A kept pool may have been replaced since the round began (see below).
        current = self.pool.executor() if kept and self.pool is not None else executor
        try:
            try:
                prepared = await loop.run_in_executor(current, prepare, *args)
            except BrokenProcessPool:
                if not kept or self.pool is None or current is None:
                    raise
                # A worker of the kept pool died (killed, out of memory): not the feed's
                # fault. Parse it once more in a new pool; a second death is reported.
                log.warning("a parse worker died; starting new ones")
                self.pool.discard(current)
                prepared = await loop.run_in_executor(self.pool.executor(), prepare, *args)
        except FeedParseError as exc:
            parse_error = str(exc)
        except Exception as exc:  # a parser bug must not stop the round
            log.exception("parsing %s failed", result.feed.url)
            parse_error = f"cannot parse: {type(exc).__name__}: {exc}"[:300]
        if prepared is not None and prepared.warning:
            log.info("feed %s parsed with a warning: %s", result.feed.url, prepared.warning)
        # The body is parsed: drop it so that a queue of waiting feeds holds no bodies.
        ready.put_nowait(_Fetched(replace(result, body=None), prepared, parse_error, had_body=True))

    async def _writer(
        self,
        ready: asyncio.Queue[_Fetched | None],
        outlets: dict[int, OutletInfo | None],
        outcomes: list[FeedOutcome],
        on_result: Callable[[FeedOutcome], None] | None,
        backlog: asyncio.Semaphore,
    ) -> None:
        """Store what arrives, a batch at a time: everything queued while the last batch
        was being written, up to the batch limits. Batches form by themselves; no timer.
        Each stored body gives its place in the ``backlog`` back."""
        done = False
        while not done:
            first = await ready.get()
            if first is None:
                return
            batch = [first]
            entries = first.entry_count
            while (
                not ready.empty()
                and len(batch) < self.options.batch_feeds
                and entries < self.options.batch_entries
            ):
                item = ready.get_nowait()
                if item is None:
                    done = True
                    break
                batch.append(item)
                entries += item.entry_count
            stored = await asyncio.to_thread(self._store_batch, batch, outlets)
            for item in batch:
                if item.had_body:
                    backlog.release()
            outcomes.extend(stored)
            if on_result is not None:
                for outcome in stored:
                    on_result(outcome)

    def _store_batch(
        self,
        batch: list[_Fetched],
        outlets: dict[int, OutletInfo | None],
        *,
        reconnect_waits: Sequence[float] = RECONNECT_WAITS,
    ) -> list[FeedOutcome]:
        """Store a batch in one transaction; if that fails, each feed in its own, so that one
        feed's failure never loses another's data.

        A lost database connection (a PostgreSQL restart or failover) is not the batch's
        fault: the transaction is run again after each of ``reconnect_waits``. Storing is
        idempotent (entries are keyed by feed and key), so a commit whose answer was lost
        is harmless to repeat. The one-by-one fallback does not wait again, so a database
        that stays down costs one round's bounded wait, not one per feed.
        """
        now = self.clock()
        waits = iter(reconnect_waits)
        while True:
            try:
                with self._write_lock, Session(self.engine) as session, session.begin():
                    return self._write_batch(session, batch, outlets, now)
            except Exception as exc:
                lost = isinstance(exc, DBAPIError) and _connection_lost(exc)
                wait = next(waits, None) if lost else None
                if wait is not None:
                    log.warning(
                        "lost the database connection while storing %d feeds (%s); "
                        "trying again in %.1f s",
                        len(batch),
                        str(getattr(exc, "orig", exc)).strip().split("\n")[0],
                        wait,
                    )
                    time.sleep(wait)
                    continue
                if len(batch) == 1:
                    return [self._store_failed(batch[0], now)]
                log.warning("storing a batch of %d feeds failed; one by one now", len(batch))
                break
        return [self._store_batch([item], outlets, reconnect_waits=())[0] for item in batch]

    def _store_failed(self, item: _Fetched, now: datetime) -> FeedOutcome:
        log.exception("storing feed %s failed", item.result.feed.url)
        reason = "cannot store this feed's entries (see the log); it is retried next round"
        try:  # leave a trace on the feed (`feeds list`, `status`); its validators stay old
            with self._write_lock, Session(self.engine) as session, session.begin():
                conn = session.connection()
                facts = round_state.schedule_facts(conn, [item.result.feed.id], now=now)
                record = decide_record(
                    item.result,
                    None,
                    facts[item.result.feed.id],
                    reason,
                    now,
                    self.options.schedule,
                    status="store_error",
                )
                round_state.record_fetches(conn, [record], now=now)
        except Exception:
            log.warning("could not record the failure of feed %s", item.result.feed.url)
        return FeedOutcome(
            feed_id=item.result.feed.id,
            url=item.result.feed.url,
            status="store_error",
            http_status=item.result.http_status,
            error=reason,
            elapsed_s=item.result.elapsed_s,
        )

    def _write_batch(
        self,
        session: Session,
        batch: list[_Fetched],
        outlets: dict[int, OutletInfo | None],
        now: datetime,
    ) -> list[FeedOutcome]:
        # Fetches without a body (304s, errors: most of a warm round) are recorded before
        # any entry is stored: storing new entries takes the story placement lock, held
        # until commit (``store.lock_story_placement``), and every statement after it
        # keeps another daemon's writer waiting.
        plain = [item for item in batch if item.prepared is None]
        bodies = [item for item in batch if item.prepared is not None]
        outcomes = self._record(session, plain, [_Saved()] * len(plain), now) if plain else []
        if not bodies:
            return outcomes
        stored = save_prepared_feeds(
            session,
            [
                (item.prepared, item.result.feed.id, _outlet_id(outlets, item.result.feed.id))
                for item in bodies
                if item.prepared is not None
            ],
            now=now,
        )
        saved = [_Saved(s.new, s.updated, s.joined) for s in stored]
        # After the entries (flushed): the schedule sees this round's new entries too.
        session.flush()
        return outcomes + self._record(session, bodies, saved, now)

    def _record(
        self, session: Session, batch: list[_Fetched], saved: list[_Saved], now: datetime
    ) -> list[FeedOutcome]:
        """Record what each fetch came to on its feed (next due time included)."""
        conn = session.connection()
        ids = [item.result.feed.id for item in batch]
        # Feeds whose entries changed have their rhythm summed up anew; the rest (304s,
        # most of a round) keep the stored one and read no articles.
        changed = [i for i, stats in zip(ids, saved, strict=True) if stats.new or stats.updated]
        facts = round_state.schedule_facts(conn, ids, now=now, refresh=changed)
        outcomes = []
        records = []
        for item, stats in zip(batch, saved, strict=True):
            result, prepared = item.result, item.prepared
            error = failure_reason(result, item.parse_error)
            records.append(
                decide_record(
                    result,
                    prepared,
                    facts[result.feed.id],
                    error,
                    now,
                    self.options.schedule,
                    new_entries=stats.new,
                )
            )
            outcomes.append(
                FeedOutcome(
                    feed_id=result.feed.id,
                    url=result.feed.url,
                    status="parse_error" if item.parse_error else str(result.status),
                    http_status=result.http_status,
                    new=stats.new,
                    updated=stats.updated,
                    error=error,
                    joined=stats.joined,
                    elapsed_s=result.elapsed_s,
                )
            )
        round_state.record_fetches(conn, records, now=now)
        return outcomes


def _outlet_id(outlets: dict[int, OutletInfo | None], feed_id: int) -> int | None:
    outlet = outlets.get(feed_id)
    return outlet.id if outlet else None


async def _take_place(backlog: asyncio.Semaphore, writer: asyncio.Task[None]) -> None:
    """Wait for a place in the backlog; raise the writer's error if it stopped instead (no
    place would ever come free)."""
    if not backlog.locked():
        await backlog.acquire()
        return
    place = asyncio.ensure_future(backlog.acquire())
    await asyncio.wait({place, writer}, return_when=asyncio.FIRST_COMPLETED)
    if place.done():
        return
    place.cancel()
    writer.result()  # the writer's own error
    raise RuntimeError("the writer stopped before the round's bodies were stored")


@dataclass(frozen=True, slots=True)
class _Saved:
    """How many of a feed's entries were new, updated, or joined a stored story."""

    new: int = 0
    updated: int = 0
    joined: int = 0


@dataclass(frozen=True, slots=True)
class _Fetched:
    """A fetched (and, when it had a body, parsed) feed waiting for the writer."""

    result: FetchResult
    prepared: PreparedFeed | None = None
    parse_error: str | None = None
    #: It came with a body, and holds a place in the round's backlog until stored.
    had_body: bool = False

    @property
    def entry_count(self) -> int:
        return len(self.prepared.entries) if self.prepared else 0
