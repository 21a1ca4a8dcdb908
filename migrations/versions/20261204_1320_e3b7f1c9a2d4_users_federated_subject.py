"""accounts: an account is linked to its subject at the identity federation (Pro Santé Connect)

The provider's `sub` for the professional, stored once the account is linked (first federated
login, after a local login for an account that already had a password), and when it was linked.
Later federated logins compare it; an account linked to another subject is refused.

Revision ID: e3b7f1c9a2d4
Revises: c2d7e91f4a68
Create Date: 2026-12-04 13:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from portal.db import UTCDateTime

revision = "e3b7f1c9a2d4"
down_revision = "c2d7e91f4a68"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("federated_subject", sa.String(length=255), nullable=True))
    op.add_column("users", sa.Column("federated_at", UTCDateTime(timezone=True), nullable=True))
    op.create_index("uq_users_federated_subject", "users", ["federated_subject"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_users_federated_subject", table_name="users")
    # Dropped in place (SQLite 3.35+), not by a batch copy, which would lose the expression
    # indexes of the people list.
    op.drop_column("users", "federated_at")
    op.drop_column("users", "federated_subject")
