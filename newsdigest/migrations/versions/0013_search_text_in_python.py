"""search index: the store writes the folded title and text; no database-side folding

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27 15:10:00

Revision 0009 folded each article's title and text for the search index inside the
database: SQLite's triggers called a Python function every newsdigest connection
registered, PostgreSQL's trigger ran a PL/pgSQL copy of it. The copy cost 0.5-1 ms per
article with non-ASCII text, on the one writer, and was a second implementation to keep in
step; SQLite's own shell could not insert, update or delete an article (the trigger named
a function only newsdigest registers). Now ``ingest.search_text.search_document`` folds
once, in Python (in the parse workers for fetched entries), and the store writes the
result (``ingest.store``) on both engines.

SQLite: the FTS5 table keeps the folded text it indexes (it is no longer contentless), so
a row leaves the index by its rowid alone: a trigger removes it when its article is
deleted (a prune, a feed removed), and the store replaces it when it changes the title or
text. No trigger needs a function of ours. As on PostgreSQL, an edit of the title or text
by another client (the sqlite3 shell, psql) leaves the old words indexed until the store
writes the article again. The price is the folded text kept a second time: about
the size of the articles' text (which is capped at MAX_INDEXED_CHARS for the index).
SQLite 3.43's ``contentless_delete`` would avoid it; Debian 12's SQLite is 3.40.

PostgreSQL: the ``search_vector`` column and its GIN index stay; the trigger and both
functions go, and the store sets the column in the same INSERT or UPDATE that writes the
title and text.

Stored articles: on SQLite the index is rebuilt from them, folded here in Python, in
batches; on PostgreSQL their vectors were made by 0009's copy of the same derivation and
are kept as they are, and any article without one (none is expected) is folded here.
Downgrading runs 0009's upgrade again, which restores its triggers and re-derives the
index in the database.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from alembic import op
from sqlalchemy import Connection

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_BATCH = 1000

_SQLITE_DROP_0009 = [
    "DROP TRIGGER IF EXISTS articles_fts_update",
    "DROP TRIGGER IF EXISTS articles_fts_delete",
    "DROP TRIGGER IF EXISTS articles_fts_insert",
    "DROP TABLE IF EXISTS articles_fts",
]

_SQLITE_UP = [
    *_SQLITE_DROP_0009,
    """
    CREATE VIRTUAL TABLE articles_fts USING fts5(
        title, content_text,
        tokenize="unicode61 remove_diacritics 0 categories 'L* N* Co M*'"
    )
    """,
    """
    CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN
        DELETE FROM articles_fts WHERE rowid = old.id;
    END
    """,
]

_POSTGRES_UP = [
    "DROP TRIGGER IF EXISTS articles_search_vector ON articles",
    "DROP FUNCTION IF EXISTS newsdigest_articles_search_vector()",
    "DROP FUNCTION IF EXISTS newsdigest_search_text(text)",
]

_POSTGRES_VECTOR = (
    "setweight(to_tsvector('pg_catalog.simple', %s), 'A')"
    " || setweight(to_tsvector('pg_catalog.simple', %s), 'D')"
)


def _fold(conn: Connection, where: str, write: str, id_first: bool) -> None:
    """Fold the articles matching ``where`` in batches of ids and write each with ``write``
    (parameters: id, folded title, folded text; the id last unless ``id_first``)."""
    from ingest.search_text import search_document

    last = 0
    while True:
        rows = conn.exec_driver_sql(
            f"SELECT id, title, content_text FROM articles WHERE id > {last} AND ({where})"
            f" ORDER BY id LIMIT {_BATCH}"
        ).all()
        if not rows:
            return
        params: list[tuple[object, ...]] = []
        for article_id, title, text in rows:
            doc = search_document(title, text)
            if id_first:
                params.append((article_id, doc.title, doc.text))
            else:
                params.append((doc.title, doc.text, article_id))
        conn.exec_driver_sql(write, params)
        last = rows[-1][0]


def _revision_0009() -> ModuleType:
    path = Path(__file__).with_name("0009_search_text.py")
    spec = importlib.util.spec_from_file_location("newsdigest_migration_0009", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    conn = op.get_bind()
    dialect = conn.dialect.name
    if dialect == "sqlite":
        for statement in _SQLITE_UP:
            op.execute(statement)
        _fold(
            conn,
            "1 = 1",
            "INSERT INTO articles_fts(rowid, title, content_text) VALUES (?, ?, ?)",
            id_first=True,
        )
    elif dialect == "postgresql":
        for statement in _POSTGRES_UP:
            op.execute(statement)
        _fold(
            conn,
            "search_vector IS NULL",
            f"UPDATE articles SET search_vector = {_POSTGRES_VECTOR} WHERE id = %s",
            id_first=False,
        )
    else:
        raise NotImplementedError(f"no full-text search index for the {dialect} engine")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_DROP_0009:
            op.execute(statement)
    # 0009's index, triggers and functions, derived again from the stored rows.
    _revision_0009().upgrade()
