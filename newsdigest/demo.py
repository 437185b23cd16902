"""`make demo`: the main job once, offline, on SQLite.

Serves the seed snapshots (seeds/snapshots/*.xml) from a local HTTP server that it starts
and stops, follows them as the seed outlets' feeds, fetches them through the real fetch
path, stores them, and renders today's digest into out/.
"""

from __future__ import annotations

import re
import sys
import threading
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ingest.opml import read_opml
from newsdigest.app import App
from newsdigest.config import parse_config

ROOT = Path(__file__).resolve().parents[1]


def slug(name: str) -> str:
    """The snapshot file name of an outlet (the rule in seeds/README.md)."""
    folded = unicodedata.normalize("NFKD", name)
    folded = "".join(c for c in folded if not unicodedata.combining(c)).lower()
    return re.sub(r"[^a-z0-9]+", "-", folded).strip("-")


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve_folder(folder: Path) -> Iterator[str]:
    """Serve a folder over HTTP on a free loopback port; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def demo_config(seeds: Path, base_url: str, workdir: Path) -> dict[str, Any]:
    """A configuration following the seed outlets that have a snapshot, at base_url."""
    snapshots = {p.stem for p in (seeds / "snapshots").glob("*.xml")}
    outlets = []
    seen: set[str] = set()
    for feed in read_opml((seeds / "outlets.opml").read_bytes()):
        name = feed.title or feed.xml_url
        key = slug(name)
        if key not in snapshots or key in seen:
            continue
        seen.add(key)
        outlets.append(
            {
                "name": name,
                "homepage": feed.html_url,
                "country": feed.attributes.get("country"),
                "language": feed.attributes.get("language"),
                "feeds": [f"{base_url}/{key}.xml"],
            }
        )
    return {
        "database": f"sqlite:///{workdir / 'newsdigest.db'}",
        "fetch": {"allow_private_networks": True, "parse_workers": 0},
        "outlets": outlets,
        "subscribers": [
            {"email": "everything@example.org", "name": "Demo Reader", "timezone": "UTC"},
            {
                "email": "middle-east@example.org",
                "name": "Middle East Reader",
                "timezone": "Asia/Baghdad",
                "regions": ["Middle East"],
            },
        ],
        "output": {"directory": str(workdir.parent)},
    }


def main() -> int:
    console = Console()
    seeds = ROOT / "seeds"
    out_dir = Path.cwd() / "out"
    workdir = out_dir / "demo"
    workdir.mkdir(parents=True, exist_ok=True)
    for stale in workdir.glob("newsdigest.db*"):
        stale.unlink()  # the demo starts from an empty store every time
    from newsdigest.digest_job import build_digests

    with serve_folder(seeds / "snapshots") as base_url:
        config = parse_config(demo_config(seeds, base_url, workdir), "(demo)", workdir)
        app = App.open(config)
        try:
            report = app.fetch(all_feeds=True)
            built = build_digests(app, out_dir=out_dir)
            from newsdigest.send_job import write_demo_outbox  # delivery: issue 7

            mailed = write_demo_outbox(app)  # each subscriber's next email, as .eml files
            console.print(f"{mailed.count('sent')} emails in {out_dir / 'outbox'}")
        finally:
            app.close()
    table = Table(title="newsdigest demo")
    for column in ("feeds", "ok", "failed", "new articles"):
        table.add_column(column, justify="right")
    table.add_row(
        str(len(report.outcomes)),
        str(report.count("ok")),
        str(len(report.failed)),
        str(report.new_articles),
    )
    console.print(table)
    for outcome in report.failed:
        console.print(f"  failed: {outcome.url}: {outcome.error}", highlight=False)
    for b in built:
        console.print(f"\n[bold]{b.subscriber}[/bold]: {b.stories} stories", highlight=False)
        for path in (b.page, b.eml, b.text):
            console.print(f"  {path}", highlight=False, soft_wrap=True)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
