"""`newsdigest subscribers ...` and `newsdigest digest preview`.

Registered by newsdigest/cli.py. Heavy modules are imported inside the commands, like the
rest of the CLI. cli's helpers (``_app``, ``fail``, ``out``) are looked up when a command
runs, through :func:`_cli`: cli.py imports this module while it is itself being imported.
"""

from __future__ import annotations

import json
import sys
import webbrowser
from datetime import date
from types import ModuleType
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

if TYPE_CHECKING:
    from digest.subscribers import SubscriberInfo

subscribers_app = typer.Typer(
    help="Add, list, pause, resume and remove digest subscribers.", no_args_is_help=True
)


def _cli() -> ModuleType:
    """cli.py's module: ``__main__`` under `python -m newsdigest.cli`, where the --config
    option was recorded, else ``newsdigest.cli``."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if main is not None and spec is not None and spec.name == "newsdigest.cli":
        return main
    from newsdigest import cli

    return cli


ListOption = Annotated[
    list[str] | None,
    typer.Option(help="repeat the option or separate values with commas"),
]


def _values(raw: list[str] | None) -> list[str]:
    """``--topics a,b --topics c`` -> ["a", "b", "c"]."""
    return [part.strip() for value in raw or () for part in value.split(",") if part.strip()]


def _weekday_name(day: int | None) -> str:
    from digest.subscribers import WEEKDAYS

    return "daily" if day is None else f"weekly {WEEKDAYS[day]}"


def subscriber_json(info: SubscriberInfo) -> dict[str, Any]:
    s = info.spec
    return {
        "email": s.email,
        "name": s.name,
        "status": info.status,
        "source": info.source,
        "timezone": s.timezone,
        "send_at": s.send_at.strftime("%H:%M"),
        "weekly": None if s.weekly is None else _weekday_name(s.weekly).split()[1],
        "regions": list(s.regions),
        "countries": list(s.countries),
        "topics": list(s.topics),
        "outlets": list(s.outlets),
        "keywords": list(s.keywords),
        "exclude_keywords": list(s.exclude_keywords),
        "group_by": s.group_by,
        "created_at": info.created_at.isoformat(),
        "updated_at": info.updated_at.isoformat(),
    }


@subscribers_app.command("add")
def subscribers_add(
    email: str,
    name: Annotated[str | None, typer.Option(help="display name")] = None,
    regions: ListOption = None,
    countries: ListOption = None,
    topics: ListOption = None,
    outlets: ListOption = None,
    keywords: ListOption = None,
    exclude_keywords: ListOption = None,
    timezone: Annotated[str, typer.Option(help="IANA time zone, e.g. Asia/Baghdad")] = "UTC",
    send_at: Annotated[str, typer.Option(help="local send time, HH:MM")] = "07:00",
    weekly: Annotated[
        str | None, typer.Option(help="send weekly on this day (MON..SUN) instead of daily")
    ] = None,
    group_by: Annotated[
        str | None,
        typer.Option(
            help="sections by region (then topic), by topic (then region), or by outlet; "
            "default: digest.group_by in config.yaml"
        ),
    ] = None,
) -> None:
    """Subscribe EMAIL. An empty filter means everything; unknown names are refused."""
    from digest.subscribers import SubscriberError, add_subscriber, validate

    try:
        spec = validate(
            email=email,
            name=name,
            timezone=timezone,
            send_at=send_at,
            weekly=weekly,
            regions=_values(regions),
            countries=_values(countries),
            topics=_values(topics),
            outlets=_values(outlets),
            keywords=_values(keywords),
            exclude_keywords=_values(exclude_keywords),
            group_by=group_by,
        )
        with _cli()._app() as instance, instance.session() as session, session.begin():
            info = add_subscriber(session, spec, now=instance.clock())
    except SubscriberError as exc:
        _cli().fail(str(exc))
    _cli().out.print(
        f"subscribed {info.email}: {_summary(info)}, {_weekday_name(info.spec.weekly)} at "
        f"{info.spec.send_at:%H:%M} {info.spec.timezone}, {_grouping(info)}",
        highlight=False,
        soft_wrap=True,
    )


def _grouping(info: SubscriberInfo) -> str:
    group_by = info.spec.group_by
    return f"sections by {group_by}" if group_by else "default sections"


def _summary(info: SubscriberInfo) -> str:
    s = info.spec
    parts = [
        f"{label} {', '.join(values)}"
        for label, values in (
            ("regions", s.regions),
            ("countries", s.countries),
            ("topics", s.topics),
            ("outlets", s.outlets),
            ("keywords", s.keywords),
            ("excluding", s.exclude_keywords),
        )
        if values
    ]
    return "; ".join(parts) or "everything"


@subscribers_app.command("list")
def subscribers_list(
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object a line")] = False,
) -> None:
    """Every subscriber, their filters, schedule and status."""
    from digest.subscribers import list_subscribers

    with _cli()._app() as instance, instance.session() as session:
        everyone = list_subscribers(session)
    if as_json:
        for info in everyone:
            print(json.dumps(subscriber_json(info), ensure_ascii=False))
        return
    table = Table(title=f"{len(everyone)} subscribers")
    for column in ("email", "name", "status", "source", "when", "filters", "sections"):
        table.add_column(column, overflow="fold")
    for info in everyone:
        status = "removed from config" if info.status == "removed" else info.status
        table.add_row(
            info.email,
            info.spec.name,
            status,
            info.source,
            f"{_weekday_name(info.spec.weekly)} {info.spec.send_at:%H:%M} {info.spec.timezone}",
            _summary(info),
            f"by {info.spec.group_by}" if info.spec.group_by else "default",
        )
    _cli().out.print(table)


def _change(email: str, action: str) -> None:
    from digest.subscribers import SubscriberError, remove_subscriber, set_status

    try:
        with _cli()._app() as instance, instance.session() as session, session.begin():
            if action == "remove":
                info = remove_subscriber(session, email)
            else:
                status = "paused" if action == "pause" else "active"
                info = set_status(session, email, status, now=instance.clock())
    except SubscriberError as exc:
        _cli().fail(str(exc))
    done = {"remove": "removed", "pause": "paused", "resume": "resumed"}[action]
    _cli().out.print(f"{done} {info.email}", highlight=False)


@subscribers_app.command("remove")
def subscribers_remove(email: str) -> None:
    """Delete a subscriber added with `subscribers add` (config ones: edit config.yaml)."""
    _change(email, "remove")


@subscribers_app.command("pause")
def subscribers_pause(email: str) -> None:
    """Stop a subscriber's digests, keeping their settings."""
    _change(email, "pause")


