"""`newsdigest serve`: the output folder as a static site, and the unsubscribe endpoint.

    GET  /unsubscribe/<token>   a confirmation page with one button (no JavaScript)
    POST /unsubscribe/<token>   unsubscribes: RFC 8058 one-click from a mail client, or the
                                page's button; the subscriber is paused
    GET  /anything-else         a file under the output folder

GET never unsubscribes, because mail scanners follow links (RFC 8058 section 3.2). A
token that is cut, altered, or signed for another subscriber is refused (400 / 403).

Only published kinds of files are served (pages, feeds, styles, images): never the .eml
files of the outbox and of `digest build`, whose unsubscribe links would let anyone
unsubscribe their recipient, nor a database, nor hidden files. A path cannot leave the
folder, by ``..`` or by a symbolic link.

Usage::

    server = make_server(root, engine, secret, host="127.0.0.1", port=8080)
    server.serve_forever()
"""

from __future__ import annotations

import html
import logging
import posixpath
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from digest import ledger
from digest.unsubscribe import (
    UNSUBSCRIBE_PATH,
    InvalidTokenError,
    token_subscriber_id,
    verify_token,
)

log = logging.getLogger(__name__)

#: The kinds of files the static site publishes; everything else is 404.
PUBLIC_SUFFIXES = frozenset(
    {".html", ".htm", ".css", ".xml", ".atom", ".rss", ".json", ".txt"}
    | {".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".ico", ".woff", ".woff2"}
)
#: Folders under the output folder that are never served.
PRIVATE_FOLDERS = frozenset({"outbox", "demo"})
_MAX_FORM_BYTES = 4096
_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'"


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """Checks tokens and pauses subscribers; shared by the server's threads."""

    engine: Engine
    secret: str | None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def check(self, token: str) -> tuple[HTTPStatus, int | None, str]:
        """(status, subscriber id, email) for a token; id None when it is refused."""
        if not self.secret:
            return HTTPStatus.SERVICE_UNAVAILABLE, None, ""
        try:
            subscriber_id = token_subscriber_id(token)
        except InvalidTokenError:
            return HTTPStatus.BAD_REQUEST, None, ""
        with Session(self.engine) as session:
            email = ledger.subscriber_email(session, subscriber_id)
        if email is None or not verify_token(self.secret, token, email):
            return HTTPStatus.FORBIDDEN, None, ""
        return HTTPStatus.OK, subscriber_id, email

    def pause(self, subscriber_id: int) -> None:
        with Session(self.engine) as session, session.begin():
            ledger.pause_subscriber(session, subscriber_id, now=self.clock())


def _mask(email: str) -> str:
    """ "reader@example.org" -> "r*****@example.org": enough to recognise, not to harvest."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}{'*' * max(len(local) - 1, 1)}@{domain}"


def _page(title: str, body: str) -> bytes:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font:1.1rem/1.5 system-ui,sans-serif;max-width:32rem;margin:3rem auto;"
        "padding:0 1rem}button{font:inherit;padding:.5rem 1.2rem;cursor:pointer}"
        "@media (prefers-color-scheme:dark){body{background:#111;color:#eee}}</style>"
        f"</head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    ).encode()


_REFUSED = {
    HTTPStatus.BAD_REQUEST: (
        "This link is incomplete",
        "The unsubscribe link was cut or altered. Open it again from the email, as a whole.",
    ),
    HTTPStatus.FORBIDDEN: (
        "This link is not valid",
        "The unsubscribe link does not match any subscriber. Use the link from your latest "
        "digest, or reply to it and ask to be removed.",
    ),
    HTTPStatus.SERVICE_UNAVAILABLE: (
        "Unsubscribing is not set up",
        "This server has no secret to check unsubscribe links with. Reply to the digest "
        "and ask to be removed.",
    ),
}


class Handler(SimpleHTTPRequestHandler):
    """Static files under ``directory``, plus the unsubscribe pages."""

    server_version = "newsdigest"
    sys_version = ""

    def __init__(self, *args: Any, unsubscribe: Unsubscribe, **kwargs: Any) -> None:
        self.unsubscribe = unsubscribe
        super().__init__(*args, **kwargs)

    def log_message(self, format: str, *args: Any) -> None:
        # Paths hold tokens: log the route, never the token.
        path = urlsplit(self.path).path
        if path.startswith(UNSUBSCRIBE_PATH):
            path = UNSUBSCRIBE_PATH + "..."
        log.info("%s %s %s", self.command, path, args[1] if len(args) > 1 else "")

    def end_headers(self) -> None:
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        super().end_headers()

    # ---------------------------------------------------------------- unsubscribe

    def _token(self) -> str | None:
        path = urlsplit(self.path).path
        if not path.startswith(UNSUBSCRIBE_PATH):
            return None
        return unquote(path[len(UNSUBSCRIBE_PATH) :])

    def _reply(self, status: HTTPStatus, title: str, body: str) -> None:
        data = _page(title, body)
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Security-Policy", _CSP)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _refuse(self, status: HTTPStatus) -> None:
        title, text = _REFUSED[status]
        self._reply(status, title, f"<p>{html.escape(text)}</p>")

    def do_GET(self) -> None:
        token = self._token()
        if token is None:
            super().do_GET()
            return
        status, subscriber_id, email = self.unsubscribe.check(token)
        if subscriber_id is None:
            self._refuse(status)
            return
        # A relative form action: the page posts back to exactly the URL it came from.
        action = html.escape(posixpath.basename(urlsplit(self.path).path), quote=True)
        self._reply(
            HTTPStatus.OK,
            "Unsubscribe from the news digest?",
            f"<p>No more digests will be sent to {html.escape(_mask(email))}.</p>"
            f'<form method="post" action="{action}">'
            '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
            "<button type=submit>Unsubscribe</button></form>",
        )

    def do_HEAD(self) -> None:
        if self._token() is not None:
            self.do_GET()
            return
        super().do_HEAD()

    def do_POST(self) -> None:
        token = self._token()
        if token is None:
            self.send_error(HTTPStatus.METHOD_NOT_ALLOWED)
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        # RFC 8058's body is "List-Unsubscribe=One-Click"; the token alone decides, so the
        # body is read (to keep the connection sane) and not required.
        self.rfile.read(min(max(length, 0), _MAX_FORM_BYTES))
        status, subscriber_id, _email = self.unsubscribe.check(token)
        if subscriber_id is None:
            self._refuse(status)
            return
        self.unsubscribe.pause(subscriber_id)
        self._reply(
            HTTPStatus.OK,
            "You are unsubscribed",
            "<p>You will receive no more digests. To receive them again, ask the sender "
            "to resume your subscription.</p>",
        )

    # ---------------------------------------------------------------- static files

    def translate_path(self, path: str) -> str:
        """The file for a URL path, or a path that does not exist when it is not public."""
        root = Path(self.directory).resolve()
        candidate = Path(super().translate_path(path)).resolve()
        missing = str(root / ".not-public")
        if not candidate.is_relative_to(root):
            return missing  # a symbolic link leading out of the folder
        parts = candidate.relative_to(root).parts
        if any(p.startswith(".") for p in parts) or (parts and parts[0] in PRIVATE_FOLDERS):
            return missing
        if candidate.is_dir():
            index = candidate / "index.html"
            return str(candidate) if index.is_file() else missing
        if candidate.suffix.lower() not in PUBLIC_SUFFIXES:
            return missing
        return str(candidate)

    def list_directory(self, path: str | Path) -> None:
        # No listings: a folder without an index.html is not a page.
        self.send_error(HTTPStatus.NOT_FOUND)
        return None


def make_server(
    root: Path,
    engine: Engine,
    secret: str | None,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    clock: Callable[[], datetime] | None = None,
) -> ThreadingHTTPServer:
    """A threaded HTTP server for ``root`` and the unsubscribe endpoint (not started)."""
    unsubscribe = Unsubscribe(engine, secret, clock or (lambda: datetime.now(UTC)))
    handler = partial(Handler, directory=str(root), unsubscribe=unsubscribe)
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def serve_in_thread(server: ThreadingHTTPServer) -> threading.Thread:
    """Start ``server`` on a daemon thread (tests, the demo)."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread
