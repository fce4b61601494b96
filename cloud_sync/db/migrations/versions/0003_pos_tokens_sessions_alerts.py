"""POS sales per hour, API tokens, server-side dashboard sessions, log-in throttling, alert state

- poshour: transactions (and revenue) per store and store-local hour, for conversion.
- apitoken: per-user bearer tokens for /api/v1 (SHA-256 only).
- dashboardsession: one row per log-in; log-out and password change delete rows, killing old cookies.
- loginthrottle: failed log-ins per user and per address, shared by all dashboard workers.
- alertstate / alertnotice / alertdelivery: the alert service's memory (restarts do not re-fire).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_STR = sqlmodel.sql.sqltypes.AutoString
_UTC = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    _pos_and_tokens()
    _sessions_and_throttle()
    _alerts()


def _pos_and_tokens() -> None:
    op.create_table(
        "poshour",
        sa.Column("store_id", _STR(length=64), nullable=False),
        sa.Column("hour_start", _UTC(), nullable=False),
        sa.Column("transactions", sa.Integer(), nullable=False),
        sa.Column("revenue", sa.Numeric(precision=18, scale=4, asdecimal=False), nullable=True),
        sa.Column("currency", _STR(length=3), nullable=True),
        sa.Column("source", _STR(length=256), nullable=False),
        sa.Column("imported_by", _STR(length=64), nullable=False),
        sa.Column("imported_at", _UTC(), nullable=False),
        sa.ForeignKeyConstraint(["store_id"], ["store.store_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("store_id", "hour_start"),
    )
    op.create_table(
        "apitoken",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", _STR(length=64), nullable=False),
        sa.Column("name", _STR(length=128), nullable=False),
        sa.Column("token_hash", _STR(length=64), nullable=False),
        sa.Column("prefix", _STR(length=16), nullable=False),
        sa.Column("created_at", _UTC(), nullable=False),
        sa.Column("expires_at", _UTC(), nullable=True),
        sa.Column("last_used_at", _UTC(), nullable=True),
        sa.Column("revoked_at", _UTC(), nullable=True),
        sa.ForeignKeyConstraint(["username"], ["user.username"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("apitoken", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_apitoken_username"), ["username"], unique=False)


def _sessions_and_throttle() -> None:
    op.create_table(
        "dashboardsession",
        sa.Column("id_hash", _STR(length=64), nullable=False),
        sa.Column("username", _STR(length=64), nullable=False),
        sa.Column("created_at", _UTC(), nullable=False),
        sa.Column("expires_at", _UTC(), nullable=False),
        sa.Column("address", _STR(length=64), nullable=False),
        sa.ForeignKeyConstraint(["username"], ["user.username"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    with op.batch_alter_table("dashboardsession", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dashboardsession_username"), ["username"], unique=False)
    op.create_table(
        "loginthrottle",
        sa.Column("key", _STR(length=200), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", _UTC(), nullable=False),
        sa.Column("blocked_until", _UTC(), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )


def _alerts() -> None:
    op.create_table(
        "alertstate",
        sa.Column("key", _STR(length=400), nullable=False),
        sa.Column("kind", _STR(length=32), nullable=False),
        sa.Column("store_id", _STR(length=64), nullable=False),
        sa.Column("device_id", _STR(length=64), nullable=False),
        sa.Column("camera_id", _STR(length=64), nullable=False),
        sa.Column("problem", _STR(length=128), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("since", _UTC(), nullable=False),
        sa.Column("summary", _STR(length=1000), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("alertstate", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alertstate_store_id"), ["store_id"], unique=False)
    op.create_table(
        "alertnotice",
        sa.Column("key", _STR(length=400), nullable=False),
        sa.Column("destination", _STR(length=200), nullable=False),
        sa.Column("sent_state", _STR(length=16), nullable=False),
        sa.Column("sent_at", _UTC(), nullable=False),
        sa.Column("fired_at", _UTC(), nullable=True),
        sa.PrimaryKeyConstraint("key", "destination"),
    )
    op.create_table(
        "alertdelivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("destination", _STR(length=200), nullable=False),
        sa.Column("sent_at", _UTC(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("alertdelivery", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alertdelivery_destination"), ["destination"], unique=False)
        batch_op.create_index(batch_op.f("ix_alertdelivery_sent_at"), ["sent_at"], unique=False)


def downgrade() -> None:
    for table, indexes in (("alertdelivery", ("ix_alertdelivery_sent_at", "ix_alertdelivery_destination")),
                           ("alertnotice", ()), ("alertstate", ("ix_alertstate_store_id",)),
                           ("loginthrottle", ()), ("dashboardsession", ("ix_dashboardsession_username",)),
                           ("apitoken", ("ix_apitoken_username",)), ("poshour", ())):
        if indexes:
            with op.batch_alter_table(table, schema=None) as batch_op:
                for index in indexes:
                    batch_op.drop_index(index)
        op.drop_table(table)
