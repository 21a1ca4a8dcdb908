"""Who may name which case: outside one's establishments means manual review, never an answer."""

from __future__ import annotations

import pytest

from portal.errors import BadRequest, Conflict
from portal.rights import handling, queries, references, services
from portal.rights.models import RequestKind, RequestState
from tests.rights.helpers import audit_actions


def test_a_doctor_of_the_patients_establishment_is_not_reviewed(db, doctor, patient) -> None:
    request = services.submit_request(db, doctor, kind=RequestKind.ACCESS,
                                      case_number=patient.case_number.lower())
    assert request.patient_id == patient.id
    assert request.manual_review is False
    assert references.read_details(db, request) == {"case_reference": patient.case_number}


def test_a_doctor_of_another_establishment_gets_nothing_linked_nor_answered(
        db, doctor_b, dpo, patient) -> None:
    request = services.submit_request(db, doctor_b, kind=RequestKind.ACCESS,
                                      case_number=patient.case_number)
    # The typed number never links the case: the DPO does, after the checks.
    assert request.patient_id is None
    assert request.manual_review is True and request.state == RequestState.RECEIVED
    with pytest.raises(Conflict, match="manual review"):
        handling.answer_access(db, dpo, request)
    with pytest.raises(Conflict, match="manual review"):
        services.start(db, dpo, request)
    # The case number alone is not a review.
    with pytest.raises(BadRequest, match="identity"):
        services.clear_review(db, dpo, request, patient.case_number)
    with pytest.raises(BadRequest, match="identity"):
        services.clear_review(db, dpo, request, patient.case_number, identity_confirmed=True)
    assert request.patient_id is None and request.answer is None
    services.clear_review(db, dpo, request, patient.case_number, identity_confirmed=True,
                          relation_confirmed=True)
    assert request.patient_id == patient.id and request.relation_confirmed_at is not None
    handling.answer_access(db, dpo, request)
    assert request.state == RequestState.ANSWERED
    assert "rights:review:clear" in audit_actions(db, request)


def test_an_unknown_case_looks_the_same_to_the_submitter(db, doctor_b, dpo, patient) -> None:
    foreign = services.submit_request(db, doctor_b, kind=RequestKind.ACCESS,
                                      case_number=patient.case_number)
    unknown = services.submit_request(db, doctor_b, kind=RequestKind.ACCESS,
                                      case_number="ZZZZZZZZ")
    assert (foreign.manual_review, foreign.state, foreign.patient_id) == (
        unknown.manual_review, unknown.state, unknown.patient_id)
    with pytest.raises(BadRequest, match="No patient"):
        services.clear_review(db, dpo, unknown, "ZZZZZZZZ", identity_confirmed=True,
                              relation_confirmed=True)


def test_the_dpo_sees_whether_the_typed_case_is_the_one_found(db, doctor_b, patient) -> None:
    request = services.submit_request(db, doctor_b, kind=RequestKind.ACCESS,
                                      case_number=patient.case_number.replace("-", " "))
    assert services.typed_case_matches(db, request, patient.case_number) is True
    assert services.typed_case_matches(db, request, "ZZZZ-ZZZZ") is False


def test_a_review_can_end_in_a_refusal(db, doctor_b, dpo, patient) -> None:
    request = services.submit_request(db, doctor_b, kind=RequestKind.ACCESS,
                                      case_number=patient.case_number)
    services.refuse(db, dpo, request, reason="identity_unconfirmed")
    assert request.state == RequestState.REFUSED and request.answer is None


def test_a_doctor_sees_only_their_own_requests(db, doctor, doctor_b, patient) -> None:
    mine = services.submit_request(db, doctor, kind=RequestKind.ACCESS,
                                   case_number=patient.case_number)
    theirs = services.submit_request(db, doctor_b, kind=RequestKind.ACCESS, for_self=True)
    assert queries.requests_of(db, doctor) == [mine]
    assert queries.get_for(db, doctor, mine.handle, handling=False) is mine
    from portal.errors import NotFound

    with pytest.raises(NotFound):
        queries.get_for(db, doctor, theirs.handle, handling=False)
