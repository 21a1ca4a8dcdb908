"""audit: the chain head only moves forward (trigger on audit_head)

Revision ID: 0af0240afe35
Revises: b37bf5bb60ed
Create Date: 2026-12-03 11:55:00
"""

from __future__ import annotations

from alembic import op

revision = '0af0240afe35'
down_revision = 'b37bf5bb60ed'
branch_labels = None
depends_on = None

# Written out literally: a migration must keep doing what it did even when
# portal/audit/ddl.py changes later.
POSTGRESQL_UP = ["CREATE OR REPLACE FUNCTION audit_head_forward_only() RETURNS trigger\nLANGUAGE plpgsql AS $$\nBEGIN\n    IF TG_OP = 'INSERT' AND NEW.id = 1 THEN\n        RETURN NEW;\n    END IF;\n    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id AND NEW.seq >= OLD.seq\n       AND (NEW.last_hash = OLD.last_hash\n            OR EXISTS (SELECT 1 FROM audit_event\n                       WHERE audit_event.seq = NEW.seq AND audit_event.hash = NEW.last_hash)) THEN\n        RETURN NEW;\n    END IF;\n    RAISE EXCEPTION USING\n        ERRCODE = 'insufficient_privilege',\n        MESSAGE = 'the audit chain head only moves forward: ' || TG_OP\n                  || ' on audit_head is refused';\nEND;\n$$", 'CREATE TRIGGER audit_head_forward_only BEFORE INSERT OR UPDATE OR DELETE ON audit_head FOR EACH ROW EXECUTE FUNCTION audit_head_forward_only()']
POSTGRESQL_DOWN = ['DROP TRIGGER IF EXISTS audit_head_forward_only ON audit_head', 'DROP FUNCTION IF EXISTS audit_head_forward_only()']
SQLITE_UP = ["CREATE TRIGGER audit_head_no_rewind BEFORE UPDATE ON audit_head WHEN NEW.id IS NOT OLD.id OR NEW.seq < OLD.seq OR (NEW.last_hash IS NOT OLD.last_hash AND NOT EXISTS (SELECT 1 FROM audit_event WHERE audit_event.seq = NEW.seq AND audit_event.hash = NEW.last_hash)) BEGIN SELECT RAISE(ABORT, 'the audit chain head only moves forward: UPDATE on audit_head is refused'); END", "CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head BEGIN SELECT RAISE(ABORT, 'the audit chain head only moves forward: DELETE on audit_head is refused'); END", "CREATE TRIGGER audit_head_no_insert BEFORE INSERT ON audit_head WHEN NEW.id IS NOT 1 BEGIN SELECT RAISE(ABORT, 'the audit chain head only moves forward: INSERT on audit_head is refused'); END"]
SQLITE_DOWN = ['DROP TRIGGER IF EXISTS audit_head_no_rewind', 'DROP TRIGGER IF EXISTS audit_head_no_delete', 'DROP TRIGGER IF EXISTS audit_head_no_insert']


def _statements(up: bool) -> list[str]:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        return POSTGRESQL_UP if up else POSTGRESQL_DOWN
    if dialect == "sqlite":
        return SQLITE_UP if up else SQLITE_DOWN
    return []


def upgrade() -> None:
    for statement in _statements(up=True):
        op.execute(statement)


def downgrade() -> None:
    for statement in _statements(up=False):
        op.execute(statement)
