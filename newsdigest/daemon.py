"""`newsdigest run`: the long-running service.

APScheduler (3.x) runs the periodic jobs; the schedule of each feed stays in the feeds
table, so a tick only *claims* what is due:

- fetch tick: claim due feeds in batches (leases; SKIP LOCKED on PostgreSQL), fetch them,
  store, repeat while due feeds remain and no stop was asked;
- digest tick: send the digests whose time has come (the delivery ledger decides who
  sends what, across daemons);
- full-text backlog, and a daily prune.

Signals: SIGTERM/SIGINT stop claiming, let in-flight work finish within the shutdown
timeout, release the leases of what did not finish, and exit 0. SIGHUP reloads the
configuration (a broken file is refused with a log line and the old one stays).
On SQLite only one daemon may run per database file (a lock file beside it).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import multiprocessing
import os
import secrets
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import text
from sqlalchemy.engine import make_url

from ingest import store
from ingest.pipeline import FeedOutcome, ParsePool
from ingest.types import FeedRef
from newsdigest.app import App
from newsdigest.config import Config, load_config
from newsdigest.errors import ConfigError, NewsdigestError
from newsdigest.heartbeat import heartbeat
from newsdigest.metrics import Metrics

log = logging.getLogger("newsdigest.daemon")


class DaemonError(NewsdigestError):
    """The daemon cannot start."""


def default_owner() -> str:
    """A name unique to this process, written on the leases it holds."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@contextlib.contextmanager
