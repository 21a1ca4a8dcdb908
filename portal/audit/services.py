"""Writing the audit trail: one `record` call, in the caller's transaction, waiting for nobody.

`record` takes the entry's number from a sequence (`audit_event_seq` on PostgreSQL, which no
transaction holds; on SQLite the `audit_sequence` row, SQLite having one writer anyway), writes
the entry with a MAC over its fields and its number, and touches nothing else. The entry rolls
back with the caller's change; on PostgreSQL its number does not, and a `audit:entry:void` entry
written in a short transaction of its own says so. The sealer (sealer.py) then chains the
committed entries into the HMAC chain in number order, shortly after (after each commit that
wrote entries, at most once a second per process, without waiting for a lock; and from
`portal jobs run`).
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import re
from dataclasses import dataclass
from typing import Any

from flask import g, has_request_context, request
from sqlalchemy import Engine, bindparam, event, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from portal import clock
from portal.audit.models import (
    AUDIT_EVENT_SEQUENCE,
    GENESIS_HASH,
    AuditCheckpoint,
    AuditEvent,
    AuditHead,
    AuditSequence,
)
from portal.db import app_of, table_of
from portal.keys import keyring_of

ACTION_PATTERN = re.compile(r"^[a-z][a-z_]*:[a-z][a-z_]*:[a-z][a-z_]*$")
DETAIL_KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
OUTCOMES = frozenset({"success", "failure", "denied"})
MAX_DETAIL_LENGTH = 120
MAX_DETAILS = 16
#: column widths of audit_event
MAX_ACTION_LENGTH = 96
MAX_TARGET_TYPE_LENGTH = 32
MAX_TARGET_REF_LENGTH = 96
MAX_LABEL_LENGTH = 128
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: what an entry's own MAC is computed over, before the fields (domain separation from the chain)
ENTRY_MAC_LABEL = b"aac-portal audit entry v1\x00"
#: the entry that says a number was given out to a transaction that rolled back
VOID_ACTION = "audit:entry:void"
#: the entry the sealer writes for a number no entry and no void entry ever came for
GAP_ACTION = "audit:trail:gap"

log = logging.getLogger(__name__)


class AuditError(ValueError):
    """An audit call that would break the trail's rules (bad action name, free text...)."""


@dataclass(frozen=True)
class Actor:
    """Who acts when it is not a logged-in user: the CLI operator or a system job."""

    kind: str  # cli | system | anonymous
    label: str
    id: int | None = None


def cli_actor(operator: str | None = None) -> Actor:
    """The person running a CLI command (their OS login unless given)."""
    import getpass

    return Actor("cli", operator or f"cli:{getpass.getuser()}")


SYSTEM = Actor("system", "system")


def actor_fields(actor: Any) -> tuple[str, int | None, str]:
    """Return (kind, id, label) of a user, an `Actor` or None (anonymous)."""
    if actor is None or getattr(actor, "is_anonymous", False) is True:
        return "anonymous", None, "anonymous"
    if isinstance(actor, Actor):
        return actor.kind, actor.id, actor.label[:MAX_LABEL_LENGTH]
    # A user model: it has an id and a login.
    return "user", int(actor.id), str(actor.login)[:MAX_LABEL_LENGTH]


def _target_fields(target: Any) -> tuple[str | None, str | None]:
    if target is None:
        return None, None
    if isinstance(target, tuple):
        kind, ref = target
        kind, ref = str(kind), str(ref)
    else:
        kind, ref = str(target.audit_type), str(target.audit_ref)
    if not kind or len(kind) > MAX_TARGET_TYPE_LENGTH or _CONTROL.search(kind):
        raise AuditError(f"audit target type {kind!r} is not a short code")
    if not ref or len(ref) > MAX_TARGET_REF_LENGTH or _CONTROL.search(ref):
        raise AuditError(f"audit target reference {ref!r} is not a short opaque reference")
    return kind, ref


