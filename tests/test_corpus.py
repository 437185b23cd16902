"""Every document of ../shared/corpus through the whole pipeline, served over HTTP.

feedparser's own test feeds, real outlets' captures, JSON Feeds and the hostile documents
(with the big ones ``hostile/make.py --big`` writes) are served by a local HTTP server, one
URL each, followed as feeds in a fresh SQLite database and fetched in one round by
:class:`ingest.pipeline.Pipeline`. For every document:

- nothing crashes: no "cannot parse: <exception>" (the pipeline's net for parser bugs), no
  store error, nothing logged at ERROR;
- it takes at most 5 s (serving it plus parsing, normalizing and tagging it; a
  correctness bound against runaway parsing, not a speed benchmark);
- it leaves a stored article, or one clear one-line reason in the feed's ``last_error``,
  or it is a well-formed feed without entries (checked against feedparser itself);
- no local file is read (an audit hook watches ``open`` of /etc/passwd and
  /proc/self/environ, and the database must hold no line of either), and nothing is asked
  of the network but the corpus server (an audit hook watches every connect and DNS
  lookup; an "attacker" server listens on 127.0.0.1:9, the port the hostile entities and
  DTDs name, and must receive nothing);
- a document that declares XML entities is refused (ingest/parse.py) with that reason.

Parsing runs on one worker thread so that each document's time is its own, not its
neighbours' (the pipeline's default executor is swapped for the round).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import shutil
import socketserver
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import feedparser
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import ingest.pipeline
from ingest import store
from ingest.fetch import FetchOptions
from ingest.models import Article, Feed
from ingest.pipeline import Pipeline, PipelineOptions, RoundReport
from newsdigest.db import open_database
from tests.conftest import ROOT, shared_path

pytestmark = pytest.mark.shared

NOW = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)
#: The per-document bound (seconds): serving plus parse/normalize/tag.
DOCUMENT_SECONDS = 5.0
#: Where the hostile documents point their entities, DTDs, XIncludes and stylesheets.
ATTACKER_PORT = 9
#: Local files the XXE/XInclude documents ask for.
SECRET_FILES = ("/etc/passwd", "/proc/self/environ")
#: The corpus folders that hold feed documents (opml/ holds subscription lists).
FEED_FOLDERS = ("feedparser", "real", "jsonfeed", "hostile")
NOT_DOCUMENTS = {"LICENSE", "MANIFEST.tsv", "README.md", "make.py", ".gitignore"}
#: The pipeline's wording when a parser raised something unexpected (a bug, not a reason).
PARSER_BUG = "cannot parse:"
#: What ingest/parse.py says when it refuses a document that declares entities.
ENTITY_REFUSAL = "declares XML entities"
GENERATED_CACHE = ROOT / "test-artifacts" / "corpus-generated"


# ---------------------------------------------------------------- the documents


@dataclass(frozen=True, slots=True)
class Document:
    """One corpus file as it is served: its name under corpus/, its path, its headers."""

    name: str
    path: Path
    headers: tuple[tuple[str, str], ...]

    @property
    def url_path(self) -> str:
        return "/" + quote(self.name)


def _declared_headers(path: Path) -> list[tuple[str, str]]:
    """feedparser's test files name the HTTP headers they expect in a leading comment."""
    head = path.read_bytes()[:4096].decode("utf-8", "replace")
    found = []
    for line in head.splitlines():
        if not line.startswith("Header:"):
            continue
        name, _, value = line.removeprefix("Header:").strip().partition(":")
        if value.strip() and name.strip().lower() != "content-location":
            found.append((name.strip(), value.strip()))
    return found


