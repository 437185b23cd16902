"""Delivery commands: `digest send`, `deliveries list`, `serve`.

:func:`register` attaches them to the CLI in newsdigest/cli.py. Heavy modules are imported
inside the commands, as in cli.py, so `--help` stays fast.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

deliveries_app = typer.Typer(help="The delivery ledger.", no_args_is_help=True)


def register(app: typer.Typer, digest_app: typer.Typer) -> None:
    """Add `digest send`, `deliveries list` and `serve` to the command line."""
    digest_app.command("send")(digest_send)
    app.add_typer(deliveries_app, name="deliveries")
    app.command("serve")(serve)


def digest_send(
    subscriber: Annotated[str | None, typer.Option(help="only this subscriber's email")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="show what would be sent; claim and send nothing")
    ] = False,
) -> None:
    """Send each subscriber's digest for the period that ended last, once (SMTP or outbox)."""
    from rich.table import Table

    from newsdigest.cli import EXIT_FAILED, _app, err, out
    from newsdigest.send_job import send_digests

    with _app() as instance:
        report = send_digests(instance, email=subscriber, dry_run=dry_run)
    for warning in report.warnings:
        err.print(f"[yellow]warning:[/yellow] {warning}", highlight=False, soft_wrap=True)
    table = Table(title="dry run: nothing sent" if dry_run else "digest send")
    for column in ("subscriber", "period end (UTC)", "result", "stories", "detail"):
        table.add_column(column, overflow="fold")
    for o in report.outcomes:
        table.add_row(
            o.email,
            f"{o.period_end:%Y-%m-%d %H:%M}",
            o.outcome,
            str(o.stories),
            o.detail,
        )
    out.print(table)
    if not report.outcomes:
        out.print("nothing due: every due digest is in the ledger already", highlight=False)
    if report.unfinished:
        raise typer.Exit(EXIT_FAILED)


@deliveries_app.command("list")
def deliveries_list(
    status: Annotated[
        str | None,
        typer.Option(help="only this status: pending, sending, sent, failed or skipped"),
    ] = None,
    subscriber: Annotated[str | None, typer.Option(help="only this subscriber's email")] = None,
    limit: Annotated[int, typer.Option(help="at most this many, newest first")] = 200,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object a line")] = False,
) -> None:
    """The ledger: one row per subscriber and period."""
    from rich.table import Table

    from digest import ledger
    from newsdigest.cli import _app, fail, out

    if status is not None and status not in ledger.STATUSES:
        fail(f"--status: not a status: {status!r} (use one of {', '.join(ledger.STATUSES)})")
    with _app() as instance, instance.session() as session:
        rows = ledger.list_deliveries(
            session,
            status=status,  # type: ignore[arg-type]
            email=subscriber,
            limit=limit,
        )
    if as_json:
        for r in rows:
            print(
                json.dumps(
                    {
                        "id": r.id,
                        "subscriber": r.email,
                        "period_start": r.period_start.isoformat(),
                        "period_end": r.period_end.isoformat(),
                        "status": r.status,
                        "message_id": r.message_id,
                        "attempts": r.attempts,
                        "last_error": r.last_error,
                        "next_attempt_at": r.next_attempt_at.isoformat()
                        if r.next_attempt_at
                        else None,
                        "sent_at": r.sent_at.isoformat() if r.sent_at else None,
                        "stories": r.stories,
                    },
                    ensure_ascii=False,
                )
            )
        return
    table = Table(title=f"{len(rows)} deliveries")
    for column in ("subscriber", "period end (UTC)", "status", "tries", "sent", "detail"):
        table.add_column(column, overflow="fold")
    for r in rows:
        detail = r.last_error or ""
        if r.status == "pending" and r.next_attempt_at:
            detail = f"retry at {r.next_attempt_at:%Y-%m-%d %H:%M:%S}; {detail}"
        if r.status == "sending":
            detail = f"claimed by {r.claimed_by} until {r.lease_expires_at:%H:%M:%S}"
        table.add_row(
            r.email,
            f"{r.period_end:%Y-%m-%d %H:%M}",
            r.status,
            str(r.attempts),
            f"{r.sent_at:%Y-%m-%d %H:%M}" if r.sent_at else "-",
            detail,
        )
    out.print(table)


def serve(
    port: Annotated[int, typer.Option(help="TCP port; 0: any free one", min=0, max=65535)] = 8080,
    host: Annotated[
        str, typer.Option(help="address to listen on (0.0.0.0: every interface)")
    ] = "127.0.0.1",
) -> None:
    """Serve the output folder (archive pages, feeds) and the unsubscribe links."""
    import logging
    import os
    import sys

    from newsdigest.cli import _app, err, fail, out
    from newsdigest.send_job import DeliverySetupError, delivery_secret
    from newsdigest.serve import make_server

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with _app() as instance:
        try:
            secret: str | None = delivery_secret(instance.config, os.environ)
        except DeliverySetupError as exc:
            secret = None
            err.print(
                f"[yellow]warning:[/yellow] unsubscribe links will be refused: {exc}",
                highlight=False,
                soft_wrap=True,
            )
        root = instance.config.output.directory
        root.mkdir(parents=True, exist_ok=True)
        try:
            server = make_server(root, instance.engine, secret, host=host, port=port)
        except OSError as exc:
            fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
        bound = server.server_address[1]
        out.print(f"serving {root} at http://{host}:{bound}/ (Ctrl-C stops)", highlight=False)
        sys.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
