"""protocol versions

Revision ID: b94b0e54751e
Revises: 2d73eba81b7d
Create Date: 2026-11-29 08:23:59.810723
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.db

revision = 'b94b0e54751e'
down_revision = '2d73eba81b7d'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('protocol_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('protocol_key', sa.String(length=64), nullable=False),
    sa.Column('version_label', sa.String(length=32), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('source_name', sa.String(length=255), nullable=False),
    sa.Column('source_text', sa.Text(), nullable=False),
    sa.Column('installed_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('installed_by_id', sa.Integer(), nullable=True),
    sa.Column('installed_by_label', sa.String(length=128), nullable=False),
    sa.Column('is_current', sa.Boolean(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['installed_by_id'], ['users.id'], name=op.f('fk_protocol_version_installed_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_protocol_version')),
    sa.UniqueConstraint('protocol_key', 'content_hash', name=op.f('uq_protocol_version_protocol_key'))
    )
    with op.batch_alter_table('protocol_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_protocol_version_protocol_key'), ['protocol_key'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('protocol_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_protocol_version_protocol_key'))

    op.drop_table('protocol_version')
