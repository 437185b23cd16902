"""Secrets stay out of output, template overrides stay in their folder, tokens stay bound.

The CLI runs as a user runs it (the installed ``newsdigest`` script in a subprocess), with
a database password, an SMTP password and NEWSDIGEST_SECRET set; none of them may appear
on stdout or stderr, whether the command works or fails.

The same commands also run in this process with every logger at DEBUG, through both
pytest's capture and the JSON log format of newsdigest/logs.py: a fetch round (on
PostgreSQL with a password in its URL, and on SQLite), a `digest send` to a real aiosmtpd
server that refuses the login or fails the message, a database that cannot be reached,
and `status` / `deliveries list` afterwards; no secret may appear in any record, any
traceback, or any output (nor the SMTP password in the base64 forms AUTH sends it in).
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult
from pytest_httpserver import HTTPServer
from sqlalchemy import update
from sqlalchemy.engine import make_url

from digest.errors import TemplateError
from digest.models import Subscriber
from digest.render import Renderer
from digest.unsubscribe import make_token, verify_token
from newsdigest.cli import main
from newsdigest.config import load_config
from newsdigest.db import open_database
from newsdigest.logs import configure_logging
from tests.test_mailer import Handler, MailServer, self_signed

DB_PASSWORD = "Pw-db-S3cret-8c1f"
SMTP_PASSWORD = "Pw-smtp-S3cret-41aa"
TOKEN_SECRET = "tok-S3cret-5e0d-0123456789abcdef"
SECRETS = (DB_PASSWORD, SMTP_PASSWORD, TOKEN_SECRET)
CLI = Path(sys.executable).parent / "newsdigest"


def write_config(
    folder: Path, database: str, *, smtp_port: int = 1, smtp_extra: str = "", extra: str = ""
) -> Path:
    path = folder / "config.yaml"
    path.write_text(
        f'database: "{database}"\n'
        f"smtp:\n  host: 127.0.0.1\n  port: {smtp_port}\n  username: digest\n"
        "  password: ${NEWSDIGEST_SMTP_PASSWORD}\n"
        f"{smtp_extra}"
        "secret: ${NEWSDIGEST_SECRET}\n"
        "subscribers:\n  - email: читатель@example.org\n    timezone: Europe/Moscow\n"
        "  - email: reader@example.org\n    timezone: Asia/Tehran\n" + extra,
        encoding="utf-8",
    )
    return path


def run_cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "NEWSDIGEST_SMTP_PASSWORD": SMTP_PASSWORD,
        "NEWSDIGEST_SECRET": TOKEN_SECRET,
        "COLUMNS": "200",
    }
    return subprocess.run(
        [str(CLI), "--config", str(config), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def leaked(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [s for s in SECRETS if s in done.stdout or s in done.stderr]


@pytest.mark.parametrize("as_json", [False, True])
def test_status_shows_no_secret(tmp_path: Path, as_json: bool) -> None:
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'news.db'}")
    done = run_cli(config, "status", *(["--json"] if as_json else []))
    assert done.returncode == 0, done.stderr
    assert "читатель@example.org" in done.stdout  # the status did run and list things
    assert leaked(done) == []


@pytest.mark.parametrize(
    ("database", "expected"),
    [
        # PostgreSQL refusing the connection (nothing listens on port 1)
        (f"postgresql+psycopg://reader:{DB_PASSWORD}@127.0.0.1:1/news", "cannot open"),
        # a URL SQLAlchemy cannot read (the port is not a number)
        (f"postgresql+psycopg://reader:{DB_PASSWORD}@127.0.0.1:port/news", "not a database URL"),
    ],
)
@pytest.mark.parametrize("command", [("status",), ("fetch",), ("digest", "send")])
def test_a_database_failure_names_the_problem_not_the_password(
    tmp_path: Path, database: str, expected: str, command: tuple[str, ...]
) -> None:
    done = run_cli(write_config(tmp_path, database), *command)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert expected in done.stderr
    assert "***" in done.stderr  # the URL is shown, with its password masked
    assert "Traceback" not in done.stderr
    assert leaked(done) == []


def test_the_config_repr_hides_passwords_and_the_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSDIGEST_SMTP_PASSWORD", SMTP_PASSWORD)
    monkeypatch.setenv("NEWSDIGEST_SECRET", TOKEN_SECRET)
    config = load_config(
        write_config(tmp_path, f"postgresql+psycopg://reader:{DB_PASSWORD}@db.example/news")
    )
    assert config.smtp.password == SMTP_PASSWORD and config.secret == TOKEN_SECRET
    shown = repr(config) + str(config)
    assert [s for s in SECRETS if s in shown] == []


def test_the_smtp_options_repr_hides_the_password() -> None:
    from digest.mailer import SmtpOptions

    options = SmtpOptions(host="mail.example", username="digest", password=SMTP_PASSWORD)
    assert options.password == SMTP_PASSWORD
    assert SMTP_PASSWORD not in repr(options) + str(options)
    assert "digest" in repr(options)  # the rest is still shown


# ---------------------------------------------------------------- logs at DEBUG

#: The SMTP password as AUTH PLAIN and AUTH LOGIN put it on the wire.
SMTP_WIRE_FORMS = (
    base64.b64encode(f"\0digest\0{SMTP_PASSWORD}".encode()).decode(),
    base64.b64encode(SMTP_PASSWORD.encode()).decode(),
)
#: Loggers of the test's own servers: what they log is not the service's output.
TEST_SERVER_LOGGERS = ("mail.log", "werkzeug")
#: Libraries that configure_logging quiets, or that stay silent unless asked: at DEBUG too.
LIBRARY_LOGGERS = (
    "httpx", "httpcore", "sqlalchemy.engine", "sqlalchemy.pool", "sqlalchemy.dialects",
    "alembic", "apscheduler", "asyncio", "aiohttp", "urllib3",
)  # fmt: skip


@dataclass
class Captured:
    """Everything one in-process CLI run put out: records, JSON log lines, stdout, stderr."""

    caplog: pytest.LogCaptureFixture
    capsys: pytest.CaptureFixture[str]
    #: What configure_logging's handler wrote (its stream, swapped for this buffer).
    json_log: io.StringIO
    stdout: str = ""
    stderr: str = ""

    def run(self, config: Path, *args: str) -> int:
        code = main(["--config", str(config), *args])
        out, err = self.capsys.readouterr()
        self.stdout += out
        self.stderr += err
        return code

    def records(self) -> list[logging.LogRecord]:
        return [r for r in self.caplog.records if not r.name.startswith(TEST_SERVER_LOGGERS)]

    def json_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.json_log.getvalue().splitlines()]

    def leaks(self, secrets: tuple[str, ...]) -> dict[str, list[str]]:
        """Where each secret (or the SMTP password's wire forms) appears; {} when nowhere."""
        texts = {"stdout": self.stdout, "stderr": self.stderr, "JSON log": self.json_log.getvalue()}
        formatter = logging.Formatter()
        for i, record in enumerate(self.records()):
            shown = record.getMessage()
            if record.exc_info:
                shown += "\n" + formatter.formatException(record.exc_info)
            texts[f"record {i} ({record.name})"] = shown + repr(record.__dict__.get("args"))
        found: dict[str, list[str]] = {}
        for secret in (*secrets, *SMTP_WIRE_FORMS):
            where = [name for name, text in texts.items() if secret in text]
            if where:
                found[secret] = where
        return found


@pytest.fixture
def captured(
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Captured]:
    """The service's JSON log format at DEBUG on stderr, pytest's capture beside it."""
    monkeypatch.setenv("NEWSDIGEST_SMTP_PASSWORD", SMTP_PASSWORD)
    monkeypatch.setenv("NEWSDIGEST_SECRET", TOKEN_SECRET)
    monkeypatch.setenv("COLUMNS", "200")
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    libraries = {name: logging.getLogger(name).level for name in LIBRARY_LOGGERS}
    configure_logging("json", "DEBUG")
    (service,) = root.handlers
    assert isinstance(service, logging.StreamHandler)
    json_log = io.StringIO()
    service.setStream(json_log)  # stderr as it is now may be closed before the test ends
    root.addHandler(caplog.handler)  # configure_logging removed pytest's
    caplog.handler.setLevel(logging.DEBUG)
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield Captured(caplog, capsys, json_log)
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved_handlers:
            root.addHandler(handler)
        root.setLevel(saved_level)
        for name, level in libraries.items():
            logging.getLogger(name).setLevel(level)


def with_password(database_url: str) -> tuple[str, str]:
    """``database_url`` carrying a password (PostgreSQL here trusts local connections, so
    any password is accepted); the password, or "" for SQLite."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        return database_url, ""
    if url.password is None:
        url = url.set(password=DB_PASSWORD)
    return url.render_as_string(hide_password=False), str(url.password)


def _feeds(httpserver: HTTPServer) -> str:
    httpserver.expect_request("/ok.xml").respond_with_data(
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Ok</title>'
        "<item><title>Переговоры в Тегеране</title><link>https://news.example/1</link>"
        "<guid>1</guid><description>Text.</description></item></channel></rss>",
        content_type="application/rss+xml",
    )
    httpserver.expect_request("/missing.xml").respond_with_data("gone", status=404)
    httpserver.expect_request("/broken.xml").respond_with_data(b"<rss><channel><item><title>x &")
    feeds = "".join(
        f"      - {httpserver.url_for(p)}\n" for p in ("/ok.xml", "/missing.xml", "/broken.xml")
    )
    return (
        "fetch:\n  allow_private_networks: true\n  parse_workers: 0\n  timeout: 5\n"
        f"outlets:\n  - name: Вести\n    feeds:\n{feeds}"
        "digest:\n  send_empty: true\n"
        "public_url: https://news.example/digest\n"
    )


def subscribed_days_ago(database: str, days: int) -> None:
    engine = open_database(database)
    try:
        with engine.begin() as conn:
            conn.execute(
                update(Subscriber).values(created_at=datetime.now(UTC) - timedelta(days=days))
            )
    finally:
        engine.dispose()


def _refusing(handler: Handler) -> Any:
    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        handler.auth.append((mechanism, "refused"))
        return AuthResult(success=False, handled=False)

    return check


def _accepting(handler: Handler) -> Any:
    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        handler.auth.append((mechanism, "accepted"))
        return AuthResult(success=data.password == SMTP_PASSWORD.encode(), handled=False)

    return check


@pytest.mark.parametrize("smtp_fault", ["refuses the login", "fails the message"])
def test_no_secret_in_debug_logs_of_a_fetch_and_a_failed_send(
    tmp_path: Path,
    database_url: str,
    httpserver: HTTPServer,
    captured: Captured,
    smtp_fault: str,
) -> None:
    database, db_password = with_password(database_url)
    secrets = tuple(s for s in (db_password, SMTP_PASSWORD, TOKEN_SECRET) if s)
    extra = _feeds(httpserver) + f"output:\n  directory: {tmp_path / 'out'}\n"
    cert = self_signed(tmp_path)
    handler = Handler()
    if smtp_fault == "refuses the login":
        authenticator = _refusing(handler)
    else:  # the login works, then the server answers 550 to the message, every time
        authenticator = _accepting(handler)
        handler.faults = ["550"] * 5
    server = MailServer(
        handler,
        tls_context=cert.server_context(),
        require_starttls=True,
        auth_required=True,
        authenticator=authenticator,
    )
    tls = f"  security: starttls\n  ca_file: {cert.cert}\n  max_attempts: 1\n"
    config = write_config(tmp_path, database, smtp_port=server.port, smtp_extra=tls, extra=extra)
    server.start()
    try:
        assert captured.run(config, "fetch", "--all") == 1  # two of the three feeds fail
        assert captured.run(config, "subscribers", "list") == 0  # config subscribers stored
        subscribed_days_ago(database, 3)  # so that a digest period has ended since
        sent = captured.run(config, "digest", "send")
    finally:
        server.stop()
    assert sent != 0 and server.accepted == []
    if smtp_fault == "refuses the login":
        assert handler.auth and "refused the login" in captured.stdout + captured.stderr
    else:
        assert handler.auth and "550" in captured.stdout
    assert captured.run(config, "status") == 0
    assert captured.run(config, "status", "--json") == 0
    assert captured.run(config, "deliveries", "list", "--json") == 0

    # The run did what the test says, at DEBUG, and its JSON log lines were written.
    assert any(r.levelno == logging.DEBUG for r in captured.records())
    assert captured.json_lines(), "no JSON log line"
    assert {line["level"] for line in captured.json_lines()} >= {"DEBUG"}
    assert "/missing.xml" in captured.stdout and "читатель@example.org" in captured.stdout
    assert captured.leaks(secrets) == {}


@pytest.mark.parametrize("command", [("fetch",), ("status",), ("digest", "send")])
def test_no_secret_in_debug_logs_when_the_database_cannot_be_reached(
    tmp_path: Path, captured: Captured, command: tuple[str, ...]
) -> None:
    database = f"postgresql+psycopg://postgres:{DB_PASSWORD}@127.0.0.1:1/test"
    assert captured.run(write_config(tmp_path, database), *command) == 2
    assert "cannot open" in captured.stderr and "***" in captured.stderr
    assert captured.leaks(SECRETS) == {}


# ---------------------------------------------------------------- template overrides


@pytest.mark.parametrize(
    "include",
    ["../outside.html", "../../outside.html", "/etc/passwd", "sub/../../outside.html"],
)
def test_an_override_cannot_include_a_file_outside_its_folder(tmp_path: Path, include: str) -> None:
    (tmp_path / "outside.html").write_text("OUTSIDE", encoding="utf-8")
    folder = tmp_path / "templates"
    (folder / "sub").mkdir(parents=True)
    (folder / "page.html").write_text(f'{{% include "{include}" %}}', encoding="utf-8")
    with pytest.raises(TemplateError) as caught:
        Renderer(folder)
    assert "OUTSIDE" not in str(caught.value) and "root:" not in str(caught.value)


@pytest.mark.parametrize("target", ["outside.html", "/etc/passwd"])
def test_an_override_that_is_a_symlink_out_of_the_folder_is_refused(
    tmp_path: Path, target: str
) -> None:
    (tmp_path / "outside.html").write_text("OUTSIDE {{ digest.subject }}", encoding="utf-8")
    folder = tmp_path / "templates"
    folder.mkdir()
    source = tmp_path / target if not target.startswith("/") else Path(target)
    (folder / "page.html").symlink_to(source)
    with pytest.raises(TemplateError, match="resolves outside the template folder"):
        Renderer(folder)


def test_a_symlinked_folder_inside_the_override_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "part.html").write_text("ELSEWHERE", encoding="utf-8")
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "linked").symlink_to(elsewhere, target_is_directory=True)
    (folder / "page.html").write_text('{% include "linked/part.html" %}', encoding="utf-8")
    with pytest.raises(TemplateError, match="resolves outside the template folder"):
        Renderer(folder)


def test_an_override_inside_its_folder_is_used(tmp_path: Path) -> None:
    """The control: the same override, kept inside the folder, renders."""
    folder = tmp_path / "templates"
    (folder / "parts").mkdir(parents=True)
    (folder / "parts" / "note.txt").write_text("свой шаблон", encoding="utf-8")
    page = (Path(__file__).parents[1] / "digest" / "templates" / "page.html").read_text("utf-8")
    (folder / "page.html").write_text(
        page.replace("<body>", '<body>{% include "parts/note.txt" %}'), encoding="utf-8"
    )
    Renderer(folder)  # validates by rendering a sample digest through every template


# ---------------------------------------------------------------- unsubscribe tokens


def test_a_token_does_not_survive_its_id_being_given_to_someone_else() -> None:
    """A deleted subscriber's id reused by a new row: the old link is not valid for it."""
    old = make_token(TOKEN_SECRET, 5, "old.reader@example.org")
    assert verify_token(TOKEN_SECRET, old, "old.reader@example.org")
    assert not verify_token(TOKEN_SECRET, old, "новый@example.org")


def test_a_token_cannot_be_forged_from_other_tokens() -> None:
    """Knowing many subscribers' tokens does not give another's: no shared prefix, no
    signature that verifies for a neighbour id."""
    tokens = {i: make_token(TOKEN_SECRET, i, f"r{i}@example.org") for i in range(1, 200)}
    signatures = [t.split(".")[1] for t in tokens.values()]
    assert len(set(signatures)) == len(signatures)
    for i, token in tokens.items():
        forged = f"{i + 1}.{token.split('.')[1]}"
        assert not verify_token(TOKEN_SECRET, forged, f"r{i + 1}@example.org")
