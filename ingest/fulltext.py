"""The full-text backlog: fetch article pages, extract their main text, keep what is good.

Usage::

    report = process_backlog(engine, fetch_options=FetchOptions(), options=FullTextOptions(),
                             clock=lambda: datetime.now(UTC), limit=200)

Which articles: those of outlets marked ``full_text`` and, unless
``FullTextOptions.short_summaries`` is off, any whose feed gave only a short summary
(``articles.is_full`` false), first seen within ``max_age``, with a URL, not tried yet,
or tried and failed for a temporary reason (fewer than ``max_attempts`` times, at least
``retry_after`` ago), or
edited by their feed since the last try (the feed's update put its summary back).

How: in batches of ``batch_size``, pages are fetched with the feed fetcher
(``ingest.fetch.Fetcher``: the same per-host limits, timeouts, size cap and private-network
refusal as feeds), the main text is extracted (``ingest.extract``), and either replaces
the article's ``content_html``/``content_text`` or, when extraction fails or looks
wrong, the feed's text stays and the reason is recorded in ``article_fulltext``. The
story's representative is recomputed, since it prefers a full version. Each batch is
one transaction, written after its pages are fetched; no transaction stays open across
the network.

The article keeps its ``content_hash``: it identifies what the feed sent, so the next
fetch of the feed does not mistake the extracted text for an edit. Its tags are
recomputed from the extracted text (``retag``), in the same transaction: a teaser that
names no country can come from a page about one. Its fingerprint, signature and story stay
those of the feed's text: two outlets' pages carry different furniture, and the story was
decided on what the feeds sent (moving an article between stories after a digest named it
would change what subscribers were told).
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, or_, select
from sqlalchemy.orm import Session

from ingest import store
from ingest.extract import extract_article, judge_extraction
from ingest.fetch import Fetcher, FetchOptions
from ingest.models import Article, ArticleFullText, Outlet
from ingest.stories import refresh_stories
from ingest.types import FeedRef, FetchResult, FetchStatus

log = logging.getLogger(__name__)

#: Tags one stored article's text (title, summary, the extracted text...).
Retagger = Callable[[store.TextToTag], Sequence[store.TagToStore]]


class FullTextStatus(enum.StrEnum):
    """What the last attempt at an article's page came to."""

    EXTRACTED = "extracted"  # the page's text replaced the feed's
    KEPT_SUMMARY = "kept_summary"  # fetched, but its text looked wrong: the feed's stays
    RETRY = "retry"  # a temporary failure (timeout, 5xx, 429): tried again later
    FAILED = "failed"  # a permanent failure (4xx, gone) or too many tries


@dataclass(frozen=True, slots=True)
class FullTextOptions:
    """Which articles to fetch pages for, and how many at once (config: ``fulltext``)."""

    short_summaries: bool = True
    max_age: timedelta = timedelta(hours=72)
    batch_size: int = 50
    max_attempts: int = 3
    #: A temporary failure is tried again no sooner than this.
    retry_after: timedelta = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class PendingArticle:
    """An article waiting for its page, with what judging the page needs."""

    id: int
    url: str
    title: str
    language: str | None
    #: The text the feed gave (its content, else its summary).
    feed_text: str
    story_id: int | None
    #: Temporary failures so far.
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class PageOutcome:
    """The decision for one article; ``html``/``text`` are set when EXTRACTED."""

    article_id: int
    url: str
    status: FullTextStatus
    attempts: int
    reason: str | None = None
    html: str = ""
    text: str = ""


@dataclass(frozen=True, slots=True)
class FullTextReport:
    """What one backlog run did, an outcome per article, in processing order."""

    outcomes: tuple[PageOutcome, ...] = ()

    def count(self, status: FullTextStatus) -> int:
        return sum(1 for o in self.outcomes if o.status == status)


# ---------------------------------------------------------------- deciding (pure)


