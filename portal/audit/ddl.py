"""Database-side protection of the trail: audit rows can be added, never changed (SEC-JOU-3).

The chain head (`audit_head`) may only move forward: its sequence number never decreases, its
hash changes only to the hash of the entry stored at its new sequence number, and its row can
be neither deleted nor doubled. Rewinding the head to hide deleted newest entries therefore
needs the triggers dropped first, which only the database owner can do; the signed anchors
written outside the database (anchor.py) catch that case.

On PostgreSQL a trigger refuses every UPDATE and DELETE on `audit_event` and `audit_checkpoint`;
the purge alone may delete old entries, after it has set the transaction-local setting
`portal.audit_purge` to `on` (SET LOCAL ends with the transaction, so it cannot leak to the next
request on the same connection). SQLite (development, demo) gets plain refusing triggers that the
purge drops and re-creates inside its own transaction.

The same statements are installed by `Base.metadata.create_all` (tests, fresh databases) and
copied verbatim into the Alembic migration. TRUNCATE fires no row trigger: the test fixtures
rely on it to empty tables; in production the application's database role must not hold the
TRUNCATE privilege on these tables.

No statement here contains a percent sign: SQLAlchemy's DDL construct formats its text.
"""

from __future__ import annotations

from sqlalchemy import DDL, Connection, Table, event, text

