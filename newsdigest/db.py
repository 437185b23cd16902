"""The database edge: engines for SQLite and PostgreSQL, and schema migrations.

Usage::

    engine = open_database(config.database)   # migrated to the newest schema
    with Session(engine) as session, session.begin():
        ...

SQLite runs in WAL mode with foreign keys on and a busy timeout, so a reader never
blocks the writer and a second process waits instead of failing at once. PostgreSQL
needs the ``postgres`` extra (psycopg 3).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

from newsdigest.errors import NewsdigestError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: The newest migration. Every start compares the database with it, which costs one query;
#: Alembic (slow to import) is loaded only when there is something to migrate.
#: tests/test_db.py checks that it is the head of the migration history.
HEAD_REVISION = "0014"
# Any constant will do; it only has to be the same for every newsdigest process.
_MIGRATION_LOCK_ID = 0x6E657773  # "news"


class DatabaseError(NewsdigestError):
    """The database cannot be opened or migrated."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(
        "PRAGMA synchronous=NORMAL"
    )  # safe with WAL: a crash loses no commit's integrity
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; raises DatabaseError with a message naming what is wrong."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        # The URL may carry a password; this message goes to the terminal and the logs.
        shown = re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)
        raise DatabaseError(f"not a database URL: {shown!r}") from None
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        # SQLAlchemy's default PostgreSQL driver is psycopg2; the project uses psycopg 3.
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        folder = Path(parsed.database).parent
        if not folder.exists():
            raise DatabaseError(f"the folder of the SQLite database does not exist: {folder}")
    if parsed.get_backend_name() != "sqlite":
        # A pooled connection may have died with a server restart: test it on checkout
        # (one round trip) rather than fail the first statement after the restart.
        kwargs.setdefault("pool_pre_ping", True)
    try:
        engine = create_engine(parsed, **kwargs)
    except NoSuchModuleError:
        raise DatabaseError(f"no SQLAlchemy dialect for {parsed.drivername!r}") from None
    except ModuleNotFoundError as exc:
        raise DatabaseError(
            f"the driver for {parsed.drivername} is not installed ({exc.name}); "
            "for PostgreSQL install newsdigest[postgres]"
        ) from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _alembic_config(engine: Engine) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_alembic_config(create_engine("sqlite://")))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; several processes may call this at once."""
    from alembic import command

    try:
        if engine.dialect.name == "postgresql":
            # Two daemons starting together must not both create the tables.
            with engine.connect() as conn:
                conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
                try:
                    command.upgrade(_alembic_config(engine), revision)
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _MIGRATION_LOCK_ID})
                    conn.commit()
        else:
            command.upgrade(_alembic_config(engine), revision)
    except OperationalError as exc:
        raise DatabaseError(f"cannot reach or migrate the database: {exc.orig}") from None


def open_database(url: str, **kwargs: Any) -> Engine:
    """An engine whose schema is current: a new database is migrated on first use."""
    engine = make_engine(url, **kwargs)
    try:
        current = current_revision(engine)
    except OperationalError as exc:
        raise DatabaseError(f"cannot open the database {engine.url!r}: {exc.orig}") from None
    if current != HEAD_REVISION:
        upgrade(engine)
    return engine
