"""audit checkpoints, alerts, check runs and append-only triggers

Revision ID: a982fe915dd4
Revises: 28c012eea3a1
Create Date: 2026-11-29 08:52:54.584266
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.db

revision = 'a982fe915dd4'
down_revision = '28c012eea3a1'
branch_labels = None
depends_on = None

# Append-only protection of the audit trail (SEC-JOU-3). Written out literally: a migration must
# keep doing what it did even when portal/audit/ddl.py changes later.
POSTGRESQL_UP = ["CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger\nLANGUAGE plpgsql AS $$\nBEGIN\n    IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'audit_event'\n       AND current_setting('portal.audit_purge', true) = 'on' THEN\n        RETURN OLD;\n    END IF;\n    RAISE EXCEPTION USING\n        ERRCODE = 'insufficient_privilege',\n        MESSAGE = 'the audit trail is append-only: ' || TG_OP || ' on ' || TG_TABLE_NAME\n                  || ' is refused outside the purge';\nEND;\n$$", 'CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event FOR EACH ROW EXECUTE FUNCTION audit_append_only()', 'CREATE TRIGGER audit_checkpoint_append_only BEFORE UPDATE OR DELETE ON audit_checkpoint FOR EACH ROW EXECUTE FUNCTION audit_append_only()']
POSTGRESQL_DOWN = ['DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event', 'DROP TRIGGER IF EXISTS audit_checkpoint_append_only ON audit_checkpoint', 'DROP FUNCTION IF EXISTS audit_append_only()']
SQLITE_UP = ["CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: UPDATE on audit_event is refused'); END", "CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: DELETE on audit_event is refused'); END", "CREATE TRIGGER audit_checkpoint_no_update BEFORE UPDATE ON audit_checkpoint BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: UPDATE on audit_checkpoint is refused'); END", "CREATE TRIGGER audit_checkpoint_no_delete BEFORE DELETE ON audit_checkpoint BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: DELETE on audit_checkpoint is refused'); END"]
SQLITE_DOWN = ['DROP TRIGGER IF EXISTS audit_event_no_update', 'DROP TRIGGER IF EXISTS audit_event_no_delete', 'DROP TRIGGER IF EXISTS audit_checkpoint_no_update', 'DROP TRIGGER IF EXISTS audit_checkpoint_no_delete']
GENESIS_HASH = b"\x00" * 32


def _statements(up: bool) -> list[str]:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        return POSTGRESQL_UP if up else POSTGRESQL_DOWN
    if dialect == "sqlite":
        return SQLITE_UP if up else SQLITE_DOWN
    return []


def upgrade() -> None:
    op.create_table('audit_alert',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rule', sa.String(length=32), nullable=False),
    sa.Column('subject', sa.String(length=96), nullable=False),
    sa.Column('raised_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('seq_from', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('seq_to', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('first_at', portal.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_at', portal.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_label', sa.String(length=128), nullable=True),
    sa.Column('target_ref', sa.String(length=96), nullable=True),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_alert'))
    )

    with op.batch_alter_table('audit_alert', schema=None) as batch_op:
        batch_op.create_index('ix_audit_alert_rule_subject', ['rule', 'subject'], unique=False)

    op.create_table('audit_check_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('started_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', portal.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('succeeded', sa.Boolean(), server_default='0', nullable=False),
    sa.Column('checked_from', portal.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('checked_until', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('checked_up_to_seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('new_alerts', sa.Integer(), nullable=False),
    sa.Column('actor_label', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_check_run'))
    )

    with op.batch_alter_table('audit_check_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_check_run_finished_at'), ['finished_at'], unique=False)

    op.create_table('audit_checkpoint',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('created_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor_kind', sa.String(length=16), nullable=False),
    sa.Column('actor_label', sa.String(length=128), nullable=False),
    sa.Column('retention_days', sa.Integer(), nullable=False),
    sa.Column('deleted', sa.Integer(), nullable=False),
    sa.Column('mac', sa.LargeBinary(length=32), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_checkpoint')),
    sa.UniqueConstraint('seq', name=op.f('uq_audit_checkpoint_seq'))
    )

    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_event_actor_label'), ['actor_label'], unique=False)
    # ### end Alembic commands ###

    # The chain head exists before the first entry, so concurrent first writers never race.
    op.execute(
        sa.text("INSERT INTO audit_head (id, seq, last_hash) SELECT 1, 0, :genesis "
                "WHERE NOT EXISTS (SELECT 1 FROM audit_head WHERE id = 1)")
        .bindparams(sa.bindparam("genesis", GENESIS_HASH, type_=sa.LargeBinary))
    )
    for statement in _statements(up=True):
        op.execute(statement)

def downgrade() -> None:
    for statement in _statements(up=False):
        op.execute(statement)

    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_event_actor_label'))

    op.drop_table('audit_checkpoint')

    with op.batch_alter_table('audit_check_run', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_check_run_finished_at'))

    op.drop_table('audit_check_run')

    with op.batch_alter_table('audit_alert', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_alert_rule_subject')

    op.drop_table('audit_alert')
    # ### end Alembic commands ###
