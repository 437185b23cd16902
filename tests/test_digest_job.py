"""`digest build` from the subscribers table, the archive it leaves, and `digest preview`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import feedparser
import lxml.html
import pytest
from pytest_httpserver import HTTPServer

from digest.archive import digest_stem
from digest.subscribers import add_subscriber, set_status, validate
from digest.types import Digest, SubscriberPrefs
from newsdigest.app import App
from newsdigest.cli import main
from newsdigest.config import load_config
from newsdigest.digest_job import build_digests, build_window, preview_digest
from tests.test_cli import SEED_TITLE, serve_snapshots

FETCHED = datetime(2025, 1, 10, 3, tzinfo=UTC)
BUILT = FETCHED + timedelta(hours=1)
JAN10_0700_BAGHDAD = datetime(2025, 1, 10, 4, tzinfo=UTC)


def write_config(tmp_path: Path, database_url: str, httpserver: HTTPServer, extra: str) -> Path:
    outlets = "".join(
        f"  - name: {name}\n    feeds: ['{url}']\n"
        for name, url in sorted(serve_snapshots(httpserver).items())
    )
    path = tmp_path / "config.yaml"
    path.write_text(
        f"database: '{database_url}'\n"
        "fetch:\n  allow_private_networks: true\n  parse_workers: 0\n  timeout: 5\n"
        f"output:\n  directory: {tmp_path / 'out'}\noutlets:\n{outlets}{extra}",
        encoding="utf-8",
    )
    return path


SUBSCRIBERS = (
    "subscribers:\n"
    "  - email: me@example.org\n    name: Middle East Reader\n    regions: [Middle East]\n"
    "  - email: nothing@example.org\n    keywords: [zzzz-no-such-word]\n"
)


@pytest.fixture
def app(tmp_path: Path, database_url: str, httpserver: HTTPServer) -> App:
    config = load_config(write_config(tmp_path, database_url, httpserver, SUBSCRIBERS))
    instance = App.open(config, clock=lambda: FETCHED)
    report = instance.fetch(all_feeds=True)
    assert not report.failed and report.new_articles > 0
    instance.clock = lambda: BUILT
    with instance.session() as session, session.begin():
        paused = validate(email="paused@example.org", regions=["Middle East"])
        add_subscriber(session, paused, now=FETCHED)
        set_status(session, "paused@example.org", "paused", now=FETCHED)
    yield instance
    instance.close()


def test_build_reads_the_table_skips_paused_and_empty_and_fills_the_archive(
    app: App, tmp_path: Path
) -> None:
    built = {b.subscriber: b for b in build_digests(app)}
    assert set(built) == {"me@example.org", "nothing@example.org"}  # paused: not built
    assert built["nothing@example.org"].page is None
    assert "nothing matched the filters" in (built["nothing@example.org"].skipped or "")

    mine = built["me@example.org"]
    assert mine.skipped is None and mine.page is not None and mine.stories > 0
    doc = lxml.html.fromstring(mine.page.read_bytes())
    assert doc.xpath("string(//main/section[1]/h2)") == "Middle East"
    first_section = " ".join(doc.xpath("//main/section[1]//h3//text()"))
    all_headlines = doc.xpath("//main//h3//text()")
    assert SEED_TITLE in first_section
    assert sum(SEED_TITLE in h for h in all_headlines) == 1

    out = tmp_path / "out"
    record = json.loads(mine.page.with_suffix(".json").read_text(encoding="utf-8"))
    assert record["email"] == "me@example.org"
    feed = feedparser.parse((out / "feed.atom").read_bytes())
    assert feed.bozo == 0
    assert [e.title for e in feed.entries] == [record["subject"]]
    assert (out / "digests" / "2025-01-10" / "index.html").exists()
    assert (out / "subscribers" / f"{digest_stem('me@example.org')}.atom").exists()
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "Middle East Reader" in index


def test_send_empty_writes_the_empty_digest_and_a_paused_subscriber_can_be_named(
    app: App,
) -> None:
    config = app.config.model_copy(
        update={"digest": app.config.digest.model_copy(update={"send_empty": True})}
    )
    app.config = config
    (nothing,) = build_digests(app, subscriber="NOTHING@example.org")
    assert nothing.skipped is None and nothing.stories == 0
    assert "Nothing new matched" in nothing.page.read_text(encoding="utf-8")  # type: ignore[union-attr]
    (paused,) = build_digests(app, subscriber="paused@example.org")
    assert paused.stories > 0
    preview = preview_digest(app, "paused@example.org")
    assert preview.sections[0].title == "Middle East"


@pytest.mark.parametrize(
    ("weekly", "day", "start", "end"),
    [
        (None, None, BUILT - timedelta(days=1), BUILT),
        (4, None, BUILT - timedelta(days=7), BUILT),
        # 07:00 in Baghdad (UTC+3) on 10 Jan 2025, a Friday: the day before, or the week.
        (
            None,
            "2025-01-10",
            datetime(2025, 1, 9, 4, tzinfo=UTC),
            datetime(2025, 1, 10, 4, tzinfo=UTC),
        ),
        (
            4,
            "2025-01-10",
            datetime(2025, 1, 3, 4, tzinfo=UTC),
            datetime(2025, 1, 10, 4, tzinfo=UTC),
        ),
    ],
)
def test_build_windows(weekly: int | None, day: str | None, start: datetime, end: datetime) -> None:
    from datetime import date

    prefs = SubscriberPrefs(
        email="a@example.org", timezone="Asia/Baghdad", send_at=time(7), weekly=weekly
    )
    window = build_window(prefs, BUILT, date.fromisoformat(day) if day else None)
    assert (window.start, window.end) == (start, end)


def test_preview_prints_the_text_or_writes_the_page(
    tmp_path: Path, sqlite_url: str, httpserver: HTTPServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, sqlite_url, httpserver, SUBSCRIBERS)
    assert main(["--config", str(config), "fetch"]) == 0
    capsys.readouterr()
    assert main(["--config", str(config), "digest", "preview", "me@example.org"]) == 0
    text = capsys.readouterr().out
    assert "Middle East" in text and "me@example.org" in text
    assert main(["--config", str(config), "digest", "preview", "me@example.org", "--html"]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path.is_relative_to(tmp_path / "out") and path.suffix == ".html"
    assert "Middle East" in path.read_text(encoding="utf-8")
    assert main(["--config", str(config), "digest", "preview", "who@example.org"]) == 2
    assert "no subscriber 'who@example.org'" in capsys.readouterr().err


def test_the_digest_package_exports_what_it_lists_and_imports_lightly() -> None:
    import subprocess
    import sys

    import digest

    assert sorted(digest.__all__) == sorted(digest._EXPORTS)
    for name in digest.__all__:
        assert getattr(digest, name) is not None
    code = "import sys, digest; print('jinja2' in sys.modules, 'sqlalchemy' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]


def test_a_subscriber_added_with_group_by_topic_gets_topic_sections(app: App) -> None:
    with app.session() as session, session.begin():
        for email, group_by in (("t@example.org", "topic"), ("r@example.org", None)):
            spec = validate(email=email, regions=["Middle East"], group_by=group_by)
            add_subscriber(session, spec, now=FETCHED)
    by_topic = preview_digest(app, "t@example.org")
    by_region = preview_digest(app, "r@example.org")
    assert by_region.group_by == "region" and by_region.sections[0].title == "Middle East"
    assert by_topic.group_by == "topic"
    assert by_topic.sections[0].kind == "topic" and by_topic.sections[0].title != "Middle East"

    def stories(d: Digest) -> list[int | None]:
        return sorted((i.story_id or 0) for s in d.sections for i in s.items)

    assert stories(by_topic) == stories(by_region)  # the same stories, arranged by topic
    (built,) = build_digests(app, subscriber="t@example.org")
    doc = lxml.html.fromstring(built.page.read_bytes())  # type: ignore[union-attr]
    assert doc.xpath("string(//main/section[1]/h2)") == by_topic.sections[0].title


# ---------------------------------------------------------------- not repeating a story

SENT_AT = datetime(2025, 1, 10, 8, tzinfo=UTC)  # after me@example.org's 07:00 UTC send time
NEXT_DAY = SENT_AT + timedelta(days=1)
LATER_REPORT = datetime(2025, 1, 10, 12, tzinfo=UTC)  # inside the next day's window


def _send(app: App, email: str) -> None:
    from newsdigest.send_job import send_digests

    report = send_digests(app, email=email, env={})
    assert report.count("sent") + report.count("skipped") == 1, report


def _outbox_texts(folder: Path) -> str:
    from email import message_from_bytes
    from email.policy import default

    texts = []
    for path in sorted(folder.glob("*.eml")):
        message = message_from_bytes(path.read_bytes(), policy=default)
        texts.append(message.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    return " ".join(" ".join(texts).split())  # unwrapped: headlines span lines


@pytest.mark.parametrize(("grown", "repeat_grown"), [(False, True), (True, True), (True, False)])
def test_build_preview_and_send_leave_out_a_story_already_sent_unless_it_grew(
    app: App, tmp_path: Path, grown: bool, repeat_grown: bool
) -> None:
    from sqlalchemy import update

    from ingest import store
    from ingest.models import Article

    outbox = tmp_path / "outbox"
    app.config = app.config.model_copy(
        update={
            "secret": "test-secret-0123456789-abcdef",
            "smtp": app.config.smtp.model_copy(update={"backend": "outbox", "outbox": outbox}),
            "digest": app.config.digest.model_copy(update={"repeat_grown": repeat_grown}),
        }
    )
    with app.session() as session, session.begin():
        # Same filters, never sent anything: what a digest holds without the ledger.
        add_subscriber(
            session, validate(email="twin@example.org", regions=["Middle East"]), now=FETCHED
        )
    # Day 1: me@example.org is sent the seed story (the ledger records its stories).
    app.clock = lambda: SENT_AT
    _send(app, "me@example.org")
    assert SEED_TITLE in _outbox_texts(outbox)
    with app.session() as session:
        articles = store.list_articles(session)
    seed_story = next(a.story_id for a in articles if a.title == SEED_TITLE)
    assert seed_story is not None
    members = [a for a in articles if a.story_id == seed_story]
    assert len({a.outlet_id for a in members}) >= 2
    # Day 2: one more report of the story comes in. From an outlet that had already
    # reported it (the story did not grow), or from a new one (it grew).
    first, other = members[0], next(a for a in members if a.outlet_id != members[0].outlet_id)
    with app.session() as session, session.begin():
        values: dict[str, object] = {"first_seen_at": LATER_REPORT}
        if not grown:
            values["outlet_id"] = first.outlet_id
        session.execute(update(Article).where(Article.id == other.id).values(**values))
    app.clock = lambda: NEXT_DAY
    day = NEXT_DAY.date()

    def shown(d: Digest) -> dict[int | None, bool]:
        return {i.story_id: i.followup for s in d.sections for i in s.items}

    assert shown(preview_digest(app, "twin@example.org", day=day)) == {seed_story: False}
    mine = preview_digest(app, "me@example.org", day=day)
    built = {b.subscriber: b for b in build_digests(app, day=day)}
    for outbox_file in outbox.glob("*.eml"):
        outbox_file.unlink()
    _send(app, "me@example.org")
    sent = _outbox_texts(outbox)
    if grown and repeat_grown:
        # Back, marked as having new reports: in the preview, the build and the email.
        assert shown(mine) == {seed_story: True}
        assert built["me@example.org"].stories == 1
        assert "new reports" in sent
    else:
        assert shown(mine) == {}
        assert built["me@example.org"].stories == 0
        assert built["me@example.org"].skipped is not None
        assert sent == ""  # an empty digest is skipped, not sent
    assert built["twin@example.org"].stories == 1
