"""meddra: the laboratory's MedDRA release per language, its LLTs and PTs

Revision ID: 7d3b9e2a4c61
Revises: 5f1c0e7a9d21
Create Date: 2026-12-03 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.db

revision = '7d3b9e2a4c61'
down_revision = '5f1c0e7a9d21'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'meddra_release',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('language', sa.String(length=2), nullable=False),
        sa.Column('version', sa.String(length=20), nullable=False),
        sa.Column('loaded_at', portal.db.UTCDateTime(), nullable=False),
        sa.Column('loaded_by_label', sa.String(length=128), nullable=False),
        sa.Column('llt_count', sa.Integer(), nullable=False),
        sa.Column('pt_count', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_meddra_release')),
        sa.UniqueConstraint('language', name=op.f('uq_meddra_release_language')),
    )
    op.create_table(
        'meddra_term',
        sa.Column('release_id', sa.Integer(), nullable=False),
        sa.Column('level', sa.String(length=3), nullable=False),
        sa.Column('code', sa.String(length=8), nullable=False),
        sa.Column('name', sa.Text(), nullable=False),
        sa.Column('pt_code', sa.String(length=8), nullable=True),
        sa.Column('current', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(['release_id'], ['meddra_release.id'],
                                name=op.f('fk_meddra_term_release_id_meddra_release'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('release_id', 'level', 'code', name=op.f('pk_meddra_term')),
    )
    op.create_index(op.f('ix_meddra_term_code'), 'meddra_term', ['code'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_meddra_term_code'), table_name='meddra_term')
    op.drop_table('meddra_term')
    op.drop_table('meddra_release')
