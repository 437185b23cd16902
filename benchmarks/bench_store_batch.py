"""The writer's batch: storing changed feeds one by one or together.

    .venv/bin/python benchmarks/bench_store_batch.py [--feeds 100] [--new 2] [--repeats 3]
        [--postgres URL] [--sqlite-only]

Each feed (a generated document of 20-50 entries, as ``bench_ingest`` makes them) is first
stored without its ``--new`` newest entries; then the whole documents are stored again in
one transaction, as a fetch round's writer stores a batch of changed feeds: once with
``ingest.pipeline.save_prepared`` per feed (how the writer stored a batch before), once
with ``save_prepared_feeds`` for all of them (``ingest.store.save_feeds``: one read of
stored entries per feed, then one placement lookup, one insert and one story update for
the batch). Wall-clock and this process's CPU time of that second transaction, on SQLite
(a temporary file) and PostgreSQL (a fresh schema, dropped after). Prints one JSON object
per run.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bench_ingest import generate_feed
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from ingest import store
from ingest.pipeline import PreparedFeed, prepare, save_prepared, save_prepared_feeds
from newsdigest.db import open_database

NOW = datetime(2026, 11, 27, tzinfo=UTC)


@contextmanager
def database(kind: str, postgres: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/batch.db"
        return
    schema = f"bench_batch_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        sep = "&" if "?" in postgres else "?"
        yield f"{postgres}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def run(url: str, documents: list[PreparedFeed], new: int, together: bool) -> tuple[float, float]:
    engine = open_database(url)
    try:
        with Session(engine) as session, session.begin():
            outlet = store.ensure_outlet(session, "outlet", now=NOW).id
            feeds = [
                store.add_feed(session, f"https://f{i}.example/feed", now=NOW, outlet_id=outlet).id
                for i in range(len(documents))
            ]
        older = [replace(d, entries=d.entries[new:]) for d in documents]
        with Session(engine) as session, session.begin():
            save_prepared_feeds(
                session, [(d, f, outlet) for d, f in zip(older, feeds, strict=True)], now=NOW
            )
        later = NOW + timedelta(hours=1)
        wall, cpu = time.perf_counter(), time.process_time()
        with Session(engine) as session, session.begin():
            if together:
                items = [(d, f, outlet) for d, f in zip(documents, feeds, strict=True)]
                save_prepared_feeds(session, items, now=later)
            else:
                for d, f in zip(documents, feeds, strict=True):
                    save_prepared(session, d, feed_id=f, outlet_id=outlet, now=later)
        return time.perf_counter() - wall, time.process_time() - cpu
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=100)
    parser.add_argument("--new", type=int, default=2, help="new entries per feed")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args(argv)
    rng = random.Random(7)
    documents = [
        prepare(generate_feed(i, rng), {}, f"https://f{i}.example/feed", NOW, None)
        for i in range(args.feeds)
    ]
    kinds = ["sqlite"] if args.sqlite_only else ["sqlite", "postgresql"]
    for repeat in range(args.repeats):
        for kind in kinds:
            for together in (False, True):
                with database(kind, args.postgres) as url:
                    wall, cpu = run(url, documents, args.new, together)
                record = {
                    "bench": "store_batch",
                    "engine": kind,
                    "mode": "together" if together else "one_by_one",
                    "feeds": args.feeds,
                    "new_per_feed": args.new,
                    "repeat": repeat,
                    "wall_ms": round(wall * 1000, 1),
                    "cpu_ms": round(cpu * 1000, 1),
                }
                print(json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
