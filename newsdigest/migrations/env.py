"""Alembic environment: runs on the engine handed in by ``newsdigest.db``."""

from __future__ import annotations

from alembic import context

import digest.models  # noqa: F401  (registers the digest tables)
import ingest.models  # noqa: F401  (registers the ingest tables)
from ingest.orm import Base
from ingest.search import include_object

target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = context.config.attributes["engine"]
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=True,  # SQLite can only ALTER through table copies
            compare_type=True,
            include_object=include_object,  # the search index is engine-specific DDL
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
