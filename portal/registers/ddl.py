"""Database-side protection of the register versions: an edit adds a version, none is changed.

The services never update or delete a `register_version` row; these triggers make the database
refuse it too, so that an earlier version read by the CNIL is the one that was saved. PostgreSQL
gets one refusing function and trigger; SQLite (development, demo) two refusing triggers. The
same statements are installed by `create_all` (tests, fresh databases) and copied verbatim into
the migration. No statement contains a percent sign: SQLAlchemy's DDL construct formats it.
"""

from __future__ import annotations

from sqlalchemy import DDL, Table, event

TABLE = "register_version"

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION register_version_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'insufficient_privilege',
        MESSAGE = 'register versions are append-only: ' || TG_OP
                  || ' on register_version is refused (save a new version)';
END;
$$
""".strip()
PG_TRIGGER = (
    "CREATE TRIGGER register_version_append_only BEFORE UPDATE OR DELETE ON register_version "
    "FOR EACH ROW EXECUTE FUNCTION register_version_append_only()"
)
PG_DROP = [
    "DROP TRIGGER IF EXISTS register_version_append_only ON register_version",
    "DROP FUNCTION IF EXISTS register_version_append_only()",
]
SQLITE_TRIGGERS = [
    f"CREATE TRIGGER register_version_no_{op.lower()} BEFORE {op} ON register_version BEGIN "
    f"SELECT RAISE(ABORT, 'register versions are append-only: {op} on register_version is "
    "refused (save a new version)'); END"
    for op in ("UPDATE", "DELETE")
]
SQLITE_DROP = [f"DROP TRIGGER IF EXISTS register_version_no_{verb}"
               for verb in ("update", "delete")]


def create_statements(dialect: str) -> list[str]:
    """Return the statements protecting the versions on `dialect` (postgresql or sqlite)."""
    if dialect == "postgresql":
        return [PG_FUNCTION, PG_TRIGGER]
    return list(SQLITE_TRIGGERS) if dialect == "sqlite" else []


def drop_statements(dialect: str) -> list[str]:
    """Return the statements removing that protection (migration downgrade)."""
    if dialect == "postgresql":
        return list(PG_DROP)
    return list(SQLITE_DROP) if dialect == "sqlite" else []


def protect(table: Table) -> None:
    """Install the refusing triggers whenever `create_all` creates `table`."""
    for dialect in ("postgresql", "sqlite"):
        for statement in create_statements(dialect):
            event.listen(table, "after_create", DDL(statement).execute_if(dialect=dialect))