@subscribers_app.command("resume")
def subscribers_resume(email: str) -> None:
    """Send a paused subscriber's digests again."""
    _change(email, "resume")


def digest_preview(
    email: str,
    html: Annotated[
        bool, typer.Option("--html", help="write the web page and open it in a browser")
    ] = False,
    on: Annotated[
        str | None, typer.Option("--date", help="the digest's date, YYYY-MM-DD (default: now)")
    ] = None,
) -> None:
    """Show what EMAIL's digest would hold now: its plain text, or with --html its page."""
    from digest import archive
    from digest.render import Renderer
    from newsdigest.digest_job import preview_digest

    day: date | None = None
    if on is not None:
        try:
            day = date.fromisoformat(on)
        except ValueError:
            _cli().fail(f"--date: not a date as YYYY-MM-DD: {on!r}")
    with _cli()._app() as instance:
        digest = preview_digest(instance, email, day=day)
        folder = instance.config.output.directory
    if digest.skip_reason:
        _cli().err.print(f"note: a build would skip it: {digest.skip_reason}", highlight=False)
    renderer = Renderer()
    if not html:
        sys.stdout.write(renderer.text(digest))
        return
    path = archive.write_file(
        folder,
        f"preview/{archive.digest_stem(digest.subscriber.email)}.html",
        renderer.page(digest),
    )
    # Only an interactive user wants a browser window; scripts and tests get the path.
    if not (sys.stdout.isatty() and webbrowser.open(path.as_uri())):
        print(path)
