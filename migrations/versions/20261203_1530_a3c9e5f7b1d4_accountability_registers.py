"""registers: versions of the accountability registers, and the breach clock's alerts

Revision ID: a3c9e5f7b1d4
Revises: d7b3f1a9c2e6
Create Date: 2026-12-03 15:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.db

revision = 'a3c9e5f7b1d4'
down_revision = 'd7b3f1a9c2e6'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'register_version',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('item_no', sa.Integer(), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=24), nullable=False),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.Column('created_at', portal.db.UTCDateTime(), nullable=False),
        sa.Column('author_id', sa.Integer(), nullable=True),
        sa.Column('author_label', sa.String(length=200), nullable=False),
        sa.CheckConstraint("kind IN ('processing', 'breach', 'processor', 'dpia')",
                           name=op.f('ck_register_version_kind_known')),
        sa.CheckConstraint('number >= 1 AND item_no >= 1',
                           name=op.f('ck_register_version_positive')),
        sa.ForeignKeyConstraint(['author_id'], ['users.id'],
                                name=op.f('fk_register_version_author_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_register_version')),
        sa.UniqueConstraint('kind', 'item_no', 'number', name='uq_register_version_number'),
    )
    op.create_index(op.f('ix_register_version_kind'), 'register_version', ['kind'],
                    unique=False)
    op.create_table(
        'register_breach_alert',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('item_no', sa.Integer(), nullable=False),
        sa.Column('hours', sa.Integer(), nullable=False),
        sa.Column('raised_at', portal.db.UTCDateTime(), nullable=False),
        sa.Column('mailed_to', sa.Integer(), nullable=False),
        sa.CheckConstraint('hours IN (24, 48, 66)',
                           name=op.f('ck_register_breach_alert_threshold_known')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_register_breach_alert')),
        sa.UniqueConstraint('item_no', 'hours', name='uq_register_breach_alert_once'),
    )


def downgrade() -> None:
    op.drop_table('register_breach_alert')
    op.drop_index(op.f('ix_register_version_kind'), table_name='register_version')
    op.drop_table('register_version')
