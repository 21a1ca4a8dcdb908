"""reports: each generation of a report's dataset, frozen at its data lock

Revision ID: c3a9d5e7f2b8
Revises: b8a4c2e7d913
Create Date: 2026-12-03 15:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.db

revision = 'c3a9d5e7f2b8'
down_revision = 'b8a4c2e7d913'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'report_generation',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('report_id', sa.Integer(), nullable=False),
        sa.Column('generated_at', portal.db.UTCDateTime(), nullable=False),
        sa.Column('generated_by_label', sa.String(length=128), nullable=False),
        sa.Column('protocol_version_id', sa.Integer(), nullable=False),
        sa.Column('threshold', sa.Integer(), nullable=False),
        sa.Column('submission_count', sa.Integer(), nullable=False),
        sa.Column('versions', sa.Text(), nullable=False),
        sa.Column('fingerprint', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(['protocol_version_id'], ['protocol_version.id'],
                                name=op.f('fk_report_generation_protocol_version_id_protocol_version')),
        sa.ForeignKeyConstraint(['report_id'], ['summary_report.id'],
                                name=op.f('fk_report_generation_report_id_summary_report')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_report_generation')),
    )
    op.create_index(op.f('ix_report_generation_report_id'), 'report_generation', ['report_id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_report_generation_report_id'), table_name='report_generation')
    op.drop_table('report_generation')