def _check_details(details: dict[str, Any]) -> dict[str, Any]:
    if len(details) > MAX_DETAILS:
        raise AuditError(f"at most {MAX_DETAILS} audit details, not {len(details)}")
    for key, value in details.items():
        if not DETAIL_KEY_PATTERN.fullmatch(key):
            raise AuditError(f"audit detail name {key!r} is not a short lower-case code")
        if not isinstance(value, str | int | float | bool | type(None)):
            raise AuditError(f"audit detail {key!r} must be a scalar, not {type(value).__name__}")
        if isinstance(value, float) and not math.isfinite(value):
            raise AuditError(f"audit detail {key!r} must be a finite number")
        if isinstance(value, str):
            if len(value) > MAX_DETAIL_LENGTH:
                raise AuditError(f"audit detail {key!r} is too long: only short codes are logged")
            if _CONTROL.search(value):
                raise AuditError(f"audit detail {key!r} holds control characters")
    return details


def canonical(entry: dict[str, Any]) -> bytes:
    """Serialise an entry's fields in one stable byte form for hashing."""
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def entry_fields(event: Any) -> dict[str, Any]:
    """Return the hashed fields of an entry (an AuditEvent or a row of audit_event)."""
    return {
        "seq": event.seq,
        "at": event.at.isoformat(timespec="microseconds"),
        "actor_kind": event.actor_kind,
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "session_hash": event.session_hash,
        "action": event.action,
        "target_type": event.target_type,
        "target_ref": event.target_ref,
        "outcome": event.outcome,
        "client_address": event.client_address,
        "details": event.details,
    }


def chain_hash(key: bytes, prev_hash: bytes, fields: dict[str, Any]) -> bytes:
    """Return HMAC-SHA-256(key, prev_hash || canonical(fields))."""
    return hmac.digest(key, prev_hash + canonical(fields), "sha256")


def entry_mac(key: bytes, fields: dict[str, Any]) -> bytes:
    """Return an entry's own MAC: HMAC-SHA-256(key, label || canonical(fields)), seq included."""
    return hmac.digest(key, ENTRY_MAC_LABEL + canonical(fields), "sha256")


_EVENTS = table_of(AuditEvent)
_HEAD = table_of(AuditHead)
_COUNTER = table_of(AuditSequence)
#: Core statements, built once: no ORM bookkeeping on the hot path of every request
_INSERT_EVENT = insert(_EVENTS)
_NEXTVAL = select(AUDIT_EVENT_SEQUENCE.next_value())
_SQLITE_NEXT = (
    update(_COUNTER).where(_COUNTER.c.id == 1).values(value=_COUNTER.c.value + 1)
    .returning(_COUNTER.c.value)
)
_LOCK_HEAD = (
    update(_HEAD).where(_HEAD.c.id == 1).values(seq=_HEAD.c.seq)
    .returning(_HEAD.c.seq, _HEAD.c.last_hash)
)
_SET_HEAD = update(_HEAD).where(_HEAD.c.id == 1).values(
    seq=bindparam("new_seq"), last_hash=bindparam("new_hash"))

#: session.info keys: the numbers this transaction took, and whether it wrote entries
_TAKEN = "audit.taken_seqs"
_VOIDED = "audit.voided_seqs"
_SAVEPOINTS = "audit.savepoint_starts"
_WROTE = "audit.wrote_entries"


def ensure_head(session: Session) -> None:
    """Create the chain head row if it does not exist yet (safe when two writers try at once)."""
    connection = session.connection()
    values = {"id": 1, "seq": 0, "last_hash": GENESIS_HASH}
    if connection.dialect.name == "postgresql":
        connection.execute(pg_insert(_HEAD).values(**values).on_conflict_do_nothing())
    elif connection.dialect.name == "sqlite":
        connection.execute(sqlite_insert(_HEAD).values(**values).on_conflict_do_nothing())
    elif connection.execute(select(_HEAD.c.id)).first() is None:
        connection.execute(insert(_HEAD).values(**values))


