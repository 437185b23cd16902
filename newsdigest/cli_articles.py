"""`newsdigest articles search`, `newsdigest prune` and `newsdigest fulltext`.

Registered by newsdigest/cli.py (:func:`register`). Heavy modules are imported inside the
commands, like the rest of the CLI. cli's helpers (``_app``, ``fail``, ``out``) are looked
up when a command runs, through :func:`_cli`: cli.py imports this module while it is
itself being imported.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, timedelta
from types import ModuleType
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from ingest.search import SearchHit


def register(app: typer.Typer, articles_app: typer.Typer) -> None:
    """Add `articles search`, `prune` and `fulltext` to the command line."""
    articles_app.command("search")(articles_search)
    app.command("prune")(prune)
    app.command("fulltext")(fulltext)


def _cli() -> ModuleType:
    """cli.py's module: ``__main__`` under `python -m newsdigest.cli`, where the --config
    option was recorded, else ``newsdigest.cli``."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if main is not None and spec is not None and spec.name == "newsdigest.cli":
        return main
    from newsdigest import cli

    return cli


# ---------------------------------------------------------------- articles search


def hit_json(hit: SearchHit) -> dict[str, Any]:
    """One search result as `--json` prints it: the article, its rank and a snippet."""
    from ingest.search import snippet_text

    return {
        **_cli().article_json(hit.article),
        "rank": round(hit.rank, 6),
        "snippet": snippet_text(hit.snippet),
        "highlights": [p.text for p in hit.snippet if p.match],
    }


def articles_search(
    query: Annotated[str, typer.Argument(help='words or "a phrase"; every one must occur')],
    limit: Annotated[int, typer.Option(min=1, max=1000, help="at most this many")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object a line")] = False,
) -> None:
    """Full-text search over stored articles' titles and text, best match first."""
    from ingest.search import EmptyQueryError, search_articles

    cli = _cli()
    with cli._app() as instance, instance.session() as session:
        try:
            hits = search_articles(session, query, limit=limit)
        except EmptyQueryError as exc:
            cli.fail(str(exc))
    if as_json:
        for hit in hits:
            print(json.dumps(hit_json(hit), ensure_ascii=False))
        return
    table = Table(title=f"{len(hits)} articles match {query!r}")
    for column in ("id", "published", "outlet", "title and snippet"):
        table.add_column(column, overflow="fold")
    for hit in hits:
        a = hit.article
        cell = Text(a.title, style="bold")
        cell.append("\n")
        for part in hit.snippet:
            cell.append(part.text, style="reverse" if part.match else "")
        table.add_row(str(a.id), cli._when(a.published), a.outlet or "-", cell)
    cli.out.print(table)


# ---------------------------------------------------------------- prune


def prune(
    older_than: Annotated[
        str | None,
        typer.Option(help="age such as 90d, 12h or 2w (default: retention.days)"),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="count what would be removed; remove nothing")
    ] = False,
) -> None:
    """Remove articles older than the retention period; stories and digests stay sound."""
    from ingest.prune import (
        count_prunable,
        parse_age,
    )

    cli = _cli()
    age: timedelta | None = None
    if older_than is not None:
        try:
            age = parse_age(older_than)
        except ValueError as exc:
            cli.fail(f"--older-than: {exc}")
    with cli._app() as instance:
        retention = instance.config.retention
        if age is None:
            age = timedelta(days=retention.days)
        now = instance.clock()
        cutoff = now - age
        when = cutoff.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        if dry_run:
            with instance.session() as session:
                count = count_prunable(session, cutoff=cutoff)
            cli.out.print(
                f"would remove {count} articles published and first seen before {when}",
                highlight=False,
            )
            return
        report = instance.prune(age)
    total = report.stats
    cli.out.print(
        f"removed {total.articles} articles published and first seen before {when}; "
        f"{total.stories_removed} stories removed, {total.stories_refreshed} updated; "
        f"{report.tombstones_forgotten} old tombstones forgotten",
        highlight=False,
    )


# ---------------------------------------------------------------- fulltext


def fulltext(
    limit: Annotated[
        int | None, typer.Option(min=1, help="at most this many articles (default: all pending)")
    ] = None,
) -> None:
    """Fetch article pages for their full text (full_text outlets, short summaries)."""
    from ingest.fulltext import FullTextStatus

    cli = _cli()
    with cli._app() as instance:
        report = instance.fulltext(limit)
    table = Table(title="full text")
    for column in ("articles", "extracted", "kept summary", "retry later", "failed"):
        table.add_column(column, justify="right")
    table.add_row(
        str(len(report.outcomes)),
        *(
            str(report.count(s))
            for s in (
                FullTextStatus.EXTRACTED,
                FullTextStatus.KEPT_SUMMARY,
                FullTextStatus.RETRY,
                FullTextStatus.FAILED,
            )
        ),
    )
    cli.out.print(table)
    failed = [
        o for o in report.outcomes if o.status in (FullTextStatus.RETRY, FullTextStatus.FAILED)
    ]
    for outcome in failed:
        cli.out.print(
            f"  article {outcome.article_id} {outcome.url}: {outcome.reason}", highlight=False
        )
    if failed:
        raise typer.Exit(cli.EXIT_FAILED)
