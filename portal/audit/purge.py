"""Retention of the trail (SEC-JOU-1c): delete entries older than the retention, keep it verifiable.

Before deleting, the purge writes a MAC-protected checkpoint holding the number and hash of the
last deleted entry; `verify` starts from it. The purge holds the chain head for its whole
transaction, is the only operation allowed to delete audit rows (see ddl.py), and is itself
recorded in the trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from portal import clock
from portal.audit import ddl
from portal.audit.actions import AuditAction
from portal.audit.models import AuditCheckpoint, AuditEvent
from portal.audit.services import actor_fields, lock_head, record
from portal.audit.settings import MAX_RETENTION_DAYS, MIN_RETENTION_DAYS, setting
from portal.audit.verify import checkpoint_mac, latest_checkpoint
from portal.db import rows_affected
from portal.keys import keyring_of


class RetentionError(ValueError):
    """A retention outside what the referential allows (six months to one year)."""


@dataclass(frozen=True)
class PurgeResult:
    """What a purge did."""

    deleted: int
    up_to_seq: int | None
    retention_days: int
    checkpoint: AuditCheckpoint | None


def check_retention(days: Any) -> int:
    """Return `days` as an int when it is an allowed retention; raise RetentionError otherwise."""
    try:
        value = int(days)
    except (TypeError, ValueError):
        raise RetentionError(f"the retention must be a number of days, not {days!r}") from None
    if value != days and not isinstance(days, str):
        raise RetentionError(f"the retention must be a whole number of days, not {days!r}")
    if not MIN_RETENTION_DAYS <= value <= MAX_RETENTION_DAYS:
        raise RetentionError(
            f"the retention must be between {MIN_RETENTION_DAYS} and {MAX_RETENTION_DAYS} days "
            f"(six months to one year), not {value}"
        )
    return value


def purge(session: Session, actor: Any, retention_days: int | None = None) -> PurgeResult:
    """Delete the entries older than the retention, after writing a checkpoint.

    :param retention_days: 183 to 365; the AUDIT_RETENTION_DAYS setting when None.
    :raises RetentionError: when the retention is outside 183..365 days.
    """
    days = check_retention(
        setting(session, "AUDIT_RETENTION_DAYS") if retention_days is None else retention_days
    )
    # Hold the head: no entry is appended while we decide where to cut.
    lock_head(session)
    now = clock.now()
    cutoff = now - timedelta(days=days)
    previous = latest_checkpoint(session)
    start = previous.seq if previous is not None else 0
    first_kept = session.scalar(
        select(func.min(AuditEvent.seq)).where(AuditEvent.seq > start, AuditEvent.at >= cutoff)
    )
    if first_kept is None:
        up_to = session.scalar(select(func.max(AuditEvent.seq)).where(AuditEvent.seq > start))
    else:
        # Cut before the first recent entry: what remains is one contiguous chain.
        up_to = first_kept - 1 if first_kept - 1 > start else None
    checkpoint = None
    deleted = 0
    if up_to is not None:
        last = session.get(AuditEvent, up_to)
        if last is None:
            raise RetentionError(f"entry {up_to} is missing: run `portal audit verify` first")
        kind, _id, label = actor_fields(actor)
        checkpoint = AuditCheckpoint(
            seq=up_to, hash=bytes(last.hash), created_at=now, actor_kind=kind,
            actor_label=label, retention_days=days, deleted=0,
        )
        deleted = _delete_up_to(session, up_to)
        checkpoint.deleted = deleted
        checkpoint.mac = checkpoint_mac(keyring_of(session).key("audit"), checkpoint)
        session.add(checkpoint)
        session.flush()
    record(
        session, actor, AuditAction.TRAIL_PURGE,
        ("checkpoint", f"C{checkpoint.id}") if checkpoint is not None else None,
        retention_days=days, deleted=deleted, up_to_seq=up_to,
    )
    return PurgeResult(deleted, up_to, days, checkpoint)


def _delete_up_to(session: Session, up_to: int) -> int:
    session.flush()
    connection = session.connection()
    had_trigger = True
    if connection.dialect.name == "sqlite":
        had_trigger = ddl.sqlite_trigger_exists(connection, "audit_event_no_delete")
    ddl.allow_purge_deletes(connection)
    result = session.execute(
        delete(AuditEvent).where(AuditEvent.seq <= up_to),
        execution_options={"synchronize_session": False},
    )
    # On failure the transaction is rolled back, and the setting or dropped trigger with it.
    ddl.forbid_purge_deletes(connection, had_sqlite_trigger=had_trigger)
    # The deleted rows may still sit in the identity map; forget them.
    for obj in [o for o in session.identity_map.values() if isinstance(o, AuditEvent)]:
        if obj.seq <= up_to:
            session.expunge(obj)
    return rows_affected(result)
