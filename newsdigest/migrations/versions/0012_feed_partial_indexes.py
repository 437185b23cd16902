"""feeds: partial indexes on retry_after_at and lease_owner

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27 14:15:00

Every fetch batch asks which feeds' servers asked us to wait (retry_after_at > now), and a
daemon renews its leases by lease_owner every third of a lease. Neither column had an
index, so both read the whole feeds table each time (1.2-1.3 ms at 10,000 feeds on
PostgreSQL, more as the table bloats between vacuums; about 11 such scans a second in a
1,000-feed soak). Few rows have either set, so partial indexes stay small.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_RETRY_SET = sa.text("retry_after_at IS NOT NULL")
_LEASED = sa.text("lease_owner IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        "ix_feeds_retry_after_at",
        "feeds",
        ["retry_after_at"],
        postgresql_where=_RETRY_SET,
        sqlite_where=_RETRY_SET,
    )
    op.create_index(
        "ix_feeds_lease_owner",
        "feeds",
        ["lease_owner"],
        postgresql_where=_LEASED,
        sqlite_where=_LEASED,
    )


def downgrade() -> None:
    op.drop_index("ix_feeds_lease_owner", table_name="feeds")
    op.drop_index("ix_feeds_retry_after_at", table_name="feeds")
