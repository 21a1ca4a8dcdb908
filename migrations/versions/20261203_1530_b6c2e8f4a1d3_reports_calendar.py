"""reports: the reporting calendar, one row per periodic summary report of a protocol

Revision ID: b6c2e8f4a1d3
Revises: b5e9d3a7f2c4
Create Date: 2026-12-03 15:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.db

revision = 'b6c2e8f4a1d3'
down_revision = 'b5e9d3a7f2c4'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'summary_report',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('protocol_key', sa.String(length=64), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('period_start', sa.Date(), nullable=False),
        sa.Column('data_lock_date', sa.Date(), nullable=False),
        sa.Column('submission_due_on', sa.Date(), nullable=False),
        sa.Column('submitted_on', sa.Date(), nullable=True),
        sa.Column('submission_reference', sa.String(length=64), nullable=True),
        sa.Column('resume_approved_on', sa.Date(), nullable=True),
        sa.Column('approval_reference', sa.String(length=64), nullable=True),
        sa.Column('is_final', sa.Boolean(), server_default='0', nullable=False),
        sa.Column('created_at', portal.db.UTCDateTime(), nullable=False),
        sa.Column('created_by_label', sa.String(length=128), nullable=False),
        sa.CheckConstraint('period_start <= data_lock_date',
                           name=op.f('ck_summary_report_period_ordered')),
        sa.CheckConstraint('submission_due_on >= data_lock_date',
                           name=op.f('ck_summary_report_due_after_lock')),
        sa.CheckConstraint(
            '(submitted_on IS NULL AND submission_reference IS NULL) OR '
            '(submitted_on IS NOT NULL AND submission_reference IS NOT NULL)',
            name=op.f('ck_summary_report_submission_has_reference')),
        sa.CheckConstraint(
            '(resume_approved_on IS NULL AND approval_reference IS NULL) OR '
            '(resume_approved_on IS NOT NULL AND approval_reference IS NOT NULL '
            'AND submitted_on IS NOT NULL AND resume_approved_on >= submitted_on)',
            name=op.f('ck_summary_report_approval_after_submission')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_summary_report')),
        sa.UniqueConstraint('protocol_key', 'number', name=op.f('uq_summary_report_protocol_key')),
        sa.UniqueConstraint('protocol_key', 'data_lock_date', name='uq_summary_report_data_lock'),
    )
    op.create_index(op.f('ix_summary_report_protocol_key'), 'summary_report', ['protocol_key'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_summary_report_protocol_key'), table_name='summary_report')
    op.drop_table('summary_report')
