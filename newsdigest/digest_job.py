"""`digest build` and `digest preview`: stored subscribers and articles -> written digests.

A build reads the active subscribers from the subscribers table (config.yaml's are synced
into it at start-up by :func:`sync_config_subscribers`), groups them by window, loads and
prepares each window's articles once (:func:`digest.compose.prepare`), composes and
renders each digest, and writes its page, ``.eml``, text and archive record under
``<out>/digests/<local date>/``; then it rebuilds the archive's index pages and Atom feeds.

The window of a build is the 24 hours (7 days for a weekly subscriber) up to now, or,
with a date, the subscriber's period ending at their send time on that date in their own
time zone. Stories the delivery ledger says a subscriber was already sent before the
window began are left out unless they grew, as `digest send` does (:func:`compose_for`
serves both). An empty digest is skipped (not written) unless ``digest.send_empty`` is
on; the reason is logged and returned. Delivery, and its ledger, is a separate step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from digest import archive, ledger
from digest.addresses import wire_address
from digest.compose import RegionResolver, StoryPool, compose, prepare
from digest.render import Renderer
from digest.subscribers import (
    SubscriberError,
    SubscriberInfo,
    SubscriberSpec,
    SyncPlan,
    get_subscriber,
    list_subscribers,
    validate,
)
from digest.subscribers import (
    sync_config_subscribers as sync_subscribers,
)
from digest.types import Digest, DigestArticle, SubscriberPrefs
from digest.window import Window, load_zone, period_for, send_instant
from ingest import store
from ingest.records import ArticleInfo
from newsdigest.app import App
from newsdigest.config import Config, SubscriberConfig
from newsdigest.errors import ConfigError, NewsdigestError

log = logging.getLogger(__name__)

#: Who gets a digest when no subscriber exists at all: one edition of everything.
EVERYTHING = SubscriberConfig(email="everything@localhost", name="All the news")
#: Articles of the same story first seen this long before the window still count as sources.
STORY_LOOKBACK = timedelta(days=7)
DAILY = timedelta(days=1)
WEEKLY = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Recipient:
    """A subscriber to compose for: their preferences and their id in the table."""

    prefs: SubscriberPrefs
    #: None for the "everything" edition of a table with no subscriber (it has no ledger).
    subscriber_id: int | None


@dataclass(frozen=True, slots=True)
class BuiltDigest:
    """One subscriber's digest of a build: the files written, or why it was skipped."""

    subscriber: str
    stories: int
    page: Path | None
    eml: Path | None
    text: Path | None
    #: Why nothing was written (an empty digest with send_empty off); None: written.
    skipped: str | None = None


# ---------------------------------------------------------------- subscribers


def spec_from_config(sub: SubscriberConfig) -> SubscriberSpec:
    """A config.yaml subscriber, validated like `subscribers add` validates."""
    return validate(
        email=sub.email,
        name=sub.name,
        timezone=sub.timezone,
        send_at=sub.send_at,
        weekly=sub.weekly,
        regions=sub.regions,
        countries=sub.countries,
        topics=sub.topics,
        outlets=sub.outlets,
        keywords=sub.keywords,
        exclude_keywords=sub.exclude_keywords,
        group_by=sub.group_by,
    )


def sync_config_subscribers(app: App) -> SyncPlan:
    """Bring the subscribers table in line with config.yaml (called by App.open).

    A subscriber config.yaml no longer lists is kept but marked "removed" (it gets no
    digest; its delivery history stays), and a warning says so.
    """
    specs: list[SubscriberSpec] = []
    seen: set[str] = set()
    for i, sub in enumerate(app.config.subscribers):
        try:
            spec = spec_from_config(sub)
        except SubscriberError as exc:
            raise ConfigError(f"subscribers[{i}] ({sub.email}): {exc}") from None
        if spec.email.casefold() in seen:
            raise ConfigError(f"subscribers[{i}]: {sub.email} is listed twice")
        seen.add(spec.email.casefold())
        specs.append(spec)
    from sqlalchemy.exc import IntegrityError

    for attempt in (1, 2):
        try:
            with app.session() as session, session.begin():
                plan = sync_subscribers(session, specs, now=app.clock())
            break
        except IntegrityError:
            # Another host starting at the same moment added the same subscriber first;
            # a second pass sees its row and only updates.
            if attempt == 2:
                raise
    for email in plan.remove:
        log.warning(
            "subscriber %s is no longer in config.yaml: marked removed, no more digests "
            "(`newsdigest subscribers remove %s` deletes it)",
            email,
            email,
        )
    return plan


