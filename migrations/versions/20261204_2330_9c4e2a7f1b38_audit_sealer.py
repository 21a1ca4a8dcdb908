"""audit: entries numbered by a sequence and sealed into the chain after commit (issue 27)

Writers no longer lock the chain head: an entry takes its number from `audit_event_seq`
(PostgreSQL) or the `audit_sequence` row (SQLite), carries its own MAC (`mac`) and waits for the
sealer to fill `prev_hash` and `hash`, the one update the append-only trigger now allows.

Revision ID: 9c4e2a7f1b38
Revises: b8f4d2e6a1c3
Create Date: 2026-12-04 23:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "9c4e2a7f1b38"
down_revision = "b8f4d2e6a1c3"
branch_labels = None
depends_on = None

# Written out literally: a migration must keep doing what it did even when
# portal/audit/ddl.py changes later.
PG_FUNCTION_UP = "CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger\nLANGUAGE plpgsql AS $$\nBEGIN\n    IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'audit_event'\n       AND current_setting('portal.audit_purge', true) = 'on' THEN\n        RETURN OLD;\n    END IF;\n    IF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'audit_event' THEN\n        -- The sealer's one change: an unsealed entry gets prev_hash and hash, nothing else.\n        IF OLD.hash IS NULL AND OLD.prev_hash IS NULL\n           AND NEW.hash IS NOT NULL AND NEW.prev_hash IS NOT NULL\n           AND (to_jsonb(NEW) - 'hash' - 'prev_hash') = (to_jsonb(OLD) - 'hash' - 'prev_hash')\n        THEN\n            RETURN NEW;\n        END IF;\n    END IF;\n    RAISE EXCEPTION USING\n        ERRCODE = 'insufficient_privilege',\n        MESSAGE = 'the audit trail is append-only: ' || TG_OP || ' on ' || TG_TABLE_NAME\n                  || ' is refused outside the purge';\nEND;\n$$"
PG_FUNCTION_DOWN = "CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger\nLANGUAGE plpgsql AS $$\nBEGIN\n    IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'audit_event'\n       AND current_setting('portal.audit_purge', true) = 'on' THEN\n        RETURN OLD;\n    END IF;\n    RAISE EXCEPTION USING\n        ERRCODE = 'insufficient_privilege',\n        MESSAGE = 'the audit trail is append-only: ' || TG_OP || ' on ' || TG_TABLE_NAME\n                  || ' is refused outside the purge';\nEND;\n$$"
SQLITE_UPDATE_UP = "CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event WHEN NOT (OLD.hash IS NULL AND OLD.prev_hash IS NULL AND NEW.hash IS NOT NULL AND NEW.prev_hash IS NOT NULL AND NEW.seq IS OLD.seq AND NEW.at IS OLD.at AND NEW.actor_kind IS OLD.actor_kind AND NEW.actor_id IS OLD.actor_id AND NEW.actor_label IS OLD.actor_label AND NEW.session_hash IS OLD.session_hash AND NEW.action IS OLD.action AND NEW.target_type IS OLD.target_type AND NEW.target_ref IS OLD.target_ref AND NEW.outcome IS OLD.outcome AND NEW.client_address IS OLD.client_address AND NEW.details IS OLD.details AND NEW.mac IS OLD.mac) BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: UPDATE on audit_event is refused'); END"
SQLITE_UPDATE_DOWN = "CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: UPDATE on audit_event is refused'); END"
#: the chain head's triggers name audit_event: SQLite refuses to rebuild it under them
SQLITE_HEAD_UP = ["CREATE TRIGGER audit_head_no_rewind BEFORE UPDATE ON audit_head WHEN NEW.id IS NOT OLD.id OR NEW.seq < OLD.seq OR (NEW.last_hash IS NOT OLD.last_hash AND NOT EXISTS (SELECT 1 FROM audit_event WHERE audit_event.seq = NEW.seq AND audit_event.hash = NEW.last_hash)) BEGIN SELECT RAISE(ABORT, 'the audit chain head only moves forward: UPDATE on audit_head is refused'); END", "CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head BEGIN SELECT RAISE(ABORT, 'the audit chain head only moves forward: DELETE on audit_head is refused'); END", "CREATE TRIGGER audit_head_no_insert BEFORE INSERT ON audit_head WHEN NEW.id IS NOT 1 BEGIN SELECT RAISE(ABORT, 'the audit chain head only moves forward: INSERT on audit_head is refused'); END"]
SQLITE_HEAD_DOWN = ['DROP TRIGGER IF EXISTS audit_head_no_rewind', 'DROP TRIGGER IF EXISTS audit_head_no_delete', 'DROP TRIGGER IF EXISTS audit_head_no_insert']
SQLITE_DELETE = "CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: DELETE on audit_event is refused'); END"

#: the highest number used so far: the sequence goes on after it
HIGHEST = (
    "SELECT max(n) FROM (SELECT max(seq) AS n FROM audit_event "
    "UNION ALL SELECT max(seq) FROM audit_checkpoint "
    "UNION ALL SELECT max(seq) FROM audit_head) AS used"
)

SEQ_TYPE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    bind = op.get_bind()
    dialect = bind.dialect.name
    highest = int(bind.execute(sa.text(HIGHEST)).scalar() or 0)
    op.create_table(
        "audit_sequence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", SEQ_TYPE, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_sequence")),
    )
    op.execute(sa.text("INSERT INTO audit_sequence (id, value) VALUES (1, :v)")
               .bindparams(v=highest))
    if dialect == "postgresql":
        op.execute("CREATE SEQUENCE audit_event_seq")
        if highest:
            op.execute(sa.text("SELECT setval('audit_event_seq', :v)").bindparams(v=highest))
        op.add_column("audit_event", sa.Column("mac", sa.LargeBinary(length=32), nullable=True))
        op.alter_column("audit_event", "prev_hash", nullable=True)
        op.alter_column("audit_event", "hash", nullable=True)
        op.execute(PG_FUNCTION_UP)
        return
    # SQLite rebuilds the table: its triggers go with the old one and are created again.
    _drop_sqlite_triggers()
    with op.batch_alter_table("audit_event") as batch_op:
        batch_op.add_column(sa.Column("mac", sa.LargeBinary(length=32), nullable=True))
        batch_op.alter_column("prev_hash", existing_type=sa.LargeBinary(length=32),
                              nullable=True)
        batch_op.alter_column("hash", existing_type=sa.LargeBinary(length=32), nullable=True)
    for statement in (SQLITE_UPDATE_UP, SQLITE_DELETE, *SQLITE_HEAD_UP):
        op.execute(statement)


def _drop_sqlite_triggers() -> None:
    for statement in ("DROP TRIGGER IF EXISTS audit_event_no_update",
                      "DROP TRIGGER IF EXISTS audit_event_no_delete", *SQLITE_HEAD_DOWN):
        op.execute(statement)


def downgrade() -> None:
    # Refused by the NOT NULL constraints while unsealed entries remain: run `portal audit seal`.
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(PG_FUNCTION_DOWN)
        op.alter_column("audit_event", "hash", nullable=False)
        op.alter_column("audit_event", "prev_hash", nullable=False)
        op.drop_column("audit_event", "mac")
        op.execute("DROP SEQUENCE IF EXISTS audit_event_seq")
    else:
        _drop_sqlite_triggers()
        with op.batch_alter_table("audit_event") as batch_op:
            batch_op.alter_column("hash", existing_type=sa.LargeBinary(length=32),
                                  nullable=False)
            batch_op.alter_column("prev_hash", existing_type=sa.LargeBinary(length=32),
                                  nullable=False)
            batch_op.drop_column("mac")
        for statement in (SQLITE_UPDATE_DOWN, SQLITE_DELETE, *SQLITE_HEAD_UP):
            op.execute(statement)
    op.drop_table("audit_sequence")