def _temporary(result: FetchResult) -> bool:
    if result.status == FetchStatus.RETRY_LATER:
        return True
    if result.status == FetchStatus.FAILED:
        # No HTTP status: the network, a timeout or a limit; 5xx: the server's trouble.
        return result.http_status is None or result.http_status >= 500
    return False


def _page_text(result: FetchResult) -> bytes | str:
    """The body, decoded when the server named its charset; trafilatura sniffs otherwise."""
    body = result.body or b""
    content_type = result.headers.get("content-type", "")
    for param in content_type.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.lower() == "charset" and value:
            try:
                return body.decode(value.strip("\"' "), errors="replace")
            except LookupError:  # an unknown charset name
                return body
    return body


def decide_page(article: PendingArticle, result: FetchResult, *, max_attempts: int) -> PageOutcome:
    """Turn a fetched page into an outcome: extracted text, or the reason to keep the feed's.

    Pure (no I/O), but CPU-bound: it runs the extraction.
    """
    attempts = article.attempts + 1
    if result.status != FetchStatus.OK:
        reason = result.error or f"fetch: {result.status}"
        if _temporary(result) and attempts < max_attempts:
            return PageOutcome(article.id, article.url, FullTextStatus.RETRY, attempts, reason)
        return PageOutcome(article.id, article.url, FullTextStatus.FAILED, attempts, reason)
    content_type = result.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type and "html" not in content_type:
        return PageOutcome(
            article.id,
            article.url,
            FullTextStatus.KEPT_SUMMARY,
            attempts,
            f"not an HTML page ({content_type})",
        )
    extraction = extract_article(_page_text(result), result.final_url or article.url, article.title)
    verdict = judge_extraction(
        extraction,
        feed_text=article.feed_text,
        feed_title=article.title,
        feed_language=article.language,
    )
    if not verdict.accept or extraction is None:
        return PageOutcome(
            article.id, article.url, FullTextStatus.KEPT_SUMMARY, attempts, verdict.reason
        )
    return PageOutcome(
        article.id,
        article.url,
        FullTextStatus.EXTRACTED,
        attempts,
        html=extraction.html,
        text=extraction.text,
    )


# ---------------------------------------------------------------- storage


def pending_articles(
    session: Session,
    *,
    now: datetime,
    options: FullTextOptions,
    limit: int,
) -> list[PendingArticle]:
    """Articles whose page should be fetched now, newest first."""
    wanted = Outlet.full_text.is_(True)
    if options.short_summaries:
        wanted = or_(wanted, Article.is_full.is_(False))
    retry = (
        (ArticleFullText.status == FullTextStatus.RETRY)
        & (ArticleFullText.attempts < options.max_attempts)
        & (ArticleFullText.tried_at <= now - options.retry_after)
    )
    rows = session.execute(
        select(
            Article.id,
            Article.url,
            Article.title,
            Article.language,
            Article.content_text,
            Article.summary,
            Article.story_id,
            ArticleFullText.status,
            ArticleFullText.attempts,
        )
        .outerjoin(Outlet, Article.outlet_id == Outlet.id)
        .outerjoin(ArticleFullText, ArticleFullText.article_id == Article.id)
        .where(
            Article.url.is_not(None),
            Article.first_seen_at >= now - options.max_age,
            wanted,
            or_(
                ArticleFullText.article_id.is_(None),
                retry,
                Article.updated_at > ArticleFullText.tried_at,
            ),
        )
        .order_by(Article.first_seen_at.desc(), Article.id.desc())
        .limit(limit)
    ).all()
    return [
        PendingArticle(
            id=r.id,
            url=r.url,
            title=r.title or "",
            language=r.language,
            feed_text=r.content_text or r.summary or "",
            story_id=r.story_id,
            attempts=r.attempts if r.status == FullTextStatus.RETRY else 0,
        )
        for r in rows
    ]


