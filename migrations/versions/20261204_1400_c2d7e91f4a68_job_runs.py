"""jobs: one row per run of a duty by `portal jobs run`, and the SQLite lease of each duty

Revision ID: c2d7e91f4a68
Revises: a51c0e7b3d29
Create Date: 2026-12-04 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.db

revision = "c2d7e91f4a68"
down_revision = "a51c0e7b3d29"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job", sa.String(length=64), nullable=False),
        sa.Column("started_at", portal.db.UTCDateTime(), nullable=False),
        sa.Column("ended_at", portal.db.UTCDateTime(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("runner", sa.String(length=128), nullable=False),
        sa.CheckConstraint("outcome IN ('running', 'success', 'failure', 'interrupted')",
                           name=op.f("ck_job_run_outcome")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_run")),
    )
    op.create_index("ix_job_run_job_started", "job_run", ["job", "started_at"])
    op.create_table(
        "job_lease",
        sa.Column("job", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=True),
        sa.Column("lease_until", portal.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("job", name=op.f("pk_job_lease")),
    )


def downgrade() -> None:
    op.drop_table("job_lease")
    op.drop_index("ix_job_run_job_started", table_name="job_run")
    op.drop_table("job_run")