def prefs_for(info: SubscriberInfo, config: Config) -> SubscriberPrefs:
    """A stored subscriber's preferences: their own grouping (config.yaml's subscribers are
    synced into the table with theirs), else ``digest.group_by``; send_empty and
    repeat_grown from config."""
    return info.to_prefs(
        group_by=config.digest.group_by,
        send_empty=config.digest.send_empty,
        repeat_grown=config.digest.repeat_grown,
    )


def _everything(config: Config) -> SubscriberPrefs:
    return SubscriberPrefs(
        email=EVERYTHING.email,
        name=EVERYTHING.name or "",
        group_by=config.digest.group_by,
        send_empty=config.digest.send_empty,
        repeat_grown=config.digest.repeat_grown,
    )


def subscribers_to_build(app: App, subscriber: str | None) -> list[Recipient]:
    """The active subscribers, or the one named (whatever its status: a deliberate ask).

    With no subscriber at all in the table, one edition of everything.
    """
    with app.session() as session:
        if subscriber is not None:
            try:
                info = get_subscriber(session, subscriber)
            except SubscriberError as exc:
                raise NewsdigestError(str(exc)) from None
            return [Recipient(prefs_for(info, app.config), info.id)]
        everyone = list_subscribers(session)
    if not everyone:
        return [Recipient(_everything(app.config), None)]
    return [Recipient(prefs_for(s, app.config), s.id) for s in everyone if s.active]


# ---------------------------------------------------------------- windows and articles


def build_window(prefs: SubscriberPrefs, now: datetime, day: date | None) -> Window:
    """What a build covers for one subscriber (see the module docstring)."""
    if day is None:
        return Window(now - (WEEKLY if prefs.weekly is not None else DAILY), now)
    end = send_instant(day, prefs.send_at, prefs.timezone)
    period = period_for(prefs.send_at, prefs.timezone, end, prefs.weekly)
    return Window(period.start, period.end)


def to_digest_article(a: ArticleInfo) -> DigestArticle:
    return DigestArticle(
        id=a.id,
        story_id=a.story_id,
        title=a.title or "(untitled)",
        url=a.url or "",
        outlet=a.outlet or "",
        outlet_id=a.outlet_id or 0,
        published=a.published,
        first_seen=a.first_seen,
        summary=a.summary,
        language=a.language,
        countries=a.countries,
        regions=a.regions,
        topics=a.topics,
        updated=a.updated is not None,
    )


def region_resolver() -> Callable[[str], frozenset[str]]:
    from ingest.tagging import countries_for_region

    return lambda name: frozenset(countries_for_region(name))


def load_pool(app: App, window: Window) -> StoryPool:
    """The window's articles (and earlier ones of the same stories), grouped once."""
    with app.session() as session:
        infos = store.list_articles(session, since=window.start - STORY_LOOKBACK, until=window.end)
    return prepare(to_digest_article(a) for a in infos)


def delivered_before(
    app: App, subscriber_ids: Iterable[int | None], window: Window
) -> dict[int, frozenset[int]]:
    """Per subscriber, the stories sent before ``window`` (see ledger.delivered_before)."""
    ids = [i for i in subscriber_ids if i is not None]
    if not ids:
        return {}
    with app.session() as session:
        return ledger.delivered_before(session, ids, window.start, window.end)


