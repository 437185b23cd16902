"""The `newsdigest` command line.

Exit codes: 0 everything worked, 1 some of the work failed (a feed, a digest), 2 a usage
or configuration error. Expected errors print one line, never a traceback.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from digest.errors import DigestError
from ingest.errors import IngestError
from newsdigest.errors import NewsdigestError

if TYPE_CHECKING:
    from ingest.pipeline import RoundReport
    from ingest.records import ArticleInfo, FeedInfo
    from newsdigest.app import App
    from newsdigest.config import Config

# Heavy modules (SQLAlchemy, Alembic, the pipeline) are imported inside the commands that
# need them, so `newsdigest tag` and `--help` start fast.

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

app = typer.Typer(
    name="newsdigest",
    help="Watch news outlets' feeds and send each subscriber a daily digest.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
feeds_app = typer.Typer(help="Follow, list and remove feeds.", no_args_is_help=True)
articles_app = typer.Typer(help="Stored articles.", no_args_is_help=True)
digest_app = typer.Typer(help="Build digests.", no_args_is_help=True)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
app.add_typer(feeds_app, name="feeds")
app.add_typer(articles_app, name="articles")
stories_app = typer.Typer(
    help="Stories: the same news carried by several outlets.", no_args_is_help=True
)
app.add_typer(stories_app, name="stories")
app.add_typer(digest_app, name="digest")
app.add_typer(db_app, name="db")
from newsdigest.cli_subscribers import digest_preview, subscribers_app  # noqa: E402

app.add_typer(subscribers_app, name="subscribers")
digest_app.command("preview")(digest_preview)
from newsdigest.cli_delivery import register as register_delivery  # noqa: E402

register_delivery(app, digest_app)  # digest send, deliveries list, serve
from newsdigest.cli_articles import register as register_articles  # noqa: E402

register_articles(app, articles_app)  # articles search, prune, fulltext

out = Console()
err = Console(stderr=True)


class State:
    config_path: Path | None = None


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", markup=True, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@app.callback()
def main_options(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="config file (default: $NEWSDIGEST_CONFIG, then ./config.yaml)"
        ),
    ] = None,
) -> None:
    State.config_path = config


def _config() -> Config:
    from newsdigest.config import find_config_path, load_config

    return load_config(find_config_path(State.config_path))


@contextmanager
def _app(*, sync_subscribers: bool = True) -> Iterator[App]:
    from newsdigest.app import App

    instance = App.open(_config(), sync_subscribers=sync_subscribers)
    try:
        yield instance
    finally:
        instance.close()


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def _parse_since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        fail(f"--since: not an ISO 8601 date or time: {value!r} (e.g. 2025-01-10T06:00)")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# ---------------------------------------------------------------- feeds


@feeds_app.command("add")
def feeds_add(
    url: str,
    outlet: Annotated[str | None, typer.Option(help="the outlet this feed belongs to")] = None,
    list_only: Annotated[
        bool, typer.Option("--list", help="only list the feeds found for a site URL")
    ] = False,
    pick: Annotated[int | None, typer.Option(help="follow the Nth feed of --list")] = None,
) -> None:
    """Follow a feed URL, or a site URL whose feed is found (see newsdigest/cli_discover.py)."""
    from ingest import store
    from newsdigest.cli_discover import resolve_feed_url
    from newsdigest.config import _check_feed_url

    try:
        _check_feed_url(url)
    except ValueError as exc:
        fail(str(exc))
    if not url.lower().startswith("file:"):  # a local file is taken as a feed
        found = resolve_feed_url(url, pick=pick, list_only=list_only)
        if found is None:
            return
        url = found
    with _app() as instance, instance.session() as session, session.begin():
        now = instance.clock()
        outlet_id = store.ensure_outlet(session, outlet, now=now).id if outlet else None
        info = store.add_feed(session, url, now=now, outlet_id=outlet_id)
    out.print(f"following feed {info.id}: {info.url}", highlight=False)


@feeds_app.command("list")
def feeds_list(
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object a line")] = False,
) -> None:
    """Every followed feed and its health."""
    from ingest import store

    with _app() as instance, instance.session() as session:
        feeds = store.list_feeds(session)
    if as_json:
        for f in feeds:
            print(json.dumps(_feed_json(f), ensure_ascii=False))
        return
    table = Table(title=f"{len(feeds)} feeds")
    for column in ("id", "outlet", "url", "status", "errors", "last error", "last new", "next due"):
        table.add_column(column, overflow="fold")
    for f in feeds:
        status = "gone" if f.gone else ("disabled" if not f.enabled else (f.last_status or "new"))
        if f.failing_since:
            status += f" (failing since {_when(f.failing_since)})"
        if f.key_policy != "guid":
            status += f"\nentries keyed by {f.key_policy} (unusable guids)"
        url = f.url + (f"\n(moved from {f.url_history[-1]})" if f.url_history else "")
        table.add_row(
            str(f.id),
            f.outlet or "-",
            url,
            status,
            str(f.error_count),
            f.last_error or "",
            _when(f.last_new_entry_at),
            _when(f.next_due_at),
        )
    out.print(table)


def _feed_json(f: FeedInfo) -> dict[str, Any]:
    return {
        "id": f.id,
        "url": f.url,
        "outlet": f.outlet,
        "title": f.title,
        "enabled": f.enabled,
        "gone": f.gone,
        "url_history": list(f.url_history),
        "last_status": f.last_status,
        "last_http_status": f.last_http_status,
        "last_error": f.last_error,
        "error_count": f.error_count,
        "failing_since": f.failing_since.isoformat() if f.failing_since else None,
        "last_fetched_at": f.last_fetched_at.isoformat() if f.last_fetched_at else None,
        "last_new_entry_at": f.last_new_entry_at.isoformat() if f.last_new_entry_at else None,
        "next_due_at": f.next_due_at.isoformat() if f.next_due_at else None,
        "interval_seconds": f.interval_seconds,
        "key_policy": f.key_policy,
    }


@feeds_app.command("remove")
def feeds_remove(feed_id: int) -> None:
    """Stop following a feed (its stored articles are removed too)."""
    from ingest import store

    with _app() as instance, instance.session() as session, session.begin():
        info = store.remove_feed(session, feed_id)
    out.print(f"removed feed {info.id}: {info.url}", highlight=False)


@feeds_app.command("enable")
def feeds_enable(feed_id: int) -> None:
    """Fetch a feed again (after 410 Gone or `feeds disable`)."""
    from ingest import store

    with _app() as instance, instance.session() as session, session.begin():
        info = store.set_feed_enabled(session, feed_id, True, now=instance.clock())
    out.print(f"enabled feed {info.id}: {info.url}", highlight=False)


@feeds_app.command("disable")
def feeds_disable(feed_id: int) -> None:
    """Stop fetching a feed but keep it and its articles."""
    from ingest import store

    with _app() as instance, instance.session() as session, session.begin():
        info = store.set_feed_enabled(session, feed_id, False, now=instance.clock())
    out.print(f"disabled feed {info.id}: {info.url}", highlight=False)


@feeds_app.command("import")
def feeds_import(path: Path) -> None:
    """Follow every feed of an OPML file (outlets and folders are kept)."""
    from ingest.follow import FeedToFollow, OutletToKeep, follow_feeds
    from ingest.opml import read_opml

    try:
        data = path.read_bytes()
    except OSError as exc:
        fail(f"{path}: cannot read it: {exc.strerror}")
    entries = read_opml(data)
    wanted = [
        FeedToFollow(
            url=entry.xml_url,
            outlet=OutletToKeep(
                entry.title or entry.xml_url,
                homepage=entry.html_url,
                country=(entry.attributes.get("country") or "").upper() or None,
                language=entry.attributes.get("language"),
            ),
            title=entry.title,
            category="/".join(entry.categories) or None,
            language=entry.attributes.get("language"),
        )
        for entry in entries
    ]
    with _app() as instance, instance.session() as session, session.begin():
        report = follow_feeds(session, wanted, now=instance.clock())
    out.print(
        f"imported {len(report.added)} feeds from {path} ({len(report.skipped)} already followed)",
        highlight=False,
    )


@feeds_app.command("export")
def feeds_export() -> None:
    """Print every followed feed as OPML."""
    from ingest import store
    from ingest.opml import OpmlFeed, write_opml

    with _app() as instance, instance.session() as session:
        feeds = store.list_feeds(session)
        outlets = {o.id: o for o in store.list_outlets(session)}
    entries = []
    for f in feeds:
        outlet = outlets.get(f.outlet_id) if f.outlet_id is not None else None
        attributes = {}
        if outlet and outlet.country:
            attributes["country"] = outlet.country
        if outlet and outlet.language:
            attributes["language"] = outlet.language
        entries.append(
            OpmlFeed(
                xml_url=f.url,
                title=(outlet.name if outlet else None) or f.title,
                html_url=outlet.homepage if outlet else None,
                categories=tuple(f.category.split("/")) if f.category else (),
                attributes=attributes,
            )
        )
    sys.stdout.buffer.write(write_opml(entries, title="newsdigest feeds"))


# ---------------------------------------------------------------- fetch


@app.command()
def fetch(
    all_feeds: Annotated[bool, typer.Option("--all", help="fetch every feed, due or not")] = False,
) -> None:
    """Fetch the due feeds once, store new articles, and exit."""
    with _app(sync_subscribers=False) as instance:
        if out.is_terminal:
            with Progress(
                TextColumn("fetching"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=out,
                transient=True,
            ) as progress:
                task = progress.add_task("fetch", total=None)
                report = instance.fetch(
                    all_feeds=all_feeds,
                    on_start=lambda n: progress.update(task, total=n),
                    on_result=lambda _o: progress.advance(task),
                )
        else:
            report = instance.fetch(all_feeds=all_feeds)
    _print_round(report)
    if report.failed:
        raise typer.Exit(EXIT_FAILED)


def _print_round(report: RoundReport) -> None:
    table = Table(title="fetch summary", show_header=True)
    for column in ("feeds", "ok", "not modified", "failed", "new articles", "updated"):
        table.add_column(column, justify="right")
    table.add_row(
        str(len(report.outcomes)),
        str(report.count("ok")),
        str(report.count("not_modified")),
        str(len(report.failed)),
        str(report.new_articles),
        str(sum(o.updated for o in report.outcomes)),
    )
    out.print(table)
    for outcome in report.failed:
        out.print(f"  feed {outcome.feed_id} {outcome.url}: {outcome.error}", highlight=False)


# ---------------------------------------------------------------- articles


@articles_app.command("list")
def articles_list(
    since: Annotated[str | None, typer.Option(help="first seen at or after (ISO 8601)")] = None,
    outlet: Annotated[str | None, typer.Option(help="only this outlet")] = None,
    region: Annotated[
        str | None, typer.Option(help="only articles tagged with this region")
    ] = None,
    country: Annotated[str | None, typer.Option(help="only this country (ISO alpha-2)")] = None,
    topic: Annotated[str | None, typer.Option(help="only this topic")] = None,
    limit: Annotated[int, typer.Option(help="at most this many")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object a line")] = False,
) -> None:
    """Stored articles, newest first."""
    from ingest import store

    since_dt = _parse_since(since)
    with _app() as instance, instance.session() as session:
        tagging = instance.config.tagging
        tags, region_countries = _tag_filters(
            region=region,
            country=country,
            topic=topic,
            aliases=tagging.region_aliases,
            extra_topics=tagging.topics,
        )
        articles = store.list_articles(
            session,
            since=since_dt,
            outlet=outlet,
            limit=limit,
            tags=tags,
            any_country=region_countries,
        )
    if as_json:
        for a in articles:
            print(json.dumps(article_json(a), ensure_ascii=False))
        return
    table = Table(title=f"{len(articles)} articles")
    for column in ("id", "published", "outlet", "title"):
        table.add_column(column, overflow="fold")
    for a in articles:
        table.add_row(str(a.id), _when(a.published), a.outlet or "-", a.title)
    out.print(table)


def _tag_filters(
    *,
    region: str | None,
    country: str | None,
    topic: str | None,
    aliases: dict[str, list[str]],
    extra_topics: Iterable[str],
) -> tuple[list[tuple[str, str]], frozenset[str] | None]:
    """Tag filters from the options: required (kind, value) tags, and a region's countries.

    A region (an M49 sub-region, "Middle East", an alias such as "Sahel") is matched
    through the countries it holds, so every alias works on articles already stored.
    """
    from ingest.tagging import TOPICS, UnknownRegionError, countries_for_region

    tags: list[tuple[str, str]] = []
    region_countries = None
    if region is not None:
        try:
            region_countries = frozenset(countries_for_region(region, aliases))
        except UnknownRegionError as exc:
            fail(f"--region: {exc}")
    if country is not None:
        if not re.fullmatch(r"[A-Za-z]{2}", country):
            fail(f"--country: not an ISO 3166-1 alpha-2 code: {country!r} (e.g. IQ)")
        tags.append(("country", country.upper()))
    if topic is not None:
        known = (*TOPICS, *sorted(set(extra_topics) - set(TOPICS)))
        if topic not in known:
            fail(f"--topic: unknown topic {topic!r}; known: {', '.join(known)}")
        tags.append(("topic", topic))
    return tags, region_countries


def article_json(a: ArticleInfo) -> dict[str, Any]:
    return {
        "id": a.id,
        "title": a.title,
        "url": a.url,
        "outlet": a.outlet,
        "published": _iso(a.published),
        "first_seen": _iso(a.first_seen),
        "updated": _iso(a.updated) if a.updated else None,
        "language": a.language,
        "story_id": a.story_id,
        "countries": list(a.countries),
        "regions": list(a.regions),
        "topics": list(a.topics),
    }


@stories_app.command("list")
def stories_list(
    since: Annotated[str | None, typer.Option(help="first seen at or after (ISO 8601)")] = None,
    limit: Annotated[int, typer.Option(help="at most this many")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object a line")] = False,
) -> None:
    """Stories with their sources, the most widely carried first."""
    from ingest import store

    since_dt = _parse_since(since)
    with _app() as instance, instance.session() as session:
        stories = store.list_stories(session, since=since_dt, limit=limit)
    if as_json:
        for st in stories:
            record = {
                "id": st.id,
                "title": st.title,
                "size": st.size,
                "representative_id": st.representative_id,
                "first_seen": _iso(st.first_seen),
                "sources": [
                    {
                        "article_id": src.article_id,
                        "outlet": src.outlet,
                        "url": src.url,
                        "published": _iso(src.published),
                    }
                    for src in st.sources
                ],
            }
            print(json.dumps(record, ensure_ascii=False))
        return
    table = Table(title=f"{len(stories)} stories")
    for column in ("id", "size", "headline", "outlets"):
        table.add_column(column, overflow="fold")
    for st in stories:
        outlets = ", ".join(dict.fromkeys(src.outlet or "-" for src in st.sources))
        table.add_row(str(st.id), str(st.size), st.title, outlets)
    out.print(table)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------- digest


@digest_app.command("build")
def digest_build(
    on: Annotated[
        str | None, typer.Option("--date", help="the digest's date, YYYY-MM-DD (default: today)")
    ] = None,
    subscriber: Annotated[str | None, typer.Option(help="only this subscriber's email")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="output folder")] = None,
) -> None:
    """Render digests (HTML page, .eml email, plain text) into the output folder."""
    from newsdigest.digest_job import build_digests

    day: date | None = None
    if on is not None:
        try:
            day = date.fromisoformat(on)
        except ValueError:
            fail(f"--date: not a date as YYYY-MM-DD: {on!r}")
    with _app() as instance:
        built = build_digests(instance, day=day, subscriber=subscriber, out_dir=out_dir)
    table = Table(title="digests")
    for column in ("subscriber", "stories", "page", "email"):
        table.add_column(column, overflow="fold")
    for b in built:
        if b.skipped:
            table.add_row(b.subscriber, "0", f"skipped: {b.skipped}", "-")
        else:
            table.add_row(b.subscriber, str(b.stories), str(b.page), str(b.eml))
    out.print(table)


# ---------------------------------------------------------------- tag


@app.command()
def tag(
    source: Annotated[str, typer.Argument(help="a file, or - for standard input")] = "-",
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Tag one article: JSON {"title", "summary", "content"} or plain text. No database needed."""
    from ingest.tagging import tag_article, tag_result_to_json
    from ingest.tagging.__main__ import article_from_text

    try:
        raw = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{source}: cannot read it: {exc}")
    article = article_from_text(raw)
    outlet = article.get("outlet_country") or article.get("outlet")
    categories = article.get("categories")
    result = tag_article(
        str(article.get("title") or ""),
        str(article.get("summary") or ""),
        str(article.get("content") or ""),
        categories=[str(c) for c in categories] if isinstance(categories, list) else (),
        outlet_country=outlet if isinstance(outlet, str) and len(outlet) == 2 else None,
    )
    if as_json:
        print(json.dumps(tag_result_to_json(result), ensure_ascii=False))
        return
    table = Table(title="tags")
    for column in ("kind", "value", "score", "evidence"):
        table.add_column(column, overflow="fold")
    for t in result.tags:
        table.add_row(t.kind, t.value, f"{t.score:.2f}", ", ".join(t.evidence[:5]))
    out.print(table)


