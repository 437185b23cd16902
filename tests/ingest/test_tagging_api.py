"""The public API, the JSON shape, the CLI, and the seed article from ../shared/seeds/."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

import ingest.tagging as tagging
from ingest.tagging import TagResult, tag_article, tag_result_to_json
from ingest.tagging.__main__ import article_from_text, main

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
SEED = SHARED / "seeds" / "000_b5996843343eba00.txt"


def seed_article() -> tuple[str, str, str]:
    if not SEED.exists():
        pytest.skip("../shared is not present (it is in CI)")
    lines = SEED.read_text(encoding="utf-8").splitlines()
    title = lines[0]
    rest = [ln for ln in lines[1:] if ln.strip()]
    return title, rest[0], "\n\n".join(rest[1:])


@pytest.mark.shared
def test_seed_article():
    result = tag_article(*seed_article())
    assert result.countries == ("IQ", "IR")
    assert result.regions == ("Middle East", "Southern Asia", "Western Asia")
    assert {"diplomacy", "politics", "conflict-security"} <= set(result.topics)
    for passing in ("US", "SY", "LB", "IL", "AF", "PS", "SD"):
        assert passing not in result.countries


@pytest.mark.shared
def test_seed_article_as_plain_text_through_the_cli(monkeypatch, capsys):
    if not SEED.exists():
        pytest.skip("../shared is not present (it is in CI)")
    assert main([str(SEED)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["countries"] == ["IQ", "IR"]
    assert "Middle East" in out["regions"]


def test_result_is_frozen_and_sorted():
    result = tag_article("Iran and Iraq sign pact", "Tehran and Baghdad agreed.")
    assert isinstance(result, TagResult)
    assert list(result.countries) == sorted(result.countries)
    assert list(result.regions) == sorted(result.regions)
    assert list(result.topics) == sorted(result.topics)
    with pytest.raises(AttributeError):
        result.countries = ()  # type: ignore[misc]


def test_json_shape():
    result = tag_article("Iran and Iraq sign trade pact", "Tehran and Baghdad agreed on tariffs.")
    data = tag_result_to_json(result)
    assert set(data) >= {"countries", "regions", "topics", "evidence"}
    assert data["countries"] == ["IQ", "IR"]
    assert data["evidence"]["countries"]["IR"][0] == "Iran"
    assert data["evidence"]["regions"]["Middle East"] == ["IQ", "IR"]
    json.dumps(data)  # serialisable


def test_cli_reads_json_from_stdin(monkeypatch, capsys):
    article = {
        "title": "Kremlin rejects plan",
        "summary": "Kyiv backed a truce.",
        "content": "Ukrainian officials said Kyiv would attend talks.",
    }
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(article)))
    assert main(["-"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["countries"] == ["RU", "UA"]
    assert out["regions"] == ["Eastern Europe"]


def test_cli_plain_text_and_usage(tmp_path, capsys):
    path = tmp_path / "a.txt"
    path.write_text("Dutch farmers protest nitrogen limits\nTractors blocked roads.", "utf-8")
    assert main([str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["countries"] == ["NL"]
    assert main(["a", "b"]) == 2
    assert main([str(tmp_path / "missing.json")]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_article_from_text():
    assert article_from_text('{"title": "x"}') == {"title": "x"}
    assert article_from_text("Title line\nbody") == {"title": "Title line", "content": "body"}
    assert article_from_text("[1, 2]")["title"] == "[1, 2]"


def test_exported_members():
    for name in tagging.__all__:
        assert hasattr(tagging, name), name
