"""Helpers of the audit tests: writing entries, tampering with the table behind the portal."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from portal import clock
from portal.audit import ddl
from portal.audit.models import AuditEvent
from portal.audit.services import cli_actor, record

CLI = cli_actor("tester")


def write_entries(session: Session, count: int, *, actor: object = CLI,
                  action: str = "records:patient:read", at: datetime | None = None) -> None:
    """Record `count` entries (patients P1..Pn) and commit."""
    if at is None:
        for n in range(1, count + 1):
            record(session, actor, action, ("patient", f"P{n}"), n=n)
    else:
        with clock.frozen(at):
            for n in range(1, count + 1):
                record(session, actor, action, ("patient", f"P{n}"), n=n)
    session.commit()


def tamper(session: Session, statements: Iterable[str], **params: object) -> None:
    """Run raw SQL on the audit tables with their refusing triggers out of the way, and commit.

    This is what someone with direct database access could do; the portal never does it.
    """
    connection = session.connection()
    dialect = connection.dialect.name
    tables = (*ddl.PROTECTED_TABLES, ddl.HEAD_TABLE)
    if dialect == "postgresql":
        for table in tables:
            connection.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
    else:
        for table in tables:
            for statement in ddl.drop_statements(dialect, table):
                connection.execute(text(statement))
    for statement in statements:
        connection.execute(text(statement), params)
    if dialect == "postgresql":
        for table in tables:
            connection.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
    else:
        for table in tables:
            for statement in ddl.create_statements(dialect, table):
                connection.execute(text(statement))
    session.commit()
    session.expire_all()


def shift_seq(from_seq: int, by: int) -> list[str]:
    """Statements renumbering the entries from `from_seq` on by `by` (PK-safe in two steps)."""
    return [
        f"UPDATE audit_event SET seq = seq + 1000000 WHERE seq >= {from_seq}",
        f"UPDATE audit_event SET seq = seq - 1000000 + ({by}) WHERE seq >= 1000000",
    ]


def swap_seq(a: int, b: int) -> list[str]:
    """Statements exchanging the positions of entries `a` and `b`."""
    return [
        f"UPDATE audit_event SET seq = -1 WHERE seq = {a}",
        f"UPDATE audit_event SET seq = {a} WHERE seq = {b}",
        f"UPDATE audit_event SET seq = {b} WHERE seq = -1",
    ]


def entries(session: Session) -> list[AuditEvent]:
    """Every entry, oldest first."""
    session.expire_all()
    return list(session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))


def actions(session: Session) -> list[str]:
    """The action of every entry, oldest first."""
    return [e.action for e in entries(session)]


def raw_rows_text(session: Session) -> str:
    """Every column of every audit row as one text, the way a database dump would show it."""
    rows = session.execute(text("SELECT * FROM audit_event ORDER BY seq")).all()
    parts = []
    for row in rows:
        for value in row:
            parts.append(value.hex() if isinstance(value, bytes | memoryview) else str(value))
    return "\n".join(parts)
