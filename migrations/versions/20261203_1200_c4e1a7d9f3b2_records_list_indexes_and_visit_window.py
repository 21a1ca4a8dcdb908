"""records: keyset list indexes, and the confirmed out-of-window visit of a revision

Revision ID: c4e1a7d9f3b2
Revises: 0af0240afe35
Create Date: 2026-12-03 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'c4e1a7d9f3b2'
down_revision = '0af0240afe35'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_patient_created', 'patient', ['created_at', 'id'], unique=False)
    op.create_index('ix_patient_establishment_created', 'patient',
                    ['establishment_id', 'created_at', 'id'], unique=False)
    op.create_index('ix_submission_submitted', 'submission', ['submitted_at', 'id'],
                    unique=False)
    with op.batch_alter_table('submission_revision') as batch:
        batch.add_column(sa.Column('visit_window', sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('submission_revision') as batch:
        batch.drop_column('visit_window')
    op.drop_index('ix_submission_submitted', table_name='submission')
    op.drop_index('ix_patient_establishment_created', table_name='patient')
    op.drop_index('ix_patient_created', table_name='patient')
