"""feeds.item_hashes: the items of each feed's last body, so a changed body parses its new ones

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 12:20:00

A feed that changed usually gained one to three entries and still lists thirty it listed
before. The fetch round parsed, normalized, tagged and fingerprinted all of them again,
only for the store to find them unchanged. The hashes of the items in the last stored
body (8 bytes each, ingest.known_items) let the parser leave out the items it has seen.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("feeds", sa.Column("item_hashes", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    op.drop_column("feeds", "item_hashes")