def single_daemon_lock(database_url: str) -> Iterator[None]:
    """On SQLite, refuse a second daemon on the same database file."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        yield
        return
    path = Path(f"{url.database}.daemon.lock")
    handle = path.open("a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise DaemonError(
                f"another newsdigest daemon ({holder}) already runs on {url.database}; "
                "SQLite allows one daemon per database file (use PostgreSQL for several)"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        yield
    finally:
        handle.close()  # closing releases the lock


@dataclass
class _Health:
    scheduler_running: bool = False
    last_fetch_round: datetime | None = None


class Daemon:
    """The scheduler, its jobs and the optional HTTP endpoint, around one App."""

    def __init__(
        self,
        config: Config,
        *,
        config_path: Path | None = None,
        http: str | None = None,
        owner: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.http = http or config.daemon.http
        self.owner = owner or default_owner()
        self.clock = clock
        self.metrics = Metrics()
        self.health = _Health()
        self.stopping = threading.Event()
        self.app = App.open(config, clock=clock)
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(4)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
            timezone=UTC,
        )
        self._server: ThreadingHTTPServer | None = None
        self.unfinished = False
        #: Parse workers kept for the daemon's life (see ingest.pipeline.ParsePool).
        self._pool: ParsePool | None = None

    # ------------------------------------------------------------ jobs

    def _schedule_jobs(self) -> None:
        d = self.config.daemon
        hour, minute = (int(part) for part in d.prune_at.split(":"))
        jobs: list[tuple[str, Callable[[], None], Any]] = [
            ("fetch", self.fetch_tick, IntervalTrigger(seconds=d.fetch_tick_seconds)),
            ("digest", self.digest_tick, IntervalTrigger(seconds=d.digest_tick_seconds)),
            ("fulltext", self.fulltext_tick, IntervalTrigger(seconds=d.fulltext_tick_seconds)),
            ("prune", self.prune_tick, CronTrigger(hour=hour, minute=minute, timezone=UTC)),
        ]
        for job_id, func, trigger in jobs:
            # Explicit ids and replace_existing: a reload reschedules, never duplicates.
            self.scheduler.add_job(
                self._guarded(job_id, func),
                trigger,
                id=job_id,
                replace_existing=True,
                next_run_time=datetime.now(UTC) if job_id in ("fetch", "digest") else None,
            )

    def _guarded(self, job_id: str, func: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            if self.stopping.is_set():
                return
            self.metrics.ticks.labels(job=job_id).inc()
            try:
                func()
            except Exception:  # a failing tick is logged; the next one tries again
                self.metrics.tick_errors.labels(job=job_id).inc()
                log.exception("%s tick failed", job_id, extra={"job": job_id})

        return run

    def fetch_tick(self) -> None:
        """Claim due feeds in batches and fetch them, until none is due or a stop is asked.

        One round streams the batches: the next batch is claimed while the current one is
        still being fetched (when half a batch, or the fetch concurrency, is left to
        fetch), so the fetch window stays full and the slowest feed of a batch does not
        hold up the next claim. A stop ends the claiming; what is in hand is finished.
        """
        d = self.config.daemon
        pipeline = self.app.pipeline(pool=self._parse_pool())
        lease = timedelta(seconds=d.lease_seconds)
        refill_below = max(d.claim_batch // 2, self.config.fetch.concurrency)

        def claim() -> list[FeedRef]:
            if self.stopping.is_set():
                return []
            now = self.clock()
            with self.app.session() as session, session.begin():
                claimed = store.claim_due_feeds(
                    session, owner=self.owner, now=now, lease=lease, limit=d.claim_batch
                )
            self.metrics.leases.inc(len(claimed))
            for c in claimed:
                if c.due_at is not None:
                    self.metrics.schedule_lag.observe(max(0.0, (now - c.due_at).total_seconds()))
            return [c.ref for c in claimed]

        def fetched(outcome: FeedOutcome) -> None:
            self.metrics.leases.dec()
            self.metrics.fetch_done(outcome)

        while not self.stopping.is_set():
            self.metrics.leases.set(0)
            first = claim()
            if not first:
                break
            with self._lease_heartbeat(lease):
                report = asyncio.run(
                    pipeline.run(first, on_result=fetched, more=claim, refill_below=refill_below)
                )
            self.metrics.leases.set(0)
            self.health.last_fetch_round = self.clock()
            log.info(
                "fetched %d feeds: %d new articles, %d failed",
                len(report.outcomes),
                report.new_articles,
                len(report.failed),
                extra={"owner": self.owner},
            )
        # Leases of feeds whose fetch never got recorded (cancelled, crashed) go back.
        with self.app.session() as session, session.begin():
            store.release_leases(session, owner=self.owner)

    def _parse_pool(self) -> ParsePool:
        """The kept parse workers, started anew when a reload changed their number."""
        workers = self.app.parse_workers()
        if self._pool is not None and self._pool.workers != workers:
            self._pool.close()
            self._pool = None
        if self._pool is None:
            self._pool = ParsePool(workers)
        return self._pool

    def _has_subscribers(self) -> bool:
        from digest.subscribers import list_subscribers

        with self.app.session() as session:
            return bool(list_subscribers(session, statuses=("active",)))

    @contextlib.contextmanager
    def _lease_heartbeat(self, lease: timedelta) -> Iterator[None]:
        """Renew this daemon's leases every third of a lease while a batch is worked on,
        so a slow batch is not taken over by another daemon while this one still works."""

        def renew() -> None:
            with self.app.session() as session, session.begin():
                store.renew_leases(session, owner=self.owner, now=self.clock(), lease=lease)

        with heartbeat(
            renew,
            every=lease.total_seconds() / 3,
            name="lease-heartbeat",
            failure="could not renew leases",
        ):
            yield

    def digest_tick(self) -> None:
        from newsdigest.send_job import send_digests

        if not self._has_subscribers():
            return

        # A digest whose time passed while the daemon was down goes out at start-up when it
        # is within the catch-up window; later than that it is recorded as missed.
        grace = timedelta(hours=self.config.daemon.catchup_grace_hours)
        report = send_digests(self.app, worker=self.owner, max_lateness=grace)
        for outcome in report.outcomes:
            self.metrics.digests.labels(outcome=outcome.outcome).inc()
            log.info(
                "digest %s: %s %s",
                outcome.outcome,
                outcome.email,
                outcome.detail,
                extra={"subscriber": outcome.email},
            )

    def fulltext_tick(self) -> None:
        report = self.app.fulltext(limit=self.config.fulltext.batch_size)
        if report.outcomes:
            log.info("full text: %d articles processed", len(report.outcomes))

    def prune_tick(self) -> None:
        report = self.app.prune()
        log.info(
            "pruned %d articles first seen before %s",
            report.stats.articles,
            report.cutoff.isoformat(timespec="minutes"),
        )

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        if self._has_subscribers():
            from newsdigest.send_job import DeliverySetupError, delivery_settings

            try:  # refuse now rather than fail every minute (e.g. no secret to sign links)
                delivery_settings(self.config)
            except DeliverySetupError as exc:
                raise DaemonError(f"cannot send digests: {exc}") from None
        self._schedule_jobs()
        self.scheduler.start()
        self.health.scheduler_running = True
        if self.http:
            self._start_http(self.http)
        log.info("newsdigest daemon %s started", self.owner, extra={"owner": self.owner})

    def stop(self) -> None:
        """Stop claiming, let in-flight jobs finish within the timeout, release leases."""
        self.stopping.set()
        timeout = self.config.daemon.shutdown_timeout_seconds
        finisher = threading.Thread(target=self.scheduler.shutdown, kwargs={"wait": True})
        finisher.start()
        finisher.join(timeout)
        self.unfinished = finisher.is_alive()
        if self.unfinished:
            log.warning("in-flight work did not finish within %.0f s; leaving it", timeout)
        self.health.scheduler_running = False
        if self._pool is not None and not self.unfinished:
            self._pool.close()
        with contextlib.suppress(Exception), self.app.session() as session, session.begin():
            released = store.release_leases(session, owner=self.owner)
            if released:
                log.info("released %d leases", released)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self.app.close()
        log.info("newsdigest daemon %s stopped", self.owner)

    def reload(self) -> None:
        """Re-read the configuration; keep the old one when the new one is broken."""
        if self.config_path is None:
            log.warning("SIGHUP: no config file to reload")
            return
        try:
            new = load_config(self.config_path)
        except ConfigError as exc:
            log.error("SIGHUP: the new configuration is refused, keeping the old one: %s", exc)
            return
        if new.database != self.config.database:
            log.error("SIGHUP: changing the database needs a restart; keeping the old config")
            return
        self.config = new
        self.app.config = new
        self.app.sync_config_outlets()
        self._schedule_jobs()
        log.info("SIGHUP: configuration reloaded from %s", self.config_path)

    def ready(self) -> tuple[bool, str]:
        if not self.health.scheduler_running:
            return False, "scheduler not running"
        try:
            with self.app.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            return False, f"database unreachable: {type(exc).__name__}"
        return True, "ready"

    def _start_http(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        daemon = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/healthz":
                    self._send(200, b"ok\n", "text/plain")
                elif self.path == "/readyz":
                    ok, why = daemon.ready()
                    self._send(200 if ok else 503, f"{why}\n".encode(), "text/plain")
                elif self.path == "/metrics":
                    self._send(200, daemon.metrics.exposition(), "text/plain; version=0.0.4")
                else:
                    self._send(404, b"not found\n", "text/plain")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((host, int(port)), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        log.info("observability endpoint on http://%s/ (healthz, readyz, metrics)", address)


def run_forever(daemon: Daemon) -> int:
    """Run until SIGTERM/SIGINT; SIGHUP reloads. Returns the exit code."""
    stop = threading.Event()
    hup = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: hup.set())
    with single_daemon_lock(daemon.config.database):
        daemon.start()
        try:
            while not stop.is_set():
                stop.wait(0.5)
                if hup.is_set():
                    hup.clear()
                    daemon.reload()
        finally:
            daemon.stop()
    if daemon.unfinished:
        # A job thread is still inside a fetch or a send: its leases are released and
        # whatever it has not committed is redone by the next round, so leave now rather
        # than wait for it (the interpreter would, for non-daemon threads).
        for child in multiprocessing.active_children():  # parse workers of that batch
            child.kill()
        logging.shutdown()
        os._exit(0)
    return 0
