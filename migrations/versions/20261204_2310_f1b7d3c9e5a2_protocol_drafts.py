"""protocols: drafts written in the browser, and who wrote and approved each version

Revision ID: f1b7d3c9e5a2
Revises: a73fbe58d7ff
Create Date: 2026-12-04 23:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.db

revision = "f1b7d3c9e5a2"
down_revision = "a73fbe58d7ff"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE on both databases: a batch would recreate protocol_version, which
    # the submissions reference (SQLite refuses to drop it with foreign keys on).
    op.add_column("protocol_version", sa.Column("author_label", sa.String(length=128),
                                                nullable=True))
    op.add_column("protocol_version", sa.Column("approved_by_label", sa.String(length=128),
                                                nullable=True))
    op.add_column("protocol_version", sa.Column("approved_at", portal.db.UTCDateTime(),
                                                nullable=True))
    op.create_table(
        "protocol_draft",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("protocol_key", sa.String(length=64), nullable=False),
        sa.Column("source_name", sa.String(length=255), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("base_version_id", sa.Integer(), nullable=True),
        sa.Column("import_report", sa.Text(), nullable=True),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("author_label", sa.String(length=128), nullable=False),
        sa.Column("created_at", portal.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", portal.db.UTCDateTime(), nullable=False),
        sa.Column("updated_by_label", sa.String(length=128), nullable=False),
        sa.Column("submitted_at", portal.db.UTCDateTime(), nullable=True),
        sa.Column("decided_at", portal.db.UTCDateTime(), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_by_label", sa.String(length=128), nullable=True),
        sa.Column("refusal_reason", sa.Text(), nullable=True),
        sa.Column("installed_version_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"],
                                name=op.f("fk_protocol_draft_author_id_users")),
        sa.ForeignKeyConstraint(["base_version_id"], ["protocol_version.id"],
                                name=op.f("fk_protocol_draft_base_version_id_protocol_version")),
        sa.ForeignKeyConstraint(["decided_by_id"], ["users.id"],
                                name=op.f("fk_protocol_draft_decided_by_id_users")),
        sa.ForeignKeyConstraint(
            ["installed_version_id"], ["protocol_version.id"],
            name=op.f("fk_protocol_draft_installed_version_id_protocol_version")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_protocol_draft")),
    )
    op.create_index(op.f("ix_protocol_draft_protocol_key"), "protocol_draft", ["protocol_key"])


def downgrade() -> None:
    op.drop_index(op.f("ix_protocol_draft_protocol_key"), table_name="protocol_draft")
    op.drop_table("protocol_draft")
    for column in ("approved_at", "approved_by_label", "author_label"):
        # SQLite 3.35+ drops a column in place (no table copy, see upgrade()).
        op.execute(f"ALTER TABLE protocol_version DROP COLUMN {column}")

