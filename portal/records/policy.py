"""Who sees which patient: the one policy every record page, list and export goes through.

The perimeter comes from the access area (`perimeter_for`): healthcare staff reach the patients
of the establishments of their grants, the laboratory's roles what their grants cover. The
scope decides what is shown: identifying scope sees the identification letters and birth data,
pseudonymised scope never does, aggregated scope never reaches a record at all. Everything
fails closed: an error in the policy refuses access.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from flask import g, has_request_context
from flask_babel import gettext as _
from sqlalchemy import ColumnElement, event, false, select, true
from sqlalchemy.orm import Session

from portal.access.models import Scope
from portal.access.policy import permissions_for
from portal.access.services import perimeter_for
from portal.audit.services import Actor, actor_fields, record
from portal.db import DATABASE_UNAVAILABLE, app_of, new_session
from portal.errors import Forbidden, NotFound
from portal.permissions import Permission
from portal.records.actions import RecordsAction
from portal.records.form_codes import form_code
from portal.records.models import Patient, Submission

log = logging.getLogger(__name__)

#: what the protocol's `identifies` values hide from pseudonymised readers and every export
HIDDEN_IDENTIFIERS = frozenset({
    "surname_initials", "firstname_initials", "case_code", "birth_month", "birth_year",
    "birth_month_year", "birth_day", "birth_date",
})


@dataclass(frozen=True)
class View:
    """What one person reaches now: scope, establishments, protocols and permissions."""

    user_id: int | None
    scope: Scope
    #: None: every establishment
    establishment_ids: frozenset[int] | None
    #: None: every protocol
    protocol_keys: frozenset[str] | None
    permissions: frozenset[Permission]

    @property
    def shows_identity(self) -> bool:
        """True when identification letters and birth data may be shown."""
        return self.scope == Scope.IDENTIFYING

    def can(self, permission: Permission) -> bool:
        """True when the person holds `permission` now."""
        return permission in self.permissions

    def covers(self, patient: Patient) -> bool:
        """True when the patient lies inside the perimeter."""
        if self.establishment_ids is not None and patient.establishment_id not in \
                self.establishment_ids:
            return False
        return self.protocol_keys is None or patient.protocol_key in self.protocol_keys

    def patient_filter(self) -> ColumnElement[bool]:
        """The same perimeter as a SQL condition on `Patient`."""
        conditions: list[ColumnElement[bool]] = []
        if self.establishment_ids is not None:
            if not self.establishment_ids:
                return false()
            conditions.append(Patient.establishment_id.in_(sorted(self.establishment_ids)))
        if self.protocol_keys is not None:
            if not self.protocol_keys:
                return false()
            conditions.append(Patient.protocol_key.in_(sorted(self.protocol_keys)))
        if not conditions:
            return true()
        return conditions[0] if len(conditions) == 1 else conditions[0] & conditions[1]


def view_for(session: Session, actor: Any) -> View:
    """Return what `actor` reaches now (cached for the request).

    :raises Forbidden: nobody, a disabled account, or no record-level grant (aggregated only).
    """
    if isinstance(actor, Actor):
        if actor.kind in ("cli", "system"):
            # The CLI operator and system jobs act with the server's authority.
            return View(None, Scope.IDENTIFYING, None, None, frozenset(Permission))
        raise Forbidden()
    if actor is None or not getattr(actor, "id", None):
        raise Forbidden()
    cache_key = f"records_view_{actor.id}"
    if has_request_context() and cache_key in g:
        return g.get(cache_key)
    try:
        perimeter = perimeter_for(session, actor)
        permissions = _permissions(session, actor)
    except DATABASE_UNAVAILABLE:
        raise  # an outage is a 503 page, not a refusal
    except Exception:  # noqa: BLE001 - fail closed
        log.exception("records policy failed for user %s", getattr(actor, "id", None))
        raise Forbidden() from None
    if perimeter.scope is None or perimeter.scope == Scope.AGGREGATED or \
            Permission.PATIENT_READ not in permissions:
        raise Forbidden(_("Your access covers aggregated figures only, not individual records."))
    view = View(actor.id, Scope(perimeter.scope), perimeter.establishment_ids,
                perimeter.protocol_keys, permissions)
    if has_request_context():
        setattr(g, cache_key, view)
    return view


def _permissions(session: Session, actor: Any) -> frozenset[Permission]:
    """The actor's permissions; in a request for the logged-in person, the ones already
    computed by the authorizer for this request."""
    if has_request_context():
        from flask_login import current_user

        if getattr(current_user, "id", None) == actor.id:
            from portal.permissions import granted_permissions

            return granted_permissions()
    return permissions_for(session, actor)


# --- reads are logged when the transaction ends --------------------------------------------------

_PENDING = "records.pending_reads"
#: entries written by a commit under way: written again on their own if it fails
_COMMITTING = "records.committing_reads"


@dataclass
class _PendingRead:
    actor: Actor
    action: RecordsAction
    target: tuple[str, str] | None
    details: dict[str, Any]
    #: counts a stream or a bulk read keeps updating until the entry is written
    live: dict[str, Any] | None


def permissions_of(session: Session, actor: Any) -> frozenset[Permission]:
    """The permissions `actor` holds now (every one for the CLI operator and system jobs)."""
    if isinstance(actor, Actor):
        return frozenset(Permission) if actor.kind in ("cli", "system") else frozenset()
    if actor is None or not getattr(actor, "id", None):
        return frozenset()
    return _permissions(session, actor)


def log_read(session: Session, actor: Any, action: RecordsAction, target: Any,
             _live: dict[str, Any] | None = None, **details: Any) -> None:
    """Log a read: written just before this transaction commits, or, when it does not commit
    (rolled back, or the session closed after an error), in a transaction of its own once it
    has ended.

    Writing the entry at once would take the audit head lock (and, on SQLite, the database
    write lock) for the whole rendering of the page; deferred, it is held for the commit only.
    A failed request still leaves its reads on the trail: the read happened. Who acted and on
    what are taken now (after a rollback the objects are expired).

    :param _live: counts merged into the details when the entry is written.
    """
    kind, actor_id, label = actor_fields(actor)
    frozen_target = None
    if target is not None:
        frozen_target = target if isinstance(target, tuple) else (
            str(target.audit_type), str(target.audit_ref))
    session.info.setdefault(_PENDING, []).append(
        _PendingRead(Actor(kind, label, actor_id), action, frozen_target, details, _live))


def _write(session: Session, entry: _PendingRead) -> None:
    record(session, entry.actor, entry.action, entry.target,
           **entry.details, **(entry.live or {}))


@event.listens_for(Session, "before_commit")
def _write_pending_reads(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if pending:
        session.info[_COMMITTING] = pending
    for entry in pending or ():
        _write(session, entry)


@event.listens_for(Session, "after_commit")
def _reads_committed(session: Session) -> None:
    session.info.pop(_COMMITTING, None)


@event.listens_for(Session, "after_transaction_end")
def _write_reads_of_failed_transaction(session: Session, transaction: Any) -> None:
    if transaction.nested or transaction.parent is not None:
        return
    pending = session.info.pop(_COMMITTING, []) + session.info.pop(_PENDING, [])
    if not pending:
        return
    # The caller's transaction is over and its locks released: a short one of our own
    # cannot wait on it.
    try:
        app = app_of(session)
    except KeyError:
        log.error("%d read(s) could not be logged: the session has no app", len(pending))
        return
    try:
        with new_session(app) as own:
            for entry in pending:
                _write(own, entry)
            own.commit()
    except Exception:  # noqa: BLE001 - the caller's own error must not be hidden
        log.exception("%d read(s) of a failed transaction could not be logged", len(pending))


def _deny(session: Session, actor: Any, action: RecordsAction, target: Any) -> Forbidden:
    # Logged in the caller's session: the records blueprint commits it with the 403 page.
    record(session, actor, action, target, outcome="denied")
    return Forbidden()


def patient_for(session: Session, actor: Any, handle: str, *,
                need: Permission = Permission.PATIENT_READ) -> Patient:
    """Return the patient behind a URL handle if the actor may reach it; log the read.

    :raises NotFound: no patient has this handle.
    :raises Forbidden: the patient lies outside the actor's perimeter, or the actor lacks
        `need` (the refusal is audited).
    """
    patient = patient_to_change(session, actor, handle, need=need)
    log_read(session, actor, RecordsAction.PATIENT_READ, patient)
    return patient


def patient_to_change(session: Session, actor: Any, handle: str, *,
                      need: Permission = Permission.SUBMISSION_WRITE) -> Patient:
    """Return the patient behind a URL handle for a change: the same checks as `patient_for`,
    no read entry (the change writes its own entry, which names the patient).

    :raises NotFound: no patient has this handle.
    :raises Forbidden: outside the perimeter, or without `need` (audited).
    """
    view = view_for(session, actor)
    patient = _by_handle(session, Patient, handle)
    if patient is None:
        raise NotFound()
    if not view.covers(patient) or not view.can(need):
        raise _deny(session, actor, RecordsAction.PATIENT_READ, patient)
    return patient


def submission_for(session: Session, actor: Any, handle: str, *,
                   need: Permission = Permission.SUBMISSION_READ) -> Submission:
    """Return the submission behind a URL handle if the actor may reach its patient; log the
    read.

    :raises NotFound: no submission has this handle.
    :raises Forbidden: outside the perimeter, or without `need` (audited).
    """
    submission = submission_to_change(session, actor, handle, need=need)
    log_read(session, actor, RecordsAction.SUBMISSION_READ, submission,
             patient=submission.patient.audit_ref, form=form_code(session, submission.form_key))
    return submission


def submission_to_change(session: Session, actor: Any, handle: str, *,
                         need: Permission = Permission.SUBMISSION_WRITE) -> Submission:
    """Return the submission behind a URL handle for a change: the checks of
    `submission_for`, no read entry (the change's own entry names the submission).

    :raises NotFound: no submission has this handle.
    :raises Forbidden: outside the perimeter, or without `need` (audited).
    """
    view = view_for(session, actor)
    submission = _by_handle(session, Submission, handle)
    if submission is None:
        raise NotFound()
    if not view.covers(submission.patient) or not view.can(need):
        raise _deny(session, actor, RecordsAction.SUBMISSION_READ, submission)
    return submission


def visible_patients(session: Session, actor: Any) -> Any:
    """Return a SELECT of the patients the actor reaches (lists and exports start here)."""
    return select(Patient).where(view_for(session, actor).patient_filter())


def _by_handle(session: Session, model: type[Any], handle: str) -> Any:
    # Handles are short URL-safe strings; anything else cannot exist.
    if not handle or len(handle) > 32:
        return None
    return session.scalar(select(model).where(model.handle == handle))
