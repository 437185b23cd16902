"""The database edge on both engines: migrations, pragmas, and UTC instants."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

import digest.models  # noqa: F401
import ingest.models  # noqa: F401
from ingest.models import Outlet
from ingest.orm import Base
from ingest.search import include_object
from newsdigest.db import DatabaseError, current_revision, head_revision, make_engine, open_database


def test_a_new_database_is_migrated_to_head(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()


def test_migrations_match_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": include_object})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_opening_twice_is_harmless(database_url: str) -> None:
    first = open_database(database_url)
    second = open_database(database_url)
    assert current_revision(second) == head_revision()
    first.dispose()
    second.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_url: str) -> None:
    engine = open_database(sqlite_url)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_instants_come_back_as_aware_utc(engine: Engine) -> None:
    plus_three = timezone(timedelta(hours=3))
    written = datetime(2025, 1, 10, 9, 30, tzinfo=plus_three)
    with Session(engine) as session, session.begin():
        session.add(Outlet(name="X", created_at=written))
    with Session(engine) as session:
        read = session.query(Outlet).one().created_at
    assert read == written
    assert read.tzinfo is not None and read.utcoffset() == timedelta(0)
    assert read.hour == 6


def test_naive_instants_are_refused(engine: Engine) -> None:
    with Session(engine) as session, pytest.raises(Exception, match="aware datetime"):
        session.add(Outlet(name="Y", created_at=datetime(2025, 1, 1)))
        session.flush()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("nonsense", "not a database URL"),
        ("sqlite:////no/such/folder/x.db", "folder of the SQLite database does not exist"),
        ("oracle+nodriver://x/y", "no SQLAlchemy dialect"),
    ],
)
def test_bad_database_urls_are_explained(url: str, message: str) -> None:
    with pytest.raises(DatabaseError, match=message):
        make_engine(url)


def test_unreachable_postgres_is_a_clear_error() -> None:
    with pytest.raises(DatabaseError, match="cannot open the database"):
        open_database("postgresql+psycopg://postgres@127.0.0.1:1/test?connect_timeout=2")


def test_the_recorded_head_is_the_newest_migration() -> None:
    from newsdigest.db import HEAD_REVISION

    assert head_revision() == HEAD_REVISION