def _headers_for(name: str, path: Path) -> tuple[tuple[str, str], ...]:
    headers = _declared_headers(path) if name.startswith("feedparser/") else []
    if name.endswith(".gz"):
        # The gzip bomb, sent as a server would: compressed in transit.
        return (("Content-Type", "application/rss+xml"), ("Content-Encoding", "gzip"))
    if not any(h.lower() == "content-type" for h, _ in headers):
        if name.endswith(".json"):
            headers.append(("Content-Type", "application/json"))
        elif name.endswith(".html"):
            headers.append(("Content-Type", "text/html; charset=utf-8"))
        else:
            headers.append(("Content-Type", "application/xml"))
    return tuple(headers)


def generated_folder(corpus: Path) -> Path:
    """hostile/make.py --big's output, written once into a git-ignored cache.

    make.py writes next to itself, so a copy of it runs in the cache folder; its output is
    deterministic, so the cache is keyed by the script's hash. The gzip bomb alone takes
    about 17 s to write, hence the cache.
    """
    script = corpus / "hostile" / "make.py"
    key = hashlib.sha256(script.read_bytes()).hexdigest()[:12]
    folder = GENERATED_CACHE / key
    done = folder / "generated" / ".complete"
    if not done.exists():
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(script, folder / "make.py")
        subprocess.run(
            [sys.executable, "make.py", "--big"],
            cwd=folder,
            check=True,
            capture_output=True,
            timeout=300,
        )
        done.write_text(key)
    return folder / "generated"


def corpus_documents(corpus: Path, *, with_generated: bool = True) -> list[Document]:
    docs = []
    for folder in FEED_FOLDERS:
        for path in sorted((corpus / folder).rglob("*")):
            if path.is_file() and path.name not in NOT_DOCUMENTS:
                name = path.relative_to(corpus).as_posix()
                if not name.startswith("hostile/generated/"):
                    docs.append(Document(name, path, _headers_for(name, path)))
    if with_generated:
        for path in sorted(generated_folder(corpus).iterdir()):
            if path.is_file() and not path.name.startswith("."):
                name = f"hostile/generated/{path.name}"
                docs.append(Document(name, path, _headers_for(name, path)))
    return docs


# ---------------------------------------------------------------- the servers


class _CorpusHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: CorpusServer

    def do_GET(self) -> None:
        started = time.monotonic()
        name = unquote(self.path.split("?", 1)[0].lstrip("/"))
        doc = self.server.documents.get(name)
        try:
            if doc is None:
                self.send_error(404)
                return
            self.send_response(200)
            for header, value in doc.headers:
                self.send_header(header, value)
            self.send_header("Content-Length", str(doc.path.stat().st_size))
            self.end_headers()
            with doc.path.open("rb") as body:
                shutil.copyfileobj(body, self.wfile, 1 << 16)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the fetcher stopped reading: a size limit
        finally:
            self.server.record(name, time.monotonic() - started)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class CorpusServer(ThreadingHTTPServer):
    """Serves each document at /<its name>; records how long serving each one took."""

    daemon_threads = True
    request_queue_size = 1024  # the whole corpus connects at once

    def __init__(self, documents: list[Document]) -> None:
        super().__init__(("127.0.0.1", 0), _CorpusHandler)
        self.documents = {d.name: d for d in documents}
        self.served: dict[str, float] = {}
        self.requests: dict[str, int] = {}
        self._lock = threading.Lock()

    def record(self, name: str, seconds: float) -> None:
        with self._lock:
            self.served[name] = self.served.get(name, 0.0) + seconds
            self.requests[name] = self.requests.get(name, 0) + 1

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that hung up
            super().handle_error(request, client_address)

    def url(self, doc: Document) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{doc.url_path}"


class _AttackerHandler(socketserver.BaseRequestHandler):
    server: AttackerServer

    def handle(self) -> None:
        self.request.settimeout(1)
        try:
            first = self.request.recv(200)
        except OSError:
            first = b""
        self.server.hits.append(first.decode("latin-1").split("\r\n", 1)[0] or "(connected)")


