"""`digest send`: each due subscriber's digest, delivered once, through SMTP or the outbox.

For every active subscriber whose send time has passed, the run works out the period
that ended last (digest/window.py), then:

    claim the ledger row (committed)  ->  compose and render  ->  send  ->  mark sent
                                                                      \\-> retry / failed

Claims made by an earlier run (a due retry, or a dead sender's claim whose lease ran
out) are taken first, oldest period first, and resent with the Message-ID fixed when the
row was made. A temporary failure is retried with backoff: within the run when the next
try is due within ``smtp.retry_wait_seconds``, else by the next run. A permanent refusal
fails the delivery and counts towards the subscriber's ``bounce_limit``.

A subscriber's first digest is the first scheduled send after they subscribed (so adding
someone at 09:00 does not send them the 07:00 digest of the day before).

Usage::

    report = send_digests(app)                       # sender from config.smtp
    report = send_digests(app, email="a@example.org", dry_run=True)
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Literal

from digest import ledger
from digest.addresses import wire_address
from digest.compose import StoryPool
from digest.errors import DigestError
from digest.ledger import Claim, RetryPolicy
from digest.mailer import (
    Pacer,
    PermanentDeliveryError,
    Sender,
    SmtpMailer,
    SmtpOptions,
    SmtpSetupError,
    SmtpUtf8UnsupportedError,
    TemporaryDeliveryError,
)
from digest.outbox import Outbox
from digest.render import Renderer
from digest.subscribers import SubscriberError, SubscriberInfo, get_subscriber, list_subscribers
from digest.types import Digest
from digest.unsubscribe import (
    MIN_SECRET_LENGTH,
    make_token,
    set_list_unsubscribe,
    unsubscribe_mailto,
    unsubscribe_url,
)
from digest.window import Period, Window, period_for, window
from newsdigest.app import App
from newsdigest.config import Config
from newsdigest.digest_job import (
    compose_for,
    delivered_before,
    load_pool,
    prefs_for,
    region_resolver,
)
from newsdigest.errors import NewsdigestError
from newsdigest.heartbeat import heartbeat

log = logging.getLogger(__name__)

SECRET_ENV = "NEWSDIGEST_SECRET"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8080"
_GENERATE = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"

Outcome = Literal["sent", "retry", "failed", "skipped", "missed", "would send", "held", "lost"]


class DeliverySetupError(NewsdigestError):
    """Sending cannot start: no secret, an unusable address, an unreachable outbox."""


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    """Everything the send loop needs from config.yaml and the environment, checked."""

    secret: str
    public_url: str
    from_addr: str
    envelope_from: str
    reply_to: str | None
    list_id: str
    #: Receives "unsubscribe <token>" mails (the mailto: List-Unsubscribe).
    unsubscribe_mailbox: str
    policy: RetryPolicy
    lease: timedelta
    bounce_limit: int
    retry_wait: timedelta
    messages_per_minute: int | None
    #: Set when public_url fell back to the default; the CLI prints it.
    warning: str | None = None


def delivery_secret(config: Config, env: Mapping[str, str]) -> str:
    """The unsubscribe-link secret: config.yaml's ``secret``, else $NEWSDIGEST_SECRET."""
    secret = config.secret or env.get(SECRET_ENV, "")
    if not secret:
        raise DeliverySetupError(
            "no secret to sign unsubscribe links with: set the NEWSDIGEST_SECRET environment "
            f"variable (generate one with {_GENERATE}), or put `secret: ${{NEWSDIGEST_SECRET}}` "
            "in config.yaml"
        )
    if len(secret) < MIN_SECRET_LENGTH:
        raise DeliverySetupError(
            f"the secret is {len(secret)} characters long; use at least {MIN_SECRET_LENGTH} "
            f"(generate one with {_GENERATE})"
        )
    return secret


