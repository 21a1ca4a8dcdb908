"""The access answer: every art. 15 item, every field of the patient's forms, sealed, logged."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import select

from portal import clock
from portal.audit.models import AuditEvent
from portal.errors import Conflict
from portal.rights import answers, handling, services
from portal.rights.models import (
    Channel,
    RefusalReason,
    RequesterType,
    RequestKind,
    RequestState,
    RightsAnswer,
)
from portal.sealing import IntegrityCheckFailed, canonical_json
from tests.rights.helpers import (
    FOLLOW_UP,
    PREGNANCY,
    audit_actions,
    fill,
)

ART15 = ["15(1)(a)", "15(1)(b)", "15(1)(c)", "15(1)(d)", "15(1)(e)", "15(1)(f)", "15(1)(g)",
         "15(1)(h)", "15(2)"]


@pytest.fixture
def patient(patient, db, doctor):  # noqa: ANN001, ANN201
    """The rights tests' patient, with a second follow-up and a pregnancy form too."""
    fill(db, doctor, patient, "followup", {**FOLLOW_UP, "visit_date": "2026-11-02",
                                           "ecog": "2", "dose_mg": "80", "adverse_event": "yes"})
    fill(db, doctor, patient, "pregnancy", PREGNANCY)
    return patient


def _answered(db, doctor, dpo, patient):  # noqa: ANN001, ANN202
    request = services.submit_request(db, doctor, kind=RequestKind.ACCESS,
                                      case_number=patient.case_number)
    handling.answer_access(db, dpo, request)
    db.commit()
    return request


def test_the_answer_holds_every_article_15_item(db, doctor, dpo, patient) -> None:
    request = _answered(db, doctor, dpo, patient)
    document = answers.disclose(db, doctor, request, fmt="json")
    assert [item["article"] for item in document["information"]] == ART15
    for item in document["information"]:
        assert item["heading"] and item["text"], item["key"]
    by_key = {item["key"]: item["text"] for item in document["information"]}
    assert "CNIL" in by_key["complaint"]
    assert "Centre hospitalier Exemple" in by_key["source"]
    assert doctor.full_name in by_key["source"]
    assert document["controller"]["name"]
    assert document["confirmation"] and patient.case_number in document["confirmation"]
    assert request.state == RequestState.ANSWERED and request.answered_by_id == dpo.id


def test_the_answer_holds_every_field_of_every_submitted_form(db, doctor, dpo, patient) -> None:
    doctor.locale = "en"  # the answer is written in the recipient's language
    request = _answered(db, doctor, dpo, patient)
    document = answers.disclose(db, doctor, request, fmt="json")
    assert document["language"] == "en"
    copy = document["copy"]
    assert copy["case"]["case_number"] == patient.case_number
    assert copy["case"]["identity"] == {
        "identification_letters": "DUP-JE", "sex": "F", "birth": "1971-04",
        "weight_kg": "64.5", "height_cm": 166}
    forms = copy["submissions"]
    assert [f["form"] for f in forms] == ["followup", "followup", "pregnancy"]
    first, second, pregnancy = (
        {fld["key"]: fld["value"] for s in f["sections"] for fld in s["fields"]} for f in forms)
    # Labels, codes as read, units: every field, as the doctor entered it.
    assert first == {"visit_date": "2026-10-05", "ecog": "Restricted activity",
                     "dose_mg": "40 mg", "adverse_event": "No"}
    assert second == {"visit_date": "2026-11-02", "ecog": "Ambulatory", "dose_mg": "80 mg",
                      "adverse_event": "Yes"}
    assert pregnancy == {"exposed_person": "The partner of a male patient",
                         "exposure_ga_weeks": "12 SA/GW"}
    labels = {fld["key"]: fld["label"] for s in forms[0]["sections"] for fld in s["fields"]}
    assert labels["dose_mg"] == "Daily dose"
    assert forms[0]["answers"]["dose_mg"] == 40
    assert forms[0]["history"][0]["by"] == doctor.full_name


def test_the_answer_is_stored_sealed_and_each_disclosure_is_logged(db, doctor, dpo, patient,
                                                                   app) -> None:
    request = _answered(db, doctor, dpo, patient)
    stored = db.scalar(select(RightsAnswer).where(RightsAnswer.request_id == request.id))
    assert stored is not None
    assert b"DUP-JE" not in stored.payload and b"Restricted" not in stored.payload
    answers.disclose(db, doctor, request, fmt="html")
    answers.disclose(db, doctor, request, fmt="json")
    db.commit()
    assert audit_actions(db, request).count("rights:answer:disclose") == 2
    assert "rights:answer:assemble" in audit_actions(db, request)
    # The decryption for the answer is logged on the patient too.
    reads = db.scalars(select(AuditEvent).where(
        AuditEvent.action == "records:patient:read", AuditEvent.target_ref == patient.reference,
        AuditEvent.actor_id == dpo.id)).all()
    assert any(event.details.get("purpose") == "rights_request" for event in reads)
    assert stored.first_disclosed_at is not None
    # The digest proves which answer was sent.
    document = answers.open_answer(db, stored)
    assert hashlib.sha256(canonical_json(document)).hexdigest() == stored.digest


