"""key check values

Revision ID: d8f2316f655f
Revises: 
Create Date: 2026-11-29 07:54:10.039495
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.db

revision = 'd8f2316f655f'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('key_check',
    sa.Column('key_id', sa.String(length=32), nullable=False),
    sa.Column('check_value', sa.String(length=64), nullable=False),
    sa.Column('recorded_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key_id', name=op.f('pk_key_check'))
    )


def downgrade() -> None:
    op.drop_table('key_check')
