"""subscribers.group_by: a subscriber's own section grouping

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 09:20:00

Until now a subscriber's grouping could only be set in config.yaml, so one added with
`subscribers add` could not choose it. NULL keeps the default (digest.group_by, or by
region once articles are tagged). A plain ADD COLUMN on both engines: batch mode on
SQLite would recreate the table, which this does not need.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("subscribers", sa.Column("group_by", sa.String(length=10), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_column("group_by")
