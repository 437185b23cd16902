"""Ingest throughput against the feedparser-only floor, and near-duplicate lookup at scale.

    .venv/bin/python benchmarks/bench_ingest.py [--quick] [--feeds N] [--farm URL]
        [--sqlite-only] [--postgres URL] [--sizes 100000,1000000] [--pg-sizes 100000]
        [--repeats 3] [--probes 300] [--skip-throughput] [--skip-lookup]

At 1,000,000 stored articles the bulk load takes about 7-10 minutes on this 2-core machine
(16 million band rows); the probes take seconds.

(a) **Throughput**: the same feed documents go through ``feedparser.parse`` alone (the
floor), then through the project's own code path, ``ingest.pipeline.prepare`` (parse,
normalize, tag, dedupe candidate) and ``ingest.store.save_entries`` in one ``Session``
transaction per feed, on SQLite (a file in a temporary directory) and on PostgreSQL (a
fresh schema, dropped afterwards). One process, one core, wall-clock time (the median of
``--repeats`` runs, each on a fresh database), with the CPU time of this process beside
it (steadier on a shared machine; PostgreSQL's own work is not in it). One document is
prepared before timing: the language model and the tagger's tables load once per
process, and a daemon pays that once. The tagger's share of the time is measured apart
(the same ``tag_article`` calls again). Documents come from a running feed farm
(``--farm``, e.g. ``../shared/bench/farm.py``) or are generated here: RSS 2.0, 20-50
entries, 2-4 sentence summaries, 40% with a full HTML body, like the farm's.

(b) **Near-duplicate lookup**: the ``articles`` and ``minhash_bands`` tables are filled
with synthetic rows (random LSH bands, ``DEFAULT_BANDS`` per article as the real code
writes them; bulk-loaded with ``executemany`` on SQLite and ``COPY`` on PostgreSQL, the
band index dropped during the load and built after it) up to each size, plus a few
hundred real articles; then each probe article (half near-copies of stored ones, half new)
is placed with ``ingest.stories.place_new_articles``, inserted and its bands indexed, one
transaction each, in a fresh process. Prints the median and p99 of the lookup (placement)
alone and of the whole transaction per article, and that process's resident memory (RSS)
before and after the probes at each size: it should not grow with the store.

Prints one JSON object per figure.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import feedparser
import numpy as np
from sqlalchemy import Engine, create_engine, insert, text
from sqlalchemy.orm import Session

from ingest import store
from ingest.dedupe import DEFAULT_BANDS, DedupeCandidate, signature_to_bytes
from ingest.models import Article, MinHashBand, Story
from ingest.pipeline import prepare, save_prepared
from ingest.stories import NewArticle, index_bands, place_new_articles
from ingest.tagging import tag_article
from newsdigest.db import open_database

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
NOW = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)

# ---------------------------------------------------------------- documents

_COUNTRIES = ["Iraq", "Iran", "Nigeria", "Brazil", "Germany", "India", "Japan", "Kenya",
              "Mexico", "Turkey", "Poland", "Egypt", "Peru", "Vietnam", "France"]  # fmt: skip
_CITIES = ["Baghdad", "Lagos", "São Paulo", "Kraków", "Zürich", "Nairobi", "Hanoi",
           "Cairo", "Lima", "Mumbai", "Osaka", "Istanbul", "Berlin", "Tehran"]  # fmt: skip
_TOPICS = ["interest rates", "public health", "flooding", "migration", "renewable energy",
           "elections", "artificial intelligence", "water supply", "tourism",
           "the trade agreement", "border security", "the football league"]  # fmt: skip
_SENTENCES = [
    "Officials in {city} said on Monday that talks with {country} on {topic} would resume.",
    "Analysts expect {country} to announce new measures on {topic} before the end of the year.",
    "Residents of {city} have faced repeated disruption linked to {topic} this year.",
    "The agreement between {country} and {country2} covers {topic} and investment.",
    "About {n} people gathered in central {city} to protest over {topic}.",
    "Figures published by the finance ministry showed a {p} percent rise in spending on {topic}.",
    "Critics say the plan does too little to address {topic} in smaller cities such as {city}.",
    "Markets in {city} reacted cautiously, with investors focused on {topic}.",
]


def _sentence(rng: random.Random) -> str:
    return rng.choice(_SENTENCES).format(
        city=rng.choice(_CITIES),
        country=rng.choice(_COUNTRIES),
        country2=rng.choice(_COUNTRIES),
        topic=rng.choice(_TOPICS),
        n=rng.randrange(1000, 50000, 1000),
        p=rng.randint(2, 40),
    )


def generate_feed(index: int, rng: random.Random) -> bytes:
    """One RSS 2.0 document like the farm's: 20-50 entries, 40% with a full HTML body."""
    items = []
    for j in range(rng.randint(20, 50)):
        title = f"{rng.choice(_COUNTRIES)} unveils plan to tackle {rng.choice(_TOPICS)}"
        summary = " ".join(_sentence(rng) for _ in range(rng.randint(2, 4)))
        published = NOW - timedelta(minutes=37 * j + index)
        content = ""
        if rng.random() < 0.4:
            paragraphs = [
                " ".join(_sentence(rng) for _ in range(rng.randint(3, 5)))
                for _ in range(rng.randint(3, 6))
            ]
            html = "".join(f"<p>{p}</p>" for p in paragraphs)
            content = f"<content:encoded>{escape(html)}</content:encoded>"
        items.append(
            f"<item><title>{escape(title)}</title>"
            f"<link>https://news{index}.example/articles/{j}.html?utm_source=rss</link>"
            f'<guid isPermaLink="false">urn:bench:{index}:{j}</guid>'
            f"<pubDate>{format_datetime(published)}</pubDate>"
            f"<author>desk@news{index}.example (Desk)</author>"
            f"<category>{escape(rng.choice(_TOPICS))}</category>"
            f"<description>{escape(summary)}</description>{content}</item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        f"<channel><title>Bench News {index}</title><link>https://news{index}.example/</link>"
        f"<description>Feed {index}</description><language>en</language>"
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def load_documents(args: argparse.Namespace) -> list[tuple[str, bytes]]:
    """(feed URL, body) pairs: from the farm when given, else generated."""
    if args.farm:
        base = args.farm.rstrip("/")
        docs = []
        for i in range(args.feeds):
            url = f"{base}/feeds/{i}.xml"
            with urllib.request.urlopen(url, timeout=30) as response:
                docs.append((url, response.read()))
        return docs
    rng = random.Random(11)
    return [(f"https://news{i}.example/feed.xml", generate_feed(i, rng)) for i in range(args.feeds)]


# ---------------------------------------------------------------- helpers


def emit(figure: dict[str, Any]) -> None:
    print(json.dumps(figure), flush=True)


def rss_mb() -> float:
    """Resident memory of this process now (not the peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


@contextmanager
def database(kind: str, postgres: str, workdir: Path) -> Iterator[Engine]:
    """A migrated, empty database: a SQLite file, or a fresh PostgreSQL schema."""
    if kind == "sqlite":
        path = workdir / f"bench-{uuid.uuid4().hex[:8]}.db"
        engine = open_database(f"sqlite:///{path}")
        try:
            yield engine
        finally:
            engine.dispose()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in postgres else "?"
    engine = open_database(f"{postgres}{sep}options=-csearch_path%3D{schema}")
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


# ---------------------------------------------------------------- (a) throughput


def parse_floor(docs: list[tuple[str, bytes]], repeats: int) -> tuple[int, float]:
    """Entries and the best wall time of feedparser.parse over every document."""
    best = float("inf")
    entries = 0
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        entries = sum(len(feedparser.parse(body).entries) for _, body in docs)
        best = min(best, time.perf_counter() - start)
    return entries, best


def ingest_all(engine: Engine, docs: list[tuple[str, bytes]]) -> dict[str, float]:
    """Store every document the way the pipeline does: new articles, wall and CPU seconds."""
    with Session(engine) as session, session.begin():
        outlet = store.ensure_outlet(session, "Bench outlet", now=NOW, country="GB")
        feeds = [store.add_feed(session, url, now=NOW, outlet_id=outlet.id) for url, _ in docs]
    new = 0
    prepare_s = prepare_cpu = 0.0
    gc.collect()
    start, start_cpu = time.perf_counter(), time.process_time()
    for feed, (url, body) in zip(feeds, docs, strict=True):
        t0, c0 = time.perf_counter(), time.process_time()
        prepared = prepare(body, {"content-type": "application/rss+xml"}, url, NOW, "GB")
        prepare_s += time.perf_counter() - t0
        prepare_cpu += time.process_time() - c0
        with Session(engine) as session, session.begin():
            stats = save_prepared(session, prepared, feed_id=feed.id, outlet_id=outlet.id, now=NOW)
        new += stats.new
    return {
        "new": new,
        "prepare_s": prepare_s,
        "prepare_cpu": prepare_cpu,
        "total_s": time.perf_counter() - start,
        "total_cpu": time.process_time() - start_cpu,
    }


def tagging_cpu(docs: list[tuple[str, bytes]]) -> float:
    """CPU seconds of the tagger alone on every entry (the calls ``prepare`` makes)."""
    entries = [
        p.entry
        for url, body in docs
        for p in prepare(body, {"content-type": "application/rss+xml"}, url, NOW, "GB").entries
    ]
    gc.collect()
    start = time.process_time()
    for e in entries:
        tag_article(
            e.title, e.summary_text, e.content_text, categories=e.categories, outlet_country="GB"
        )
    return time.process_time() - start


def bench_throughput(args: argparse.Namespace, engines: list[str], workdir: Path) -> None:
    docs = load_documents(args)
    entries, floor_s = parse_floor(docs, repeats=3)
    floor = entries / floor_s
    emit(
        {
            "figure": "parse_floor",
            "source": args.farm or "generated",
            "feeds": len(docs),
            "entries": entries,
            "body_mb": round(sum(len(b) for _, b in docs) / 1e6, 2),
            "entries_per_s": round(floor),
        }
    )
    url, body = docs[0]  # warm-up: models and tables load once per process
    prepare(body, {"content-type": "application/rss+xml"}, url, NOW, "GB")
    tag_cpu = tagging_cpu(docs)
    for kind in engines:
        runs = []
        for _ in range(args.repeats):
            with database(kind, args.postgres, workdir) as engine:
                runs.append(ingest_all(engine, docs))
        run = sorted(runs, key=lambda r: r["total_s"])[len(runs) // 2]
        rate = entries / run["total_s"]
        cpu_rate = entries / run["total_cpu"]
        emit(
            {
                "figure": "ingest",
                "engine": kind,
                "entries": entries,
                "new_articles": run["new"],
                "repeats": len(runs),
                "entries_per_s": round(rate),
                "prepare_entries_per_s": round(entries / run["prepare_s"]),
                "store_share": round(1 - run["prepare_s"] / run["total_s"], 2),
                "tag_share": round(tag_cpu / run["total_cpu"], 2),
                "cpu_entries_per_s": round(cpu_rate),
                "cpu_ms_per_entry": {
                    "prepare": round(run["prepare_cpu"] * 1e3 / entries, 3),
                    "of_which_tagging": round(tag_cpu * 1e3 / entries, 3),
                    "store": round((run["total_cpu"] - run["prepare_cpu"]) * 1e3 / entries, 3),
                },
                "floor_entries_per_s": round(floor),
                "ratio_to_floor": round(rate / floor, 2),
                "load_average": round(os.getloadavg()[0], 1),
            }
        )


# ---------------------------------------------------------------- (a') where the CPU goes

#: (label, module, attribute) of the functions `prepare` calls, timed by `stage_breakdown`.
#: Nested ones are subtracted from their callers: parse = parse_feed - feedparser.parse;
#: normalize = normalize_entry - sanitize - html_to_text - language.
_STAGES = (
    ("feedparser", "feedparser", "parse"),
    ("parse_feed", "ingest.parse", "parse_feed"),
    ("normalize_entry", "ingest.normalize", "normalize_entry"),
    ("sanitize", "ingest.normalize.entry", "sanitize_html"),
    ("html_to_text", "ingest.normalize.entry", "html_to_text"),
    ("language", "ingest.normalize.entry", "detect_language"),
    ("tag", "ingest.tagging", "tag_article"),
    ("dedupe_text", "ingest.stories", "dedupe_text"),
    ("search_fold", "ingest.search_text", "search_document"),
)


@contextmanager
def _timed_stages(spent: dict[str, float]) -> Iterator[None]:
    """Wrap each function of ``_STAGES`` (and DedupeCandidate.from_text) to add its CPU
    seconds to ``spent``; `prepare` imports them at call time, so it calls the wrappers."""
    import importlib

    def timer(label: str, fn: Any) -> Any:
        def wrapped(*a: Any, **kw: Any) -> Any:
            c0 = time.process_time()
            try:
                return fn(*a, **kw)
            finally:
                spent[label] = spent.get(label, 0.0) + time.process_time() - c0

        return wrapped

    saved = []
    for label, module_name, attr in _STAGES:
        module = importlib.import_module(module_name)
        saved.append((module, attr, getattr(module, attr)))
        setattr(module, attr, timer(label, getattr(module, attr)))
    from_text = DedupeCandidate.__dict__["from_text"]
    DedupeCandidate.from_text = classmethod(timer("minhash", from_text.__func__))  # type: ignore[method-assign]
    try:
        yield
    finally:
        for module, attr, fn in saved:
            setattr(module, attr, fn)
        DedupeCandidate.from_text = from_text  # type: ignore[method-assign]


def _backend_cpu(session: Session) -> float:
    """CPU seconds of this session's PostgreSQL backend so far (the server runs on this
    machine), from /proc; 0 when it cannot be read."""
    pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stage_breakdown(
    kind: str, args: argparse.Namespace, docs: list[tuple[str, bytes]], workdir: Path
) -> None:
    """CPU ms per entry of each stage of `prepare`, of `save_entries` in this process and
    (PostgreSQL) in its backend, and the statements `save_entries` sends per entry."""
    from sqlalchemy import event

    spent: dict[str, float] = {}
    statements = {"statements": 0, "executemany": 0}

    def count(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        statements["executemany" if many else "statements"] += 1

    entries = 0
    prepare_cpu = store_cpu = backend_cpu = 0.0
    with database(kind, args.postgres, workdir) as engine:
        with Session(engine) as session, session.begin():
            outlet = store.ensure_outlet(session, "Bench outlet", now=NOW, country="GB")
            feeds = [store.add_feed(session, u, now=NOW, outlet_id=outlet.id) for u, _ in docs]
        for feed, (url, body) in zip(feeds, docs, strict=True):
            with _timed_stages(spent):
                c0 = time.process_time()
                prepared = prepare(body, {"content-type": "application/rss+xml"}, url, NOW, "GB")
                prepare_cpu += time.process_time() - c0
            entries += len(prepared.entries)
            with Session(engine) as session, session.begin():
                b0 = _backend_cpu(session) if kind == "postgresql" else 0.0
                event.listen(engine, "before_cursor_execute", count)
                c0 = time.process_time()
                save_prepared(session, prepared, feed_id=feed.id, outlet_id=outlet.id, now=NOW)
                session.flush()
                store_cpu += time.process_time() - c0
                event.remove(engine, "before_cursor_execute", count)
                if kind == "postgresql":
                    backend_cpu += _backend_cpu(session) - b0
    own = dict(spent)
    own["parse_feed"] -= own.get("feedparser", 0.0)
    own["normalize_entry"] -= sum(own.get(k, 0.0) for k in ("sanitize", "html_to_text", "language"))
    own["minhash"] = own.get("minhash", 0.0) - own.get("dedupe_text", 0.0)
    own["prepare_other"] = prepare_cpu - sum(
        spent[k] for k in ("parse_feed", "normalize_entry", "tag", "minhash", "search_fold")
    )
    emit(
        {
            "figure": "stages",
            "engine": kind,
            "entries": entries,
            "cpu_ms_per_entry": {
                **{k: round(v * 1e3 / entries, 3) for k, v in own.items()},
                "prepare": round(prepare_cpu * 1e3 / entries, 3),
                "store_client": round(store_cpu * 1e3 / entries, 3),
                "store_backend": round(backend_cpu * 1e3 / entries, 3),
            },
            "statements_per_feed": {k: round(v / len(docs), 1) for k, v in statements.items()},
            "load_average": round(os.getloadavg()[0], 1),
        }
    )


# ---------------------------------------------------------------- (b) lookup at scale

_VOCABULARY_SEED = 21


def _vocabulary() -> list[str]:
    rng = random.Random(_VOCABULARY_SEED)
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(2, 11))) for _ in range(30000)]


def _text(rng: random.Random, vocabulary: list[str], words: int = 300) -> list[str]:
    return [rng.choice(vocabulary) for _ in range(words)]


def _render(words: list[str]) -> str:
    return "\n\n".join(" ".join(words[i : i + 60]) for i in range(0, len(words), 60))


_BAND_INDEX = "ix_minhash_bands_band_hash"
_FILLER_COLUMNS = (
    "id", "feed_id", "story_id", "entry_key", "url", "title", "summary", "content_html",
    "content_text", "categories", "published_at", "first_seen_at", "date_flags", "content_hash",
    "fingerprint", "is_full",
)  # fmt: skip


def _filler_rows(
    first_id: int, start: int, stop: int, feed_id: int, story_id: int, sqlite: bool
) -> list[tuple]:
    """Article rows in the driver's types (SQLite stores UTC times as SQLAlchemy's text).

    Every stored article belongs to a story, as in a real store (the planner's choices
    depend on it); the fillers share one, which no probe can reach (random bands)."""
    rows = []
    for i in range(start, stop):
        when: Any = NOW - timedelta(seconds=i)
        if sqlite:
            when = when.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
        rows.append(
            (first_id + i - start, feed_id, story_id, f"f:{i}", f"https://filler.example/{i}",
             f"filler {i}", "", "", "", "[]", when, when, "[]", f"{i:064x}", f"{i:032x}", True)
        )  # fmt: skip
    return rows


def fill(engine: Engine, feed_id: int, have: int, want: int, rng: np.random.Generator) -> None:
    """Add synthetic articles (random LSH bands, ``DEFAULT_BANDS`` each, as the real code
    writes) until the store holds ``want`` of them.

    Bulk-loaded below the ORM: ``executemany`` on SQLite, ``COPY`` on PostgreSQL, with the
    (band, hash) index dropped during the load and built again after it (one sort instead
    of millions of random B-tree inserts).
    """
    chunk = 100_000
    sqlite = engine.dialect.name == "sqlite"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP INDEX {_BAND_INDEX}")
        story_id = conn.execute(
            insert(Story.__table__).returning(Story.__table__.c.id),
            {"first_seen_at": NOW, "updated_at": NOW, "size": 0},
        ).scalar_one()
    for start in range(have, want, chunk):
        stop = min(want, start + chunk)
        with engine.begin() as conn:
            first_id = conn.execute(text("SELECT coalesce(max(id), 0) + 1 FROM articles")).scalar()
            assert first_id is not None
            rows = _filler_rows(first_id, start, stop, feed_id, story_id, sqlite)
            ids = np.arange(first_id, first_id + len(rows), dtype=np.int64)
            bands = np.tile(np.arange(DEFAULT_BANDS, dtype=np.int64), len(ids))
            hashes = rng.integers(-(2**63), 2**63 - 1, size=len(bands), dtype=np.int64)
            band_rows = zip(
                np.repeat(ids, DEFAULT_BANDS).tolist(), bands.tolist(), hashes.tolist(), strict=True
            )
            if sqlite:
                # A 256 MB page cache for this connection: index inserts at 16 M rows
                # otherwise spend their time re-reading pages.
                conn.exec_driver_sql("PRAGMA cache_size = -262144")
                marks = ", ".join("?" for _ in _FILLER_COLUMNS)
                conn.exec_driver_sql(
                    f"INSERT INTO articles ({', '.join(_FILLER_COLUMNS)}) VALUES ({marks})", rows
                )
                conn.exec_driver_sql(
                    "INSERT INTO minhash_bands (article_id, band, hash) VALUES (?, ?, ?)",
                    list(band_rows),
                )
                continue
            raw = conn.connection.dbapi_connection
            assert raw is not None
            with raw.cursor() as cursor:  # type: ignore[attr-defined]
                copy_sql = f"COPY articles ({', '.join(_FILLER_COLUMNS)}) FROM STDIN"
                with cursor.copy(copy_sql) as copy:
                    for row in rows:
                        copy.write_row(row)
                with cursor.copy("COPY minhash_bands (article_id, band, hash) FROM STDIN") as copy:
                    for band_row in band_rows:
                        copy.write_row(band_row)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE INDEX {_BAND_INDEX} ON minhash_bands (band, hash)")
        if not sqlite:  # ids were given explicitly: move the id sequence past them
            conn.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('articles', 'id'), max(id)) FROM articles"
            )
            conn.exec_driver_sql("ANALYZE articles")
            conn.exec_driver_sql("ANALYZE minhash_bands")
        else:
            conn.exec_driver_sql("ANALYZE")
    # The probes get fresh connections: the load's large page cache must not count as
    # memory that grows with the store.
    engine.dispose()


def store_seeds(engine: Engine, feed_id: int, texts: list[list[str]]) -> list[DedupeCandidate]:
    """Real articles (with stories, signatures and bands) that probes can match."""
    candidates = [
        DedupeCandidate.from_text(f"https://seed.example/{i}", _render(words))
        for i, words in enumerate(texts)
    ]
    with Session(engine) as session, session.begin():
        story_ids = session.execute(
            insert(Story).returning(Story.id, sort_by_parameter_order=True),
            [{"first_seen_at": NOW, "updated_at": NOW, "size": 1} for _ in candidates],
        ).scalars()
        rows = [
            {
                "feed_id": feed_id,
                "story_id": story_id,
                "entry_key": f"s:{i}",
                "url": c.url,
                "title": f"seed {i}",
                "published_at": NOW,
                "first_seen_at": NOW,
                "content_hash": f"seed{i}",
                "fingerprint": c.fingerprint,
                "signature": signature_to_bytes(c.signature),
                "is_full": True,
            }
            for i, (c, story_id) in enumerate(zip(candidates, story_ids, strict=True))
        ]
        ids = session.execute(
            insert(Article).returning(Article.id, sort_by_parameter_order=True), rows
        ).scalars()
        index_bands(session, [(i, c.signature) for i, c in zip(ids, candidates, strict=True)])
    return candidates


def place_one(
    engine: Engine, feed_id: int, key: str, candidate: DedupeCandidate
) -> tuple[str, float]:
    """Place, insert and index one article in one transaction: (how it was placed, seconds
    the placement took: the lookup, the decision and a new story if any)."""
    with Session(engine) as session, session.begin():
        t0 = time.perf_counter()
        store.lock_story_placement(session, durable=False)  # as save_entries does
        placement = place_new_articles(session, [NewArticle(candidate, NOW, True)], now=NOW)
        lookup_s = time.perf_counter() - t0
        article_id = (
            session.connection()
            .execute(  # Core, as ingest.store inserts
                insert(Article.__table__).returning(Article.__table__.c.id),
                {
                    "feed_id": feed_id,
                    "story_id": placement.story_ids[0],
                    "entry_key": key,
                    "url": candidate.url,
                    "title": key,
                    "published_at": NOW,
                    "first_seen_at": NOW,
                    "content_hash": key,
                    "fingerprint": candidate.fingerprint,
                    "signature": signature_to_bytes(candidate.signature),
                    "is_full": True,
                },
            )
            .scalar_one()
        )
        index_bands(session, [(article_id, candidate.signature)])
    return str(placement.kinds[0]), lookup_s


def bench_lookup(kind: str, args: argparse.Namespace, sizes: list[int], workdir: Path) -> None:
    vocabulary = _vocabulary()
    text_rng = random.Random(5)
    seeds = [_text(text_rng, vocabulary) for _ in range(args.probes)]
    rng = np.random.default_rng(3)
    with database(kind, args.postgres, workdir) as engine:
        with Session(engine) as session, session.begin():
            feed = store.add_feed(session, "https://bench.example/feed.xml", now=NOW)
        store_seeds(engine, feed.id, seeds)
        have = len(seeds)
        for size in sizes:
            start = time.perf_counter()
            fill(engine, feed.id, have, size, rng)
            fill_s = time.perf_counter() - start
            have = size
            probes: list[DedupeCandidate] = []
            for i in range(args.probes):
                if i % 2 == 0:  # a near-copy of a stored article: 2% of its words edited
                    words = list(seeds[i])
                    for w in text_rng.sample(range(len(words)), len(words) // 50):
                        words[w] = f"edited{w}"
                else:
                    words = _text(text_rng, vocabulary)
                url = f"https://probe.example/{size}/{i}"
                probes.append(DedupeCandidate.from_text(url, _render(words)))
            with engine.connect() as conn:
                band_rows = conn.execute(
                    text(f"SELECT count(*) FROM {MinHashBand.__tablename__}")
                ).scalar_one()
            engine.dispose()
            # The probes run in a fresh process, so its memory is the lookup's alone, not
            # what building the store left in this one.
            db_url = engine.url.render_as_string(hide_password=False)
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
                figures = pool.submit(run_probes, db_url, feed.id, size, probes).result()
            emit(
                {
                    "figure": "near_duplicate_lookup",
                    "engine": kind,
                    "stored_articles": size,
                    "band_rows": band_rows,
                    "bands_per_article": DEFAULT_BANDS,
                    "fill_s": round(fill_s, 1),
                    "probes": len(probes),
                    **figures,
                    "load_average": round(os.getloadavg()[0], 1),
                }
            )


def run_probes(url: str, feed_id: int, size: int, probes: list[DedupeCandidate]) -> dict[str, Any]:
    """Place every probe, one transaction each, in this (fresh) process: timings and RSS."""
    engine = open_database(url)
    try:
        gc.collect()
        rss_before = rss_mb()
        times: list[float] = []
        cpu: list[float] = []
        lookups: list[float] = []
        kinds: dict[str, int] = {}
        for i, candidate in enumerate(probes):
            t0, c0 = time.perf_counter(), time.process_time()
            placed, lookup_s = place_one(engine, feed_id, f"p:{size}:{i}", candidate)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            lookups.append(lookup_s)
            kinds[placed] = kinds.get(placed, 0) + 1
    finally:
        engine.dispose()
    return {
        "placed": kinds,
        "median_ms": round(statistics.median(times) * 1e3, 2),
        "p99_ms": round(percentile(times, 0.99) * 1e3, 2),
        "cpu_median_ms": round(statistics.median(cpu) * 1e3, 2),
        "lookup_median_ms": round(statistics.median(lookups) * 1e3, 2),
        "lookup_p99_ms": round(percentile(lookups, 0.99) * 1e3, 2),
        "rss_mb_before": rss_before,
        "rss_mb_after": rss_mb(),
    }


# ---------------------------------------------------------------- main


def _sizes(spec: str) -> list[int]:
    return [int(s) for s in spec.split(",") if s]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--feeds", type=int, default=None, help="documents (default 200)")
    parser.add_argument("--farm", help="a running feed farm's base URL (else generate RSS)")
    parser.add_argument(
        "--postgres", default=os.environ.get("NEWSDIGEST_BENCH_PG", DEFAULT_POSTGRES)
    )
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--sizes", default=None, help="stored articles for (b), SQLite")
    parser.add_argument("--pg-sizes", default=None, help="stored articles for (b), PostgreSQL")
    parser.add_argument("--probes", type=int, default=None, help="articles placed per size")
    parser.add_argument("--repeats", type=int, default=None, help="runs of (a) per engine (median)")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-lookup", action="store_true")
    parser.add_argument(
        "--stages", action="store_true", help="also CPU per stage and statements, per engine"
    )
    args = parser.parse_args(argv)
    args.feeds = args.feeds or (20 if args.quick else 200)
    args.probes = args.probes or (50 if args.quick else 300)
    args.repeats = args.repeats or (1 if args.quick else 3)
    sizes = [
        int(s) for s in (args.sizes or ("10000" if args.quick else "100000,1000000")).split(",")
    ]
    pg_sizes = [int(s) for s in (args.pg_sizes or ("10000" if args.quick else "100000")).split(",")]
    engines = ["sqlite"] if args.sqlite_only else ["sqlite", "postgresql"]
    emit(
        {
            "figure": "machine",
            "nproc": os.cpu_count(),
            "machine": os.uname().machine,
            "python": sys.version.split()[0],
            "date": datetime.now(UTC).date().isoformat(),
            "load_average": [round(x, 1) for x in os.getloadavg()],
        }
    )
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        workdir = Path(tmp)
        if not args.skip_throughput:
            bench_throughput(args, engines, workdir)
        if args.stages:
            docs = load_documents(args)
            url, body = docs[0]  # warm-up, as in (a)
            prepare(body, {"content-type": "application/rss+xml"}, url, NOW, "GB")
            for kind in engines:
                stage_breakdown(kind, args, docs, workdir)
        if not args.skip_lookup:
            bench_lookup("sqlite", args, sizes, workdir)
            if "postgresql" in engines:
                bench_lookup("postgresql", args, pg_sizes, workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
