"""Secrets stay out of output, template overrides stay in their folder, tokens stay bound.

The CLI runs as a user runs it (the installed ``newsdigest`` script in a subprocess), with
a database password, an SMTP password and NEWSDIGEST_SECRET set; none of them may appear
on stdout or stderr, whether the command works or fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from digest.errors import TemplateError
from digest.render import Renderer
from digest.unsubscribe import make_token, verify_token
from newsdigest.config import load_config

DB_PASSWORD = "Pw-db-S3cret-8c1f"
SMTP_PASSWORD = "Pw-smtp-S3cret-41aa"
TOKEN_SECRET = "tok-S3cret-5e0d-0123456789abcdef"
SECRETS = (DB_PASSWORD, SMTP_PASSWORD, TOKEN_SECRET)
CLI = Path(sys.executable).parent / "newsdigest"


def write_config(folder: Path, database: str) -> Path:
    path = folder / "config.yaml"
    path.write_text(
        f'database: "{database}"\n'
        "smtp:\n  host: 127.0.0.1\n  port: 1\n  username: digest\n"
        "  password: ${NEWSDIGEST_SMTP_PASSWORD}\n"
        "secret: ${NEWSDIGEST_SECRET}\n"
        "subscribers:\n  - email: читатель@example.org\n    timezone: Europe/Moscow\n",
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