def _head_update(session: Session, statement: Any) -> tuple[int, bytes]:
    connection = session.connection()
    row = connection.execute(statement).first()
    if row is None:
        # A database emptied by TRUNCATE, or created before the head row existed.
        ensure_head(session)
        row = connection.execute(statement).one()
    return int(row.seq), bytes(row.last_hash)


def lock_head(session: Session) -> tuple[int, bytes]:
    """Lock the head row until the transaction ends and return (seq, last_hash).

    Only the sealer and the purge do this; writers never touch the head.
    """
    return _head_update(session, _LOCK_HEAD)


def _sqlite_next_seq(session: Session) -> int:
    connection = session.connection()
    value = connection.execute(_SQLITE_NEXT).scalar()
    if value is None:
        # A database emptied behind the portal's back: go on after the highest number used.
        highest = max(
            connection.execute(select(func.max(_EVENTS.c.seq))).scalar() or 0,
            connection.execute(select(func.max(AuditCheckpoint.seq))).scalar() or 0,
            connection.execute(select(_HEAD.c.seq)).scalar() or 0,
        )
        connection.execute(sqlite_insert(_COUNTER).values(id=1, value=highest)
                           .on_conflict_do_nothing())
        value = connection.execute(_SQLITE_NEXT).scalar_one()
    return int(value)


