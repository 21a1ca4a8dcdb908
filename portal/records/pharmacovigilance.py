"""The pharmacovigilance hand-off: what is new since a person's last visit, what is handed off.

The portal is not a pharmacovigilance database: an adverse-event or pregnancy form is read
here, then handed off to the laboratory's pharmacovigilance system, and the portal records
only that hand-off (who, when, which revision). A rectified form is to hand off again.

A serious adverse event (an adverse-event form whose `serious` question is answered yes, see
`forms/put-sp-demo.yaml`, when submitted or rectified from not serious) is queued in the
outbox with the submission, for every person holding a valid pharmacovigilance grant that
reaches the patient's protocol; the audit entry of each mail is written when it is sent. The
mail names the case number and nothing of the event: the details are read in the portal,
where the read is logged.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, has_app_context
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import clock
from portal.access.models import AccessGrant, GrantStatus
from portal.access.policy import valid_grants
from portal.accounts.models import User
from portal.audit.services import SYSTEM, actor_fields, record
from portal.db import app_of
from portal.errors import Forbidden
from portal.keys import KeyRing
from portal.outbox.services import enqueue
from portal.permissions import Role
from portal.protocols.schema import FormKind
from portal.records.actions import RecordsAction
from portal.records.models import EventHandOff, EventListVisit, Patient, Submission
from portal.records.versions import protocol_of
from portal.sealing import blind_index, ring_of

#: the forms pharmacovigilance reviews and hands off
EVENT_KINDS = frozenset({FormKind.adverse_event, FormKind.pregnancy, FormKind.exposure})

log = logging.getLogger(__name__)

#: the yes/no question of an adverse-event form that declares it serious
SERIOUS_FIELD = "serious"
#: two looks at the list closer than this are one visit: the "new" marks stay meanwhile
VISIT_GAP = timedelta(hours=1)

MAIL_SUBJECT = _l("Serious adverse event recorded")
MAIL_BODY = _l("A serious adverse event was recorded for case %(case)s. See the portal:")


def is_serious(kind: FormKind, answers: dict[str, Any]) -> bool:
    """Tell whether submitted answers declare a serious adverse event."""
    return kind == FormKind.adverse_event and answers.get(SERIOUS_FIELD) == "yes"


def holds_pharmacovigilance(session: Session, actor: Any) -> bool:
    """Tell whether the actor holds a valid pharmacovigilance grant now."""
    if not isinstance(actor, User):
        return False
    return any(g.role == Role.PHARMACOVIGILANCE for g in valid_grants(session, actor))


# --- hand-off --------------------------------------------------------------------------------


#: the keyed code naming an event form outside the submission table (hand-offs, audit)
EVENT_REF_PREFIX = "ev1_"
_EVENT_REF_INDEX = b"aac-portal/bidx/event-ref/v1"


def event_ref(session: Session, submission_id: int) -> str:
    """Return the opaque code of a submission as the hand-offs and their audit entries name it.

    Without the key, nothing links a hand-off (or a serious-event mail) to a submission or a
    patient; with it, the portal finds the hand-off of the forms it shows.
    """
    return event_ref_under(ring_of(session), submission_id)


def event_ref_under(ring: KeyRing, submission_id: int) -> str:
    """`event_ref` under a given key ring (the migration that introduced the codes)."""
    digest = blind_index(ring, _EVENT_REF_INDEX, f"submission|{submission_id}".encode())
    return EVENT_REF_PREFIX + digest[:32]


def hand_offs_of(session: Session, submissions: list[Submission]) -> dict[int, EventHandOff]:
    """Return submission id → the hand-off of its current revision, for those handed off."""
    if not submissions:
        return {}
    by_ref = {event_ref(session, s.id): s for s in submissions}
    found: dict[int, EventHandOff] = {}
    for hand_off in session.scalars(select(EventHandOff).where(
            EventHandOff.event_ref.in_(sorted(by_ref)))):
        submission = by_ref[hand_off.event_ref]
        if submission.revision_number == hand_off.revision_number:
            found[submission.id] = hand_off
    return found


def hand_offs_of_ids(session: Session, submission_ids: list[int]) -> list[EventHandOff]:
    """Every hand-off of these submissions, whatever the revision (archive, purge)."""
    refs = sorted(event_ref(session, i) for i in submission_ids)
    if not refs:
        return []
    return list(session.scalars(select(EventHandOff).where(EventHandOff.event_ref.in_(refs))))


def hand_off(session: Session, actor: Any, submission: Submission) -> EventHandOff:
    """Record that the current revision of an event form went to pharmacovigilance (audited).

    Handing off twice the same revision changes nothing and returns the first hand-off.
    :raises Forbidden: the actor holds no pharmacovigilance grant, or the form is no event.
    """
    if not holds_pharmacovigilance(session, actor):
        raise Forbidden(_("Only pharmacovigilance hands events off."))
    kind = protocol_of(submission.protocol_version).definition.form(submission.form_key).kind
    if submission.is_draft or kind not in EVENT_KINDS:
        raise Forbidden(_("Only submitted adverse-event and pregnancy forms are handed off."))
    existing = hand_offs_of(session, [submission]).get(submission.id)
    if existing is not None:
        return existing
    _kind, user_id, label = actor_fields(actor)
    ref = event_ref(session, submission.id)
    done = EventHandOff(event_ref=ref, revision_number=submission.revision_number,
                        handed_off_at=clock.now(), handed_off_by_id=user_id,
                        handed_off_by_label=label[:128])
    session.add(done)
    session.flush()
    # Named by its opaque code only: neither the submission, its form nor its patient.
    record(session, actor, RecordsAction.EVENT_HAND_OFF, ("event", ref),
           revision=submission.revision_number)
    return done


# --- last visit ------------------------------------------------------------------------------


def visit(session: Session, actor: Any) -> datetime | None:
    """Note that the actor looks at the list now; return since when rows count as new.

    None: the person never looked before (every row is new). Looks closer than VISIT_GAP
    belong to one visit, so handing off an event does not clear the other marks.
    """
    if not isinstance(actor, User):
        return None
    now = clock.now()
    seen = session.get(EventListVisit, actor.id)
    if seen is None:
        session.add(EventListVisit(user_id=actor.id, seen_at=now, previous_seen_at=None))
        session.flush()
        return None
    if now - seen.seen_at >= VISIT_GAP:
        seen.previous_seen_at = seen.seen_at
    seen.seen_at = now
    session.flush()
    return seen.previous_seen_at


def previous_visit(session: Session, actor: Any) -> datetime | None:
    """Since when rows count as new on the next pages of a visit (which do not move it)."""
    if not isinstance(actor, User):
        return None
    seen = session.get(EventListVisit, actor.id)
    return seen.previous_seen_at if seen is not None else None


# --- the serious-event mail ------------------------------------------------------------------


def recipients(session: Session, patient: Patient) -> list[User]:
    """The people holding a valid pharmacovigilance grant that reaches the patient's protocol."""
    now = clock.now()
    users = session.scalars(
        select(User).join(AccessGrant, AccessGrant.user_id == User.id).where(
            AccessGrant.role == Role.PHARMACOVIGILANCE.value,
            AccessGrant.status == GrantStatus.ACTIVE,
            AccessGrant.valid_from <= now, AccessGrant.valid_until >= now,
            (AccessGrant.protocol_key.is_(None))
            | (AccessGrant.protocol_key == patient.protocol_key),
            User.disabled_at.is_(None),
        ).distinct().order_by(User.id)
    ).all()
    return [u for u in users if u.email]