def test_an_answer_moved_to_another_request_does_not_decrypt(db, doctor, dpo, patient) -> None:
    first = _answered(db, doctor, dpo, patient)
    second = services.submit_request(db, doctor, kind=RequestKind.ACCESS,
                                     case_number=patient.case_number)
    handling.answer_access(db, dpo, second)
    db.commit()
    a, b = first.answer, second.answer
    a.payload, b.payload = b.payload, a.payload
    with pytest.raises(IntegrityCheckFailed):
        answers.open_answer(db, a)


def test_a_request_cannot_be_answered_twice(db, doctor, dpo, patient) -> None:
    request = _answered(db, doctor, dpo, patient)
    with pytest.raises(Conflict):
        handling.answer_access(db, dpo, request)


def test_a_relatives_answer_needs_the_secrecy_check_and_holds_only_exposure_forms(
        db, doctor, dpo, patient) -> None:
    request = services.record_request(
        db, dpo, kind=RequestKind.ACCESS, requester_type=RequesterType.RELATIVE,
        channel=Channel.POST, received_on=request_day(), case_number=patient.case_number,
        relative_basis="affected_person", via_professional=doctor)
    services.clear_review(db, dpo, request, patient.case_number, identity_confirmed=True,
                          relation_confirmed=True)
    with pytest.raises(Conflict, match="medical secrecy"):
        handling.answer_access(db, dpo, request)
    assert request.answer is None
    services.record_secrecy_check(db, dpo, request)
    handling.answer_access(db, dpo, request)
    document = answers.disclose(db, doctor, request, fmt="json")
    assert [f["form"] for f in document["copy"]["submissions"]] == ["pregnancy"]
    assert "rights:secrecy:check" in audit_actions(db, request)


def test_a_relatives_request_can_be_refused_for_medical_secrecy(db, doctor, dpo, patient) -> None:
    request = services.record_request(
        db, dpo, kind=RequestKind.ACCESS, requester_type=RequesterType.RELATIVE,
        channel=Channel.EMAIL, received_on=request_day(), case_number=patient.case_number,
        relative_basis="causes_of_death")
    services.refuse(db, dpo, request, reason=RefusalReason.MEDICAL_SECRECY)
    letter = answers.refusal_letter(db, request)
    assert letter["reason"] == "medical_secrecy"
    assert request.answer is None


def test_nothing_is_disclosed_to_a_patient_writing_directly_before_confirmation(
        db, doctor, dpo, patient) -> None:
    request = services.record_request(
        db, dpo, kind=RequestKind.ACCESS, requester_type=RequesterType.PATIENT_DIRECT,
        channel=Channel.POST, received_on=request_day(), case_number=patient.case_number,
        via_professional=doctor)
    assert request.state == RequestState.IDENTITY_PENDING
    with pytest.raises(Conflict, match="Identity"):
        handling.answer_access(db, dpo, request)
    assert request.answer is None
    services.confirm_identity(db, dpo, request)
    # The case is the letter's word until the DPO links it, with both checks.
    with pytest.raises(Conflict, match="manual review"):
        handling.answer_access(db, dpo, request)
    services.clear_review(db, dpo, request, patient.case_number, identity_confirmed=True,
                          relation_confirmed=True)
    handling.answer_access(db, dpo, request)
    # The answer goes to the physician who confirmed the identity.
    assert answers.disclose(db, doctor, request, fmt="json")["copy"]["case"]["case_number"] == \
        patient.case_number


def test_a_professional_gets_their_own_data_without_patient_content(db, doctor, dpo,
                                                                   patient) -> None:
    request = services.submit_request(db, doctor, kind=RequestKind.ACCESS, for_self=True)
    handling.answer_access(db, dpo, request)
    document = answers.disclose(db, doctor, request, fmt="json")
    copy = document["copy"]
    assert copy["profile"]["login"] == "dr.martin"
    assert copy["profile"]["email"] == doctor.email
    assert [e["name"] for e in copy["establishments"]] == ["Centre hospitalier Exemple"]
    assert [f["form"] for f in copy["forms"]] == ["followup", "followup", "pregnancy"]
    text = json.dumps(document)
    assert "DUP-JE" not in text and "Restricted activity" not in text
    assert [item["article"] for item in document["information"]] == ART15


def request_day():  # noqa: ANN201
    return clock.now().date()
