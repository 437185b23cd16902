"""Search index size and build time: revision 0005 (raw text) against 0009 (derived text).

    .venv/bin/python benchmarks/bench_search_index.py [--articles 4000] [--postgres URL]
        [--sqlite-only] [--mix multilingual|ascii]

Builds each revision's index over the same synthetic articles, in a bare ``articles``
table (id, title, content_text), with the statements of the migrations themselves: on
SQLite a file in a temporary directory (index size = file growth after VACUUM; build
time = this process's CPU time, which includes the triggers' Python function); on
PostgreSQL a fresh schema, dropped afterwards (size = the table's growth plus the GIN
index, after VACUUM FULL; build time is wall clock, printed with the load average, since
the server's CPU is not ours to measure). Articles: about 2,300 characters each; 20%
Chinese (characters drawn with Zipf frequencies from 3,000, in clauses of 5-25), 10%
Cyrillic, 70% Latin with accents (Zipf-drawn words); ``--mix ascii``: English-like ASCII
words only, the case where the derivation has least to do. Rough figures for the README,
not a regression gate.
"""

from __future__ import annotations

import argparse
import importlib
import os
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ingest.search_text import register_sqlite_functions, search_text  # noqa: E402

Row = tuple[int, str, str]


def _migration(name: str) -> ModuleType:
    sys.path.insert(0, str(ROOT / "newsdigest" / "migrations" / "versions"))
    return importlib.import_module(name)


def articles(n: int, mix: str, seed: int = 4) -> list[Row]:
    rng = random.Random(seed)

    def words(letters: str, count: int) -> list[str]:
        return [
            "".join(rng.choice(letters) for _ in range(rng.randint(3, 10))) for _ in range(count)
        ]

    def zipf(count: int) -> list[float]:  # word and character frequencies as in real text
        return [1 / (rank + 1) for rank in range(count)]

    latin = ["économie", "région", "São", "Paulo", "Zürich", "ministre", "président"]
    latin += words("abcdefghijklmnopqrstuvwxyzéèàüñ", 3000)
    english = words("abcdefghijklmnopqrstuvwxyz", 3000)
    cyrillic = words("абвгдежзийклмнопрстуфхцчшщыэюяё", 3000)
    han = [chr(0x4E00 + i) for i in range(3000)]

    def text(kind: str, count: int) -> str:
        if kind == "zh":
            out: list[str] = []
            while len(out) < count * 2:
                out.extend(rng.choices(han, weights=zipf(len(han)), k=rng.randint(5, 25)))
                out.append("，" if rng.random() < 0.7 else "。")
            return "".join(out)
        vocab = {"latin": latin, "ru": cyrillic, "en": english}[kind]
        return " ".join(rng.choices(vocab, weights=zipf(len(vocab)), k=count)) + "."

    rows = []
    for i in range(n):
        kind = "zh" if i % 5 == 0 else ("ru" if i % 10 == 1 else "latin")
        rows.append((i + 1, *(text(kind if mix == "multilingual" else "en", k) for k in (10, 350))))
    return rows


def bench_sqlite(rows: list[Row], label: str, up: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "search.db"
        conn = sqlite3.connect(path)
        register_sqlite_functions(conn)
        conn.execute(
            "CREATE TABLE articles (id INTEGER PRIMARY KEY, title TEXT, content_text TEXT)"
        )
        conn.executemany("INSERT INTO articles VALUES (?, ?, ?)", rows)
        conn.commit()
        base = path.stat().st_size
        started = time.process_time()
        for statement in up:
            conn.execute(statement)
        conn.commit()
        cpu = time.process_time() - started
        conn.execute("VACUUM")
        grown = path.stat().st_size - base
        conn.close()
    print(
        f"sqlite   {label}: build {cpu:.2f} s CPU, index {grown / 1e6:.1f} MB "
        f"(text {base / 1e6:.1f} MB)"
    )


def bench_postgres(rows: list[Row], url: str, label: str, up: Callable[[str], list[str]]) -> None:
    import psycopg

    schema = f"bench_search_{os.getpid()}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        try:
            conn.execute(f'SET search_path = "{schema}"')
            conn.execute(
                "CREATE TABLE articles (id int PRIMARY KEY, title text, content_text text)"
            )
            with conn.cursor().copy("COPY articles FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            conn.execute("VACUUM ANALYZE articles")
            size = "SELECT pg_total_relation_size('articles')"
            base = conn.execute(size).fetchone()[0]  # type: ignore[index]
            load = os.getloadavg()[0]
            started = time.perf_counter()
            for statement in up(schema):
                conn.execute(statement)
            wall = time.perf_counter() - started
            conn.execute("VACUUM FULL articles")  # 0009 fills its column by UPDATE
            grown = conn.execute(size).fetchone()[0] - base  # type: ignore[index]
        finally:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    print(
        f"postgres {label}: build {wall:.2f} s wall at load {load:.1f}, "
        f"column + GIN index {grown / 1e6:.1f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=4000)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument(
        "--mix",
        choices=["multilingual", "ascii"],
        default="multilingual",
        help="multilingual: 20%% Chinese, 10%% Cyrillic, 70%% accented Latin; ascii: English-like",
    )
    args = parser.parse_args()
    rows = articles(args.articles, args.mix)
    chars = sum(len(title) + len(body) for _, title, body in rows) / len(rows)
    print(f"{len(rows)} articles, {chars:.0f} characters each on average")
    started = time.process_time()
    for _, title, body in rows:
        search_text(title)
        search_text(body)
    per = (time.process_time() - started) / len(rows) * 1e3
    print(f"search_text (Python, SQLite's triggers): {per:.3f} ms CPU per article")
    old, new = _migration("0005_search_index"), _migration("0009_search_text")
    # On SQLite each revision's index table and the statement that fills it from the rows
    # (the triggers would do the same work row by row); on PostgreSQL its column and index.
    bench_sqlite(rows, "0005", [old._SQLITE_UP[0], old._SQLITE_UP[-1]])
    bench_sqlite(rows, "0009", [new._SQLITE_UP[4], new._SQLITE_UP[-1]])
    if not args.sqlite_only:
        bench_postgres(rows, args.postgres, "0005", lambda _schema: old._POSTGRES_UP)
        bench_postgres(rows, args.postgres, "0009", lambda schema: new._postgres_up(schema)[2:])


if __name__ == "__main__":
    main()
