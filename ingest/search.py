"""Full-text search over articles' title and text: SQLite FTS5 and PostgreSQL tsvector.

Usage::

    hits = search_articles(session, 'joint economic zone', limit=20)
    hits[0].article.title, hits[0].rank, snippet_text(hits[0].snippet)

One interface over two engines. The store writes an article's folded title and text
(``ingest.search_text.search_document``) into the index with the article, through
``index_documents`` (an FTS5 table on SQLite) or ``postgres_vector`` (a ``tsvector``
column on PostgreSQL, set in the article's own INSERT or UPDATE); the database removes a
deleted article's entry itself (migration 0013). Both index the same derived text
(``ingest.search_text``: diacritics folded, runs of Chinese, Japanese, Korean, Thai... cut
into bigrams), split it on Unicode word boundaries and neither stems, so a query behaves
alike on both: every word (or "quoted phrase") must occur, the title counts more than the
text, and the rank is bm25 on SQLite and ``ts_rank`` on PostgreSQL (higher is better;
comparable within one result list only). Snippets are cut here, from the stored text, the
same way for both engines.

The user's text never reaches the query language: it is cut into words and phrases, each
goes through ``search_text`` and is handed over as a quoted FTS5 string or a bound
``phraseto_tsquery`` argument, so quotes, ``*``, ``NEAR``, ``-`` or ``:`` are searched
for, never interpreted.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    TableClause,
    column,
    func,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.orm import Session

from ingest.errors import IngestError
from ingest.models import Article
from ingest.records import ArticleInfo
from ingest.search_text import (
    MAX_INDEXED_CHARS,
    SearchDocument,
    SnippetPart,
    is_single_no_space_char,
    make_snippet,
    search_text,
)

__all__ = [
    "ARTICLES_WITH_VECTOR",
    "EmptyQueryError",
    "IndexPhrase",
    "SearchHit",
    "SnippetPart",
    "fts5_match_expression",
    "include_object",
    "index_documents",
    "index_phrases",
    "parse_query",
    "postgres_vector",
    "search_articles",
    "snippet_text",
]

MAX_QUERY_CHARS = 1000
MAX_QUERY_PHRASES = 32
DEFAULT_LIMIT = 20
# bm25 column weights (title, text): a word in the headline says more than one in the body.
_BM25_WEIGHTS = (10.0, 1.0)

_HAS_WORD = re.compile(r"\w")
_DROPPED_CATEGORIES = frozenset({"Cc", "Cs", "Co"})

#: Tables, columns and indexes of the search index, which Alembic must not see as strays.
SQLITE_INDEX_TABLE = "articles_fts"
POSTGRES_COLUMN = "search_vector"
POSTGRES_INDEX = "ix_articles_search_vector"


#: The articles table with PostgreSQL's index column, for the store's INSERT and UPDATE.
ARTICLES_WITH_VECTOR: TableClause = table(
    "articles", *(column(c.name, c.type) for c in Article.__table__.c), column(POSTGRES_COLUMN)
)
_SIMPLE = literal_column("'pg_catalog.simple'::regconfig")


def postgres_vector(title: Any, body: Any) -> ColumnElement[Any]:
    """The ``search_vector`` of a folded title and text (values or bound parameters): the
    title's words weigh A, the text's D; 'simple' lower-cases, neither stems nor drops
    stop words (every language is treated alike)."""
    return func.setweight(func.to_tsvector(_SIMPLE, title), literal_column("'A'")).op("||")(
        func.setweight(func.to_tsvector(_SIMPLE, body), literal_column("'D'"))
    )


def index_documents(conn: Connection, documents: Sequence[tuple[int, SearchDocument]]) -> None:
    """SQLite: write these articles' documents into the FTS5 table, replacing any they had.

    One ``executemany``. On PostgreSQL the store sets ``postgres_vector`` with the row.
    """
    if documents and conn.dialect.name == "sqlite":
        conn.exec_driver_sql(
            f"INSERT OR REPLACE INTO {SQLITE_INDEX_TABLE}(rowid, title, content_text)"
            " VALUES (?, ?, ?)",
            [(article_id, doc.title, doc.text) for article_id, doc in documents],
        )


class EmptyQueryError(IngestError, ValueError):
    """The query has no word to search for."""


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One article found, its rank (higher is better) and a snippet of its text."""

    article: ArticleInfo
    rank: float
    snippet: tuple[SnippetPart, ...]


def snippet_text(parts: Sequence[SnippetPart]) -> str:
    """The snippet as plain text."""
    return "".join(p.text for p in parts)


def parse_query(query: str) -> tuple[str, ...]:
    """The phrases of a query: each "quoted part" is one, every other word is one.

    Pieces without a letter or digit are dropped (they would match nothing); an
    unbalanced quote runs to the end. Pure: no database, no escaping yet.
    """
    # Control characters (NUL ends an FTS5 string; PostgreSQL refuses it), lone surrogates
    # and private-use characters (no text of ours) become spaces; format characters
    # such as ZWNJ stay, Persian and Indic words need them.
    cleaned = "".join(
        " " if unicodedata.category(ch) in _DROPPED_CATEGORIES else ch
        for ch in query[:MAX_QUERY_CHARS]
    )
    phrases: list[str] = []
    for position, part in enumerate(cleaned.split('"')):
        quoted = position % 2 == 1
        pieces = [" ".join(part.split())] if quoted else part.split()
        phrases.extend(p for p in pieces if _HAS_WORD.search(p))
    return tuple(phrases[:MAX_QUERY_PHRASES])