def delivery_settings(config: Config, env: Mapping[str, str] | None = None) -> DeliverySettings:
    """Check and gather the delivery settings; raises DeliverySetupError saying what to fix."""
    env = os.environ if env is None else env
    secret = delivery_secret(config, env)
    smtp = config.smtp
    name, address = parseaddr(smtp.from_)
    if "@" not in address:
        raise DeliverySetupError(
            f"smtp.from is not an email address: {smtp.from_!r} "
            "(e.g. 'News digest <news@example.org>')"
        )
    domain = address.rpartition("@")[2]
    warning = None
    public_url = config.public_url
    if public_url is None:
        public_url = DEFAULT_PUBLIC_URL
        warning = (
            f"public_url is not set: unsubscribe links point at {DEFAULT_PUBLIC_URL} "
            "(`newsdigest serve` on this machine); set public_url in config.yaml to the "
            "https address where subscribers can reach it"
        )
    reply_to = smtp.reply_to
    mailbox = parseaddr(reply_to)[1] if reply_to else address
    return DeliverySettings(
        secret=secret,
        public_url=public_url.rstrip("/"),
        from_addr=smtp.from_,
        envelope_from=address,
        reply_to=reply_to,
        list_id=f"{name or 'newsdigest'} <digest.{domain}>",
        unsubscribe_mailbox=mailbox or address,
        policy=RetryPolicy(
            max_attempts=smtp.max_attempts,
            base=timedelta(seconds=smtp.retry_base_seconds),
            cap=timedelta(seconds=smtp.retry_max_seconds),
        ),
        lease=timedelta(seconds=smtp.lease_seconds),
        bounce_limit=smtp.bounce_limit,
        retry_wait=timedelta(seconds=smtp.retry_wait_seconds),
        messages_per_minute=smtp.messages_per_minute,
        warning=warning,
    )


def outbox_folder(config: Config) -> Path:
    """smtp.outbox, relative to output.directory; default <output.directory>/outbox."""
    folder = config.smtp.outbox or Path("outbox")
    return folder if folder.is_absolute() else config.output.directory / folder


def smtp_options(config: Config) -> SmtpOptions:
    s = config.smtp
    return SmtpOptions(
        host=s.host,
        port=s.port,
        security=s.security,
        username=s.username,
        password=s.password,
        timeout=s.timeout,
        ca_file=s.ca_file,
    )


def make_sender(config: Config) -> Sender:
    """The backend config.smtp.backend names."""
    if config.smtp.backend == "outbox":
        return Outbox(outbox_folder(config))
    return SmtpMailer(smtp_options(config))


def build_message(
    renderer: Renderer,
    digest: Digest,
    *,
    subscriber_id: int,
    message_id: str,
    now: datetime,
    settings: DeliverySettings,
) -> EmailMessage:
    """The digest email with its delivery headers (Reply-To, List-Id, List-Unsubscribe)."""
    token = make_token(settings.secret, subscriber_id, digest.subscriber.email)
    url = unsubscribe_url(settings.public_url, token)
    message = renderer.email_message(
        digest,
        settings.from_addr,
        # IDNA domains as A-labels when the local part is ASCII: any server takes those.
        wire_address(digest.subscriber.email).addr_spec,
        message_id=message_id,
        date=now,
        list_id=settings.list_id,
        unsubscribe_url=url,
    )
    # The renderer sets the https URL alone; RFC 2369 allows a list, mailto first for
    # clients that only know mail. List-Unsubscribe-Post (RFC 8058) stays as it set it.
    set_list_unsubscribe(message, unsubscribe_mailto(settings.unsubscribe_mailbox, token), url)
    if settings.reply_to:
        message["Reply-To"] = " ".join(settings.reply_to.splitlines())
    return message


# ---------------------------------------------------------------- the run


@dataclass(frozen=True, slots=True)
class SendOutcome:
    email: str
    period_end: datetime
    outcome: Outcome
    detail: str = ""
    message_id: str = ""
    attempt: int = 0
    stories: int = 0


@dataclass(frozen=True, slots=True)
class SendReport:
    outcomes: tuple[SendOutcome, ...]
    warnings: tuple[str, ...] = ()

    def count(self, outcome: Outcome) -> int:
        return sum(o.outcome == outcome for o in self.outcomes)

    @property
    def unfinished(self) -> tuple[SendOutcome, ...]:
        """Deliveries that failed or still wait for a retry."""
        return tuple(o for o in self.outcomes if o.outcome in ("failed", "retry"))


