"""feeds: the rhythm of each feed's recent entries, summed up for the schedule

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27 13:15:00

Every fetch decides when its feed is next due from the times of the feed's 20 newest
entries. Reading them for every fetch was 0.14 ms of the writer's 0.3 ms per feed in a
round of 304s, where nothing about them had changed. The median gap, the number of gaps
and the newest time are now kept on the feed, refreshed when a fetch stores or edits
entries; a feed whose rhythm was never summed up (NULL here) is read once as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ingest.orm

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("feeds", sa.Column("rhythm_gaps", sa.Integer(), nullable=True))
    op.add_column("feeds", sa.Column("rhythm_median_seconds", sa.Float(), nullable=True))
    op.add_column(
        "feeds", sa.Column("rhythm_newest_at", ingest.orm.UTCDateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("feeds", "rhythm_newest_at")
    op.drop_column("feeds", "rhythm_median_seconds")
    op.drop_column("feeds", "rhythm_gaps")