#: the transaction-local setting the purge turns on (`SET LOCAL portal.audit_purge = 'on'`)
PURGE_SETTING = "portal.audit_purge"

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'audit_event'
       AND current_setting('portal.audit_purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION USING
        ERRCODE = 'insufficient_privilege',
        MESSAGE = 'the audit trail is append-only: ' || TG_OP || ' on ' || TG_TABLE_NAME
                  || ' is refused outside the purge';
END;
$$
""".strip()

PG_TRIGGER = (
    "CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
    "FOR EACH ROW EXECUTE FUNCTION audit_append_only()"
)
PG_DROP_TRIGGER = "DROP TRIGGER IF EXISTS {table}_append_only ON {table}"
PG_DROP_FUNCTION = "DROP FUNCTION IF EXISTS audit_append_only()"

HEAD_TABLE = "audit_head"

PG_HEAD_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_head_forward_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' AND NEW.id = 1 THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id AND NEW.seq >= OLD.seq
       AND (NEW.last_hash = OLD.last_hash
            OR EXISTS (SELECT 1 FROM audit_event
                       WHERE audit_event.seq = NEW.seq AND audit_event.hash = NEW.last_hash)) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION USING
        ERRCODE = 'insufficient_privilege',
        MESSAGE = 'the audit chain head only moves forward: ' || TG_OP
                  || ' on audit_head is refused';
END;
$$
""".strip()

PG_HEAD_TRIGGER = (
    "CREATE TRIGGER audit_head_forward_only BEFORE INSERT OR UPDATE OR DELETE ON audit_head "
    "FOR EACH ROW EXECUTE FUNCTION audit_head_forward_only()"
)
PG_DROP_HEAD_TRIGGER = "DROP TRIGGER IF EXISTS audit_head_forward_only ON audit_head"
PG_DROP_HEAD_FUNCTION = "DROP FUNCTION IF EXISTS audit_head_forward_only()"

SQLITE_HEAD_TRIGGERS = (
    # SQLite moves the head in two steps (the number, then the hash of the entry just written).
    "CREATE TRIGGER audit_head_no_rewind BEFORE UPDATE ON audit_head "
    "WHEN NEW.id IS NOT OLD.id OR NEW.seq < OLD.seq OR (NEW.last_hash IS NOT OLD.last_hash "
    "AND NOT EXISTS (SELECT 1 FROM audit_event WHERE audit_event.seq = NEW.seq "
    "AND audit_event.hash = NEW.last_hash)) "
    "BEGIN SELECT RAISE(ABORT, 'the audit chain head only moves forward: UPDATE on audit_head "
    "is refused'); END",
    "CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head "
    "BEGIN SELECT RAISE(ABORT, 'the audit chain head only moves forward: DELETE on audit_head "
    "is refused'); END",
    "CREATE TRIGGER audit_head_no_insert BEFORE INSERT ON audit_head WHEN NEW.id IS NOT 1 "
    "BEGIN SELECT RAISE(ABORT, 'the audit chain head only moves forward: INSERT on audit_head "
    "is refused'); END",
)
SQLITE_HEAD_TRIGGER_NAMES = ("audit_head_no_rewind", "audit_head_no_delete",
                             "audit_head_no_insert")

SQLITE_TRIGGER = (
    "CREATE TRIGGER {table}_no_{verb} BEFORE {op} ON {table} BEGIN "
    "SELECT RAISE(ABORT, 'the audit trail is append-only: {op} on {table} is refused'); END"
)
SQLITE_DROP_TRIGGER = "DROP TRIGGER IF EXISTS {table}_no_{verb}"

#: the tables no one may change
PROTECTED_TABLES = ("audit_event", "audit_checkpoint")


def _sqlite_trigger(table: str, op: str) -> str:
    return SQLITE_TRIGGER.format(table=table, op=op, verb=op.lower())


def create_statements(dialect: str, table: str) -> list[str]:
    """Return the statements protecting `table` on `dialect` (postgresql or sqlite)."""
    if table == HEAD_TABLE:
        if dialect == "postgresql":
            return [PG_HEAD_FUNCTION, PG_HEAD_TRIGGER]
        return list(SQLITE_HEAD_TRIGGERS) if dialect == "sqlite" else []
    if dialect == "postgresql":
        return [PG_FUNCTION, PG_TRIGGER.format(table=table)]
    if dialect == "sqlite":
        return [_sqlite_trigger(table, "UPDATE"), _sqlite_trigger(table, "DELETE")]
    return []


def drop_statements(dialect: str, table: str) -> list[str]:
    """Return the statements removing the protection of `table` (migration downgrade)."""
    if table == HEAD_TABLE:
        if dialect == "postgresql":
            return [PG_DROP_HEAD_TRIGGER]
        if dialect == "sqlite":
            return [f"DROP TRIGGER IF EXISTS {name}" for name in SQLITE_HEAD_TRIGGER_NAMES]
        return []
    if dialect == "postgresql":
        return [PG_DROP_TRIGGER.format(table=table)]
    if dialect == "sqlite":
        return [SQLITE_DROP_TRIGGER.format(table=table, verb=verb)
                for verb in ("update", "delete")]
    return []


def head_migration_upgrade(dialect: str) -> list[str]:
    """Return the statements of the migration that protects the chain head."""
    return create_statements(dialect, HEAD_TABLE)


def head_migration_downgrade(dialect: str) -> list[str]:
    """Return the statements of that migration's downgrade."""
    statements = drop_statements(dialect, HEAD_TABLE)
    return statements + ([PG_DROP_HEAD_FUNCTION] if dialect == "postgresql" else [])


def migration_upgrade(dialect: str) -> list[str]:
    """Return every statement the migration runs after creating the audit tables."""
    return [s for table in PROTECTED_TABLES for s in create_statements(dialect, table)]


def migration_downgrade(dialect: str) -> list[str]:
    """Return every statement the migration's downgrade runs before dropping the tables."""
    statements = [s for table in PROTECTED_TABLES for s in drop_statements(dialect, table)]
    return statements + ([PG_DROP_FUNCTION] if dialect == "postgresql" else [])


def protect(table: Table) -> None:
    """Install the refusing triggers whenever `create_all` creates `table`."""
    for dialect in ("postgresql", "sqlite"):
        for statement in create_statements(dialect, table.name):
            event.listen(table, "after_create", DDL(statement).execute_if(dialect=dialect))


def allow_purge_deletes(connection: Connection) -> None:
    """Let this transaction delete audit entries (the purge only)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text(f"SET LOCAL {PURGE_SETTING} = 'on'"))
    elif connection.dialect.name == "sqlite":
        # SQLite DDL is transactional and has one writer: nobody sees the trigger missing.
        connection.execute(text(SQLITE_DROP_TRIGGER.format(table="audit_event", verb="delete")))


def forbid_purge_deletes(connection: Connection, *, had_sqlite_trigger: bool = True) -> None:
    """Protect audit entries again for the rest of the transaction."""
    if connection.dialect.name == "postgresql":
        connection.execute(text(f"SET LOCAL {PURGE_SETTING} = 'off'"))
    elif connection.dialect.name == "sqlite" and had_sqlite_trigger:
        connection.execute(text(_sqlite_trigger("audit_event", "DELETE")))


def sqlite_trigger_exists(connection: Connection, name: str) -> bool:
    """Return True when the SQLite database holds the trigger `name`."""
    found = connection.execute(
        text("SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = :name"),
        {"name": name},
    ).first()
    return found is not None
