"""The sealer: chain the committed entries into the HMAC chain, in number order, one sealer at once.

Writers only append unsealed entries (services.record): each carries its own MAC over its fields
and its number, and no `hash`. The sealer, under one lock (PostgreSQL: a transaction-level
advisory lock; SQLite: its write lock), reads the entries after the head in number order, checks
each one's MAC, computes its chain hash from the previous one, stores `prev_hash`/`hash` (the
only change the triggers allow on an entry, ddl.py) and moves the head.

A missing number stops the sealer until it is explained:

- a transaction still running holds it: its entry comes with its commit;
- a transaction rolled back: on PostgreSQL the writer says so with a void entry (services.py);
- nothing came for AUDIT_SEAL_GAP_SECONDS after the next entry was written: a writer that died
  between taking the number and ending its transaction, or an unsealed entry deleted behind the
  portal. The sealer then writes a gap entry for it (sealed at once). On PostgreSQL the INSERT of
  that number waits on a transaction still holding it, so a long transaction is not mistaken for
  a lost one (the sealer gives up after a short lock timeout and tries again later). `verify` and
  the daily check list every gap entry. On SQLite no rollback and no crash can leave a gap (the
  counter rolls back with the entry): the sealer never fills one, and `verify` reports it as a
  deletion.

It runs after every commit that wrote entries (at most once per AUDIT_SEAL_INTERVAL_SECONDS per
process; on PostgreSQL it never waits: a busy sealer lock means another process is sealing), from
`portal jobs run` (duty `audit-seal`), and from `portal audit seal`, `head`, `check` and `purge`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import bindparam, event, func, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from portal import clock
from portal.audit.models import AuditEvent, AuditHead
from portal.audit.services import (
    GAP_ACTION,
    chain_hash,
    entry_fields,
    entry_mac,
    lock_head,
    wrote_entries,
)
from portal.audit.settings import setting
from portal.db import app_of, new_session, table_of

log = logging.getLogger(__name__)

#: entries sealed per transaction
BATCH = 2000
#: how long the sealer waits for a transaction still holding a missing number (PostgreSQL)
GAP_LOCK_TIMEOUT_MS = 200
#: the advisory lock of the sealer (and of the purge, which must not cut while it seals)
SEALER_LOCK = int.from_bytes(hashlib.sha256(b"aac-portal/audit/sealer").digest()[:8], "big",
                             signed=True)

_EVENTS = table_of(AuditEvent)
_HEAD = table_of(AuditHead)
_FIELDS = ("seq", "at", "actor_kind", "actor_id", "actor_label", "session_hash", "action",
           "target_type", "target_ref", "outcome", "client_address", "details")
_COLUMNS = [_EVENTS.c[name] for name in (*_FIELDS, "mac", "hash")]
_SEAL_ENTRY = (
    update(_EVENTS).where(_EVENTS.c.seq == bindparam("s"), _EVENTS.c.hash.is_(None))
    .values(prev_hash=bindparam("p"), hash=bindparam("h"))
)
_SET_HEAD = update(_HEAD).where(_HEAD.c.id == 1).values(
    seq=bindparam("new_seq"), last_hash=bindparam("new_hash"))


@dataclass
class SealResult:
    """What one call of the sealer did."""

    sealed: int = 0
    #: gap entries written for numbers nothing came for
    gaps: int = 0
    #: the sealed head after the call
    head_seq: int = 0
    #: another sealer held the lock (nothing done)
    busy: bool = False
    #: the first number still waited for (a transaction in progress, or a gap too young)
    waiting_for: int | None = None
    #: the first entry refused: its MAC does not hold, or it is sealed beyond the head
    refused_seq: int | None = None
    refused_reason: str | None = None


def lock_sealer(session: Session, *, wait: bool) -> bool:
    """Take the sealer's lock for the session's transaction; False when `wait` is False and
    another transaction holds it. The purge takes it too."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        if wait:
            connection.execute(select(func.pg_advisory_xact_lock(SEALER_LOCK)))
            return True
        return bool(connection.execute(select(func.pg_try_advisory_xact_lock(SEALER_LOCK)))
                    .scalar())
    return True  # SQLite: the head's UPDATE below takes the database's write lock


def _gap_entry(seq: int) -> dict[str, Any]:
    return {"seq": seq, "at": clock.now(), "actor_kind": "system", "actor_id": None,
            "actor_label": "audit sealer", "session_hash": None, "action": GAP_ACTION,
            "target_type": None, "target_ref": None, "outcome": "failure",
            "client_address": None, "details": {}}