class AttackerServer(socketserver.ThreadingTCPServer):
    """Logs every connection: the URL target of the hostile documents' entities and DTDs."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), _AttackerHandler)
        self.hits: list[str] = []


def serve(server: socketserver.BaseServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


@dataclass
class Attacker:
    """The attacker's side: connections to 127.0.0.1:9 (when bindable) and audit events."""

    server: AttackerServer | None
    events: list[tuple[str, str]] = field(default_factory=list)


@pytest.fixture
def attacker() -> Iterator[Attacker]:
    try:
        server: AttackerServer | None = AttackerServer(ATTACKER_PORT)
    except OSError:
        server = None  # port 9 needs root here; the audit hook still sees every connect
    if server is not None:
        serve(server)
    watched = Attacker(server)
    _install_audit_hook()
    _AUDIT.append(watched.events)
    try:
        yield watched
    finally:
        _AUDIT.remove(watched.events)
        if server is not None:
            server.shutdown()
            server.server_close()


# An audit hook cannot be removed; it only records while a test has a list in _AUDIT.
_AUDIT: list[list[tuple[str, str]]] = []
_HOOKED: list[bool] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _AUDIT:
        return
    if event == "open":
        path = args[0]
        if isinstance(path, str | bytes | os.PathLike) and os.fsdecode(path) in SECRET_FILES:
            _AUDIT[-1].append(("open", os.fsdecode(path)))
    elif event == "socket.connect":
        _AUDIT[-1].append(("connect", repr(args[1])))
    elif event == "socket.getaddrinfo":
        _AUDIT[-1].append(("getaddrinfo", str(args[0])))
    elif event == "urllib.Request":
        _AUDIT[-1].append(("urllib", str(args[0])))


def _install_audit_hook() -> None:
    if not _HOOKED:
        sys.addaudithook(_audit)
        _HOOKED.append(True)


def unexpected_network(events: list[tuple[str, str]], port: int) -> list[tuple[str, str]]:
    """Audit events other than DNS for, or connects to, the corpus server at 127.0.0.1."""
    allowed = {("getaddrinfo", "127.0.0.1"), ("connect", repr(("127.0.0.1", port)))}
    return [e for e in events if e not in allowed]


# ---------------------------------------------------------------- the round


@dataclass(frozen=True, slots=True)
class Fate:
    """What the round left for one document."""

    doc: Document
    status: str | None
    error: str | None
    articles: int
    seconds: float


def _secret_lines() -> list[str]:
    lines = []
    for path in SECRET_FILES:
        try:
            text = Path(path).read_bytes().replace(b"\0", b"\n").decode("utf-8", "replace")
        except OSError:
            continue
        lines += [line for line in text.splitlines() if len(line) >= 12]
    return [*lines, "root:x:0:0", "root:"]


#: Documents per database. Stories are matched across every feed of a database, and the
#: feedparser test files share their URLs and texts ("http://example.com/"), which makes
#: each lookup load every earlier copy: one database for all 2,300 documents spends minutes
#: there (see the report of issue 9). Smaller databases keep the test within a minute.
DOCUMENTS_PER_DATABASE = 120


def ingest_documents(
    tmp_path: Path, docs: list[Document], monkeypatch: pytest.MonkeyPatch
) -> tuple[list[Fate], int, CorpusServer, list[str]]:
    """Serve ``docs``, follow them as feeds of fresh databases, run one round in each;
    return each document's fate, the number of outcomes, the server and the databases."""
    server = CorpusServer(docs)
    serve(server)
    parsing: dict[str, float] = {}
    real_prepare = ingest.pipeline.prepare

    def timed_prepare(body: bytes, headers: dict[str, str], url: str, *rest: Any) -> Any:
        # CPU time of the parsing thread: a wait for the GIL is not this document's time.
        started = time.thread_time()
        try:
            return real_prepare(body, headers, url, *rest)
        finally:
            parsing[url] = time.thread_time() - started

    # Loading the tagger's and language detector's tables is start-up, not a document.
    real_prepare(b"<rss><channel><item><title>x</title></item></channel></rss>", {}, "http://x/",
                 NOW, None)  # fmt: skip
    monkeypatch.setattr(ingest.pipeline, "prepare", timed_prepare)
    fates: list[Fate] = []
    outcomes = 0
    urls = []
    try:
        for number, start in enumerate(range(0, len(docs), DOCUMENTS_PER_DATABASE)):
            chunk = docs[start : start + DOCUMENTS_PER_DATABASE]
            url = f"sqlite:///{tmp_path / f'corpus-{number}.db'}"
            urls.append(url)
            report, chunk_fates = _one_round(url, chunk, server, parsing)
            outcomes += len(report.outcomes)
            fates += chunk_fates
    finally:
        server.shutdown()
        server.server_close()
    return fates, outcomes, server, urls