def next_seq(session: Session) -> int:
    """Take the next entry number: on PostgreSQL from the sequence, which waits for nobody and
    does not roll back; on SQLite from the counter row, under SQLite's single write lock."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        return int(connection.execute(_NEXTVAL).scalar_one())
    return _sqlite_next_seq(session)


def record(
    session: Session,
    actor: Any,
    action: str,
    target: Any = None,
    *,
    outcome: str = "success",
    **details: Any,
) -> AuditEvent:
    """Append one entry to the trail in the caller's transaction.

    The caller's pending changes are flushed first. The entry is written directly (not added
    to the session); the returned AuditEvent carries its values. It is unsealed (no `hash`)
    until the sealer chains it, shortly after the commit.

    :param actor: a user, an `Actor` (CLI operator, system job) or None (anonymous).
    :param action: `<area>:<subject>:<action>`.
    :param target: an object with `audit_type`/`audit_ref`, a (type, ref) tuple, or None.
    :param details: short scalar codes only (counts, codes, opaque references).
    :raises AuditError: on a malformed action, outcome, target or detail.
    """
    action = str(action)
    if len(action) > MAX_ACTION_LENGTH or not ACTION_PATTERN.fullmatch(action):
        raise AuditError(f"audit action {action!r} is not <area>:<subject>:<action>")
    if outcome not in OUTCOMES:
        raise AuditError(f"audit outcome {outcome!r} is not one of {sorted(OUTCOMES)}")
    kind, actor_id, label = actor_fields(actor)
    target_type, target_ref = _target_fields(target)
    checked = _check_details(dict(details))
    session_hash = client = None
    if has_request_context():
        session_hash = g.get("audit_session_hash")
        client = request.remote_addr
    session.flush()
    seq = next_seq(session)
    # Noted at once: if the INSERT below fails, the number is void all the same.
    session.info.setdefault(_TAKEN, []).append(seq)
    values: dict[str, Any] = {
        "seq": seq,
        "at": clock.now(),
        "actor_kind": kind,
        "actor_id": actor_id,
        "actor_label": label,
        "session_hash": session_hash,
        "action": action,
        "target_type": target_type,
        "target_ref": target_ref,
        "outcome": outcome,
        "client_address": client[:64] if client else None,
        "details": checked,
    }
    entry = AuditEvent(**values)
    entry.mac = entry_mac(keyring_of(session).key("audit"), entry_fields(entry))
    session.connection().execute(_INSERT_EVENT, {**values, "mac": entry.mac, "prev_hash": None,
                                                 "hash": None})
    session.info[_WROTE] = True
    return entry


# --- numbers of rolled-back transactions, and sealing after commit -------------------------------
# Only PostgreSQL's sequence keeps a rolled-back transaction's number given out: the void entry
# written for it lets the sealer (and `verify`) tell that gap from an entry deleted later.


@event.listens_for(Session, "after_transaction_create")
def _note_savepoint(session: Session, transaction: Any) -> None:
    if transaction.nested and _TAKEN in session.info:
        session.info.setdefault(_SAVEPOINTS, {})[id(transaction)] = len(session.info[_TAKEN])


@event.listens_for(Session, "after_soft_rollback")
def _savepoint_rolled_back(session: Session, previous_transaction: Any) -> None:
    if not previous_transaction.nested:
        return
    start = session.info.get(_SAVEPOINTS, {}).pop(id(previous_transaction), None)
    taken = session.info.get(_TAKEN)
    if taken is None:
        return
    start = 0 if start is None else start
    session.info.setdefault(_VOIDED, []).extend(taken[start:])
    del taken[start:]


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    session.info.pop(_TAKEN, None)
    session.info.pop(_SAVEPOINTS, None)


def wrote_entries(session: Session) -> bool:
    """True once, after a commit of a transaction that wrote entries (the sealer asks)."""
    return bool(session.info.pop(_WROTE, None))


@event.listens_for(Session, "after_transaction_end")
def _transaction_ended(session: Session, transaction: Any) -> None:
    if transaction.nested or transaction.parent is not None:
        return
    # After a commit, only what savepoints rolled back is left; after a rollback, everything.
    void = session.info.pop(_VOIDED, []) + session.info.pop(_TAKEN, [])
    session.info.pop(_SAVEPOINTS, None)
    session.info.pop(_WROTE, None)
    if void:
        write_void_entries(session, void)


def write_void_entries(session: Session, numbers: list[int]) -> None:
    """Say, in a short transaction of its own, that `numbers` went to a rolled-back transaction.

    Nothing to say on SQLite: its counter rolled back with the entries. When this fails (the
    database gone), the numbers stay gaps the sealer records as unexplained.
    """
    try:
        app = app_of(session)
    except KeyError:
        log.error("audit numbers %s rolled back but cannot be voided: no app", numbers)
        return
    # The session's own database: a backup drill's scratch copy is not the live trail.
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    if engine.dialect.name != "postgresql":
        return
    key = app.extensions["portal.keys"].key("audit")
    at = clock.now()
    rows = []
    for seq in numbers:
        fields = {"seq": seq, "at": at, "actor_kind": "system", "actor_id": None,
                  "actor_label": "audit", "session_hash": None, "action": VOID_ACTION,
                  "target_type": None, "target_ref": None, "outcome": "failure",
                  "client_address": None, "details": {}}
        mac = entry_mac(key, entry_fields(AuditEvent(**fields)))
        rows.append({**fields, "mac": mac, "prev_hash": None, "hash": None})
    try:
        with engine.begin() as connection:
            # A number whose INSERT never ran, or one a savepoint undid, is free to take here.
            connection.execute(pg_insert(_EVENTS).on_conflict_do_nothing(), rows)
    except Exception:  # noqa: BLE001 - the caller's own outcome must not change
        log.exception("audit numbers %s rolled back and could not be voided", numbers)


@dataclass(frozen=True)
class Head:
    """The newest entry of the chain: what `portal audit head` exports daily."""

    seq: int
    hash: bytes
    at: Any  # datetime of the newest entry, None on an empty trail

    def as_json(self) -> dict[str, Any]:
        """Return the exported form: {seq, hash (hex), at (ISO 8601 UTC)}."""
        return {
            "seq": self.seq,
            "hash": self.hash.hex(),
            "at": self.at.isoformat() if self.at is not None else None,
        }


def current_head(session: Session) -> Head:
    """Return the chain head as the head row states it."""
    row = session.execute(select(AuditHead.seq, AuditHead.last_hash)).first()
    if row is None:
        return Head(0, GENESIS_HASH, None)
    at = session.scalar(select(AuditEvent.at).where(AuditEvent.seq == row.seq))
    return Head(int(row.seq), bytes(row.last_hash), at)