def _seal_batch(session: Session, key: bytes, *, wait: bool, result: SealResult) -> bool:
    """Seal up to BATCH entries in the session's transaction; True when more may follow."""
    connection = session.connection()
    postgres = connection.dialect.name == "postgresql"
    if not lock_sealer(session, wait=wait):
        result.busy = True
        return False
    head_seq, prev = lock_head(session)
    rows = connection.execute(
        select(*_COLUMNS).where(_EVENTS.c.seq > head_seq).order_by(_EVENTS.c.seq).limit(BATCH)
    ).all()
    gap_age = timedelta(seconds=float(setting(session, "AUDIT_SEAL_GAP_SECONDS")))
    now = clock.now()
    expected = head_seq + 1
    sealed: list[dict[str, Any]] = []
    stopped = False
    for row in rows:
        fields = dict(zip(_FIELDS, row, strict=False))
        if row.hash is not None or row.mac is None or not hmac.compare_digest(
                entry_mac(key, entry_fields(AuditEvent(**fields))), bytes(row.mac)):
            result.refused_seq = row.seq
            result.refused_reason = ("it is sealed beyond the chain head" if row.hash is not None
                                     else "its MAC does not hold: it was changed or forged")
            stopped = True
            break
        if row.seq > expected:
            if not postgres or now - row.at < gap_age or not _fill_gaps(
                    session, key, expected, row.seq, prev, sealed, result):
                result.waiting_for = expected
                stopped = True
                break
            prev = sealed[-1]["h"]
            expected = row.seq
        digest = chain_hash(key, prev, entry_fields(AuditEvent(**fields)))
        sealed.append({"s": row.seq, "p": prev, "h": digest})
        prev, expected = digest, row.seq + 1
    updates = [entry for entry in sealed if not entry.get("gap")]
    if updates:
        connection.execute(_SEAL_ENTRY, updates)
    if sealed:
        connection.execute(_SET_HEAD, {"new_seq": expected - 1, "new_hash": prev})
    result.sealed += len(updates)
    result.head_seq = expected - 1
    return not stopped and len(rows) == BATCH


def _fill_gaps(session: Session, key: bytes, start: int, end: int, prev: bytes,
               sealed: list[dict[str, Any]], result: SealResult) -> bool:
    """Write sealed gap entries for `start`..`end - 1`; False when a transaction still holds one.
    """
    entries = []
    for seq in range(start, end):
        values = _gap_entry(seq)
        fields = entry_fields(AuditEvent(**values))
        digest = chain_hash(key, prev, fields)
        entries.append({**values, "mac": entry_mac(key, fields), "prev_hash": prev,
                        "hash": digest})
        prev = digest
    try:
        with session.begin_nested():
            connection = session.connection()
            connection.execute(text(f"SET LOCAL lock_timeout = '{GAP_LOCK_TIMEOUT_MS}ms'"))
            connection.execute(_EVENTS.insert(), entries)
            connection.execute(text("SET LOCAL lock_timeout = 0"))
    except (IntegrityError, DBAPIError):
        # The number's own transaction committed it meanwhile, or still holds it.
        return False
    sealed.extend({"s": e["seq"], "p": e["prev_hash"], "h": e["hash"], "gap": True}
                  for e in entries)
    result.gaps += len(entries)
    log.warning("audit entries %s to %s never came: sealed as gaps", start, end - 1)
    return True


def seal(app: Flask, *, wait: bool = True) -> SealResult:
    """Seal every committed entry that can be sealed now, in batches of one transaction each.

    :param wait: wait for another sealer (or a purge) to finish; False gives up at once.
    """
    key = app.extensions["portal.keys"].key("audit")
    result = SealResult()
    more = True
    while more:
        with new_session(app) as session:
            more = _seal_batch(session, key, wait=wait, result=result)
            session.commit()
    return result


_LAST_ATTEMPT = "portal.audit.last_seal_attempt"


@event.listens_for(Session, "after_commit")
def _seal_after_commit(session: Session) -> None:
    if wrote_entries(session):
        seal_after_commit(session)


def seal_after_commit(session: Session) -> None:
    """Seal without waiting, at most once per AUDIT_SEAL_INTERVAL_SECONDS in this process.

    Called once a transaction that wrote entries has committed; a failure is logged, never
    raised: the entries are committed, and the next sealer seals them.
    """
    try:
        app = app_of(session)
    except KeyError:
        return
    if not app.config.get("AUDIT_SEAL_AFTER_COMMIT", True):
        return
    interval = float(app.config["AUDIT_SEAL_INTERVAL_SECONDS"])
    moment = time.monotonic()
    last = app.extensions.get(_LAST_ATTEMPT)
    if last is not None and moment - last < interval:
        return
    app.extensions[_LAST_ATTEMPT] = moment
    try:
        seal(app, wait=False)
    except Exception:  # noqa: BLE001 - the caller's commit is done; the job runner seals later
        log.exception("sealing the audit trail after a commit failed")