def _one_round(
    url: str, docs: list[Document], server: CorpusServer, parsing: dict[str, float]
) -> tuple[RoundReport, list[Fate]]:
    engine = open_database(url)
    try:
        with Session(engine) as session, session.begin():
            outlet = store.ensure_outlet(session, "Corpus", now=NOW)
            feed_ids = {
                store.add_feed(session, server.url(d), now=NOW, outlet_id=outlet.id).id: d
                for d in docs
            }
        options = PipelineOptions(
            fetch=FetchOptions(
                allow_private_networks=True, concurrency=64, per_host=64, timeout=60
            ),
            parse_workers=0,
        )
        pipeline = Pipeline(engine, options, clock=lambda: NOW)

        async def one_round() -> RoundReport:
            # One parsing thread: documents are parsed one after the other.
            asyncio.get_running_loop().set_default_executor(
                ThreadPoolExecutor(1, thread_name_prefix="corpus-parse")
            )
            return await pipeline.run(pipeline.due_feeds(all_feeds=True))

        report = asyncio.run(one_round())
        with Session(engine) as session:
            feeds = {f.id: f for f in session.scalars(select(Feed))}
            counts = dict(
                session.execute(
                    select(Article.feed_id, func.count(Article.id)).group_by(Article.feed_id)
                ).all()
            )
    finally:
        engine.dispose()
    fates = []
    for feed_id, doc in feed_ids.items():
        feed = feeds[feed_id]
        seconds = server.served.get(doc.name, 0.0) + parsing.get(server.url(doc), 0.0)
        fates.append(Fate(doc, feed.last_status, feed.last_error, counts.get(feed_id, 0), seconds))
    return report, fates


def entry_count(doc: Document) -> int:
    """How many entries the document has by feedparser's (or json's) own reading."""
    body = doc.path.read_bytes()
    if doc.name.endswith(".json"):
        try:
            items = json.loads(body.decode("utf-8-sig")).get("items")
        except (ValueError, AttributeError, RecursionError):
            return 0
        return len(items) if isinstance(items, list) else 0
    headers = {k.lower(): v for k, v in doc.headers}
    return len(feedparser.parse(body, response_headers=headers).get("entries") or [])


def _declares_entities(doc: Document) -> bool:
    return b"<!ENTITY" in doc.path.read_bytes()[:65536].upper()


# ---------------------------------------------------------------- the test


@pytest.fixture
def corpus() -> Path:
    return shared_path("corpus")


