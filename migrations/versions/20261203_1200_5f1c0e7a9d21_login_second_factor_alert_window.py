"""login: when the holder was last mailed about second-factor attempts

Revision ID: 5f1c0e7a9d21
Revises: 5e1a7c93d2b4
Create Date: 2026-12-03 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.db

revision = '5f1c0e7a9d21'
down_revision = '5e1a7c93d2b4'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('second_factor_alert_at',
                                      portal.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('second_factor_alert_at')