def default_worker() -> str:
    """A name unique to this process, recorded in claims (host, pid, a random tag)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class _Run:
    """One `digest send` run: the state shared by its deliveries."""

    def __init__(
        self,
        app: App,
        settings: DeliverySettings,
        sender: Sender,
        renderer: Renderer,
        worker: str,
        sleep: Callable[[float], None],
    ) -> None:
        self.app = app
        self.settings = settings
        self.sender = sender
        self.renderer = renderer
        self.worker = worker
        self.sleep = sleep
        self.pacer = Pacer(settings.messages_per_minute, sleep=sleep)
        self.resolve = region_resolver()
        self._pools: dict[tuple[datetime, datetime], StoryPool] = {}
        self.outcomes: list[SendOutcome] = []

    def pool(self, w: Window) -> StoryPool:
        # Subscribers sharing a send time share a window: read and group its articles once.
        key = (w.start, w.end)
        if key not in self._pools:
            self._pools[key] = load_pool(self.app, w)
        return self._pools[key]

    def compose_for(self, info: SubscriberInfo, w: Window, now: datetime) -> Digest:
        # The same selection as `digest build`: the stories sent before this window are
        # left out unless they grew.
        return compose_for(
            self.pool(w),
            prefs_for(info, self.app.config),
            w,
            delivered_before(self.app, (info.id,), w),
            info.id,
            resolve=self.resolve,
            now=now,
        )

    def deliver(self, claim: Claim, info: SubscriberInfo) -> SendOutcome:
        """Compose, render and send one claimed digest, and record how it went."""
        now = self.app.clock()
        base = {
            "email": info.email,
            "period_end": claim.period_end,
            "message_id": claim.message_id,
            "attempt": claim.attempt,
        }
        try:
            digest = self.compose_for(info, Window(claim.period_start, claim.period_end), now)
            if digest.skip_reason is not None:
                self._finish(ledger.mark_skipped, claim, reason=digest.skip_reason)
                return SendOutcome(**base, outcome="skipped", detail=digest.skip_reason)
            message = build_message(
                self.renderer,
                digest,
                subscriber_id=info.id,
                message_id=claim.message_id,
                now=now,
                settings=self.settings,
            )
        except DigestError as exc:
            # A template or data problem will not mend by itself: fail it, say why.
            self._finish(ledger.mark_failed, claim, error=f"could not compose: {exc}")
            return SendOutcome(**base, outcome="failed", detail=f"could not compose: {exc}")
        story_ids = [
            item.story_id
            for section in digest.sections
            for item in section.items
            if item.story_id is not None
        ]
        self.pacer.wait()
        with self.app.session() as session, session.begin():
            ours = ledger.confirm(session, claim, now=self.app.clock(), lease=self.settings.lease)
        if not ours:
            # The lease ran out before the message left (the heartbeat could not renew it):
            # the row may be another sender's now, and sending it here could be the second copy.
            detail = "the claim expired before sending; left to the sender that holds it now"
            log.warning("%s: %s (%s)", info.email, detail, claim.message_id)
            return SendOutcome(**base, outcome="lost", detail=detail)
        try:
            self.sender.send(
                message,
                sender=self.settings.envelope_from,
                recipient=wire_address(info.email).addr_spec,
            )
        except TemporaryDeliveryError as exc:
            return self._temporary(claim, base, str(exc))
        except SmtpUtf8UnsupportedError as exc:
            # This server can never carry the address; the mailbox refused nothing: no bounce.
            self._finish(ledger.mark_failed, claim, error=str(exc))
            return SendOutcome(**base, outcome="failed", detail=str(exc))
        except PermanentDeliveryError as exc:
            self._finish(ledger.mark_failed, claim, error=str(exc))
            with self.app.session() as session, session.begin():
                bouncing = ledger.record_bounce(
                    session, info.id, limit=self.settings.bounce_limit, now=self.app.clock()
                )
            detail = str(exc) + (" (subscriber now marked bouncing)" if bouncing else "")
            return SendOutcome(**base, outcome="failed", detail=detail)
        except SmtpSetupError as exc:
            # Every message would fail the same way: give the claim back and stop the run.
            self._finish(ledger.mark_retry, claim, error=str(exc), retry_at=self.app.clock())
            raise DeliverySetupError(str(exc)) from exc
        done = self.app.clock()
        with self.app.session() as session, session.begin():
            kept = ledger.mark_sent(session, claim, now=done, story_ids=story_ids)
            ledger.reset_bounces(session, info.id, now=done)
        if not kept:
            log.warning(
                "%s: the claim on %s expired before the server accepted it; another sender "
                "may have sent it too (same Message-ID %s): raise smtp.lease_seconds",
                info.email,
                claim.period_end,
                claim.message_id,
            )
        return SendOutcome(**base, outcome="sent", stories=len(story_ids))

    def _temporary(self, claim: Claim, base: dict[str, object], error: str) -> SendOutcome:
        retry_at = ledger.next_attempt_at(self.settings.policy, claim.attempt, self.app.clock())
        if retry_at is None:
            message = f"gave up after {claim.attempt} attempts: {error}"
            self._finish(ledger.mark_failed, claim, error=message)
            return SendOutcome(**base, outcome="failed", detail=message)  # type: ignore[arg-type]
        self._finish(ledger.mark_retry, claim, error=error, retry_at=retry_at)
        detail = f"{error}; retry at {retry_at:%Y-%m-%d %H:%M:%S} UTC"
        return SendOutcome(**base, outcome="retry", detail=detail)  # type: ignore[arg-type]

    def _finish(self, mark: Callable[..., bool], claim: Claim, **kwargs: object) -> None:
        with self.app.session() as session, session.begin():
            mark(session, claim, now=self.app.clock(), **kwargs)

    def record(self, outcome: SendOutcome) -> SendOutcome:
        self.outcomes.append(outcome)
        return outcome


def _period(info: SubscriberInfo, now: datetime) -> Period | None:
    """The period whose send time passed last; None: none since the subscriber joined."""
    s = info.spec
    p = period_for(s.send_at, s.timezone, now, s.weekly)
    return None if p.end < info.created_at else p


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:.1f} h"


def _first(info: SubscriberInfo) -> timedelta:
    """What a subscriber's first digest covers: a day, or a week for a weekly one."""
    return timedelta(days=7 if info.spec.weekly is not None else 1)


