"""The durable outbox: queue a message in the caller's transaction, deliver it later, once.

- `enqueue(session, to, subject, body, kind=...)` adds the message to the caller's session:
  it is committed with the action that causes it, or rolled back with it. Recipient, subject
  and body are sealed (they can name a person); nothing is mailed from inside a request.
- `send_due(app)` is the sender (`portal outbox send`, and the `outbox` duty of
  `portal jobs run`). It claims each due message with a lease in a conditional UPDATE that
  only one sender can win, delivers it, then marks it sent and erases its sealed content in
  the same statement that checks the lease is still its own. A failure is retried with an
  exponential backoff; after `OUTBOX_MAX_ATTEMPTS` the message is given up, its content
  erased, its failure left visible on `/outbox/` and audited.
- A sender that dies holding a message leaves its lease behind: once the lease has expired,
  another sender claims the message again. The only window in which a message can leave twice
  is a sender dying between the server's acceptance and the commit of `sent` (milliseconds);
  the Message-ID is derived from the row, so the copy is recognisably the same message.
- An area that must write something once the message actually left (the serious-event
  mail's audit entry) registers an outcome hook by name (`register_outcome_hook`); the sender
  calls it in the transaction that marks the message sent or given up.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from portal import clock
from portal.audit.services import SYSTEM, record
from portal.db import new_session
from portal.mail import MailError, build_message, check_headers, deliver
from portal.outbox.actions import OutboxAction
from portal.outbox.models import MessageState, OutboxMessage
from portal.sealing import open_with_refresh, outbox_aad, ring_of, seal_value

log = logging.getLogger(__name__)

#: the longest wait between two attempts
MAX_BACKOFF = timedelta(hours=6)
#: the longest failure text kept (the exception's kind and the server's answer)
MAX_ERROR = 500

#: (session, message, sent, args): writes what the sending area needs once the outcome is known
OutcomeHook = Callable[[Session, OutboxMessage, bool, dict[str, Any]], None]
_HOOKS: dict[str, OutcomeHook] = {}


class OutboxError(Exception):
    """A message cannot be queued (a hook name nobody registered)."""


def register_outcome_hook(name: str, hook: OutcomeHook) -> None:
    """Let an area act in the sender's transaction once its message is sent or given up."""
    _HOOKS[name] = hook


def enqueue(session: Session, to: str, subject: str, body: str, *, kind: str,
            on_outcome: str | None = None, outcome_args: dict[str, Any] | None = None,
            ) -> OutboxMessage:
    """Queue one plain-text message in `session`: it leaves once the session commits.

    :param kind: what the message is about (`rights_notice`, `account_activation`...), shown
        to administrators; never a person, a case or a health fact.
    :raises MailError: a header value spans several lines.
    :raises OutboxError: `on_outcome` names no registered hook.
    """
    check_headers(to, subject)
    if on_outcome is not None and on_outcome not in _HOOKS:
        raise OutboxError(f"no outbox outcome hook is registered as {on_outcome!r}")
    handle = secrets.token_urlsafe(16)
    sealed = seal_value(ring_of(session), outbox_aad(handle),
                        {"to": to, "subject": subject, "body": body})
    message = OutboxMessage(
        handle=handle, kind=kind, state=MessageState.PENDING, attempts=0,
        next_attempt_at=clock.now(), kek_version=sealed.kek_version,
        wrapped_key=sealed.wrapped_key, payload=sealed.payload, on_outcome=on_outcome,
        outcome_args=outcome_args,
    )
    session.add(message)
    return message


def sender_name() -> str:
    """A name unique to this sender: host, process and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"[:128]


def backoff(app: Flask, attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failed attempt: doubling, at most 6 hours."""
    base = timedelta(seconds=max(1, int(app.config["OUTBOX_RETRY_SECONDS"])))
    return min(base * (2 ** max(0, min(attempts - 1, 20))), MAX_BACKOFF)


@dataclass
class SendReport:
    """What one run of the sender did."""

    sent: int = 0
    #: failed attempts that will be retried
    retried: int = 0
    given_up: int = 0
    #: due messages another sender claimed first
    skipped: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        """The figures, for the job run's record."""
        return {"sent": self.sent, "retried": self.retried, "given_up": self.given_up,
                "skipped": self.skipped}


def _due(now: datetime) -> Any:
    return (
        (OutboxMessage.state == MessageState.PENDING)
        & (OutboxMessage.next_attempt_at <= now)
        & or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now)
    )


