"""Who may name which case: outside one's establishments means manual review, never an answer."""

from __future__ import annotations

import pytest

from portal.errors import BadRequest, Conflict
from portal.rights import handling, queries, services
from portal.rights.models import RequestKind, RequestState
from tests.rights.helpers import FOLLOW_UP, audit_actions, fill, install_protocol, register_patient


@pytest.fixture
def patient(db, doctor, hospital_a):  # noqa: ANN001, ANN201
    install_protocol(db)
    patient = register_patient(db, doctor, hospital_a)
    fill(db, doctor, patient, "followup", FOLLOW_UP)
    return patient


def test_a_doctor_of_the_patients_establishment_is_not_reviewed(db, doctor, patient) -> None:
    request = services.submit_request(db, doctor, kind=RequestKind.ACCESS,
                                      case_number=patient.case_number.lower())
    assert request.patient_id == patient.id
    assert request.manual_review is False
    assert request.case_reference == patient.case_number


def test_a_doctor_of_another_establishment_goes_to_manual_review(db, doctor_b, dpo,
                                                                 patient) -> None:
    request = services.submit_request(db, doctor_b, kind=RequestKind.ACCESS,
                                      case_number=patient.case_number)
    assert request.manual_review is True and request.state == RequestState.RECEIVED
    # Nothing moves until the DPO has checked: no answer, not even taking it in hand.
    with pytest.raises(Conflict, match="manual review"):
        handling.answer_access(db, dpo, request)
    with pytest.raises(Conflict, match="manual review"):
        services.start(db, dpo, request)
    assert request.answer is None
    services.clear_review(db, dpo, request, patient.case_number)
    handling.answer_access(db, dpo, request)
    assert request.state == RequestState.ANSWERED
    assert "rights:review:clear" in audit_actions(db, request)


def test_an_unknown_case_looks_the_same_to_the_submitter(db, doctor_b, dpo, patient) -> None:
    foreign = services.submit_request(db, doctor_b, kind=RequestKind.ACCESS,
                                      case_number=patient.case_number)
    unknown = services.submit_request(db, doctor_b, kind=RequestKind.ACCESS,
                                      case_number="ZZZZZZZZ")
    assert (foreign.manual_review, foreign.state) == (unknown.manual_review, unknown.state)
    assert unknown.patient_id is None
    with pytest.raises(BadRequest, match="No patient"):
        services.clear_review(db, dpo, unknown, "ZZZZZZZZ")


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
