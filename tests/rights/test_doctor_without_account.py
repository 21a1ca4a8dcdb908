"""A doctor of the patient's choice without a portal account (section 11.4): named by RPPS and
name, identified before anything is disclosed, the case linked by the DPO."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal import clock
from portal.rights.models import RequestState, RightsRequest
from tests.helpers_auth import login

#: a valid RPPS number (Luhn check digit) nobody in the portal has
RPPS = "10003456786"


@pytest.fixture
def as_dpo(app, dpo):  # noqa: ANN001, ANN201
    client = app.test_client()
    login(client, dpo)
    return client


def _letter(case_number: str, **changes: str) -> dict[str, str]:
    data = {"kind": "access", "requester_type": "patient_via_doctor", "channel": "post",
            "received_on": clock.now().date().isoformat(), "case_number": case_number,
            "doctor_rpps": RPPS, "doctor_name": "Dr Jeanne Leroy", "via_professional": "",
            "via_establishment": "", "relative_basis": "", "correspondence_ref": "L-2026-77"}
    data.update(changes)
    return data


@pytest.mark.parametrize(("changes", "message"), [
    ({"doctor_rpps": "10003456787"}, "This is not an RPPS number"),
    ({"doctor_rpps": "1000345678"}, "This is not an RPPS number"),
    ({"doctor_name": ""}, "name with their RPPS number"),
    ({"doctor_rpps": "", "doctor_name": ""}, "Name the doctor who writes for the patient"),
])
def test_the_doctor_is_named_by_a_checked_rpps_and_a_name(as_dpo, db, patient, changes,
                                                         message) -> None:
    response = as_dpo.post("/rights/dpo/record?lang=en",
                           data=_letter(patient.case_number, **changes))
    assert response.status_code == 200
    assert message in response.text
    assert db.scalars(select(RightsRequest)).all() == []


def test_nothing_is_disclosed_before_the_doctor_is_identified(as_dpo, db, patient) -> None:
    response = as_dpo.post("/rights/dpo/record", data=_letter(patient.case_number))
    assert response.status_code == 302
    request = db.scalar(select(RightsRequest))
    assert request.doctor_rpps == RPPS and request.via_professional_id is None
    assert request.state == RequestState.IDENTITY_PENDING and request.patient_id is None
    url = f"/rights/r/{request.handle}"
    page = as_dpo.get(url + "?lang=en").text
    assert "Dr Jeanne Leroy" in page and "without a portal account" in page
    assert "public directory of health professionals" in page
    refused = as_dpo.post(url + "/answer", data={})
    assert "Identity is not confirmed yet" in as_dpo.get(
        refused.headers["Location"] + "?lang=en").text
    as_dpo.post(url + "/confirm", data={})
    refused = as_dpo.post(url + "/answer", data={})
    assert "manual review" in as_dpo.get(refused.headers["Location"] + "?lang=en").text
    as_dpo.post(url + "/review", data={
        "review-case_number": patient.case_number, "review-identity_confirmed": "y",
        "review-relation_confirmed": "y"})
    answered = as_dpo.post(url + "/answer", data={})
    assert "access answer is ready" in as_dpo.get(
        answered.headers["Location"] + "?lang=en").text
    db.expire_all()
    request = db.scalar(select(RightsRequest))
    assert request.state == RequestState.ANSWERED
    # The DPO prints it for the post: the doctor has no account to read it with.
    document = as_dpo.get(url + "/answer?lang=en")
    assert document.status_code == 200 and patient.case_number in document.text


def test_an_enrolled_doctor_named_by_rpps_gets_the_answer_in_the_portal(as_dpo, db, doctor,
                                                                       patient) -> None:
    doctor.rpps = "10009998880"
    db.merge(doctor)
    db.commit()
    response = as_dpo.post("/rights/dpo/record", data=_letter(
        patient.case_number, doctor_rpps=doctor.rpps, doctor_name="Dr Martin"))
    assert response.status_code == 302
    request = db.scalar(select(RightsRequest))
    assert request.via_professional_id == doctor.id and request.doctor_rpps is None
