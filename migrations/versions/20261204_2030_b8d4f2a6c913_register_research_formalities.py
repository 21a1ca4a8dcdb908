"""registers: a fifth register, the research formalities (referential 5.4)

`register_version.kind` may now be `research`: the formalities (reference, date, protocol and
fields, the notice informing of the reuse) under which a research export is allowed. SQLite
rebuilds the table to change its CHECK constraint, which drops its triggers: they are dropped
first and installed again, word for word.

Revision ID: b8d4f2a6c913
Revises: e3b7f1c9a2d4
Create Date: 2026-12-04 20:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.db

revision = "b8d4f2a6c913"
down_revision = "e3b7f1c9a2d4"
branch_labels = None
depends_on = None

OLD = "kind IN ('processing', 'breach', 'processor', 'dpia')"
NEW = "kind IN ('processing', 'breach', 'processor', 'dpia', 'research')"
NAME = "ck_register_version_kind_known"
# Written out literally (see a3c9e5f7b1d4): the append-only triggers of SQLite.
SQLITE_TRIGGERS = ["CREATE TRIGGER register_version_no_update BEFORE UPDATE ON register_version BEGIN SELECT RAISE(ABORT, 'register versions are append-only: UPDATE on register_version is refused (save a new version)'); END", "CREATE TRIGGER register_version_no_delete BEFORE DELETE ON register_version BEGIN SELECT RAISE(ABORT, 'register versions are append-only: DELETE on register_version is refused (save a new version)'); END"]
SQLITE_DROP = ["DROP TRIGGER IF EXISTS register_version_no_update",
               "DROP TRIGGER IF EXISTS register_version_no_delete"]


def _table(condition: str) -> sa.Table:
    """The table as a3c9e5f7b1d4 created it, with `condition` as its kind check."""
    return sa.Table(
        "register_version", sa.MetaData(),
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('item_no', sa.Integer(), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=24), nullable=False),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.Column('created_at', portal.db.UTCDateTime(), nullable=False),
        sa.Column('author_id', sa.Integer(), nullable=True),
        sa.Column('author_label', sa.String(length=200), nullable=False),
        sa.CheckConstraint(condition, name=op.f(NAME)),
        sa.CheckConstraint('number >= 1 AND item_no >= 1',
                           name=op.f('ck_register_version_positive')),
        sa.ForeignKeyConstraint(['author_id'], ['users.id'],
                                name=op.f('fk_register_version_author_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_register_version')),
        sa.UniqueConstraint('kind', 'item_no', 'number', name='uq_register_version_number'),
        sa.Index(op.f('ix_register_version_kind'), 'kind'),
    )


def _replace(condition: str) -> None:
    """Put `condition` in place of the kind check. Rows the new check refuses (a downgrade
    while research formalities exist) make it fail: nothing is deleted."""
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_DROP:
            op.execute(statement)
        with op.batch_alter_table("register_version", recreate="always",
                                  copy_from=_table(condition)):
            pass
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
        return
    op.drop_constraint(op.f(NAME), "register_version", type_="check")
    op.create_check_constraint(op.f(NAME), "register_version", condition)


def upgrade() -> None:
    _replace(NEW)


def downgrade() -> None:
    _replace(OLD)
