"""feeds: the polling hints of the last body (ttl, sy:updatePeriod/updateFrequency)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 13:10:00

A feed's own hints live in its body, and a 304 has none: the schedule decided a 304's next
due time without them, so a feed asking for <ttl>180</ttl> that publishes every twenty
minutes was fetched every twenty minutes after its first 304. The last body's hints are
kept on the feed and used whenever a fetch brings no body.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("feeds", sa.Column("ttl_minutes", sa.Integer(), nullable=True))
    op.add_column("feeds", sa.Column("update_period", sa.String(length=20), nullable=True))
    op.add_column("feeds", sa.Column("update_frequency", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("feeds", "update_frequency")
    op.drop_column("feeds", "update_period")
    op.drop_column("feeds", "ttl_minutes")
