"""registers: versions of the accountability registers (append-only), the breach clock's alerts,
the letters to the prescribers

Revision ID: a3c9e5f7b1d4
Revises: e4b1c7a2d9f6
Create Date: 2026-12-03 15:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.db

revision = 'a3c9e5f7b1d4'
down_revision = 'e4b1c7a2d9f6'
branch_labels = None
depends_on = None

# Written out literally: a migration must keep doing what it did even when
# portal/registers/ddl.py changes later.
POSTGRESQL_UP = ["CREATE OR REPLACE FUNCTION register_version_append_only() RETURNS trigger\nLANGUAGE plpgsql AS $$\nBEGIN\n    RAISE EXCEPTION USING\n        ERRCODE = 'insufficient_privilege',\n        MESSAGE = 'register versions are append-only: ' || TG_OP\n                  || ' on register_version is refused (save a new version)';\nEND;\n$$", 'CREATE TRIGGER register_version_append_only BEFORE UPDATE OR DELETE ON register_version FOR EACH ROW EXECUTE FUNCTION register_version_append_only()']
POSTGRESQL_DOWN = ['DROP TRIGGER IF EXISTS register_version_append_only ON register_version', 'DROP FUNCTION IF EXISTS register_version_append_only()']
SQLITE_UP = ["CREATE TRIGGER register_version_no_update BEFORE UPDATE ON register_version BEGIN SELECT RAISE(ABORT, 'register versions are append-only: UPDATE on register_version is refused (save a new version)'); END", "CREATE TRIGGER register_version_no_delete BEFORE DELETE ON register_version BEGIN SELECT RAISE(ABORT, 'register versions are append-only: DELETE on register_version is refused (save a new version)'); END"]
SQLITE_DOWN = ['DROP TRIGGER IF EXISTS register_version_no_update', 'DROP TRIGGER IF EXISTS register_version_no_delete']


def _statements(up: bool) -> list[str]:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        return POSTGRESQL_UP if up else POSTGRESQL_DOWN
    if dialect == "sqlite":
        return SQLITE_UP if up else SQLITE_DOWN
    return []


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
    for statement in _statements(up=True):
        op.execute(statement)
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
    op.create_table(
        'register_breach_letter',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('item_no', sa.Integer(), nullable=False),
        sa.Column('breach_number', sa.Integer(), nullable=False),
        sa.Column('prescriber_id', sa.Integer(), nullable=False),
        sa.Column('cases', sa.JSON(), nullable=False),
        sa.Column('sent_at', portal.db.UTCDateTime(), nullable=False),
        sa.Column('sent_by_label', sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(['prescriber_id'], ['users.id'],
                                name=op.f('fk_register_breach_letter_prescriber_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_register_breach_letter')),
        sa.UniqueConstraint('item_no', 'breach_number', 'prescriber_id',
                            name='uq_register_breach_letter_once'),
    )
    op.create_index(op.f('ix_register_breach_letter_item_no'), 'register_breach_letter',
                    ['item_no'], unique=False)
    op.create_index(op.f('ix_register_breach_letter_prescriber_id'), 'register_breach_letter',
                    ['prescriber_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_register_breach_letter_prescriber_id'),
                  table_name='register_breach_letter')
    op.drop_index(op.f('ix_register_breach_letter_item_no'), table_name='register_breach_letter')
    op.drop_table('register_breach_letter')
    op.drop_table('register_breach_alert')
    for statement in _statements(up=False):
        op.execute(statement)
    op.drop_index(op.f('ix_register_version_kind'), table_name='register_version')
    op.drop_table('register_version')
