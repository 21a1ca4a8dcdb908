"""The state machine: each transition recorded and audited, each constraint held by the DB."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from portal import clock
from portal.audit.models import AuditEvent
from portal.errors import BadRequest, Conflict
from portal.rights import services
from portal.rights.models import (
    TRANSITIONS,
    Channel,
    ExtensionReason,
    RefusalReason,
    RequesterType,
    RequestKind,
    RequestState,
    RightsRequest,
    RightsRequestEvent,
)
from tests.rights.helpers import audit_actions

S = RequestState


def _own(db, user, kind=RequestKind.ACCESS):  # noqa: ANN001, ANN202
    return services.submit_request(db, user, kind=kind, for_self=True)


def test_a_submission_starts_received_with_its_event_and_audit_entry(db, doctor) -> None:
    request = _own(db, doctor)
    assert request.state == S.RECEIVED
    assert request.number == f"DR-{request.id:06d}"
    (event,) = request.events
    assert (event.from_state, event.to_state, event.actor_id, event.reason) == (
        None, "received", doctor.id, "received")
    assert audit_actions(db, request) == ["rights:request:submit"]


def test_every_transition_records_from_to_who_when_why(db, doctor, dpo, test_clock) -> None:
    # Received the day before, on the same frozen clock as the moves (never on today's date).
    with clock.frozen(test_clock - timedelta(days=1)) as frozen:
        request = _own(db, doctor, RequestKind.RECTIFICATION)
        frozen.tick(timedelta(days=1))
        services.ask_identity(db, dpo, request)
        frozen.tick(timedelta(days=1))
        services.confirm_identity(db, dpo, request)
        services.extend(db, dpo, request, months=1, reason=ExtensionReason.COMPLEXITY)
        services.refuse(db, dpo, request, reason=RefusalReason.UNFOUNDED_OR_EXCESSIVE,
                        justification="Third identical request this month.")
        services.close(db, dpo, request)
    db.flush()
    events = db.scalars(select(RightsRequestEvent).where(
        RightsRequestEvent.request_id == request.id).order_by(RightsRequestEvent.id)).all()
    assert [(e.from_state, e.to_state, e.reason) for e in events] == [
        (None, "received", "received"),
        ("received", "identity_pending", "reasonable_doubt"),
        ("identity_pending", "in_progress", "identity_confirmed"),
        ("in_progress", "extended", "extension_complexity"),
        ("extended", "refused", "unfounded_or_excessive"),
        ("refused", "closed", "closed"),
    ]
    assert {e.actor_label for e in events[1:]} == {dpo.login}
    day_after = test_clock + timedelta(days=1)
    assert [e.at for e in events[1:]] == [test_clock] + [day_after] * 4
    transitions = db.scalars(select(AuditEvent).where(
        AuditEvent.action == "rights:request:transition",
        AuditEvent.target_ref == request.number).order_by(AuditEvent.seq)).all()
    assert [(t.details["from_state"], t.details["to_state"]) for t in transitions] == [
        (e.from_state, e.to_state) for e in events[1:]]
    assert all(t.actor_id == dpo.id for t in transitions)
    # The justification is written on the request, never in the audit trail.
    assert not any("identical" in str(t.details) for t in transitions)


@pytest.mark.parametrize("start", list(S))
def test_a_transition_outside_the_machine_is_refused(db, doctor, dpo, start) -> None:
    request = _own(db, doctor)
    request.state = start.value
    forbidden = [s for s in S if s not in TRANSITIONS[start]]
    for target in forbidden:
        with pytest.raises(Conflict):
            services.transition(db, dpo, request, target, "test")
        assert request.state == start.value


def test_a_closed_request_cannot_be_refused_or_extended(db, doctor, dpo) -> None:
    request = _own(db, doctor)
    services.refuse(db, dpo, request, reason=RefusalReason.NO_DATA)
    services.close(db, dpo, request)
    with pytest.raises(Conflict):
        services.refuse(db, dpo, request, reason=RefusalReason.NO_DATA)
    with pytest.raises(Conflict):
        services.extend(db, dpo, request, months=1, reason=ExtensionReason.COMPLEXITY)
    with pytest.raises(Conflict):
        services.mark_answered(db, dpo, request, "test")
    # A refused move changes nothing.
    assert request.state == S.CLOSED
    assert request.extension_recorded_at is None and request.answered_at is None
    assert [e.to_state for e in request.events] == ["received", "refused", "closed"]


def test_an_unfounded_refusal_needs_a_written_justification(db, doctor, dpo) -> None:
    request = _own(db, doctor)
    with pytest.raises(BadRequest, match="manifestly unfounded"):
        services.refuse(db, dpo, request, reason=RefusalReason.UNFOUNDED_OR_EXCESSIVE,
                        justification="   ")
    assert request.state == S.RECEIVED


@pytest.mark.parametrize("kind", [RequestKind.OPPOSITION, RequestKind.ERASURE,
                                  RequestKind.PORTABILITY])
def test_a_right_that_does_not_apply_is_refused_as_such_and_cannot_be_answered(
        db, doctor, dpo, kind) -> None:
    request = _own(db, doctor, kind)
    with pytest.raises(BadRequest):
        services.refuse(db, dpo, request, reason=RefusalReason.NO_DATA)
    with pytest.raises(Conflict, match="does not apply"):
        services.check_answerable(request)
    services.refuse(db, dpo, request, reason=RefusalReason.NOT_APPLICABLE)
    assert request.state == S.REFUSED and request.refusal_reason == "not_applicable"
    assert "rights:refusal:issue" in audit_actions(db, request)


def test_a_right_that_applies_is_not_refused_as_not_applicable(db, doctor, dpo) -> None:
    request = _own(db, doctor)
    with pytest.raises(BadRequest):
        services.refuse(db, dpo, request, reason=RefusalReason.NOT_APPLICABLE)


def test_the_medical_secrecy_refusal_is_for_relatives_only(db, doctor, dpo) -> None:
    request = _own(db, doctor)
    with pytest.raises(BadRequest, match="relatives"):
        services.refuse(db, dpo, request, reason=RefusalReason.MEDICAL_SECRECY)


def test_a_professional_may_ask_the_limitation_of_their_own_data(db, doctor) -> None:
    request = services.submit_request(db, doctor, kind=RequestKind.LIMITATION, for_self=True)
    assert request.requester_type == RequesterType.PROFESSIONAL_SELF
    assert request.subject_user_id == doctor.id and request.patient_id is None


@pytest.mark.parametrize("typed", ["1 85 05 78 006 084 36", "185057800608436", ""])
def test_a_case_number_that_looks_like_a_nir_or_is_empty_is_refused(db, doctor, typed) -> None:
    with pytest.raises(BadRequest):
        services.submit_request(db, doctor, kind=RequestKind.ACCESS, case_number=typed)
    assert db.scalars(select(RightsRequest)).all() == []


def test_the_dpo_cannot_record_a_direct_request_without_its_confirmer(db, dpo) -> None:
    with pytest.raises(BadRequest, match="prescribing physician"):
        services.record_request(db, dpo, kind=RequestKind.ACCESS,
                                requester_type=RequesterType.PATIENT_DIRECT,
                                channel=Channel.POST, received_on=date(2026, 11, 20),
                                case_number="C-1")
    with pytest.raises(BadRequest, match="future"):
        services.record_request(db, dpo, kind=RequestKind.ACCESS,
                                requester_type=RequesterType.LEGAL_REPRESENTATIVE,
                                channel=Channel.POST,
                                received_on=clock.now().date() + timedelta(days=2),
                                case_number="C-1")


# --- the same rules, held by the database itself ---------------------------------------------

def _row(**changes: object) -> dict[str, object]:
    now = datetime(2026, 1, 10, 9, tzinfo=UTC)
    row: dict[str, object] = {
        "handle": "h-" + str(abs(hash(tuple(sorted(changes)))) % 10**12),
        "kind": "access", "requester_type": "relative", "channel": "post",
        "state": "received", "case_index": "ab" * 32, "relative_basis": "affected_person",
        "received_at": now, "original_due_on": date(2026, 2, 10),
        "due_on": date(2026, 2, 10), "manual_review": False, "created_at": now,
    }
    row.update(changes)
    return row


LATER = datetime(2026, 1, 20, tzinfo=UTC)

VIOLATIONS = {
    "unknown state": {"state": "lost"},
    "unknown kind": {"kind": "deletion"},
    "unknown channel": {"channel": "fax"},
    "answered without time": {"state": "answered"},
    "extended without extension": {"state": "extended"},
    "extension of 3 months": {"state": "extended", "extension_recorded_at": LATER,
                              "extension_reason": "complexity", "extension_months": 3,
                              "extended_due_on": date(2026, 5, 10)},
    "extension without reason": {"state": "extended", "extension_recorded_at": LATER,
                                 "extension_months": 1, "extended_due_on": date(2026, 3, 10)},
    "refused without reason": {"state": "refused", "refused_at": LATER},
    "unfounded without justification": {"state": "refused", "refused_at": LATER,
                                        "refusal_reason": "unfounded_or_excessive"},
    "closed without outcome": {"state": "closed", "closed_at": LATER},
    "answered and refused": {"state": "answered", "answered_at": LATER, "refused_at": LATER,
                             "secrecy_checked_at": LATER},
    "relative answered without secrecy check": {"state": "answered", "answered_at": LATER},
    "opposition answered": {"kind": "opposition", "state": "answered", "answered_at": LATER,
                            "secrecy_checked_at": LATER},
    "relative without basis": {"relative_basis": None},
    "direct without confirmer": {"requester_type": "patient_direct", "relative_basis": None},
    "direct answered before confirmation": {
        "requester_type": "patient_direct", "relative_basis": None, "via_establishment_id": 1,
        "state": "answered", "answered_at": LATER},
    "no subject": {"case_index": None},
    "portal without submitter": {"channel": "portal"},
    "review not cleared before answer": {"manual_review": True, "state": "answered",
                                         "answered_at": LATER, "secrecy_checked_at": LATER},
    "review cleared without the relation confirmed": {
        "manual_review": True, "state": "answered", "answered_at": LATER,
        "secrecy_checked_at": LATER, "review_cleared_at": LATER,
        "identity_confirmed_at": LATER},
    "review cleared without the identity confirmed": {
        "manual_review": True, "state": "answered", "answered_at": LATER,
        "secrecy_checked_at": LATER, "review_cleared_at": LATER,
        "relation_confirmed_at": LATER},
    "doctor without account answered before confirmation": {
        "requester_type": "patient_via_doctor", "relative_basis": None,
        "doctor_rpps": "10003456786", "state": "answered", "answered_at": LATER},
    "public form row in an unknown channel": {"channel": "webform"},
    "due before the original": {"due_on": date(2026, 2, 1)},
    "lifted without notice": {"kind": "limitation", "limitation_applied_at": LATER,
                              "limitation_lifted_at": LATER},
    "limitation on an access request": {"limitation_applied_at": LATER},
}


def test_the_valid_row_used_below_is_accepted(db, hospital_a) -> None:
    db.execute(insert(RightsRequest.__table__).values(**_row()))
    db.execute(insert(RightsRequest.__table__).values(**_row(
        state="answered", answered_at=LATER, secrecy_checked_at=LATER)))
    db.execute(insert(RightsRequest.__table__).values(**_row(
        requester_type="patient_direct", relative_basis=None, via_establishment_id=hospital_a.id,
        state="answered", answered_at=LATER, identity_confirmed_at=LATER)))
    # The public form: unverified, no case number, the confirmer only in the sealed details.
    db.execute(insert(RightsRequest.__table__).values(**_row(
        requester_type="patient_direct", relative_basis=None, channel="web", case_index=None,
        state="unverified", manual_review=True)))
    db.execute(insert(RightsRequest.__table__).values(**_row(
        manual_review=True, state="answered", answered_at=LATER, secrecy_checked_at=LATER,
        review_cleared_at=LATER, identity_confirmed_at=LATER, relation_confirmed_at=LATER)))
    db.flush()
    assert len(db.scalars(select(RightsRequest)).all()) == 5


@pytest.mark.parametrize("case", sorted(VIOLATIONS))
def test_a_raw_insert_breaking_a_rule_is_refused_by_the_database(db, hospital_a, case) -> None:
    changes = dict(VIOLATIONS[case])
    if changes.get("via_establishment_id") == 1:
        changes["via_establishment_id"] = hospital_a.id
    with pytest.raises(IntegrityError):
        db.execute(insert(RightsRequest.__table__).values(**_row(**changes)))
        db.flush()
    db.rollback()
