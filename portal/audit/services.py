"""Writing the audit trail: one `record` call, in the caller's transaction.

`record` takes the single head row first (UPDATE ... RETURNING): that row lock serialises writers
until the caller's transaction ends, so the sequence stays gap-free and ordered, and a rolled-back
change takes its entry (and its sequence number) with it. Call it after your own writes, so that
the head is held as briefly as possible.
"""

from __future__ import annotations

import hmac
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from flask import g, has_request_context, request
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from portal import clock
from portal.audit.models import GENESIS_HASH, AuditEvent, AuditHead
from portal.db import table_of
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


_EVENTS = table_of(AuditEvent)
_HEAD = table_of(AuditHead)
#: Core statements, built once: no ORM bookkeeping on the hot path of every request
_INSERT_EVENT = insert(_EVENTS)
_NEXT_SEQ = (
    update(_HEAD).where(_HEAD.c.id == 1).values(seq=_HEAD.c.seq + 1)
    .returning(_HEAD.c.seq, _HEAD.c.last_hash)
)
_LOCK_HEAD = (
    update(_HEAD).where(_HEAD.c.id == 1).values(seq=_HEAD.c.seq)
    .returning(_HEAD.c.seq, _HEAD.c.last_hash)
)
_SET_HASH = update(_HEAD).where(_HEAD.c.id == 1).values(last_hash=bindparam("new_hash"))
_READ_FOR_UPDATE = select(_HEAD.c.seq, _HEAD.c.last_hash).where(_HEAD.c.id == 1).with_for_update()
_SET_HEAD = update(_HEAD).where(_HEAD.c.id == 1).values(
    seq=bindparam("new_seq"), last_hash=bindparam("new_hash"))


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
    """Lock the head row until the transaction ends and return (seq, last_hash)."""
    return _head_update(session, _LOCK_HEAD)


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
    to the session); the returned AuditEvent carries its values.

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
    # The caller's own writes go first: the head row is then held as briefly as possible.
    session.flush()
    connection = session.connection()
    # PostgreSQL locks the head with SELECT ... FOR UPDATE and writes it once per entry (every
    # UPDATE of a row leaves a version behind until commit); SQLite has no row locks: there the
    # first statement must be a write, which takes the database's write lock.
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        seq, prev_hash = _head_update(session, _READ_FOR_UPDATE)
        seq += 1
    else:
        seq, prev_hash = _head_update(session, _NEXT_SEQ)
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
        "prev_hash": prev_hash,
    }
    event = AuditEvent(**values)
    event.hash = chain_hash(keyring_of(session).key("audit"), prev_hash, entry_fields(event))
    connection.execute(_INSERT_EVENT, {**values, "hash": event.hash})
    if postgres:
        connection.execute(_SET_HEAD, {"new_seq": seq, "new_hash": event.hash})
    else:
        connection.execute(_SET_HASH, {"new_hash": event.hash})
    return event


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
