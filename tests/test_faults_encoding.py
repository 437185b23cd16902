"""Fault: a feed changes its encoding between fetches.

One feed is fetched round after round while the server changes how it encodes the same
items: UTF-8, then a legacy code page declared correctly (in the HTTP header and the XML
declaration), then the legacy bytes under a wrong declaration (UTF-8), then back. The
stored texts must stay right, no article may appear twice, nothing may count as an
update while the text is the same, and a real edit must be one update with the new text.
Latin (windows-1252, ISO-8859-1) and Cyrillic (windows-1251, KOI8-R) feeds, both engines.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from werkzeug import Request, Response

from ingest import store
from ingest.charsets import recode_to_utf8
from ingest.fetch import FetchOptions
from ingest.models import Article
from ingest.pipeline import Pipeline, PipelineOptions, RoundReport

T0 = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)

LATIN = {
    "1": ("Grève générale à Besançon", "Les syndicats réclament 3 % de hausse; « pas de retour »."),
    "2": ("Straßenbahn in Zürich fährt wieder", "Nach dem Sturm: Bäume entfernt, Öffis pünktlich."),
    "3": ("Año nuevo en Logroño", "Señales de recuperación; el índice subió: «buen año»."),
}
CYRILLIC = {
    "1": ("Выборы в Новосибирске", "Явка составила 41 %; результаты предварительные."),
    "2": ("Морозы в Якутии", "Температура опустилась ниже -50 °C, школы закрыты."),
    "3": ("Ледоход на Енисее", "Спасатели предупреждают жителей прибрежных сёл."),
}


def rss(items: dict[str, tuple[str, str]], encoding: str, declared: str) -> bytes:
    body = "".join(
        f'<item><guid isPermaLink="false">{key}</guid><title>{title}</title>'
        f"<link>https://news.example/{key}</link><description>{text}</description>"
        "<pubDate>Fri, 10 Jan 2025 08:00:00 GMT</pubDate></item>"
        for key, (title, text) in items.items()
    )
    document = (
        f'<?xml version="1.0" encoding="{declared}"?><rss version="2.0"><channel>'
        f"<title>Desk</title><link>https://news.example/</link>{body}</channel></rss>"
    )
    return document.encode(encoding)


@dataclass
class Served:
    """What the feed's URL answers now (no validators: every fetch gets the body)."""

    body: bytes = b""
    charset: str = "utf-8"

    def __call__(self, request: Request) -> Response:
        return Response(self.body, content_type=f"application/rss+xml; charset={self.charset}")


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now


def fetch_round(engine: Engine, clock: Clock) -> RoundReport:
    clock.now += timedelta(hours=2)
    pipeline = Pipeline(
        engine,
        PipelineOptions(fetch=FetchOptions(allow_private_networks=True, timeout=10)),
        clock=clock,
    )
    return asyncio.run(pipeline.run(pipeline.due_feeds(all_feeds=True)))


def stored(engine: Engine) -> dict[str | None, tuple[str, str]]:
    with Session(engine) as session:
        rows = session.execute(select(Article.guid, Article.title, Article.summary)).all()
        count = session.scalar(select(func.count()).select_from(Article))
    assert count == len(rows) == len({guid for guid, _, _ in rows})  # no article twice
    return {guid: (title, summary) for guid, title, summary in rows}


# (encoding of the bytes, what the header and the XML declaration say)
LATIN_STEPS = [
    ("utf-8", "utf-8"),
    ("windows-1252", "windows-1252"),
    ("iso-8859-1", "iso-8859-1"),
    ("windows-1252", "utf-8"),  # wrong declaration: bytes are not valid UTF-8
    ("utf-8", "utf-8"),
]
CYRILLIC_STEPS = [
    ("utf-8", "utf-8"),
    ("windows-1251", "windows-1251"),
    ("koi8-r", "koi8-r"),
    ("windows-1251", "utf-8"),  # wrong declaration
    ("utf-8", "utf-8"),
]


