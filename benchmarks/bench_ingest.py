"""Ingest throughput against the feedparser-only floor, and near-duplicate lookup at scale.

    .venv/bin/python benchmarks/bench_ingest.py [--quick] [--feeds N] [--farm URL]
        [--sqlite-only] [--postgres URL] [--sizes 100000,1000000] [--pg-sizes 100000]
        [--skip-throughput] [--skip-lookup]

(a) **Throughput**: the same feed documents go through ``feedparser.parse`` alone (the
floor), then through the project's own code path, ``ingest.pipeline.prepare`` (parse,
normalize, tag, dedupe candidate) and ``ingest.store.save_entries`` in one ``Session``
transaction per feed, on SQLite (a file in a temporary directory) and on PostgreSQL (a
fresh schema, dropped afterwards). One process, one core, wall-clock time. Documents
come from a running feed farm (``--farm``, e.g. ``../shared/bench/farm.py``) or are
generated here: RSS 2.0, 20-50 entries, 2-4 sentence summaries, 40% with a full HTML
body, like the farm's.

(b) **Near-duplicate lookup**: the ``articles`` and ``minhash_bands`` tables are filled
with synthetic rows (random LSH bands, SQL bulk inserts) up to each size, plus a few
hundred real articles; then each probe article (half near-copies of stored ones, half new)
is placed with ``ingest.stories.place_new_articles``, inserted and its bands indexed, one
transaction each. Prints the median and p99 per article and the process's resident memory
(RSS) after each size: it should not grow with the store.

Prints one JSON object per figure.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
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
from ingest.dedupe import DedupeCandidate, signature_to_bytes
from ingest.models import Article, Story
from ingest.pipeline import prepare
from ingest.stories import NewArticle, index_bands, place_new_articles
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


def ingest_all(engine: Engine, docs: list[tuple[str, bytes]]) -> tuple[int, float, float]:
    """Store every document the way the pipeline does; (new articles, prepare s, total s)."""
    with Session(engine) as session, session.begin():
        outlet = store.ensure_outlet(session, "Bench outlet", now=NOW, country="GB")
        feeds = [store.add_feed(session, url, now=NOW, outlet_id=outlet.id) for url, _ in docs]
    new = 0
    prepare_s = 0.0
    gc.collect()
    start = time.perf_counter()
    for feed, (url, body) in zip(feeds, docs, strict=True):
        t0 = time.perf_counter()
        prepared = prepare(body, {"content-type": "application/rss+xml"}, url, NOW, "GB")
        prepare_s += time.perf_counter() - t0
        with Session(engine) as session, session.begin():
            stats = store.save_entries(
                session,
                feed_id=feed.id,
                outlet_id=outlet.id,
                entries=[(p.key, p.entry, p.tags, p.candidate) for p in prepared.entries],
                now=NOW,
            )
        new += stats.new
    return new, prepare_s, time.perf_counter() - start


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
    for kind in engines:
        with database(kind, args.postgres, workdir) as engine:
            new, prepare_s, total_s = ingest_all(engine, docs)
        rate = entries / total_s
        emit(
            {
                "figure": "ingest",
                "engine": kind,
                "entries": entries,
                "new_articles": new,
                "entries_per_s": round(rate),
                "prepare_entries_per_s": round(entries / prepare_s),
                "store_share": round(1 - prepare_s / total_s, 2),
                "floor_entries_per_s": round(floor),
                "ratio_to_floor": round(rate / floor, 2),
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


def _filler_rows(start: int, stop: int, feed_id: int) -> list[dict[str, Any]]:
    return [
        {
            "feed_id": feed_id,
            "entry_key": f"f:{i}",
            "url": f"https://filler.example/{i}",
            "title": f"filler {i}",
            "published_at": NOW - timedelta(seconds=i),
            "first_seen_at": NOW - timedelta(seconds=i),
            "content_hash": f"{i:064x}",
            "fingerprint": f"{i:032x}",
            "is_full": True,
        }
        for i in range(start, stop)
    ]


def fill(engine: Engine, feed_id: int, have: int, want: int, rng: np.random.Generator) -> None:
    """Add synthetic articles (random LSH bands) until the store holds ``want`` of them."""
    chunk = 50_000
    for start in range(have, want, chunk):
        stop = min(want, start + chunk)
        with engine.begin() as conn:
            ids = conn.execute(
                insert(Article).returning(Article.id, sort_by_parameter_order=True),
                _filler_rows(start, stop, feed_id),
            ).scalars()
            ids = np.fromiter(ids, dtype=np.int64)
            bands = np.tile(np.arange(32, dtype=np.int64), len(ids))
            hashes = rng.integers(-(2**63), 2**63 - 1, size=len(bands), dtype=np.int64)
            article_ids = np.repeat(ids, 32)
            rows = zip(article_ids.tolist(), bands.tolist(), hashes.tolist(), strict=True)
            if engine.dialect.name == "postgresql":
                raw = conn.connection.dbapi_connection
                assert raw is not None
                copy_sql = "COPY minhash_bands (article_id, band, hash) FROM STDIN"
                with raw.cursor() as cursor, cursor.copy(copy_sql) as copy:  # type: ignore[attr-defined]
                    for row in rows:
                        copy.write_row(row)
            else:
                conn.exec_driver_sql(
                    "INSERT INTO minhash_bands (article_id, band, hash) VALUES (?, ?, ?)",
                    list(rows),
                )


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


def place_one(engine: Engine, feed_id: int, key: str, candidate: DedupeCandidate) -> str:
    """Place, insert and index one article in one transaction; returns how it was placed."""
    with Session(engine) as session, session.begin():
        placement = place_new_articles(session, [NewArticle(candidate, NOW, True)], now=NOW)
        article_id = session.execute(
            insert(Article).returning(Article.id),
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
        ).scalar_one()
        index_bands(session, [(article_id, candidate.signature)])
    return str(placement.kinds[0])


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
            gc.collect()
            rss_before = rss_mb()
            times: list[float] = []
            kinds: dict[str, int] = {}
            for i, candidate in enumerate(probes):
                t0 = time.perf_counter()
                placed = place_one(engine, feed.id, f"p:{size}:{i}", candidate)
                times.append(time.perf_counter() - t0)
                kinds[placed] = kinds.get(placed, 0) + 1
            emit(
                {
                    "figure": "near_duplicate_lookup",
                    "engine": kind,
                    "stored_articles": size,
                    "band_rows": size * 32,
                    "fill_s": round(fill_s, 1),
                    "probes": len(probes),
                    "placed": kinds,
                    "median_ms": round(statistics.median(times) * 1e3, 2),
                    "p99_ms": round(percentile(times, 0.99) * 1e3, 2),
                    "rss_mb_before": rss_before,
                    "rss_mb_after": rss_mb(),
                }
            )


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
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-lookup", action="store_true")
    args = parser.parse_args(argv)
    args.feeds = args.feeds or (20 if args.quick else 200)
    args.probes = args.probes or (50 if args.quick else 300)
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
        if not args.skip_lookup:
            bench_lookup("sqlite", args, sizes, workdir)
            if "postgresql" in engines:
                bench_lookup("postgresql", args, pg_sizes, workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
