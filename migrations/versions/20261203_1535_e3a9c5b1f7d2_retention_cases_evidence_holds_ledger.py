"""retention cases evidence holds ledger runs lock

Revision ID: e3a9c5b1f7d2
Revises: b6c2e8f4a1d3
Create Date: 2026-12-03 15:25:13.198601
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.db

revision = 'e3a9c5b1f7d2'
down_revision = 'b6c2e8f4a1d3'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('retention_case',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=40), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=True),
    sa.Column('protocol_key', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('archived_at', portal.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("state = 'active' OR archived_at IS NOT NULL", name=op.f('ck_retention_case_archived_has_date')),
    sa.CheckConstraint("state IN ('active', 'archived')", name=op.f('ck_retention_case_state_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_retention_case')),
    sa.UniqueConstraint('patient_id', name=op.f('uq_retention_case_patient_id')),
    sa.UniqueConstraint('reference', name=op.f('uq_retention_case_reference'))
    )
    with op.batch_alter_table('retention_case', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_retention_case_protocol_key'), ['protocol_key'], unique=False)

    op.create_table('retention_lock',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.String(length=40), nullable=True),
    sa.Column('taken_at', portal.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('id = 1', name=op.f('ck_retention_lock_single_row')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_retention_lock'))
    )
    op.create_table('retention_purge_ledger',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=40), nullable=False),
    sa.Column('protocol_key', sa.String(length=64), nullable=False),
    sa.Column('purged_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('rule', sa.String(length=32), nullable=False),
    sa.Column('from_state', sa.String(length=12), nullable=False),
    sa.Column('job_id', sa.String(length=40), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_retention_purge_ledger')),
    sa.UniqueConstraint('reference', name=op.f('uq_retention_purge_ledger_reference'))
    )
    with op.batch_alter_table('retention_purge_ledger', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_retention_purge_ledger_protocol_key'), ['protocol_key'], unique=False)

    op.create_table('retention_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.String(length=40), nullable=False),
    sa.Column('started_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', portal.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=12), nullable=False),
    sa.Column('archived', sa.Integer(), nullable=False),
    sa.Column('purged', sa.Integer(), nullable=False),
    sa.Column('held', sa.Integer(), nullable=False),
    sa.Column('error', sa.String(length=120), nullable=True),
    sa.CheckConstraint("outcome IN ('running', 'succeeded', 'failed', 'locked')", name=op.f('ck_retention_run_outcome_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_retention_run')),
    sa.UniqueConstraint('job_id', name=op.f('uq_retention_run_job_id'))
    )
    with op.batch_alter_table('retention_run', schema=None) as batch_op:
        batch_op.create_index('ix_retention_run_started', ['started_at'], unique=False)

    op.create_table('retention_aac_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('decision_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.Column('evidence_reference', sa.String(length=64), nullable=False),
    sa.Column('recorded_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('recorded_by_label', sa.String(length=128), nullable=False),
    sa.Column('reminded_at', portal.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("evidence_reference <> ''", name=op.f('ck_retention_aac_event_has_evidence')),
    sa.CheckConstraint("kind IN ('granted', 'renewed', 'suspended', 'withdrawn')", name=op.f('ck_retention_aac_event_kind_known')),
    sa.CheckConstraint("kind NOT IN ('granted', 'renewed') OR end_date IS NOT NULL", name=op.f('ck_retention_aac_event_period_has_end')),
    sa.ForeignKeyConstraint(['case_id'], ['retention_case.id'], name=op.f('fk_retention_aac_event_case_id_retention_case'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_retention_aac_event'))
    )
    with op.batch_alter_table('retention_aac_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_retention_aac_event_case_id'), ['case_id'], unique=False)

    op.create_table('retention_legal_hold',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=20), nullable=False),
    sa.Column('evidence_reference', sa.String(length=64), nullable=False),
    sa.Column('opened_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('opened_by_label', sa.String(length=128), nullable=False),
    sa.Column('released_at', portal.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('release_reference', sa.String(length=64), nullable=True),
    sa.CheckConstraint("reason IN ('litigation', 'authority_request')", name=op.f('ck_retention_legal_hold_reason_known')),
    sa.CheckConstraint('(released_at IS NULL) = (release_reference IS NULL)', name=op.f('ck_retention_legal_hold_release_documented')),
    sa.ForeignKeyConstraint(['case_id'], ['retention_case.id'], name=op.f('fk_retention_legal_hold_case_id_retention_case'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_retention_legal_hold'))
    )
    with op.batch_alter_table('retention_legal_hold', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_retention_legal_hold_case_id'), ['case_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('retention_legal_hold', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_retention_legal_hold_case_id'))

    op.drop_table('retention_legal_hold')
    with op.batch_alter_table('retention_aac_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_retention_aac_event_case_id'))

    op.drop_table('retention_aac_event')
    with op.batch_alter_table('retention_run', schema=None) as batch_op:
        batch_op.drop_index('ix_retention_run_started')

    op.drop_table('retention_run')
    with op.batch_alter_table('retention_purge_ledger', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_retention_purge_ledger_protocol_key'))

    op.drop_table('retention_purge_ledger')
    op.drop_table('retention_lock')
    with op.batch_alter_table('retention_case', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_retention_case_protocol_key'))

    op.drop_table('retention_case')
