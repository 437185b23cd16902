"""Config loading: defaults, ${VAR}, relative paths, and refusals naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsdigest.config import load_config, resolve_database_url
from newsdigest.errors import ConfigError
from tests.conftest import ROOT


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_config_is_valid_and_is_the_defaults(tmp_path: Path) -> None:
    config = load_config(ROOT / "config.yaml")
    assert config.database == f"sqlite:///{ROOT / 'newsdigest.db'}"
    assert config.fetch.allow_private_networks is False
    assert config.fetch.per_host == 2
    assert config.output.directory == ROOT / "out"


def test_relative_sqlite_path_is_taken_relative_to_the_config_file(tmp_path: Path) -> None:
    path = write(tmp_path, "database: sqlite:///data/nd.db\n")
    assert load_config(path).database == f"sqlite:///{tmp_path / 'data' / 'nd.db'}"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:////abs/x.db", "sqlite:////abs/x.db"),
        ("sqlite://", "sqlite://"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///rel.db", "sqlite:////base/rel.db"),
    ],
)
def test_resolve_database_url(url: str, expected: str) -> None:
    assert resolve_database_url(url, Path("/base")) == expected


def test_environment_variables_are_substituted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ND_TEST_PW", "s3cret")
    path = write(tmp_path, "smtp:\n  password: ${ND_TEST_PW}\n  from: a@b.example\n")
    config = load_config(path)
    assert config.smtp.password == "s3cret"
    assert config.smtp.from_ == "a@b.example"


def test_an_unset_variable_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ND_MISSING", raising=False)
    path = write(tmp_path, "smtp:\n  password: ${ND_MISSING}\n")
    with pytest.raises(ConfigError, match=r"config.yaml: smtp.password: .*ND_MISSING is not set"):
        load_config(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fetchh: {}\n", r"fetchh: unknown key"),
        ("fetch:\n  concurency: 3\n", r"fetch.concurency: unknown key"),
        (
            "outlets:\n  - name: X\n    feeds: ['notaurl']\n",
            r"outlets\[0\].feeds\[0\]: not an http\(s\) URL",
        ),
        (
            "subscribers:\n  - email: a@b.c\n    timezone: Mars/Olympus\n",
            r"subscribers\[0\].timezone: unknown time zone 'Mars/Olympus'",
        ),
        (
            "subscribers:\n  - email: a@b.c\n    send_at: '25:00'\n",
            r"subscribers\[0\].send_at: not a time of day",
        ),
        ("smtp:\n  security: tls\n", r"smtp.security: Input should be 'none', 'starttls' or 'ssl'"),
        ("database: newsdigest.db\n", r"database: not a SQLAlchemy URL"),
        ("- a\n- b\n", r"the top level must be a mapping"),
        ("fetch: [\n", r"not valid YAML"),
    ],
)
def test_bad_config_is_refused_naming_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.yaml")
