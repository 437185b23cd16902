"""`digest build`: stored articles -> each subscriber's digest, written as page, .eml and text.

The window of a build is the 24 hours up to now, or, with a date, the 24 hours up to the
subscriber's send time on that date in their own time zone. Delivery (and its ledger of
what was sent) is a separate step.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, time, timedelta
from pathlib import Path

from digest.compose import compose
from digest.render import Renderer
from digest.types import DigestArticle, SubscriberPrefs
from digest.window import send_instant
from ingest import store
from ingest.records import ArticleInfo
from newsdigest.app import App
from newsdigest.config import SubscriberConfig

#: Who gets a digest when the config names no subscriber: one edition of everything.
EVERYTHING = SubscriberConfig(email="everything@localhost", name="All the news")
#: Articles of the same story first seen this long before the window still count as sources.
STORY_LOOKBACK = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class BuiltDigest:
    subscriber: str
    stories: int
    page: Path
    eml: Path
    text: Path


def prefs_from_config(sub: SubscriberConfig) -> SubscriberPrefs:
    return SubscriberPrefs(
        email=sub.email,
        name=sub.name or "",
        timezone=sub.timezone,
        send_at=time.fromisoformat(sub.send_at),
        regions=tuple(sub.regions),
        countries=tuple(c.upper() for c in sub.countries),
        topics=tuple(sub.topics),
        outlets=tuple(sub.outlets),
        keywords=tuple(sub.keywords),
    )


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


def _file_stem(email: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", email).strip("._") or "subscriber"


def build_digests(
    app: App,
    *,
    day: date | None = None,
    subscriber: str | None = None,
    out_dir: Path | None = None,
    renderer: Renderer | None = None,
) -> list[BuiltDigest]:
    """Compose and render the digests of every (or one) subscriber; return what was written."""
    subscribers = app.config.subscribers or [EVERYTHING]
    if subscriber is not None:
        subscribers = [s for s in subscribers if s.email.lower() == subscriber.lower()]
        if not subscribers:
            from newsdigest.errors import NewsdigestError

            known = ", ".join(s.email for s in app.config.subscribers) or "none configured"
            raise NewsdigestError(f"no subscriber {subscriber!r} (known: {known})")
    renderer = renderer or Renderer()
    resolve = region_resolver()
    now = app.clock()
    folder = (out_dir or app.config.output.directory).resolve()
    built: list[BuiltDigest] = []
    for sub in subscribers:
        prefs = prefs_from_config(sub)
        end = now if day is None else send_instant(day, prefs.send_at, prefs.timezone)
        start = end - timedelta(hours=24)
        with app.session() as session:
            infos = store.list_articles(session, since=start - STORY_LOOKBACK, until=end)
        articles = [to_digest_article(a) for a in infos]
        digest = compose(articles, prefs, (start, end), region_countries=resolve, now=now)
        edition = folder / "digests" / end.astimezone(prefs_zone(prefs)).strftime("%Y-%m-%d")
        edition.mkdir(parents=True, exist_ok=True)
        stem = _file_stem(sub.email)
        page, eml, text = (edition / f"{stem}{suffix}" for suffix in (".html", ".eml", ".txt"))
        page.write_text(renderer.page(digest), encoding="utf-8")
        text.write_text(renderer.text(digest), encoding="utf-8")
        message = renderer.email_message(
            digest,
            app.config.smtp.from_,
            sub.email,
            message_id=f"<digest-{_file_stem(sub.email)}-{end:%Y%m%d%H%M}@newsdigest>",
            date=now,
        )
        eml.write_bytes(bytes(message))
        built.append(BuiltDigest(sub.email, digest.total_stories, page, eml, text))
    return built


def prefs_zone(prefs: SubscriberPrefs):  # type: ignore[no-untyped-def]
    from digest.window import load_zone

    return load_zone(prefs.timezone)
