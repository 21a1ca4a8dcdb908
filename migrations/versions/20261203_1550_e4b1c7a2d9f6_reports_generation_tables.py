"""reports: a generation keeps its tables as shown (aggregates, suppression applied)

Revision ID: e4b1c7a2d9f6
Revises: c3a9d5e7f2b8
Create Date: 2026-12-03 15:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'e4b1c7a2d9f6'
down_revision = 'c3a9d5e7f2b8'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('report_generation') as batch:
        batch.add_column(sa.Column('tables', sa.Text(), server_default='[]', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('report_generation') as batch:
        batch.drop_column('tables')