def _claim(app: Flask, message_id: int, owner: str, max_attempts: int) -> bool:
    """Take the message for `owner` if it is still due and unclaimed; True when won."""
    now = clock.now()
    lease = timedelta(seconds=int(app.config["OUTBOX_LEASE_SECONDS"]))
    with new_session(app) as session:
        result = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, _due(now),
                   OutboxMessage.attempts < max_attempts)
            .values(lease_owner=owner, lease_until=now + lease,
                    attempts=OutboxMessage.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        session.commit()
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def _finish(app: Flask, message_id: int, owner: str, *, sent: bool, error: str | None,
            max_attempts: int, report: SendReport) -> None:
    """Record the attempt's outcome, if the lease is still ours; call the area's hook."""
    now = clock.now()
    with new_session(app) as session:
        message = session.scalars(
            select(OutboxMessage).where(OutboxMessage.id == message_id,
                                        OutboxMessage.lease_owner == owner)
        ).one_or_none()
        if message is None:
            log.warning("outbox message %s: the lease was lost before the outcome", message_id)
            return
        message.lease_owner = message.lease_until = None
        message.last_error = error[:MAX_ERROR] if error else message.last_error
        if sent or message.attempts >= max_attempts:
            if sent:
                message.state, message.sent_at = MessageState.SENT, now
                report.sent += 1
            else:
                message.state = MessageState.FAILED
                report.given_up += 1
                record(session, SYSTEM, OutboxAction.MESSAGE_GIVEN_UP,
                       ("outbox_message", str(message.id)), outcome="failure",
                       kind=message.kind, attempts=message.attempts)
            # Nothing of the content is kept once the message left or was given up.
            message.payload = message.wrapped_key = message.kek_version = None
            hook = _HOOKS.get(message.on_outcome or "")
            if hook is not None:
                try:
                    with session.begin_nested():
                        hook(session, message, sent, dict(message.outcome_args or {}))
                except Exception:  # noqa: BLE001 - the state must be saved, or it leaves twice
                    log.exception("the outcome hook %s of outbox message %s failed",
                                  message.on_outcome, message.id)
        else:
            message.next_attempt_at = now + backoff(app, message.attempts)
            report.retried += 1
        session.commit()


def _attempt(app: Flask, message_id: int, owner: str) -> str | None:
    """Open and deliver one claimed message; the error's text, or None when it was sent."""
    with new_session(app) as session:
        message = session.get(OutboxMessage, message_id)
        if message is None or message.lease_owner != owner or message.payload is None:
            return "the message was no longer held by this sender"
        assert message.wrapped_key is not None and message.kek_version is not None
        content = open_with_refresh(session, outbox_aad(message.handle), message.payload,
                                    message.wrapped_key, message.kek_version)
        handle = message.handle
    email = build_message(app, content["to"], content["subject"], content["body"],
                          idstring=f"outbox.{handle}")
    try:
        deliver(app, email)
    except MailError as exc:
        return str(exc) or type(exc).__name__
    return None


def _abandon_dead_last_attempts(app: Flask, max_attempts: int, report: SendReport) -> None:
    """A sender died during a message's last attempt: give the message up once its lease ran
    out (it cannot be claimed again), so the failure shows."""
    now = clock.now()
    with new_session(app) as session:
        ids = session.scalars(
            select(OutboxMessage.id).where(_due(now), OutboxMessage.attempts >= max_attempts)
        ).all()
    for message_id in ids:
        owner = sender_name()
        with new_session(app) as session:
            won = session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == message_id, _due(now))
                .values(lease_owner=owner, lease_until=now + timedelta(minutes=1))
                .execution_options(synchronize_session=False)
            ).rowcount == 1  # type: ignore[attr-defined]
            session.commit()
        if won:
            _finish(app, message_id, owner, sent=False, max_attempts=max_attempts,
                    error="the sender stopped during the last attempt", report=report)


def send_due(app: Flask, *, limit: int = 500, owner: str | None = None) -> SendReport:
    """Deliver every message that is due (at most `limit`), each at most once; never raises
    for a mail failure (it is recorded on the message)."""
    owner = owner or sender_name()
    max_attempts = max(1, int(app.config["OUTBOX_MAX_ATTEMPTS"]))
    report = SendReport()
    _abandon_dead_last_attempts(app, max_attempts, report)
    with new_session(app) as session:
        ids = session.scalars(
            select(OutboxMessage.id)
            .where(_due(clock.now()), OutboxMessage.attempts < max_attempts)
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit)
        ).all()
    for message_id in ids:
        if not _claim(app, message_id, owner, max_attempts):
            report.skipped += 1
            continue
        try:
            error = _attempt(app, message_id, owner)
        except Exception as exc:  # noqa: BLE001 - one broken row must not stop the others
            log.exception("outbox message %s could not be prepared", message_id)
            error = f"{type(exc).__name__}: the message could not be opened"
        if error:
            report.errors.append(error)
        _finish(app, message_id, owner, sent=error is None, error=error,
                max_attempts=max_attempts, report=report)
    return report


@dataclass(frozen=True)
class OutboxStatus:
    """The outbox at a glance: counts by state and the oldest waiting message."""

    pending: int
    sent: int
    failed: int
    oldest_pending_at: datetime | None


def status(session: Session) -> OutboxStatus:
    """Count the messages by state."""
    counts: dict[str, int] = {state: n for state, n in session.execute(
        select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state))}
    oldest = session.scalar(select(func.min(OutboxMessage.created_at))
                            .where(OutboxMessage.state == MessageState.PENDING))
    return OutboxStatus(int(counts.get(MessageState.PENDING, 0)),
                        int(counts.get(MessageState.SENT, 0)),
                        int(counts.get(MessageState.FAILED, 0)), oldest)


def problems(session: Session, limit: int = 100) -> list[OutboxMessage]:
    """The given-up messages and the waiting ones that failed at least once, newest first."""
    return list(session.scalars(
        select(OutboxMessage)
        .where((OutboxMessage.state == MessageState.FAILED)
               | ((OutboxMessage.state == MessageState.PENDING)
                  & OutboxMessage.last_error.is_not(None)))
        .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc()).limit(limit)
    ))
