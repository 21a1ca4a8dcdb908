"""outbox: the durable queue of outgoing mail, sealed, claimed by a sender with a lease

Revision ID: a51c0e7b3d29
Revises: 90d1ce2934e4
Create Date: 2026-12-04 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.db

revision = "a51c0e7b3d29"
down_revision = "90d1ce2934e4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("handle", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("created_at", portal.db.UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", portal.db.UTCDateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("lease_until", portal.db.UTCDateTime(), nullable=True),
        sa.Column("sent_at", portal.db.UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("kek_version", sa.Integer(), nullable=True),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=True),
        sa.Column("on_outcome", sa.String(length=64), nullable=True),
        sa.Column("outcome_args", sa.JSON(), nullable=True),
        sa.CheckConstraint("state IN ('pending', 'sent', 'failed')",
                           name=op.f("ck_outbox_message_state")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_message")),
        sa.UniqueConstraint("handle", name=op.f("uq_outbox_message_handle")),
    )
    op.create_index("ix_outbox_message_due", "outbox_message", ["state", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_message_due", table_name="outbox_message")
    op.drop_table("outbox_message")
