"""Rights requests: receiving them, the state machine and the art. 12(3) clock.

Every function takes the session and the acting person, flushes, and never commits. Every
transition writes a `RightsRequestEvent` (from, to, who, when, why) and an audit entry in the
same transaction.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from portal import clock
from portal.accounts.models import User
from portal.audit.services import Actor, record
from portal.errors import BadRequest, Conflict
from portal.identifiers import normalise_rpps
from portal.rights import deadlines, links, notify, references
from portal.rights.actions import RightsAction
from portal.rights.labels import DIRECT_WRITERS
from portal.rights.models import (
    APPLICABLE_KINDS,
    NOT_APPLICABLE_KINDS,
    TRANSITIONS,
    Channel,
    ExtensionReason,
    RefusalReason,
    RelativeBasis,
    RequesterType,
    RequestKind,
    RequestState,
    RightsRequest,
    RightsRequestEvent,
    RightsSuspension,
)

S = RequestState
#: the longest typed reference, name and contact kept (sealed) with a request
CORRESPONDENCE_REF_MAX = 64
DOCTOR_NAME_MAX = 120
CONFIRMER_MAX = 200
CONTACT_MAX = 300
#: who writes through the public form, as the audit trail names them
PUBLIC_FORM = Actor("anonymous", "public-form")
#: what a professional may ask about their own data (section 11.6; RGT-06): limitation too,
#: which the DPO grants without stopping his access to his patients' forms
SELF_KINDS = APPLICABLE_KINDS | NOT_APPLICABLE_KINDS
TRUSTED_NAME_MAX = 120
#: who may be accompanied by a trusted person (article L. 1111-6 of the public health code)
TRUSTED_REQUESTERS = frozenset({RequesterType.PATIENT_VIA_DOCTOR, RequesterType.PATIENT_DIRECT})
#: where a request's sealed details keep the trusted person
TRUSTED_KEY = "trusted_person"
#: ... and the confidentiality information a patient writing directly acknowledged
CONFIDENTIALITY_KEY = "confidentiality_read"


class TrustedPersonRefused(BadRequest):
    """What was typed about the trusted person cannot be kept as it is."""


@dataclass(frozen=True)
class TrustedPerson:
    """The patient's trusted person (L. 1111-6 CSP), who accompanies him in his request.

    Personal data: kept only in the request's sealed details, shown to the DPO. The trusted
    person never receives the answer or anything of the patient's data unless the patient
    asked for it (`receives_answer`).
    """

    name: str | None
    contact: str | None = None
    #: the patient asked that the trusted person receive the answer too
    receives_answer: bool = False


def _trusted_values(requester_type: RequesterType,
                    trusted: TrustedPerson | None) -> dict[str, Any] | None:
    """The trusted person as sealed with the request (None when nobody is named).

    :raises TrustedPersonRefused: named for another requester than the patient, without a
        name, or to receive the answer without contact details; a NIR-like or too long value.
    """
    if trusted is None:
        return None
    try:
        name = references.clean_text(trusted.name, TRUSTED_NAME_MAX)
        contact = references.clean_text(trusted.contact, CONTACT_MAX)
    except BadRequest as exc:
        raise TrustedPersonRefused(exc.message) from None
    if not (name or contact or trusted.receives_answer):
        return None
    if requester_type not in TRUSTED_REQUESTERS:
        raise TrustedPersonRefused(str(_l("Only a patient's request names a trusted person.")))
    if not name:
        raise TrustedPersonRefused(str(_l("Give the trusted person's name.")))
    if trusted.receives_answer and not contact:
        raise TrustedPersonRefused(str(_l("The patient asks that the trusted person receive "
                                          "the answer: give their contact details.")))
    return {"name": name, "contact": contact, "receives_answer": bool(trusted.receives_answer)}


def _seal_trusted(session: Session, actor: Any, request: RightsRequest,
                  values: dict[str, Any] | None) -> None:
    if values is None:
        return
    references.seal_details(session, request, {TRUSTED_KEY: values})
    record(session, actor, RightsAction.TRUSTED_PERSON_RECORD, request,
           receives_answer=values["receives_answer"])


def trusted_person(session: Session, request: RightsRequest) -> TrustedPerson | None:
    """The trusted person named on a request (for the DPO's page), or None."""
    values = references.read_details(session, request).get(TRUSTED_KEY)
    if not isinstance(values, dict):
        return None
    return TrustedPerson(values.get("name"), values.get("contact"),
                         bool(values.get("receives_answer")))


def _actor_fields(actor: Any) -> tuple[int | None, str]:
    if isinstance(actor, User):
        return actor.id, actor.login
    return getattr(actor, "id", None), str(getattr(actor, "label", "system"))


def _new_handle() -> str:
    return secrets.token_urlsafe(16)


# --- the clock -------------------------------------------------------------------------------


def suspended_days(request: RightsRequest, as_of: datetime) -> int:
    """Return the days the clock stood still for this request, up to `as_of`."""
    return deadlines.suspended_days(
        [(s.started_at, s.ended_at) for s in request.suspensions], as_of=as_of
    )


def current_due(request: RightsRequest, as_of: datetime | None = None) -> date:
    """Return the due date as of `as_of`: receipt + 1 month (+ extension) + suspended days."""
    moment = as_of or clock.now()
    return deadlines.due_date(
        request.received_at, suspended_days(request, moment), request.extension_months or 0
    )


def _refresh_due(request: RightsRequest, now: datetime) -> None:
    request.due_on = current_due(request, now)


# --- transitions -----------------------------------------------------------------------------


def _event(session: Session, actor: Any, request: RightsRequest, from_state: str | None,
           to_state: str, reason: str, now: datetime) -> None:
    actor_id, label = _actor_fields(actor)
    session.add(RightsRequestEvent(
        request=request, from_state=from_state, to_state=to_state, actor_id=actor_id,
        actor_label=label[:128], at=now, reason=reason[:40],
    ))


def check_move(request: RightsRequest, to_state: RequestState) -> None:
    """Refuse, before anything changes, a move the state machine does not allow.

    :raises Conflict: naming the current and the target state.
    """
    from_state = request.state_enum
    if to_state not in TRANSITIONS[from_state]:
        raise Conflict(str(_l("This request is %(state)s: it cannot move to %(target)s.",
                              state=state_label(from_state), target=state_label(to_state))))


def transition(session: Session, actor: Any, request: RightsRequest, to_state: RequestState,
               reason: str, now: datetime | None = None) -> None:
    """Move a request to `to_state`, recording who, when and why; refuse a skipped step.

    :raises Conflict: when the state machine does not allow the move.
    """
    now = now or clock.now()
    check_move(request, to_state)
    from_state = request.state_enum
    request.state = to_state.value
    _event(session, actor, request, from_state.value, to_state.value, reason, now)
    session.flush()
    record(session, actor, RightsAction.REQUEST_TRANSITION, request,
           from_state=from_state.value, to_state=to_state.value, reason=reason[:40])


def _create(session: Session, actor: Any, request: RightsRequest, action: RightsAction,
            now: datetime, state: RequestState = S.RECEIVED) -> RightsRequest:
    request.handle = _new_handle()
    request.state = state.value
    request.original_due_on = deadlines.due_date(request.received_at)
    request.due_on = request.original_due_on
    session.add(request)
    session.flush()
    _event(session, actor, request, None, state.value, "received", now)
    session.flush()
    record(session, actor, action, request, kind=request.kind,
           requester_type=request.requester_type, channel=request.channel,
           manual_review=request.manual_review)
    return request


def submit_request(session: Session, actor: User, *, kind: RequestKind,
                   case_number: str | None = None, for_self: bool = False,
                   trusted: TrustedPerson | None = None) -> RightsRequest:
    """Record a request a professional makes in the portal, for a patient or for themselves.

    Their professional authentication is the identity evidence (RGT-03) for a patient they
    follow: one whose record they may read now (establishment perimeter and grants, as for
    every read). Any other case number is not refused but never linked either: the request
    goes to the DPO's manual review, who links the case after confirming the patient's
    identity and that the patient chose this professional; the professional learns nothing
    about the case either way, and the typed number is kept only sealed and as a blind index.

    :param trusted: the patient's trusted person, who accompanies him (never for oneself).
    :raises BadRequest: on a missing or NIR-like case number, or a right that does not apply
        to a professional's own data.
    """
    now = clock.now()
    kind = RequestKind(kind)
    request = RightsRequest(kind=kind.value, channel=Channel.PORTAL.value, received_at=now,
                            submitted_by_id=actor.id, recorded_by_id=actor.id)
    typed: dict[str, Any] = {}
    if for_self:
        if kind not in SELF_KINDS:
            raise BadRequest(str(_l("For your own data, ask for access, rectification or "
                                    "limitation.")))
        request.requester_type = RequesterType.PROFESSIONAL_SELF.value
        request.subject_user_id = actor.id
    else:
        case_reference = references.clean_case_reference(case_number)
        request.requester_type = RequesterType.PATIENT_VIA_DOCTOR.value
        request.case_index = references.case_index(session, case_reference)
        request.patient_id = links.followed_case(session, actor, case_reference)
        request.manual_review = request.patient_id is None
        typed["case_reference"] = case_reference
    accompanying = _trusted_values(RequesterType(request.requester_type), trusted)
    _create(session, actor, request, RightsAction.REQUEST_SUBMIT, now)
    references.seal_details(session, request, typed)
    _seal_trusted(session, actor, request, accompanying)
    return request


def record_request(
    session: Session,
    actor: User,
    *,
    kind: RequestKind,
    requester_type: RequesterType,
    channel: Channel,
    received_on: date,
    case_number: str | None = None,
    via_professional: User | None = None,
    via_establishment_id: int | None = None,
    relative_basis: RelativeBasis | None = None,
    correspondence_ref: str | None = None,
    doctor_rpps: str | None = None,
    doctor_name: str | None = None,
    trusted: TrustedPerson | None = None,
) -> RightsRequest:
    """Record a request that reached the DPO by e-mail or post (RGT-04, RGT-05, section 11.4).

    A patient writing directly names the physician or centre through whom their identity is
    confirmed. A doctor of the patient's choice who has no portal account is named by RPPS
    (check digit verified) and name. Either way the request waits in "identity pending",
    clock suspended, and the case named in the letter is not linked: the DPO links it in the
    review, once identity and relation are confirmed.

    :raises BadRequest: on an inconsistent combination (portal channel, missing confirmer or
        doctor, bad RPPS, missing relative basis, receipt date in the future) or a typed
        value that holds a NIR or INS.
    """
    now = clock.now()
    kind, requester_type, channel = (RequestKind(kind), RequesterType(requester_type),
                                     Channel(channel))
    if channel in (Channel.PORTAL, Channel.WEB):
        raise BadRequest(str(_l("Requests made in the portal are submitted by the "
                                "professional themselves.")))
    if requester_type is RequesterType.PROFESSIONAL_SELF:
        raise BadRequest(str(_l("A professional asks about their own data from their portal "
                                "account.")))
    if received_on > now.date():
        raise BadRequest(str(_l("The date of receipt cannot be in the future.")))
    case_reference = references.clean_case_reference(case_number)
    ref = references.clean_text(correspondence_ref, CORRESPONDENCE_REF_MAX, reference=True)
    rpps, name = _doctor(session, doctor_rpps, doctor_name)
    if rpps and via_professional is None:
        # An enrolled doctor named by RPPS receives the answer in the portal.
        via_professional = links.rpps_user(session, rpps)
        rpps = None if via_professional is not None else rpps
    if requester_type is RequesterType.PATIENT_DIRECT and not (
        via_professional or via_establishment_id
    ):
        raise BadRequest(str(_l("Name the prescribing physician or the centre through whom "
                                "the patient's identity will be confirmed.")))
    if (requester_type is RequesterType.PATIENT_VIA_DOCTOR and via_professional is None
            and rpps is None):
        raise BadRequest(str(_l("Name the doctor who writes for the patient: their RPPS "
                                "number and name, or their portal login.")))
    if requester_type is RequesterType.RELATIVE and relative_basis is None:
        raise BadRequest(str(_l("State on what ground the relative asks.")))
    accompanying = _trusted_values(requester_type, trusted)
    # The receipt date is what the DPO read on the letter; noon UTC keeps it the same day in
    # the portal's time zone.
    received_at = now if received_on == now.date() else datetime.combine(
        received_on, time(12, 0), tzinfo=UTC)
    request = RightsRequest(
        kind=kind.value, requester_type=requester_type.value, channel=channel.value,
        received_at=received_at, recorded_by_id=actor.id,
        case_index=references.case_index(session, case_reference),
        via_professional_id=via_professional.id if via_professional else None,
        via_establishment_id=via_establishment_id, doctor_rpps=rpps,
        relative_basis=RelativeBasis(relative_basis).value
        if relative_basis and requester_type is RequesterType.RELATIVE else None,
        # What a letter says is the requester's word: the DPO links the case after checking.
        manual_review=True,
    )
    _create(session, actor, request, RightsAction.REQUEST_RECORD, now)
    references.seal_details(session, request, {
        "case_reference": case_reference, "correspondence_ref": ref,
        "doctor_name": name if rpps else None})
    _seal_trusted(session, actor, request, accompanying)
    if kind in APPLICABLE_KINDS and (requester_type is RequesterType.PATIENT_DIRECT or rpps):
        # Nothing is disclosed before the physician, centre or doctor is confirmed (11.4).
        ask_identity(session, actor, request, reason="confirm_doctor" if rpps
                     else "confirm_through_physician")
    return request


def _doctor(session: Session, rpps: str | None,
            name: str | None) -> tuple[str | None, str | None]:
    """Return the checked RPPS number and name of a doctor named in a letter (or Nones)."""
    typed = references.normalise_text(rpps)
    cleaned_name = references.clean_text(name, DOCTOR_NAME_MAX)
    if not typed:
        if cleaned_name:
            raise BadRequest(str(_l("Give the doctor's RPPS number with their name.")))
        return None, None
    checked = normalise_rpps(typed)
    if checked is None:
        raise BadRequest(str(_l("This is not an RPPS number: 11 digits, the last one a check "
                                "digit. Check it in the public directory of health "
                                "professionals.")))
    if not cleaned_name:
        raise BadRequest(str(_l("Give the doctor's name with their RPPS number.")))
    return checked, cleaned_name


def submit_public(
    session: Session,
    *,
    kind: RequestKind,
    requester_type: RequesterType,
    confirmer: str,
    contact: str,
    case_number: str | None = None,
    relative_basis: RelativeBasis | None = None,
    doctor_rpps: str | None = None,
    doctor_name: str | None = None,
    trusted: TrustedPerson | None = None,
    confidentiality_read: str | None = None,
) -> RightsRequest:
    """Record a request sent through the public form, by anyone, without an account.

    It lands "unverified": nothing is linked, nothing is disclosed, until the DPO has
    confirmed through the physician or centre named who wrote it and for which case. Every
    typed value is checked for a NIR or INS and kept only sealed.

    :param confirmer: the physician or centre following the patient, in the requester's
        words, through whom identity is confirmed.
    :param contact: where the laboratory can write back (e-mail or postal address).
    :param confidentiality_read: the confidentiality information the writer read and
        acknowledged before sending (required from a patient or a legal representative),
        kept sealed with the request.
    :raises BadRequest: on a missing or NIR-like value, a bad RPPS, a relative without basis,
        a patient who did not acknowledge the confidentiality information.
    """
    now = clock.now()
    kind, requester_type = RequestKind(kind), RequesterType(requester_type)
    if requester_type is RequesterType.PROFESSIONAL_SELF:
        raise BadRequest(str(_l("A professional asks about their own data from their portal "
                                "account.")))
    case_reference = references.clean_case_reference(case_number, required=False)
    confirmer_text = references.clean_text(confirmer, CONFIRMER_MAX)
    contact_text = references.clean_text(contact, CONTACT_MAX)
    if not confirmer_text:
        raise BadRequest(str(_l("Name the doctor or the hospital that follows the patient.")))
    if not contact_text:
        raise BadRequest(str(_l("Give an e-mail or postal address to write back to.")))
    rpps, name = _doctor(session, doctor_rpps, doctor_name)
    if requester_type is RequesterType.PATIENT_VIA_DOCTOR and rpps is None:
        raise BadRequest(str(_l("A doctor writing for a patient gives their RPPS number and "
                                "name.")))
    if requester_type is RequesterType.RELATIVE and relative_basis is None:
        raise BadRequest(str(_l("State on what ground the relative asks.")))
    accompanying = _trusted_values(requester_type, trusted)
    read = (confidentiality_read or "").strip()
    if requester_type in DIRECT_WRITERS and not read:
        raise BadRequest(str(_l("Read what writing directly means for the confidentiality of "
                                "your data, then tick the box: the request is recorded only "
                                "then.")))
    actor = PUBLIC_FORM
    request = RightsRequest(
        kind=kind.value, requester_type=requester_type.value, channel=Channel.WEB.value,
        received_at=now, case_index=references.case_index(session, case_reference),
        doctor_rpps=rpps, manual_review=True,
        relative_basis=RelativeBasis(relative_basis).value
        if relative_basis and requester_type is RequesterType.RELATIVE else None,
    )
    _create(session, actor, request, RightsAction.REQUEST_PUBLIC, now,
            state=S.UNVERIFIED)
    references.seal_details(session, request, {
        "case_reference": case_reference, "confirmer": confirmer_text,
        "contact": contact_text, "doctor_name": name,
        CONFIDENTIALITY_KEY: {"text": read, "read_at": now.isoformat()} if read else None})
    _seal_trusted(session, actor, request, accompanying)
    return request


def ask_identity(session: Session, actor: Any, request: RightsRequest,
                 reason: str = "reasonable_doubt") -> None:
    """Put a request on hold while identity is confirmed; the clock stops (art. 12(6))."""
    now = clock.now()
    transition(session, actor, request, S.IDENTITY_PENDING, reason, now)
    # The clock stops when the check is asked for; any delay before that is the controller's.
    session.add(RightsSuspension(request=request, started_at=now))
    session.flush()


def confirm_identity(session: Session, actor: User, request: RightsRequest) -> None:
    """Record that identity is confirmed; the clock runs again and the request is handled."""
    now = clock.now()
    check_move(request, S.IN_PROGRESS)
    for suspension in request.suspensions:
        if suspension.ended_at is None:
            suspension.ended_at = now
    request.identity_confirmed_at = now
    request.identity_confirmed_by_id = actor.id
    transition(session, actor, request, S.IN_PROGRESS, "identity_confirmed", now)
    _refresh_due(request, now)
    session.flush()


def start(session: Session, actor: User, request: RightsRequest) -> None:
    """Take a received request in hand."""
    if request.manual_review and request.review_cleared_at is None:
        raise Conflict(str(_l("Match the case first: this request is under manual review.")))
    transition(session, actor, request, S.IN_PROGRESS, "taken_in_hand")


def clear_review(session: Session, actor: User, request: RightsRequest, case_number: str,
                 *, identity_confirmed: bool = False, relation_confirmed: bool = False) -> None:
    """Link a request under manual review to a case, after the DPO's two checks.

    The DPO types the case number found with the physician or centre that follows the patient
    (never the one the requester gave, which the DPO only sees matched or not), and confirms
    both the patient's identity and that the requester acts for that patient (the doctor the
    patient chose, the relative, the representative). The answer goes to the requester only
    after that.

    :raises BadRequest: when a check is not confirmed, or no patient has this case number.
    :raises Conflict: when the request is not under review.
    """
    if not request.manual_review or request.review_cleared_at is not None:
        raise Conflict(str(_l("This request is not waiting for a manual review.")))
    if not request.is_open:
        raise Conflict(str(_l("This request is no longer open.")))
    if not (identity_confirmed and relation_confirmed):
        raise BadRequest(str(_l("Confirm first, with the physician or centre that follows the "
                                "patient, the patient's identity and that the requester acts "
                                "for this patient.")))
    case_reference = references.clean_case_reference(case_number)
    patient_id = links.find_case(session, case_reference)
    if patient_id is None:
        raise BadRequest(str(_l("No patient has this case number.")))
    now = clock.now()
    request.patient_id = patient_id
    request.review_cleared_at = now
    request.review_cleared_by_id = actor.id
    request.relation_confirmed_at = now
    request.relation_confirmed_by_id = actor.id
    if request.identity_confirmed_at is None:
        request.identity_confirmed_at = now
        request.identity_confirmed_by_id = actor.id
    session.flush()
    record(session, actor, RightsAction.REVIEW_CLEAR, request,
           same_case_as_typed=request.case_index is not None
           and request.case_index == references.case_index(session, case_reference))


def typed_case_matches(session: Session, request: RightsRequest,
                       case_reference: str | None) -> bool | None:
    """Tell whether the case number the requester typed is this one (None: none typed)."""
    if request.case_index is None or not case_reference:
        return None
    return request.case_index == references.case_index(session, case_reference)


def extend(session: Session, actor: User, request: RightsRequest, *, months: int,
           reason: ExtensionReason) -> None:
    """Record the one extension (up to two more months), only by the original due date.

    :raises Conflict: when already extended, in the wrong state, or recorded too late.
    """
    now = clock.now()
    reason = ExtensionReason(reason)
    if request.extension_recorded_at is not None:
        raise Conflict(str(_l("This request was already extended once.")))
    check_move(request, S.EXTENDED)
    if not 1 <= months <= deadlines.MAX_EXTENSION_MONTHS:
        raise BadRequest(str(_l("An extension is of one or two months.")))
    base_due = current_due(request, now)
    if not deadlines.can_extend(now, base_due):
        raise Conflict(str(_l("Too late to extend: the requester had to be told before the "
                              "due date of %(due)s.", due=base_due.isoformat())))
    request.extension_recorded_at = now
    request.extension_reason = reason.value
    request.extension_months = months
    request.extended_due_on = current_due(request, now)
    request.due_on = request.extended_due_on
    transition(session, actor, request, S.EXTENDED, f"extension_{reason.value}", now)
    record(session, actor, RightsAction.REQUEST_EXTEND, request, months=months,
           reason=reason.value, due_on=request.due_on.isoformat())
    notify.requester(session, actor, request, notify.Notice.EXTENDED)


def record_secrecy_check(session: Session, actor: User, request: RightsRequest) -> None:
    """Record that a relative's answer reveals nothing covered by medical secrecy (11.5)."""
    if request.requester_type != RequesterType.RELATIVE:
        raise Conflict(str(_l("Only a relative's request needs this check.")))
    if not request.is_open:
        raise Conflict(str(_l("This request is no longer open.")))
    request.secrecy_checked_at = clock.now()
    request.secrecy_checked_by_id = actor.id
    session.flush()
    record(session, actor, RightsAction.SECRECY_CHECK, request)


def check_answerable(request: RightsRequest) -> None:
    """Refuse to answer a request that is not ready: the checks each requester needs first.

    :raises Conflict: with the missing step.
    """
    if request.kind_enum not in APPLICABLE_KINDS:
        raise Conflict(str(_l("This right does not apply: answer with the refusal letter.")))
    if request.state_enum is not S.IDENTITY_PENDING:
        check_move(request, S.ANSWERED)
    if request.state_enum is S.IDENTITY_PENDING:
        raise Conflict(str(_l("Identity is not confirmed yet: nothing can be disclosed.")))
    if request.manual_review and (request.review_cleared_at is None
                                  or request.relation_confirmed_at is None):
        raise Conflict(str(_l("Match the case first: this request is under manual review.")))
    if ((request.requester_type == RequesterType.PATIENT_DIRECT or request.doctor_rpps
         or request.manual_review) and request.identity_confirmed_at is None):
        raise Conflict(str(_l("Identity is not confirmed yet: nothing can be disclosed.")))
    if (request.requester_type == RequesterType.RELATIVE
            and request.secrecy_checked_at is None):
        raise Conflict(str(_l("Record first that the answer reveals nothing covered by "
                              "medical secrecy about the patient, or refuse the request.")))
    if request.requester_type != RequesterType.PROFESSIONAL_SELF and request.patient_id is None:
        raise Conflict(str(_l("The request is not matched to a patient.")))


def mark_answered(session: Session, actor: User, request: RightsRequest, reason: str) -> None:
    """Move a request to answered (after its answer was produced)."""
    now = clock.now()
    check_move(request, S.ANSWERED)
    request.answered_at = now
    request.answered_by_id = actor.id
    transition(session, actor, request, S.ANSWERED, reason, now)


def refuse(session: Session, actor: User, request: RightsRequest, *, reason: RefusalReason,
           justification: str | None = None) -> None:
    """Refuse a request with a coded reason; the letter follows from the reason.

    :raises BadRequest: when the reason does not fit the request, or an art. 12(5) refusal
        has no written justification.
    """
    reason = RefusalReason(reason)
    check_move(request, S.REFUSED)
    justification = (justification or "").strip() or None
    if request.kind_enum in NOT_APPLICABLE_KINDS and reason is not RefusalReason.NOT_APPLICABLE:
        raise BadRequest(str(_l("Opposition, erasure and portability are answered with the "
                                "letter explaining that they do not apply.")))
    if request.kind_enum in APPLICABLE_KINDS and reason is RefusalReason.NOT_APPLICABLE:
        raise BadRequest(str(_l("This right applies: it cannot be refused as not applicable.")))
    if (reason is RefusalReason.MEDICAL_SECRECY
            and request.requester_type != RequesterType.RELATIVE):
        raise BadRequest(str(_l("The medical secrecy refusal is for relatives' requests.")))
    if reason is RefusalReason.UNFOUNDED_OR_EXCESSIVE and not justification:
        raise BadRequest(str(_l("Write why the request is manifestly unfounded or excessive.")))
    now = clock.now()
    request.refused_at = now
    request.refused_by_id = actor.id
    request.refusal_reason = reason.value
    request.refusal_justification = justification
    transition(session, actor, request, S.REFUSED, reason.value, now)
    record(session, actor, RightsAction.REFUSAL_ISSUE, request, reason=reason.value)
    notify.requester(session, actor, request, notify.Notice.REFUSED)


def close(session: Session, actor: User, request: RightsRequest) -> None:
    """Close an answered or refused request; it is then kept as evidence until purged."""
    now = clock.now()
    check_move(request, S.CLOSED)
    request.closed_at = now
    transition(session, actor, request, S.CLOSED, "closed", now)


def state_label(state: RequestState | str) -> str:
    """Return the translated name of a state."""
    from portal.rights.labels import STATE_LABELS

    return str(STATE_LABELS[RequestState(state)])