def compose_for(
    pool: StoryPool,
    prefs: SubscriberPrefs,
    window: Window,
    delivered: Mapping[int, frozenset[int]],
    subscriber_id: int | None,
    *,
    resolve: RegionResolver,
    now: datetime,
) -> Digest:
    """One subscriber's digest of ``window``, without what they were already sent.

    ``delivered`` comes from :func:`delivered_before` for this window; `digest build`,
    `digest preview` and `digest send` all compose through here.
    """
    return compose(
        pool,
        prefs,
        (window.start, window.end),
        region_countries=resolve,
        delivered_story_ids=delivered.get(subscriber_id, frozenset())
        if subscriber_id is not None
        else frozenset(),
        now=now,
    )


# ---------------------------------------------------------------- build


def _edition(digest: Digest) -> date:
    return digest.period_end.astimezone(load_zone(digest.subscriber.timezone)).date()


def write_digest(
    folder: Path, digest: Digest, renderer: Renderer, *, from_addr: str, now: datetime
) -> BuiltDigest:
    """Write one digest's page, .eml, text and archive record; return their paths."""
    stem = archive.digest_stem(digest.subscriber.email)
    edition = archive.edition_path(_edition(digest))
    page_rel = f"{edition}/{stem}.html"
    to = wire_address(digest.subscriber.email)  # as `digest send` addresses it
    message = renderer.email_message(
        digest,
        from_addr,
        to.addr_spec,
        message_id=f"<digest-{stem}-{digest.period_end:%Y%m%d%H%M}@newsdigest>",
        date=now,
    )
    # A non-ASCII local part has no encoded form: such a message is UTF-8 (RFC 6532).
    data = message.as_bytes(policy=message.policy.clone(utf8=to.needs_smtputf8))
    page = archive.write_file(folder, page_rel, renderer.page(digest))
    eml = archive.write_file(folder, f"{edition}/{stem}.eml", data)
    text = archive.write_file(folder, f"{edition}/{stem}.txt", renderer.text(digest))
    record = archive.entry_for(digest, page_rel, _edition(digest))
    archive.write_file(
        folder, f"{edition}/{stem}{archive.RECORD_SUFFIX}", archive.entry_to_json(record)
    )
    return BuiltDigest(digest.subscriber.email, digest.total_stories, page, eml, text)


def build_digests(
    app: App,
    *,
    day: date | None = None,
    subscriber: str | None = None,
    out_dir: Path | None = None,
    renderer: Renderer | None = None,
) -> list[BuiltDigest]:
    """Compose and render the digests of every active (or one) subscriber; rebuild the archive."""
    everyone = subscribers_to_build(app, subscriber)
    renderer = renderer or Renderer()
    resolve = region_resolver()
    now = app.clock()
    folder = (out_dir or app.config.output.directory).resolve()
    by_window: dict[Window, list[Recipient]] = {}
    for recipient in everyone:
        by_window.setdefault(build_window(recipient.prefs, now, day), []).append(recipient)
    built: list[BuiltDigest] = []
    for window, group in by_window.items():
        pool = load_pool(app, window)
        delivered = delivered_before(app, (r.subscriber_id for r in group), window)
        for recipient in group:
            prefs = recipient.prefs
            digest = compose_for(
                pool, prefs, window, delivered, recipient.subscriber_id, resolve=resolve, now=now
            )
            if digest.skip_reason is not None:
                log.info("digest for %s skipped: %s", prefs.email, digest.skip_reason)
                built.append(BuiltDigest(prefs.email, 0, None, None, None, digest.skip_reason))
                continue
            built.append(
                write_digest(folder, digest, renderer, from_addr=app.config.smtp.from_, now=now)
            )
    report = archive.rebuild(folder, now=now, feed_entries=app.config.digest.feed_entries)
    for problem in report.problems:
        log.warning("archive: %s", problem)
    return built


def preview_digest(app: App, email: str, *, day: date | None = None) -> Digest:
    """One subscriber's digest as a build would compose it now (nothing is written)."""
    (recipient,) = subscribers_to_build(app, email)
    prefs, subscriber_id = recipient.prefs, recipient.subscriber_id
    now = app.clock()
    window = build_window(prefs, now, day)
    return compose_for(
        load_pool(app, window),
        prefs,
        window,
        delivered_before(app, (subscriber_id,), window),
        subscriber_id,
        resolve=region_resolver(),
        now=now,
    )