def _subscribers(app: App, email: str | None) -> list[SubscriberInfo]:
    with app.session() as session:
        if email is None:
            return list_subscribers(session, statuses=("active",))
        try:
            info = get_subscriber(session, email)
        except SubscriberError as exc:
            raise NewsdigestError(str(exc)) from None
    if not info.active:
        raise NewsdigestError(
            f"{info.email} is {info.status}: it gets no digest (`subscribers resume` it first)"
        )
    return [info]


def send_digests(
    app: App,
    *,
    sender: Sender | None = None,
    email: str | None = None,
    dry_run: bool = False,
    renderer: Renderer | None = None,
    worker: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    env: Mapping[str, str] | None = None,
    on_outcome: Callable[[SendOutcome], None] | None = None,
    max_lateness: timedelta | None = None,
) -> SendReport:
    """Send every due digest once (or say what would be sent, with ``dry_run``).

    ``max_lateness`` (the daemon's catch-up window): a period whose send time passed
    longer ago than this is recorded as missed instead of sent; its stories roll into
    the next digest. None sends however late (`digest send` run by hand).
    """
    settings = delivery_settings(app.config, env)
    warnings = (settings.warning,) if settings.warning else ()
    subscribers = _subscribers(app, email)
    renderer = renderer or Renderer()
    if dry_run:
        return SendReport(tuple(_dry_run(app, subscribers, settings, renderer)), warnings)
    own_sender = sender is None
    sender = sender or make_sender(app.config)
    run = _Run(app, settings, sender, renderer, worker or default_worker(), sleep)
    report = on_outcome or (lambda _o: None)
    only = subscribers[0].id if email is not None else None
    try:
        with _claim_heartbeat(app, run.worker, settings.lease):
            _resume_claims(run, only, report)
            for info in subscribers:
                now = app.clock()
                due = _period(info, now)
                if due is None:
                    continue
                with app.session() as session, session.begin():
                    w = window(
                        ledger.covered_until(session, info.id, due.end), due, first=_first(info)
                    )
                    claim = ledger.claim(
                        session,
                        subscriber_id=info.id,
                        period_start=w.start,
                        period_end=w.end,
                        message_id=ledger.message_id_for(
                            info.id, w.end, settings.envelope_from.rpartition("@")[2]
                        ),
                        worker=run.worker,
                        now=now,
                        lease=settings.lease,
                    )
                    late = now - due.end
                    if claim is not None and max_lateness is not None and late > max_lateness:
                        reason = (
                            f"the send time passed {_hours(late)} ago, beyond the "
                            f"{_hours(max_lateness)} catch-up window; its stories go in the "
                            "next digest"
                        )
                        ledger.mark_missed(session, claim, now=now, reason=reason)
                        log.warning("digest for %s missed: %s", info.email, reason)
                        report(run.record(SendOutcome(info.email, due.end, "missed", reason)))
                        claim = None
                if claim is not None:
                    report(run.record(run.deliver(claim, info)))
            _wait_for_retries(run, only, report)
    finally:
        if own_sender:
            sender.close()
    return SendReport(tuple(run.outcomes), warnings)


