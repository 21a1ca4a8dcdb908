"""Writing the audit trail: one `record` call, in the caller's transaction."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any

from flask import g, has_request_context, request
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from portal import clock
from portal.audit.models import GENESIS_HASH, AuditEvent, AuditHead
from portal.keys import keyring_of

ACTION_PATTERN = re.compile(r"^[a-z][a-z_]*:[a-z][a-z_]*:[a-z][a-z_]*$")
OUTCOMES = frozenset({"success", "failure", "denied"})
MAX_DETAIL_LENGTH = 120


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


def _actor_fields(actor: Any) -> tuple[str, int | None, str]:
    if actor is None:
        return "anonymous", None, "anonymous"
    if isinstance(actor, Actor):
        return actor.kind, actor.id, actor.label
    # A user model: it has an id and a login.
    return "user", int(actor.id), str(actor.login)


def _target_fields(target: Any) -> tuple[str | None, str | None]:
    if target is None:
        return None, None
    if isinstance(target, tuple):
        kind, ref = target
        return str(kind), str(ref)
    return str(target.audit_type), str(target.audit_ref)


def _check_details(details: dict[str, Any]) -> dict[str, Any]:
    for key, value in details.items():
        if not isinstance(value, str | int | float | bool | type(None)):
            raise AuditError(f"audit detail {key!r} must be a scalar, not {type(value).__name__}")
        if isinstance(value, str) and len(value) > MAX_DETAIL_LENGTH:
            raise AuditError(f"audit detail {key!r} is too long: only short codes are logged")
    return details


def canonical(entry: dict[str, Any]) -> bytes:
    """Serialise an entry's fields in one stable byte form for hashing."""
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def entry_fields(event: AuditEvent) -> dict[str, Any]:
    """Return the hashed fields of an entry."""
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
    return hmac.new(key, prev_hash + canonical(fields), hashlib.sha256).digest()


def ensure_head(session: Session) -> None:
    """Create the chain head row if it does not exist yet."""
    if session.get(AuditHead, 1) is None:
        session.execute(insert(AuditHead).values(id=1, seq=0, last_hash=GENESIS_HASH))


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

    :param actor: a user, an `Actor` (CLI operator, system job) or None (anonymous).
    :param action: `<area>:<subject>:<action>`.
    :param target: an object with `audit_type`/`audit_ref`, a (type, ref) tuple, or None.
    :raises AuditError: on a malformed action, outcome or detail.
    """
    action = str(action)
    if not ACTION_PATTERN.match(action):
        raise AuditError(f"audit action {action!r} is not <area>:<subject>:<action>")
    if outcome not in OUTCOMES:
        raise AuditError(f"audit outcome {outcome!r} is not one of {sorted(OUTCOMES)}")
    kind, actor_id, label = _actor_fields(actor)
    target_type, target_ref = _target_fields(target)
    session_hash = client = None
    if has_request_context():
        session_hash = g.get("audit_session_hash")
        client = request.remote_addr
    # Taking the head row first serialises writers: the sequence stays gap-free and ordered.
    bumped = session.execute(
        update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + 1)
    )
    if bumped.rowcount == 0:
        ensure_head(session)
        session.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + 1))
    seq, prev_hash = session.execute(select(AuditHead.seq, AuditHead.last_hash)).one()
    event = AuditEvent(
        seq=seq,
        at=clock.now(),
        actor_kind=kind,
        actor_id=actor_id,
        actor_label=label[:128],
        session_hash=session_hash,
        action=action,
        target_type=target_type,
        target_ref=target_ref,
        outcome=outcome,
        client_address=client,
        details=_check_details(dict(details)),
        prev_hash=prev_hash,
    )
    event.hash = chain_hash(keyring_of(session).key("audit"), prev_hash, entry_fields(event))
    session.add(event)
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(last_hash=event.hash))
    session.flush()
    return event