def test_every_corpus_document_through_the_pipeline(
    tmp_path: Path,
    corpus: Path,
    attacker: Attacker,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    docs = corpus_documents(corpus)
    assert len(docs) > 2200, "the corpus is smaller than it should be"
    caplog.set_level(logging.DEBUG)
    fates, outcomes, server, db_urls = ingest_documents(tmp_path, docs, monkeypatch)

    # Every document was asked for exactly once, and nothing else was asked of the network.
    assert outcomes == len(fates) == len(docs)
    assert sorted(n for n, c in server.requests.items() if c != 1) == []
    assert sorted(server.requests) == sorted(d.name for d in docs)
    assert unexpected_network(attacker.events, server.server_address[1]) == []
    if attacker.server is not None:
        assert attacker.server.hits == []

    # No crash: no parser bug, no store error, nothing logged at ERROR.
    assert [f.doc.name for f in fates if (f.error or "").startswith(PARSER_BUG)] == []
    assert [f.doc.name for f in fates if f.status == "store_error"] == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []

    # The per-document bound, named.
    slow = {f.doc.name: round(f.seconds, 2) for f in fates if f.seconds > DOCUMENT_SECONDS}
    assert slow == {}, f"documents over {DOCUMENT_SECONDS} s"

    # A stored article, or one clear reason, or a feed that has no entries at all.
    unclear = {
        f.doc.name: f.error
        for f in fates
        if f.error is not None
        and (not f.error.strip() or "\n" in f.error or "Traceback" in f.error or len(f.error) > 500)
    }
    assert unclear == {}
    silent = [f.doc.name for f in fates if f.articles == 0 and f.error is None]
    dropped = {name: n for name in silent if (n := entry_count(server.documents[name])) > 0}
    assert dropped == {}, "entries parsed by feedparser, none stored, and no reason given"
    # feedparser's feed-level test files have no entries; most documents do.
    assert sum(1 for f in fates if f.articles) > len(docs) // 2

    # Entity declarations are refused, in every document that makes them.
    declaring = {f.doc.name: f.error for f in fates if _declares_entities(f.doc)}
    assert len(declaring) >= 9
    assert {n: e for n, e in declaring.items() if ENTITY_REFUSAL not in (e or "")} == {}

    # No local file reached the database (nor was opened).
    assert [e for e in attacker.events if e[0] == "open"] == []
    secrets = _secret_lines()
    for db_url in db_urls:
        with sqlite3.connect(db_url.removeprefix("sqlite:///")) as conn:
            dump = "\n".join(conn.iterdump())
        assert [line for line in secrets if line in dump] == [], db_url

    by_name = {f.doc.name: f for f in fates}
    _check_hostile_expectations(by_name, corpus)


def _check_hostile_expectations(by_name: dict[str, Fate], corpus: Path) -> None:
    """What hostile/MANIFEST.tsv asks of a safe ingester, where one outcome is required."""
    manifest = (corpus / "hostile" / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines()
    listed = {line.split("\t", 1)[0] for line in manifest[1:] if line.strip()}
    assert {f"hostile/{n}" for n in listed} <= set(by_name), "a manifest entry was not served"
    must_fail = {
        # empty documents, HTML pages and oversized bodies are failures with a reason
        "hostile/empty.xml": "empty document",
        "hostile/whitespace-only.xml": "empty document",
        "hostile/html-not-feed.html": "HTML page",
        "hostile/generated/million-entries.xml": "larger than",
        "hostile/generated/million-entries.json": "larger than",
        "hostile/generated/huge-text-node.xml": "larger than",
        "hostile/generated/gzip-bomb.xml.gz": "larger than",
    }
    reasons = {name: by_name[name].error for name in must_fail}
    assert all(reasons[n] and want in reasons[n] for n, want in must_fail.items()), reasons
    must_store = [
        "hostile/xss-rss.xml",
        "hostile/xss-atom.xml",
        "hostile/xss.json",
        "hostile/ssrf-urls.xml",
        "hostile/string-injection-payloads.xml",
        "hostile/header-injection-crlf.xml",
        "hostile/header-injection-crlf.json",
        "hostile/dates-extreme.xml",
        "hostile/dates-extreme.json",
        "hostile/guid-10kb.xml",
        "hostile/guid-10kb.json",
        "hostile/bom-utf8.xml",
        "hostile/bom-utf16le.xml",
        "hostile/bom-utf16be.xml",
        "hostile/dtd-external-network.xml",
        "hostile/xml-stylesheet-pi.xml",
    ]
    assert {n: by_name[n].error for n in must_store if by_name[n].articles == 0} == {}