@contextlib.contextmanager
def _claim_heartbeat(app: App, worker: str, lease: timedelta) -> Iterator[None]:
    """Renew ``worker``'s delivery claims every third of a lease while the run sends.

    A slow SMTP server may hold one message, or a group of resumed claims may wait, longer
    than ``smtp.lease_seconds``; without renewal another sender would take the claim over
    and send the same digest again. A beat that fails is logged and the next one tries;
    should the lease run out anyway, the check before each send stops this sender.
    """

    def renew() -> None:
        with app.session() as session, session.begin():
            ledger.renew_claims(session, worker=worker, now=app.clock(), lease=lease)

    # A failed beat: expiry, then confirm() before the send, is the fallback.
    with heartbeat(
        renew,
        every=lease.total_seconds() / 3,
        name="delivery-claim-heartbeat",
        failure=f"could not renew the delivery claims of {worker}",
    ):
        yield


def _resume_claims(run: _Run, only: int | None, report: Callable[[SendOutcome], None]) -> int:
    """Take due retries and dead senders' claims, oldest period first; send them."""
    with run.app.session() as session, session.begin():
        claims = ledger.claim_due_retries(
            session,
            worker=run.worker,
            now=run.app.clock(),
            lease=run.settings.lease,
            max_attempts=run.settings.policy.max_attempts,
            subscriber_id=only,
        )
    for claim in claims:
        with run.app.session() as session:
            email = ledger.subscriber_email(session, claim.subscriber_id)
            info = get_subscriber(session, email) if email else None
        if info is None:
            continue
        report(run.record(run.deliver(claim, info)))
    return len(claims)


def _wait_for_retries(run: _Run, only: int | None, report: Callable[[SendOutcome], None]) -> None:
    """Retry this run's temporary failures while the next try is due soon enough."""
    while True:
        with run.app.session() as session:
            pending = [
                d.next_attempt_at
                for d in ledger.list_deliveries(session, status="pending", limit=10_000)
                if d.next_attempt_at is not None
                and (only is None or d.subscriber_id == only)
                and any(o.message_id == d.message_id for o in run.outcomes)
            ]
        if not pending:
            return
        wait = (min(pending) - run.app.clock()).total_seconds()
        if wait > run.settings.retry_wait.total_seconds():
            return
        if wait > 0:
            run.sleep(wait)
        if _resume_claims(run, only, report) == 0 and wait <= 0:
            return  # another sender holds them now


def _dry_run(
    app: App, subscribers: list[SubscriberInfo], settings: DeliverySettings, renderer: Renderer
) -> list[SendOutcome]:
    """What a run would do now: nothing is claimed, sent or written."""
    run = _Run(app, settings, _NoSender(), renderer, "dry-run", lambda _s: None)
    now = app.clock()
    out = []
    for info in subscribers:
        due = _period(info, now)
        if due is None:
            continue
        with app.session() as session:
            row = ledger.find(session, info.id, due.end)
            covered = ledger.covered_until(session, info.id, due.end)
        if row is not None and row.status != "pending":
            detail = f"{row.status} (attempt {row.attempts})"
            out.append(SendOutcome(info.email, due.end, "held", detail, row.message_id))
            continue
        w = window(covered, due, first=_first(info))
        digest = run.compose_for(info, w, now)
        message_id = ledger.message_id_for(
            info.id, w.end, settings.envelope_from.rpartition("@")[2]
        )
        if digest.skip_reason:
            out.append(SendOutcome(info.email, w.end, "skipped", digest.skip_reason, message_id))
            continue
        out.append(
            SendOutcome(
                info.email,
                w.end,
                "would send",
                digest.subject,
                message_id,
                stories=digest.total_stories,
            )
        )
    return out


class _NoSender:
    def send(self, message: EmailMessage, *, sender: str, recipient: str) -> None:
        raise AssertionError("a dry run sends nothing")

    def close(self) -> None:
        pass


def write_demo_outbox(app: App, *, folder: Path | None = None) -> SendReport:
    """`make demo`: the emails each subscriber will get at their next send, in out/outbox.

    The demo's articles were just fetched, so they belong to each subscriber's *next*
    period: the run is made as of one day later. A throw-away secret signs the links.
    """
    config = app.config.model_copy(
        update={
            "secret": app.config.secret or secrets.token_urlsafe(32),
            "smtp": app.config.smtp.model_copy(
                update={"backend": "outbox", "outbox": folder or outbox_folder(app.config)}
            ),
        }
    )
    # The demo's store starts empty each time; so does its outbox.
    for stale in outbox_folder(config).glob("*.eml"):
        stale.unlink()
    later = App(config=config, engine=app.engine, clock=lambda: app.clock() + timedelta(days=1))
    return send_digests(later, env={})