def _compose(app: Flask, user: User, case_number: str) -> tuple[str, str]:
    link = f"{app.config['BASE_URL'].rstrip('/')}/pharmacovigilance"

    def render() -> tuple[str, str]:
        with force_locale(user.locale or app.config["BABEL_DEFAULT_LOCALE"]):
            return str(MAIL_SUBJECT), f"{MAIL_BODY % {'case': case_number}}\n\n{link}\n"

    if has_app_context():
        return render()
    with app.app_context():
        return render()


#: the outbox hook that writes the serious-event mail's audit entry once it left (issue 26)
MAIL_SENT_HOOK = "records.serious_event_mail"


def notify_serious(session: Session, actor: Any, submission: Submission) -> int:
    """Queue a mail to every pharmacovigilance person that a serious event was recorded.

    Returns how many mails were queued. They are queued in the outbox in the submission's
    transaction (gone if it rolls back); the sender writes each mail's audit entry when it
    actually sent it, or a failure entry when it gave it up (`mail_outcome`).
    """
    patient = submission.patient
    people = recipients(session, patient)
    ref = event_ref(session, submission.id)
    if not people:
        log.warning("a serious adverse event was recorded but nobody holds pharmacovigilance")
        record(session, actor, RecordsAction.SERIOUS_EVENT_MAIL, ("event", ref),
               outcome="failure", recipients=0)
    app = app_of(session)
    for user in people:
        subject, body = _compose(app, user, patient.case_number)
        enqueue(session, user.email, subject, body, kind="serious_event",
                on_outcome=MAIL_SENT_HOOK,
                outcome_args={"event": ref, "recipient": user.audit_ref})
    return len(people)


def mail_outcome(session: Session, message: Any, sent: bool, args: dict[str, Any]) -> None:
    """The sender's hook: the audit entry of one serious-event mail, once its fate is known."""
    record(session, SYSTEM, RecordsAction.SERIOUS_EVENT_MAIL, ("event", args["event"]),
           outcome="success" if sent else "failure", recipient=args["recipient"],
           attempts=message.attempts)
