"""backups: one row per sealed backup file, its size and its last verification

Revision ID: b8a4c2e7d913
Revises: e3a9c5b1f7d2
Create Date: 2026-12-03 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.db

revision = "b8a4c2e7d913"
down_revision = "e3a9c5b1f7d2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "backup_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("created_at", portal.db.UTCDateTime(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("dialect", sa.String(length=16), nullable=False),
        sa.Column("schema_revision", sa.String(length=64), nullable=True),
        sa.Column("audit_head_seq", sa.BigInteger(), nullable=False),
        sa.Column("total_rows", sa.BigInteger(), nullable=False),
        sa.Column("copy_result", sa.Text(), nullable=False),
        sa.Column("verified_at", portal.db.UTCDateTime(), nullable=True),
        sa.Column("verified_ok", sa.Boolean(), nullable=True),
        sa.Column("verify_message", sa.Text(), nullable=True),
        sa.Column("pruned_at", portal.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backup_run")),
        sa.UniqueConstraint("file_name", name=op.f("uq_backup_run_file_name")),
    )


def downgrade() -> None:
    op.drop_table("backup_run")
