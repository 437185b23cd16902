"""feeds: updates a fetch makes stay on their page (HOT); no index on next_due_at, lease_owner

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-27 15:45:00

Every fetch updates its feed's row twice (the claim writes lease_owner, the record writes
next_due_at and clears lease_owner). Both columns were indexed (next_due_at since 0001,
lease_owner by a partial index since 0012), so PostgreSQL could never update the row in
place (a HOT update): each update wrote a new row version elsewhere in the table and a new
entry in every index of it. Between vacuums (and on a server without autovacuum, for
ever) the table and its indexes grew by that much per fetch, and every scan of them
(the claim's, the lease renewal's) read the dead versions too.

Neither index earns that: a daemon claims due feeds a batch (500) at a time, and sorting
the due feeds out of one pass over a 10,000-feed table costs a few milliseconds per batch;
leases are renewed every third of a lease and released once per fetch tick. So both go,
and on PostgreSQL the table keeps room on each page (fillfactor 40) for the new versions,
which then stay on the page and are pruned from it without a vacuum. A feed's row is about
600 bytes (most of it the item hashes), and a write batch updates every row of a page in
one transaction, so the page must hold a second version of each: three fetch --all rounds
of 400 farm feeds made none of 1,200 updates HOT before, 753 at fillfactor 40 (281 at 70).
retry_after_at keeps its partial index: it changes only when a server asks us to wait.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_LEASED = sa.text("lease_owner IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_feeds_lease_owner", table_name="feeds")
    op.drop_index("ix_feeds_next_due_at", table_name="feeds")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE feeds SET (fillfactor = 40)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE feeds RESET (fillfactor)")
    op.create_index("ix_feeds_next_due_at", "feeds", ["next_due_at"])
    op.create_index(
        "ix_feeds_lease_owner",
        "feeds",
        ["lease_owner"],
        postgresql_where=_LEASED,
        sqlite_where=_LEASED,
    )