@app.command()
def retag(
    since: Annotated[
        str | None, typer.Option(help="only articles first seen since (ISO 8601)")
    ] = None,
) -> None:
    """Re-apply the tagging rules to stored articles (after changing config.yaml's tagging)."""
    from ingest import store

    since_dt = _parse_since(since)
    done = 0
    with _app() as instance:
        retag = instance.retagger()
        after = 0
        while True:
            with instance.session() as session, session.begin():
                batch = store.texts_to_tag(session, since=since_dt, after_id=after)
                if not batch:
                    break
                store.replace_tags(session, {t.article_id: retag(t) for t in batch})
            after = batch[-1].article_id
            done += len(batch)
    out.print(f"retagged {done} articles", highlight=False)


@app.command()
def run(
    http: Annotated[
        str | None,
        typer.Option(help="serve /healthz, /readyz, /metrics on HOST:PORT (default: daemon.http)"),
    ] = None,
    log_format: Annotated[
        str | None, typer.Option(help="text or json (default: daemon.log_format)")
    ] = None,
) -> None:
    """Run the service: scheduled fetching, digests, full text and pruning, until SIGTERM."""
    from newsdigest.config import find_config_path
    from newsdigest.daemon import Daemon, run_forever
    from newsdigest.logs import configure_logging

    if http is not None and not re.fullmatch(r"[^\s:]+:\d+", http):
        fail(f"--http: not HOST:PORT: {http!r} (e.g. 127.0.0.1:9464)")
    if log_format not in (None, "text", "json"):
        fail(f"--log-format: {log_format!r} is not text or json")
    config = _config()
    configure_logging(log_format or config.daemon.log_format, config.daemon.log_level)
    daemon = Daemon(config, config_path=find_config_path(State.config_path), http=http)
    raise typer.Exit(run_forever(daemon))


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """One screen on the service: feeds by health, backlog, digests, what to look at."""
    from newsdigest.status import collect_status

    with _app() as instance:
        st = collect_status(instance)
    f = st.feeds
    if as_json:
        data = {
            "feeds": {
                "total": f.total,
                "healthy": f.healthy,
                "failing": f.failing,
                "gone": f.gone,
                "disabled": f.disabled,
                "never_fetched": f.never_fetched,
                "due_backlog": f.due_backlog,
                "last_fetch": _iso(f.last_fetch) if f.last_fetch else None,
                "not_modified_share": f.not_modified_share,
                "leases": f.leases,
            },
            "failing": [_feed_json(x) for x in f.failures],
            "silent": [_feed_json(x) for x in f.silent],
            "degraded_keys": [_feed_json(x) for x in f.degraded_keys],
            "next_digests": [{"email": d.email, "at": _iso(d.at)} for d in st.next_digests],
            "deliveries_last_day": st.deliveries_last_day,
            "articles": st.articles,
        }
        print(json.dumps(data, ensure_ascii=False))
        return
    share = f"{f.not_modified_share:.0%}" if f.not_modified_share is not None else "-"
    out.print(
        f"[bold]feeds[/bold] {f.total}: {f.healthy} healthy, {f.failing} failing, {f.gone} gone, "
        f"{f.disabled} disabled, {f.never_fetched} never fetched",
        highlight=False,
    )
    out.print(
        f"due now: {f.due_backlog}   last fetch: {_when(f.last_fetch)}   "
        f"not modified (304 or same body): {share}   articles: {st.articles}",
        highlight=False,
    )
    if f.leases:
        held = ", ".join(f"{owner}: {n}" for owner, n in sorted(f.leases.items()))
        out.print(f"leases held: {held}", highlight=False)
    deliveries = ", ".join(f"{n} {k}" for k, n in sorted(st.deliveries_last_day.items()))
    out.print(f"digests in the last 24 h: {deliveries or 'none'}", highlight=False)
    for title, rows, reason in (
        ("failing feeds", f.failures, lambda x: f"since {_when(x.failing_since)}: {x.last_error}"),
        ("silent feeds", f.silent, lambda x: f"nothing new since {_when(x.last_new_entry_at)}"),
        ("feeds whose guids repeat", f.degraded_keys, lambda x: f"keyed by {x.key_policy}"),
    ):
        if rows:
            out.print(f"[bold]{title}[/bold]", highlight=False)
            for x in rows:
                out.print(f"  {x.id} {x.url}: {reason(x)}", highlight=False)
    if st.next_digests:
        out.print("[bold]next digests[/bold]", highlight=False)
        for d in st.next_digests:
            out.print(f"  {_when(d.at)} UTC  {d.email}", highlight=False)


# ---------------------------------------------------------------- db


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database schema to the newest version."""
    from newsdigest.db import current_revision, make_engine, upgrade

    config = _config()
    engine = make_engine(config.database)
    try:
        upgrade(engine)
        out.print(f"database at revision {current_revision(engine)}", highlight=False)
    finally:
        engine.dispose()


# ---------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; expected errors become one line and an exit code."""
    try:
        app(args=argv, prog_name="newsdigest")  # standalone: always ends in SystemExit
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (EXIT_OK if code is None else EXIT_FAILED)
    except NewsdigestError as exc:
        _print_error(exc)
        return EXIT_USAGE
    except (IngestError, DigestError) as exc:  # e.g. the output folder's disk is full
        _print_error(exc)
        return EXIT_FAILED
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    return EXIT_OK


def _print_error(exc: Exception) -> None:
    for line in str(exc).splitlines() or [type(exc).__name__]:
        err.print(f"[red]error:[/red] {line}", markup=True, highlight=False, soft_wrap=True)


if __name__ == "__main__":
    # Run the module's importable copy: the cli_* modules import `newsdigest.cli`, and the
    # options they read (State) must be the ones this run set, not those of `__main__`.
    from newsdigest.cli import main as _main

    sys.exit(_main())
