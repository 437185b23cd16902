"""Prometheus metrics of one daemon, in a registry of its own (no module-level globals).

Usage::

    metrics = Metrics()
    metrics.fetch_done(outcome)            # from the pipeline's on_result
    metrics.exposition()                   # the /metrics body
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from ingest.pipeline import FeedOutcome

# Fetch latency and schedule lag span milliseconds to hours.
_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_LAG_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.fetches = Counter(
            "newsdigest_fetches", "Feed fetches by outcome", ["status"], registry=r
        )
        self.fetch_seconds = Histogram(
            "newsdigest_fetch_seconds",
            "Time to fetch one feed",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.entries = Counter("newsdigest_entries_ingested", "New articles stored", registry=r)
        self.updates = Counter(
            "newsdigest_entries_updated", "Stored articles updated in place", registry=r
        )
        self.duplicates = Counter(
            "newsdigest_duplicates", "New articles that joined an existing story", registry=r
        )
        self.digests = Counter(
            "newsdigest_digests", "Digest deliveries by outcome", ["outcome"], registry=r
        )
        self.schedule_lag = Histogram(
            "newsdigest_schedule_lag_seconds",
            "How late due feeds are fetched (claim time minus due time)",
            buckets=_LAG_BUCKETS,
            registry=r,
        )
        self.leases = Gauge("newsdigest_leases", "Feed leases this daemon holds", registry=r)
        self.ticks = Counter("newsdigest_ticks", "Scheduler job runs", ["job"], registry=r)
        self.tick_errors = Counter(
            "newsdigest_tick_errors", "Scheduler job runs that raised", ["job"], registry=r
        )

    def fetch_done(self, outcome: FeedOutcome) -> None:
        self.fetches.labels(status=outcome.status).inc()
        self.entries.inc(outcome.new)
        self.updates.inc(outcome.updated)
        self.duplicates.inc(outcome.joined)
        if outcome.elapsed_s is not None:
            self.fetch_seconds.observe(outcome.elapsed_s)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
