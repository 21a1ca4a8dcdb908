"""records: the warning checks (unusual values) confirmed with a submission's revision

Revision ID: b8f4d2e6a1c3
Revises: b8d4f2a6c913
Create Date: 2026-12-04 20:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'b8f4d2e6a1c3'
down_revision = 'b8d4f2a6c913'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('submission_revision') as batch:
        batch.add_column(sa.Column('confirmed_checks', sa.String(length=1000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('submission_revision') as batch:
        batch.drop_column('confirmed_checks')
