"""`newsdigest serve` as a user runs it: real HTTP requests to the unsubscribe endpoint
(GET confirms, POST unsubscribes, RFC 8058) and to the static output folder."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy.orm import Session

from digest.models import Subscriber
from digest.unsubscribe import make_token, unsubscribe_url
from newsdigest.db import open_database
from tests.test_mailer import free_port

SECRET = "serve-test-secret-0123456789"
ENTRY = "import sys; from newsdigest.cli import main; sys.exit(main(sys.argv[1:]))"
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Served:
    base: str
    database: str
    out: Path
    ids: dict[str, int]

    def status(self, email: str) -> str:
        engine = open_database(self.database)
        try:
            with Session(engine) as session:
                return session.get(Subscriber, self.ids[email]).status  # type: ignore[union-attr]
        finally:
            engine.dispose()

    def link(self, email: str) -> str:
        return unsubscribe_url(self.base, make_token(SECRET, self.ids[email], email))


def _add(session: Session, email: str) -> int:
    now = datetime.now(UTC)
    row = Subscriber(
        email=email,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return row.id


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("serve")
    out = tmp / "out"
    (out / "digests" / "2025-01-10").mkdir(parents=True)
    (out / "index.html").write_text("<h1>Archive — الأرشيف</h1>", encoding="utf-8")
    (out / "digests" / "2025-01-10" / "a.html").write_text("<p>digest</p>", encoding="utf-8")
    (out / "digests" / "2025-01-10" / "a.eml").write_text("Subject: private", encoding="utf-8")
    (out / "outbox").mkdir()
    (out / "outbox" / "index.html").write_text("outbox", encoding="utf-8")
    (out / ".hidden.html").write_text("hidden", encoding="utf-8")
    (tmp / "secret.html").write_text("outside", encoding="utf-8")
    (out / "escape.html").symlink_to(tmp / "secret.html")
    database = f"sqlite:///{tmp / 'db.sqlite'}"
    engine = open_database(database)
    with Session(engine) as session, session.begin():
        ids = {e: _add(session, e) for e in ("a@example.org", "b@example.org", "c@пример.рф")}
    engine.dispose()
    config = tmp / "config.yaml"
    config.write_text(
        yaml.safe_dump({"database": database, "output": {"directory": str(out)}}),
        encoding="utf-8",
    )
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", ENTRY, "--config", str(config), "serve", "--port", str(port)],
        env={**os.environ, "NEWSDIGEST_SECRET": SECRET, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"newsdigest serve exited with {proc.returncode}")
                time.sleep(0.1)
        yield Served(f"http://127.0.0.1:{port}", database, out, ids)
    finally:
        proc.terminate()
        proc.wait(30)


def test_get_shows_a_confirmation_page_and_changes_nothing(served: Served) -> None:
    response = httpx.get(served.link("a@example.org"))
    assert response.status_code == 200
    assert '<form method="post"' in response.text and "<button" in response.text
    assert "a*@example.org" in response.text  # recognisable, not harvestable
    assert response.headers["cache-control"] == "no-store"
    assert served.status("a@example.org") == "active"


def test_one_click_post_pauses_the_subscriber(served: Served) -> None:
    link = served.link("b@example.org")
    response = httpx.post(
        link,
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200 and "unsubscribed" in response.text
    assert served.status("b@example.org") == "paused"
    assert served.status("a@example.org") == "active"
    assert httpx.post(link).status_code == 200  # again: still paused, no error


def test_the_confirmation_button_posts_back_to_the_same_link(served: Served) -> None:
    email = "c@пример.рф"
    page = httpx.get(served.link(email))
    action = page.text.split('action="', 1)[1].split('"', 1)[0]
    target = httpx.URL(served.link(email)).join(action)
    assert str(target) == served.link(email)
    response = httpx.post(target, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert served.status(email) == "paused"


@pytest.mark.parametrize(
    ("make", "status"),
    [
        # b's id with a's signature: a token for A cannot unsubscribe B
        (lambda s: f"{s.ids['a@example.org']}.{_sig(s, 'b@example.org')}", 403),
        (lambda s: f"{s.ids['a@example.org']}.{_sig(s, 'a@example.org')[:-1]}B", 403),
        (lambda s: f"999.{_sig(s, 'a@example.org')}", 403),  # no such subscriber
        (lambda s: "not-a-token", 400),
    ],
)
def test_forged_or_altered_tokens_are_refused(served: Served, make, status: int) -> None:  # type: ignore[no-untyped-def]
    before = served.status("a@example.org")
    url = f"{served.base}/unsubscribe/{make(served)}"
    assert httpx.get(url).status_code == status
    assert httpx.post(url, content=b"List-Unsubscribe=One-Click").status_code == status
    assert served.status("a@example.org") == before


def _sig(served: Served, email: str) -> str:
    return make_token(SECRET, served.ids[email], email).split(".")[1]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/", 200),
        ("/index.html", 200),
        ("/digests/2025-01-10/a.html", 200),
        ("/digests/2025-01-10/a.eml", 404),  # emails carry unsubscribe links
        ("/outbox/index.html", 404),
        ("/outbox/", 404),
        ("/.hidden.html", 404),
        ("/escape.html", 404),  # a symbolic link out of the folder
        ("/db.sqlite", 404),
        ("/../config.yaml", 404),
        ("/%2e%2e/config.yaml", 404),
        ("/digests/", 404),  # no listings
    ],
)
def test_static_files_stay_inside_the_output_folder(served: Served, path: str, status: int) -> None:
    # Sent raw so the client does not normalise the dots away.
    with socket.create_connection(("127.0.0.1", int(served.base.rsplit(":", 1)[1]))) as sock:
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert int(reply.split(b" ", 2)[1]) == status, reply[:200]
    if path in ("/", "/index.html"):
        assert "الأرشيف".encode() in reply