@dataclass(frozen=True, slots=True)
class IndexPhrase:
    """A query phrase in the index's form; ``prefix`` for a lone no-space character."""

    text: str
    prefix: bool = False


def index_phrases(phrases: Sequence[str]) -> tuple[IndexPhrase, ...]:
    """The phrases as the index holds words: through ``search_text``, empty ones dropped.

    A lone character of a script without word spaces ("伊") is indexed only inside
    bigrams, so it is searched as their prefix.
    """
    out: list[IndexPhrase] = []
    for phrase in phrases:
        indexed = " ".join((search_text(phrase) or "").split())
        if not _HAS_WORD.search(indexed):
            continue
        out.append(IndexPhrase(indexed, prefix=is_single_no_space_char(indexed)))
    return tuple(out)


def fts5_match_expression(phrases: Sequence[IndexPhrase]) -> str:
    """An FTS5 MATCH expression requiring every phrase, each as a literal string.

    Inside an FTS5 string only the double quote is special (doubled to escape it), so
    no operator, column filter or prefix mark of the user's can take effect; the only
    ``*`` is ours, after a lone no-space character.
    """
    return " ".join(
        '"' + p.text.replace('"', '""') + '"' + (" *" if p.prefix else "") for p in phrases
    )


def _search_sqlite(session: Session, phrases: Sequence[IndexPhrase], limit: int) -> list[Any]:
    title_weight, text_weight = _BM25_WEIGHTS
    return list(
        session.execute(
            text(
                f"""
                SELECT rowid AS id, -bm25(articles_fts, {title_weight}, {text_weight}) AS score
                FROM articles_fts
                WHERE articles_fts MATCH :match
                ORDER BY score DESC, rowid DESC
                LIMIT :limit
                """
            ),
            {"match": fts5_match_expression(phrases), "limit": limit},
        ).all()
    )


def _search_postgres(session: Session, phrases: Sequence[IndexPhrase], limit: int) -> list[Any]:
    # Each phrase is a bound argument of phraseto_tsquery: PostgreSQL's own parser splits
    # it exactly as it split the stored text, and no tsquery syntax of the user's is ever
    # written. A prefix phrase is one character of a no-space script, which needs no
    # quoting beyond quote_literal.
    parts = [
        f"to_tsquery('simple', quote_literal(:p{i}) || ':*')"
        if p.prefix
        else f"phraseto_tsquery('simple', :p{i})"
        for i, p in enumerate(phrases)
    ]
    params: dict[str, Any] = {f"p{i}": p.text for i, p in enumerate(phrases)}
    params["limit"] = limit
    return list(
        session.execute(
            text(
                f"""
                WITH q AS (SELECT {" && ".join(parts)} AS query)
                SELECT a.id, ts_rank(a.search_vector, q.query, 1) AS score
                FROM articles a, q
                WHERE a.search_vector @@ q.query
                ORDER BY score DESC, a.id DESC
                LIMIT :limit
                """
            ),
            params,
        ).all()
    )


def _texts(session: Session, ids: Sequence[int]) -> dict[int, str]:
    rows = session.execute(
        select(Article.id, func.substr(Article.content_text, 1, MAX_INDEXED_CHARS)).where(
            Article.id.in_(list(ids))
        )
    ).all()
    return {row[0]: row[1] or "" for row in rows}


def search_articles(session: Session, query: str, *, limit: int = DEFAULT_LIMIT) -> list[SearchHit]:
    """Articles whose title or text contain every word and phrase of ``query``, best first.

    Raises EmptyQueryError when the query has nothing to search for.
    """
    from ingest.store import articles_by_ids  # the store imports nothing of ours

    phrases = parse_query(query)
    indexed = index_phrases(phrases)
    if not indexed:
        raise EmptyQueryError(
            f"nothing to search for in {query!r}: give at least one word (letters or digits)"
        )
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        rows = _search_sqlite(session, indexed, limit)
    elif dialect == "postgresql":
        rows = _search_postgres(session, indexed, limit)
    else:
        raise IngestError(f"full-text search is not available on the {dialect} engine")
    ids = [row.id for row in rows]
    articles = articles_by_ids(session, ids)
    texts = _texts(session, ids)
    return [
        SearchHit(articles[row.id], float(row.score), make_snippet(texts[row.id], phrases))
        for row in rows
        if row.id in articles
    ]


def is_search_index_object(name: str | None, type_: str, table: str | None = None) -> bool:
    """Whether a database object belongs to the engine-specific search index."""
    if name is None:
        return False
    if type_ == "table":
        return name == SQLITE_INDEX_TABLE or name.startswith(SQLITE_INDEX_TABLE + "_")
    if type_ == "column":
        return name == POSTGRES_COLUMN and table == "articles"
    if type_ == "index":
        return name == POSTGRES_INDEX
    return False


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic ``include_object`` hook: leave the search index out of autogenerate.

    It is created by hand (migrations 0005, 0009, 0013: engine-specific DDL) and has no
    model, so without this hook autogenerate would offer to drop it.
    """
    if not reflected or compare_to is not None:
        return True
    table = getattr(getattr(obj, "table", None), "name", None)
    return not is_search_index_object(name, type_, table)
