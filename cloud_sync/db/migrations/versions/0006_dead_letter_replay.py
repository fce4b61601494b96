"""dead letters keep what a replay needs

deadletter.payload: the refused message as received (at most the wire's 256 KiB; an oversized one
keeps only payload_head), so `storelens cloud deadletters replay` can run it through ingest again once
the cause is fixed (a device registered late, a schema the cloud learned later). Cleared by
`deadletters purge` after cloud.dead_letter_payload_days. replayed_at / replay_result: the last replay.
Letters from before this revision have no payload and cannot be replayed.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deadletter", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payload", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("replayed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("replay_result", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deadletter", schema=None) as batch_op:
        batch_op.drop_column("replay_result")
        batch_op.drop_column("replayed_at")
        batch_op.drop_column("payload")
