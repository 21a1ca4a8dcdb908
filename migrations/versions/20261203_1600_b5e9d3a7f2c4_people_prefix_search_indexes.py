"""accounts: indexes of the people list's prefix search (login, last name, first name)

Revision ID: b5e9d3a7f2c4
Revises: a4f8c2d6e1b9
Create Date: 2026-12-03 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'b5e9d3a7f2c4'
down_revision = 'a4f8c2d6e1b9'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # PostgreSQL's default collation needs the pattern operators for LIKE 'x%' to use an index;
    # SQLite reads a range of the plain index (see portal/access/people.py).
    op.create_index('ix_users_login_prefix', 'users', ['login_normalised'], unique=False,
                    postgresql_ops={'login_normalised': 'text_pattern_ops'})
    op.create_index('ix_users_last_name_prefix', 'users',
                    [sa.func.lower(sa.text('last_name')).label('last_lower')], unique=False,
                    postgresql_ops={'last_lower': 'text_pattern_ops'})
    op.create_index('ix_users_first_name_prefix', 'users',
                    [sa.func.lower(sa.text('first_name')).label('first_lower')], unique=False,
                    postgresql_ops={'first_lower': 'text_pattern_ops'})


def downgrade() -> None:
    op.drop_index('ix_users_first_name_prefix', table_name='users')
    op.drop_index('ix_users_last_name_prefix', table_name='users')
    op.drop_index('ix_users_login_prefix', table_name='users')
