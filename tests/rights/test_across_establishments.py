"""A professional gets nothing of another establishment's patient through a rights request,
unless the DPO has confirmed the patient's identity and that the patient chose them."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.rights.models import RequestState, RightsRequest
from tests.helpers_auth import login
from tests.rights.helpers import FOLLOW_UP, fill, install_protocol, register_patient


@pytest.fixture
def patients(db, doctor, doctor_b, hospital_a, hospital_b):  # noqa: ANN001, ANN201
    install_protocol(db)
    patient_a = register_patient(db, doctor, hospital_a, letters=("DUP", "JE"))
    fill(db, doctor, patient_a, "followup", FOLLOW_UP)
    patient_b = register_patient(db, doctor_b, hospital_b, letters=("BER", "LU"))
    fill(db, doctor_b, patient_b, "followup", {**FOLLOW_UP, "dose_mg": "80"})
    return {"a": patient_a, "b": patient_b}


@pytest.fixture
def clients(app, doctor, doctor_b, dpo):  # noqa: ANN001, ANN201
    made = {}
    for name, user in (("a", doctor), ("b", doctor_b), ("dpo", dpo)):
        made[name] = app.test_client()
        login(made[name], user)
    return made


#: (who asks, whose patient): both directions
DIRECTIONS = [("b", "a"), ("a", "b")]


def _submit(client, case_number: str) -> str:  # noqa: ANN001
    response = client.post("/rights/new", data={"subject": "patient",
                                                "case_number": case_number, "kind": "access"})
    assert response.status_code == 302
    match = re.search(r"/rights/r/([A-Za-z0-9_-]+)$", response.headers["Location"])
    assert match
    return match.group(1)


def _flash_after(client, response) -> str:  # noqa: ANN001
    return client.get(response.headers["Location"] + "?lang=en").text


@pytest.mark.parametrize(("asker", "owner"), DIRECTIONS)
def test_the_case_number_alone_gets_nothing(db, clients, patients, asker, owner) -> None:
    patient = patients[owner]
    handle = _submit(clients[asker], patient.case_number)
    request = db.scalar(select(RightsRequest).where(RightsRequest.handle == handle))
    assert request.patient_id is None and request.manual_review
    # The requester's page says nothing of the case.
    page = clients[asker].get(f"/rights/r/{handle}?lang=en").text
    assert patient.case_number not in page and "Centre hospitalier" not in page \
        and "Clinique" not in page
    # The DPO's review that only repeats the case number does not link it.
    dpo = clients["dpo"]
    review = dpo.post(f"/rights/r/{handle}/review",
                      data={"review-case_number": patient.case_number})
    assert "Confirm first" in _flash_after(dpo, review)
    for step in ("start", "answer"):
        refused = dpo.post(f"/rights/r/{handle}/{step}", data={})
        assert "manual review" in _flash_after(dpo, refused)
    db.expire_all()
    request = db.scalar(select(RightsRequest).where(RightsRequest.handle == handle))
    assert request.patient_id is None and request.answer is None
    assert request.state == RequestState.RECEIVED
    for path in ("answer", "answer.json"):
        assert clients[asker].get(f"/rights/r/{handle}/{path}").status_code == 404


@pytest.mark.parametrize(("asker", "owner"), DIRECTIONS)
def test_the_doctor_of_the_patients_choice_gets_the_answer_once_both_are_confirmed(
        db, clients, patients, asker, owner) -> None:
    patient = patients[owner]
    handle = _submit(clients[asker], patient.case_number)
    dpo = clients["dpo"]
    page = dpo.get(f"/rights/r/{handle}?lang=en").text
    assert "Manual review" in page and patient.case_number in page  # what was typed
    half = dpo.post(f"/rights/r/{handle}/review", data={
        "review-case_number": patient.case_number, "review-identity_confirmed": "y"})
    assert "Confirm first" in _flash_after(dpo, half)
    assert clients[asker].get(f"/rights/r/{handle}/answer.json").status_code == 404
    done = dpo.post(f"/rights/r/{handle}/review", data={
        "review-case_number": patient.case_number, "review-identity_confirmed": "y",
        "review-relation_confirmed": "y"})
    assert "matched to the case" in _flash_after(dpo, done)
    assert dpo.post(f"/rights/r/{handle}/start", data={}).status_code == 302
    answered = dpo.post(f"/rights/r/{handle}/answer", data={})
    assert "access answer is ready" in _flash_after(dpo, answered)
    download = clients[asker].get(f"/rights/r/{handle}/answer.json")
    assert download.status_code == 200
    case = download.get_json()["copy"]["case"]
    assert case["case_number"] == patient.case_number
    identity = case["identity"]
    assert identity["identification_letters"] and identity["birth"] == "1971-04"
    assert identity["height_cm"] == 166 and identity["weight_kg"] == "64.5"
    assert len(download.get_json()["copy"]["submissions"]) == 1


def test_a_patient_one_follows_is_answered_without_review(db, clients, patients) -> None:
    handle = _submit(clients["a"], patients["a"].case_number.lower())
    dpo = clients["dpo"]
    dpo.post(f"/rights/r/{handle}/start", data={})
    dpo.post(f"/rights/r/{handle}/answer", data={})
    download = clients["a"].get(f"/rights/r/{handle}/answer.json")
    assert download.status_code == 200
    assert download.get_json()["copy"]["case"]["case_number"] == patients["a"].case_number
    # The other establishment's doctor cannot read it.
    assert clients["b"].get(f"/rights/r/{handle}/answer.json").status_code == 404


def test_the_answer_stops_when_the_patient_leaves_the_perimeter(db, patients, doctor, dpo,
                                                               hospital_b) -> None:
    from portal.access import services as access
    from portal.access.models import AccessGrant, Scope
    from portal.errors import NotFound
    from portal.permissions import Role
    from portal.rights import answers, handling, services
    from tests.helpers_auth import CLI, grant_role

    request = services.submit_request(db, doctor, kind="access",
                                      case_number=patients["a"].case_number)
    handling.answer_access(db, dpo, request)
    db.commit()
    assert answers.disclose(db, doctor, request, fmt="json")["copy"]["case"]
    # The doctor moves to the other establishment: their grant there, the old one withdrawn.
    old = db.scalars(select(AccessGrant).where(AccessGrant.user_id == doctor.id)).all()
    access.add_member(db, CLI, doctor, hospital_b)
    grant_role(db, doctor, Role.PRESCRIBER, scope=Scope.IDENTIFYING, establishments=(hospital_b,))
    for grant in old:
        access.withdraw_grant(db, CLI, grant, reason="no_longer_needed")
    db.commit()
    with pytest.raises(NotFound):
        answers.disclose(db, doctor, request, fmt="json")