@pytest.mark.parametrize(
    ("items", "steps", "edit_encoding"),
    [(LATIN, LATIN_STEPS, "iso-8859-1"), (CYRILLIC, CYRILLIC_STEPS, "windows-1251")],
    ids=["latin", "cyrillic"],
)
def test_a_feed_that_changes_encoding_keeps_its_texts_and_makes_no_duplicates(
    engine: Engine,
    httpserver: HTTPServer,
    items: dict[str, tuple[str, str]],
    steps: list[tuple[str, str]],
    edit_encoding: str,
) -> None:
    served = Served()
    httpserver.expect_request("/feed").respond_with_handler(served)
    with Session(engine) as session, session.begin():
        store.add_feed(session, httpserver.url_for("/feed"), now=T0)
    clock = Clock()
    for number, (encoding, declared) in enumerate(steps):
        served.body, served.charset = rss(items, encoding, declared), declared
        report = fetch_round(engine, clock)
        assert report.failed == (), (encoding, declared, report)
        # The same items, whatever the bytes: new the first time, then neither new nor
        # updated (an "update" here would mean the text was decoded differently).
        new, updated = report.new_articles, sum(o.updated for o in report.outcomes)
        assert (new, updated) == ((len(items), 0) if number == 0 else (0, 0)), (
            encoding,
            declared,
        )
        assert stored(engine) == items, (encoding, declared)

    # A real edit, in yet another encoding: one update, with the new text.
    edited = dict(items)
    title, text = items["2"]
    edited["2"] = (title, f"{text} {title}.")
    served.body, served.charset = rss(edited, edit_encoding, edit_encoding), edit_encoding
    report = fetch_round(engine, clock)
    assert (report.new_articles, sum(o.updated for o in report.outcomes)) == (0, 1)
    assert stored(engine) == edited


# ---------------------------------------------------------------- the decision alone

GREEK = {"1": ("Εκλογές στη Θεσσαλονίκη", "Η συμμετοχή ήταν χαμηλή, είπαν οι αρχές.")}
ARABIC = {"1": ("انتخابات في الموصل", "قالت السلطات إن المشاركة كانت منخفضة.")}
POLISH = {"1": ("Wybory w Łodzi", "Frekwencja była niska, powiedziały władze. Źródło: PAP.")}
XML = {"content-type": "application/rss+xml; charset=utf-8"}


@pytest.mark.parametrize(
    ("items", "encoding", "headers"),
    [
        (LATIN, "windows-1252", XML),
        (LATIN, "iso-8859-1", {}),
        (CYRILLIC, "windows-1251", XML),
        (CYRILLIC, "koi8-r", {"content-type": 'text/xml; charset="UTF-8"'}),
        (GREEK, "windows-1253", XML),
        (ARABIC, "windows-1256", XML),
        (POLISH, "windows-1250", XML),
    ],
    ids=["cp1252", "latin-1", "cp1251", "koi8-r", "cp1253", "cp1256", "cp1250"],
)
def test_legacy_bytes_declared_utf8_are_read_in_their_real_encoding(
    items: dict[str, tuple[str, str]], encoding: str, headers: dict[str, str]
) -> None:
    recoded = recode_to_utf8(rss(items, encoding, "utf-8"), headers)
    assert recoded is not None
    body, fixed = recoded
    assert body == rss(items, "utf-8", "utf-8")
    if headers:
        assert "charset=utf-8" in fixed["content-type"]


def test_utf8_with_a_stray_byte_stays_utf8() -> None:
    body = rss(CYRILLIC, "utf-8", "utf-8").replace(b"</title>", b"\xff</title>", 2)
    recoded = recode_to_utf8(body, XML)
    assert recoded is not None
    text = recoded[0].decode("utf-8")
    assert "Выборы в Новосибирске\ufffd" in text
    assert all(title in text for title, _ in CYRILLIC.values())


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (rss(CYRILLIC, "utf-8", "utf-8"), XML),  # really UTF-8
        (rss(CYRILLIC, "windows-1251", "windows-1251"), {}),  # says what it is
        (rss(CYRILLIC, "koi8-r", "utf-8"), {"content-type": "text/xml; charset=koi8-r"}),
        (rss(GREEK, "utf-16", "utf-16"), {}),  # feedparser reads its byte-order mark
    ],
    ids=["utf-8", "declared-legacy", "header-says-legacy", "utf-16"],
)
def test_documents_that_are_what_they_say_are_left_alone(
    body: bytes, headers: dict[str, str]
) -> None:
    assert recode_to_utf8(body, headers) is None
