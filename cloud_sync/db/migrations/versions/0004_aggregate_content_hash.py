"""content hash on stored windows

aggregaterecord.content_hash: SHA-256 of a window's content. Two versions of one key with the same
seq and different content are a conflict: ingest keeps the first and dead-letters the second. NULL on
rows stored before this revision; the next same-seq redelivery of such a row fills it in.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("aggregaterecord") as batch:
        batch.add_column(sa.Column("content_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("aggregaterecord") as batch:
        batch.drop_column("content_hash")
