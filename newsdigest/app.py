"""The composition root: config -> engine -> services. Tests swap a part here.

Usage::

    app = App.open(config)        # migrated database, config outlets followed
    report = app.fetch(all_feeds=True)
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ingest.fetch import FetchOptions
from ingest.pipeline import FeedOutcome, ParsePool, Pipeline, PipelineOptions, RoundReport
from ingest.schedule import ScheduleSettings
from newsdigest.config import Config
from newsdigest.db import open_database

# The store (de-duplication, numpy), the tagger and the digest side are imported where they
# are used: `newsdigest fetch` of feeds that answer 304 needs none of them.
if TYPE_CHECKING:
    from ingest.fulltext import FullTextReport
    from ingest.prune import PruneStats
    from ingest.store import TagToStore, TextToTag
    from ingest.tagging import TagRules


@dataclass(frozen=True, slots=True)
class PruneReport:
    cutoff: datetime
    stats: PruneStats
    tombstones_forgotten: int


def _now() -> datetime:
    return datetime.now(UTC)


def fetch_options(config: Config) -> FetchOptions:
    f = config.fetch
    return FetchOptions(
        timeout=f.timeout,
        connect_timeout=f.connect_timeout,
        read_timeout=f.read_timeout,
        concurrency=f.concurrency,
        per_host=f.per_host,
        max_body_bytes=f.max_body_bytes,
        max_redirects=f.max_redirects,
        user_agent=f.user_agent,
        allow_private_networks=f.allow_private_networks,
        min_delay_ms=f.min_delay_ms,
        max_retry_after=timedelta(hours=f.max_retry_after_hours),
    )


@dataclass
class App:
    config: Config
    engine: Engine
    clock: Callable[[], datetime] = field(default=_now)

    @classmethod
    def open(
        cls,
        config: Config,
        *,
        clock: Callable[[], datetime] = _now,
        sync_subscribers: bool = True,
    ) -> App:
        """Open the database and follow the config's outlets; also bring the subscribers
        table in line with the config, unless ``sync_subscribers`` is False (`fetch` does
        not read subscribers, and the digest side is slow to import: the next command that
        reads them syncs them)."""
        app = cls(config=config, engine=open_database(config.database), clock=clock)
        app.sync_config_outlets()
        if sync_subscribers:
            from newsdigest.digest_job import sync_config_subscribers  # digest loads lazily

            sync_config_subscribers(app)
        return app

    def close(self) -> None:
        self.engine.dispose()

    def session(self) -> Session:
        return Session(self.engine)

    def sync_config_outlets(self) -> None:
        """Follow every feed the config lists (adding is idempotent; nothing is removed)."""
        if not self.config.outlets or self._outlets_in_sync():
            return
        from ingest import store
        from ingest.follow import FeedToFollow, OutletToKeep, follow_feeds

        outlets = {
            o.name: OutletToKeep(o.name, o.homepage, o.country, o.language)
            for o in self.config.outlets
        }
        wanted = [
            FeedToFollow(url, outlets[o.name]) for o in self.config.outlets for url in o.feeds
        ]
        with self.session() as session, session.begin():
            follow_feeds(session, wanted, now=self.clock(), outlets=list(outlets.values()))
            store.set_outlets_full_text(
                session, {outlet.name: outlet.full_text for outlet in self.config.outlets}
            )

    def _outlets_in_sync(self) -> bool:
        """Whether syncing would change nothing: every outlet stored with the config's
        attributes and every feed followed (two small queries; the store, slower to
        import, is needed only when something changed)."""
        from sqlalchemy import select

        from ingest.models import Feed, Outlet

        with self.engine.connect() as conn:
            stored = {
                row.name: row
                for row in conn.execute(
                    select(
                        Outlet.name,
                        Outlet.homepage,
                        Outlet.country,
                        Outlet.language,
                        Outlet.full_text,
                    )
                )
            }
            followed = set(conn.scalars(select(Feed.url)))
        for outlet in self.config.outlets:
            row = stored.get(outlet.name)
            if row is None or bool(row.full_text) != outlet.full_text:
                return False
            for wanted, have in (
                (outlet.homepage, row.homepage),
                (outlet.country, row.country),
                (outlet.language, row.language),
            ):
                if wanted and wanted != have:
                    return False
            if not followed.issuperset(outlet.feeds):
                return False
        return True

    def tag_rules(self) -> TagRules | None:
        """The tagger's rules with the config's additions; None when it adds nothing."""
        t = self.config.tagging
        if not t.topics and not t.region_aliases:
            return None
        from ingest.tagging import TagRules

        return TagRules.build(extra_topics=t.topics, region_aliases=t.region_aliases)

    def retagger(self) -> Callable[[TextToTag], Sequence[TagToStore]]:
        """Tags a stored article's text with this config's rules (retag, full text)."""
        from ingest.tagging import tag_article

        rules = self.tag_rules()

        def retag(t: TextToTag) -> Sequence[TagToStore]:
            return tag_article(
                t.title,
                t.summary,
                t.content,
                categories=t.categories,
                outlet_country=t.outlet_country,
                rules=rules,
            ).tags

        return retag

    def parse_workers(self) -> int:
        """Parse processes: fetch.parse_workers, or one per core."""
        workers = self.config.fetch.parse_workers
        return os.cpu_count() or 1 if workers is None else workers

    def pipeline(self, pool: ParsePool | None = None) -> Pipeline:
        """The fetch pipeline; ``pool``: parse workers kept across rounds (the daemon's)."""
        f = self.config.fetch
        options = PipelineOptions(
            fetch=fetch_options(self.config),
            schedule=ScheduleSettings(
                default_interval=timedelta(minutes=f.default_interval_minutes),
                min_interval=timedelta(minutes=f.min_interval_minutes),
                max_interval=timedelta(minutes=f.max_interval_minutes),
                error_backoff_cap=timedelta(hours=f.max_backoff_hours),
            ),
            tag_rules=self.tag_rules(),
            parse_workers=self.parse_workers(),
        )
        return Pipeline(self.engine, options, clock=self.clock, pool=pool)

    def fetch(
        self,
        *,
        all_feeds: bool = False,
        on_start: Callable[[int], None] | None = None,
        on_result: Callable[[FeedOutcome], None] | None = None,
    ) -> RoundReport:
        pipeline = self.pipeline()
        feeds = pipeline.due_feeds(all_feeds=all_feeds)
        if on_start is not None:
            on_start(len(feeds))
        return asyncio.run(pipeline.run(feeds, on_result=on_result))

    def prune(self, age: timedelta | None = None) -> PruneReport:
        """Remove articles older than ``age`` (default retention.days), in batches."""
        from ingest.prune import PruneStats, expire_tombstones, prune_batch

        retention = self.config.retention
        now = self.clock()
        cutoff = now - (age if age is not None else timedelta(days=retention.days))
        total = PruneStats()
        while True:
            with self.session() as session, session.begin():
                stats = prune_batch(session, cutoff=cutoff, now=now)
            total += stats
            if stats.articles == 0:
                break
        with self.session() as session, session.begin():
            forgotten = expire_tombstones(
                session, before=now - timedelta(days=retention.tombstone_days)
            )
        return PruneReport(cutoff=cutoff, stats=total, tombstones_forgotten=forgotten)

    def fulltext(self, limit: int | None = None) -> FullTextReport:
        """Fetch pending articles' pages and extract their full text."""
        from ingest.fulltext import FullTextOptions, process_backlog

        settings = self.config.fulltext
        return process_backlog(
            self.engine,
            fetch_options=fetch_options(self.config),
            options=FullTextOptions(
                short_summaries=settings.short_summaries,
                max_age=timedelta(hours=settings.max_age_hours),
                batch_size=settings.batch_size,
                max_attempts=settings.max_attempts,
                retry_after=timedelta(minutes=settings.retry_after_minutes),
            ),
            clock=self.clock,
            limit=limit,
            retag=self.retagger(),
        )
