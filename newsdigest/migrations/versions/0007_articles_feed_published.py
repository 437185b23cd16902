"""articles (feed_id, published_at): each feed's newest entries from the index alone

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 10:40:00

Every fetch round reads the publication times of each fetched feed's newest entries
(the adaptive schedule learns a feed's rhythm from them: ingest.round_state). With only
the (feed_id, entry_key) index the database reads every article row of those feeds; this
index holds exactly the two columns the query needs, in its order (about 0.13 s against
0.035 s per 1,000 feeds of 200 entries each).
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_articles_feed_published", "articles", ["feed_id", "published_at"])


def downgrade() -> None:
    op.drop_index("ix_articles_feed_published", table_name="articles")
