"""records: each case's schedule state kept as data (issue 27)

Revision ID: a73fbe58d7ff
Revises: b8f4d2e6a1c3
Create Date: 2026-12-04 23:30:00.000000

The table is filled from the cases' forms, which only the key file opens: after upgrading an
installation that has cases, run once

    portal records rebuild-schedules --missing-only

Until then a case without a state shows in "My patients" as awaiting its first visit.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.db

revision = 'a73fbe58d7ff'
down_revision = 'b8f4d2e6a1c3'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'schedule_state',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('patient_id', sa.Integer(), nullable=False),
        sa.Column('protocol_version_id', sa.Integer(), nullable=False),
        sa.Column('next_visit', sa.String(length=16), nullable=True),
        sa.Column('next_form_key', sa.String(length=50), nullable=True),
        sa.Column('window_start', sa.Date(), nullable=True),
        sa.Column('window_end', sa.Date(), nullable=True),
        sa.Column('ended', sa.Boolean(), nullable=False),
        sa.Column('failed', sa.Boolean(), nullable=False),
        sa.Column('computed_at', portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('facts', sa.LargeBinary(), nullable=True),
        sa.Column('wrapped_key', sa.LargeBinary(), nullable=True),
        sa.Column('kek_version', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['patient_id'], ['patient.id'],
                                name=op.f('fk_schedule_state_patient_id_patient')),
        sa.ForeignKeyConstraint(['protocol_version_id'], ['protocol_version.id'],
                                name=op.f('fk_schedule_state_protocol_version_id_protocol_version')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_schedule_state')),
        sa.UniqueConstraint('patient_id', name=op.f('uq_schedule_state_patient_id')),
    )
    with op.batch_alter_table('schedule_state') as batch:
        batch.create_index(batch.f('ix_schedule_state_kek_version'), ['kek_version'],
                           unique=False)


def downgrade() -> None:
    with op.batch_alter_table('schedule_state') as batch:
        batch.drop_index(batch.f('ix_schedule_state_kek_version'))
    op.drop_table('schedule_state')