def record_outcomes(
    session: Session,
    outcomes: Sequence[PageOutcome],
    *,
    now: datetime,
    retag: Retagger | None = None,
) -> None:
    """Store a batch's outcomes: the extracted texts (re-tagged with ``retag`` when given),
    and every attempt's status."""
    ids = [o.article_id for o in outcomes]
    # An article removed meanwhile (pruned, its feed dropped) is skipped.
    stories = dict(
        session.execute(select(Article.id, Article.story_id).where(Article.id.in_(ids))).all()
    )
    touched: set[int] = set()
    extracted: list[int] = []
    for outcome in outcomes:
        if outcome.article_id not in stories:
            continue
        if outcome.status == FullTextStatus.EXTRACTED:
            # The store indexes the new text for search too.
            store.replace_article_text(
                session, outcome.article_id, html=outcome.html, text=outcome.text
            )
            extracted.append(outcome.article_id)
            story = stories[outcome.article_id]
            if story is not None:
                touched.add(story)
        session.merge(
            ArticleFullText(
                article_id=outcome.article_id,
                status=str(outcome.status),
                attempts=outcome.attempts,
                tried_at=now,
                reason=outcome.reason,
            )
        )
    if retag is not None and extracted:
        texts = store.texts_to_tag(session, ids=extracted, limit=len(extracted))
        store.replace_tags(session, {t.article_id: retag(t) for t in texts})
    # A story's representative is its earliest full version: this one may now qualify.
    refresh_stories(session, touched, now=now)


# ---------------------------------------------------------------- running


async def fetch_pages(fetcher: Fetcher, articles: Sequence[PendingArticle]) -> list[FetchResult]:
    """Fetch each article's page (results in the articles' order; never raises per page)."""
    return list(
        await asyncio.gather(*(fetcher.fetch(FeedRef(id=a.id, url=a.url)) for a in articles))
    )


async def process_backlog_async(
    engine: Engine,
    *,
    fetch_options: FetchOptions,
    options: FullTextOptions,
    clock: Callable[[], datetime],
    limit: int | None = None,
    on_outcome: Callable[[PageOutcome], None] | None = None,
    retag: Retagger | None = None,
) -> FullTextReport:
    """Work through the backlog in batches until it is empty or ``limit`` articles are done;
    extracted articles are re-tagged with ``retag`` (None keeps their tags)."""
    outcomes: list[PageOutcome] = []
    async with Fetcher(fetch_options) as fetcher:
        while limit is None or len(outcomes) < limit:
            size = (
                options.batch_size
                if limit is None
                else min(options.batch_size, limit - len(outcomes))
            )
            with Session(engine) as session:
                batch = pending_articles(session, now=clock(), options=options, limit=size)
            if not batch:
                break
            results = await fetch_pages(fetcher, batch)
            decided = [
                decide_page(a, r, max_attempts=options.max_attempts)
                for a, r in zip(batch, results, strict=True)
            ]
            with Session(engine) as session, session.begin():
                record_outcomes(session, decided, now=clock(), retag=retag)
            for outcome in decided:
                log.info(
                    "full text of article %d (%s): %s%s",
                    outcome.article_id,
                    outcome.url,
                    outcome.status,
                    f": {outcome.reason}" if outcome.reason else "",
                )
                if on_outcome is not None:
                    on_outcome(outcome)
            outcomes.extend(decided)
    return FullTextReport(tuple(outcomes))


def process_backlog(
    engine: Engine,
    *,
    fetch_options: FetchOptions,
    options: FullTextOptions,
    clock: Callable[[], datetime],
    limit: int | None = None,
    on_outcome: Callable[[PageOutcome], None] | None = None,
    retag: Retagger | None = None,
) -> FullTextReport:
    """:func:`process_backlog_async` for callers without an event loop (the CLI)."""
    return asyncio.run(
        process_backlog_async(
            engine,
            fetch_options=fetch_options,
            options=options,
            clock=clock,
            limit=limit,
            on_outcome=on_outcome,
            retag=retag,
        )
    )
