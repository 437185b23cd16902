"""The command line, run as a user runs it: exit codes, messages, files."""

from __future__ import annotations

import json
import subprocess
import sys
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from newsdigest.cli import main
from tests.conftest import SEEDS

SEED_TITLE = (
    "Iraqi Prime Minister visits Iran to strengthen regional unity and resist external interference"
)


def write_config(tmp_path: Path, database_url: str, extra: str = "") -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"database: '{database_url}'\n"
        "fetch:\n  allow_private_networks: true\n  parse_workers: 0\n  timeout: 5\n"
        f"output:\n  directory: {tmp_path / 'out'}\n{extra}",
        encoding="utf-8",
    )
    return path


def run(config: Path, *args: str) -> int:
    return main(["--config", str(config), *args])


@pytest.fixture
def config(tmp_path: Path, database_url: str) -> Path:
    return write_config(tmp_path, database_url)


def serve_snapshots(httpserver: HTTPServer) -> dict[str, str]:
    urls = {}
    for path in sorted((SEEDS / "snapshots").glob("*.xml")):
        httpserver.expect_request(f"/{path.name}").respond_with_data(
            path.read_bytes(), content_type="application/xml"
        )
        urls[path.stem] = httpserver.url_for(f"/{path.name}")
    return urls


def test_config_error_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("fetch:\n  concurency: 3\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "newsdigest.cli", "--config", str(bad), "feeds", "list"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert f"{bad}: fetch.concurency: unknown key" in proc.stderr


def test_the_config_file_can_come_from_the_environment(tmp_path: Path, sqlite_url: str) -> None:
    config = write_config(tmp_path, sqlite_url)
    proc = subprocess.run(
        [sys.executable, "-m", "newsdigest.cli", "feeds", "list", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"NEWSDIGEST_CONFIG": str(config), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    assert Path(sqlite_url.removeprefix("sqlite:///")).exists()


def test_usage_error_is_exit_2(config: Path) -> None:
    assert run(config, "feeds", "remove", "not-a-number") == 2


def test_feeds_add_list_remove(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config, "feeds", "add", "https://example.org/feed.xml", "--outlet", "Example") == 0
    assert run(config, "feeds", "add", "https://example.org/feed.xml") == 1
    assert "already following" in capsys.readouterr().err
    assert run(config, "feeds", "add", "not a url") == 2
    assert run(config, "feeds", "list", "--json") == 0
    (line,) = capsys.readouterr().out.strip().splitlines()
    feed = json.loads(line)
    assert (feed["url"], feed["outlet"], feed["error_count"]) == (
        "https://example.org/feed.xml",
        "Example",
        0,
    )
    assert run(config, "feeds", "remove", str(feed["id"])) == 0
    assert run(config, "feeds", "remove", str(feed["id"])) == 1
    assert "no feed with id" in capsys.readouterr().err


def test_opml_import_and_export_keep_outlets_and_folders(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(config, "feeds", "import", str(SEEDS / "outlets.opml")) == 0
    assert "imported" in capsys.readouterr().out
    assert run(config, "feeds", "import", str(SEEDS / "outlets.opml")) == 0
    assert "imported 0 feeds" in capsys.readouterr().out
    assert run(config, "feeds", "export") == 0
    exported = capsys.readouterr().out
    from ingest.opml import read_opml

    original = {f.xml_url: f for f in read_opml((SEEDS / "outlets.opml").read_bytes())}
    again = {f.xml_url: f for f in read_opml(exported.encode())}
    assert again.keys() == original.keys()
    for url, feed in original.items():
        assert again[url].title == feed.title
        assert again[url].categories == feed.categories
        assert again[url].attributes.get("country") == feed.attributes.get("country")


def test_fetch_twice_stores_once_and_the_second_round_is_all_304(
    config: Path, httpserver: HTTPServer, capsys: pytest.CaptureFixture[str]
) -> None:
    urls = serve_snapshots(httpserver)
    httpserver.clear()
    for name, _url in urls.items():
        body = (SEEDS / "snapshots" / f"{name}.xml").read_bytes()
        httpserver.expect_request(
            f"/{name}.xml", headers={"If-None-Match": f'"{name}"'}
        ).respond_with_data("", status=304)
        httpserver.expect_request(f"/{name}.xml").respond_with_data(
            body, headers={"ETag": f'"{name}"'}, content_type="application/xml"
        )
    for url in urls.values():
        assert run(config, "feeds", "add", url) == 0
    capsys.readouterr()

    assert run(config, "fetch") == 0
    assert run(config, "articles", "list", "--json", "--limit", "1000") == 0
    first = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")
    ]
    assert run(config, "fetch", "--all") == 0
    assert run(config, "articles", "list", "--json", "--limit", "1000") == 0
    second = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")
    ]
    assert len(first) == len(second) > 20
    assert len({a["id"] for a in second}) == len(second)
    statuses = [resp.status_code for _, resp in httpserver.log]
    assert statuses.count(200) == len(urls) and statuses.count(304) == len(urls)
    seed = next(
        a
        for a in second
        if a["url"].startswith("https://peoplesdispatch.org/") and a["title"] == SEED_TITLE
    )
    assert seed["published"] == "2025-01-10T14:30:00Z"
    assert {
        "id",
        "title",
        "url",
        "outlet",
        "published",
        "story_id",
        "countries",
        "regions",
        "topics",
    } <= seed.keys()
    assert seed["countries"] == ["IQ", "IR"]
    assert run(config, "stories", "list", "--json") == 0
    stories = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    (story,) = [st for st in stories if st["id"] == seed["story_id"]]
    assert {src["url"].split("/")[2] for src in story["sources"]} == {
        "peoplesdispatch.org",
        "orinocotribune.com",
    }


def test_fetch_with_a_failing_feed_exits_1_with_its_reason(
    config: Path, httpserver: HTTPServer, capsys: pytest.CaptureFixture[str]
) -> None:
    urls = serve_snapshots(httpserver)
    httpserver.expect_request("/missing.xml").respond_with_data("no", status=404)
    run(config, "feeds", "add", urls["peoples-dispatch"])
    run(config, "feeds", "add", httpserver.url_for("/missing.xml"))
    capsys.readouterr()
    assert run(config, "fetch") == 1
    output = capsys.readouterr().out
    assert f"{httpserver.url_for('/missing.xml')}: HTTP 404 NOT FOUND" in output
    assert run(config, "feeds", "list") == 0
    assert "HTTP 404" in capsys.readouterr().out


def test_digest_build_writes_page_email_and_text(
    tmp_path: Path, database_url: str, httpserver: HTTPServer
) -> None:
    urls = serve_snapshots(httpserver)
    outlets = "".join(
        f"  - name: {name}\n    feeds: ['{url}']\n" for name, url in sorted(urls.items())
    )
    config = write_config(
        tmp_path,
        database_url,
        f"outlets:\n{outlets}subscribers:\n  - email: me@example.org\n    regions: [Middle East]\n",
    )
    assert run(config, "fetch") == 0
    out = tmp_path / "digests-here"
    assert run(config, "digest", "build", "--out", str(out)) == 0
    (page,) = out.glob("digests/*/me_example.org-*.html")  # the archive adds index pages
    assert SEED_TITLE in page.read_text(encoding="utf-8")
    (eml,) = out.rglob("*.eml")
    message = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert message["To"] == "me@example.org"
    assert message.get_content_type() == "multipart/alternative"
    assert run(config, "digest", "build", "--subscriber", "nobody@example.org") == 2
    assert run(config, "digest", "build", "--date", "10/01/2025") == 2


def test_articles_list_filters_by_region_country_and_topic(
    config: Path, httpserver: HTTPServer, capsys: pytest.CaptureFixture[str]
) -> None:
    urls = serve_snapshots(httpserver)
    for url in urls.values():
        run(config, "feeds", "add", url)
    assert run(config, "fetch") == 0
    capsys.readouterr()

    def titles(*options: str) -> set[str]:
        assert run(config, "articles", "list", "--json", "--limit", "500", *options) == 0
        lines = capsys.readouterr().out.splitlines()
        return {json.loads(line)["title"] for line in lines}

    everything = titles()
    middle_east = titles("--region", "middle east")
    assert SEED_TITLE in middle_east and middle_east < everything
    assert SEED_TITLE in titles("--country", "iq", "--topic", "diplomacy")
    assert SEED_TITLE not in titles("--topic", "sports")
    assert SEED_TITLE not in titles("--region", "Latin America")
    assert run(config, "articles", "list", "--region", "Atlantis") == 2
    assert "Atlantis" in capsys.readouterr().err
    assert run(config, "articles", "list", "--topic", "gossip") == 2


def test_config_topics_and_region_aliases_apply_after_retag(
    tmp_path: Path, sqlite_url: str, httpserver: HTTPServer, capsys: pytest.CaptureFixture[str]
) -> None:
    urls = serve_snapshots(httpserver)
    config = write_config(tmp_path, sqlite_url)
    for url in urls.values():
        run(config, "feeds", "add", url)
    assert run(config, "fetch") == 0
    assert run(config, "articles", "list", "--topic", "motorsport") == 2  # not a topic yet
    capsys.readouterr()

    config = write_config(
        tmp_path,
        sqlite_url,
        "tagging:\n"
        "  topics:\n    motorsport: {rally: 3.0, bivouac: 2.0, motorbike: 2.0}\n"
        "  region_aliases:\n    Arabian Peninsula: [SA, YE, OM, AE, QA, KW, BH]\n",
    )
    assert run(config, "retag") == 0
    assert "retagged" in capsys.readouterr().out
    assert run(config, "articles", "list", "--json", "--topic", "motorsport") == 0
    titles = [json.loads(line)["title"] for line in capsys.readouterr().out.splitlines()]
    assert any("Dakar Rally" in t for t in titles)
    assert run(config, "articles", "list", "--json", "--region", "arabian peninsula") == 0
    titles = [json.loads(line)["title"] for line in capsys.readouterr().out.splitlines()]
    assert any("Dakar Rally" in t for t in titles)
    assert SEED_TITLE not in titles


def test_status_shows_health_and_no_secret(
    tmp_path: Path,
    database_url: str,
    httpserver: HTTPServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ND_TEST_SMTP_PASSWORD", "hunter2-very-secret")
    config = write_config(
        tmp_path,
        database_url,
        "smtp:\n  password: ${ND_TEST_SMTP_PASSWORD}\n"
        "subscribers:\n  - email: me@example.org\n    timezone: Asia/Baghdad\n",
    )
    urls = serve_snapshots(httpserver)
    httpserver.expect_request("/broken.xml").respond_with_data("no", status=500)
    run(config, "feeds", "add", urls["al-jazeera"])
    run(config, "feeds", "add", httpserver.url_for("/broken.xml"))
    assert run(config, "fetch") == 1
    capsys.readouterr()
    assert run(config, "status", "--json") == 0
    text = capsys.readouterr().out
    assert "hunter2" not in text
    data = json.loads(text)
    assert data["feeds"]["total"] == 2
    assert data["feeds"]["healthy"] == 1 and data["feeds"]["failing"] == 1
    assert data["failing"][0]["last_error"] == "HTTP 500 INTERNAL SERVER ERROR"
    assert [d["email"] for d in data["next_digests"]] == ["me@example.org"]
    assert data["articles"] > 0
    assert run(config, "status") == 0
    screen = capsys.readouterr().out
    assert "1 failing" in screen and "HTTP 500" in screen and "hunter2" not in screen
