"""The patient's trusted person (article L. 1111-6 CSP) on a rights request (issue 24, 11.1):
recorded sealed, shown to the DPO, never a recipient of the patient's data unless he asks."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal import clock
from portal.audit.models import AuditEvent
from portal.errors import BadRequest
from portal.rights import answers, handling, services
from portal.rights.models import (
    Channel,
    RequesterType,
    RequestKind,
    RightsRequest,
    RightsRequestDetails,
)
from portal.rights.services import TrustedPerson
from tests.helpers_auth import login, outbox

NAME = "Odile Vasseur-Trusted"
CONTACT = "odile.vasseur@example.org"


def _with_trusted(db, doctor, patient, **extra):  # noqa: ANN001, ANN003, ANN202
    request = services.submit_request(
        db, doctor, kind=RequestKind.ACCESS, case_number=patient.case_number,
        trusted=TrustedPerson(NAME, CONTACT, **extra))
    db.commit()
    return request


def test_a_trusted_person_is_recorded_sealed_and_never_mailed_the_answer(
        app, db, client, doctor, dpo, patient) -> None:  # noqa: ANN001
    request = _with_trusted(db, doctor, patient)
    found = services.trusted_person(db, request)
    assert found == TrustedPerson(NAME, CONTACT, False)
    # Sealed: neither the details row nor the trail holds the name or the address in clear.
    details = db.scalar(select(RightsRequestDetails).where(
        RightsRequestDetails.request_id == request.id))
    assert NAME.encode() not in details.payload and CONTACT.encode() not in details.payload
    for entry in db.scalars(select(AuditEvent)):
        assert NAME not in str(entry.details) and CONTACT not in str(entry.details)
    entry = db.scalar(select(AuditEvent).where(
        AuditEvent.action == "rights:trusted_person:record"))
    assert entry is not None and entry.details["receives_answer"] is False
    # Shown to the DPO, with what it means.
    login(client, dpo)
    page = client.get(f"/rights/r/{request.handle}?lang=en").get_data(as_text=True)
    assert NAME in page and CONTACT in page
    assert "receives nothing of his data" in page
    # The answer goes to the requesting doctor only: no mail, no disclosure to the trusted
    # person.
    handling.answer_access(db, dpo, request)
    db.commit()
    messages = outbox(app)
    recipients = {message["To"] for message in messages}
    assert doctor.email in recipients
    assert not any(CONTACT in str(message["To"]) or CONTACT in str(message) for message in messages)
    document = answers.disclose(db, doctor, request, fmt="json")
    assert NAME not in str(document) and CONTACT not in str(document)


def test_the_dpo_sees_when_the_patient_asks_that_the_trusted_person_receive_the_answer(
        app, db, client, doctor, dpo, patient) -> None:  # noqa: ANN001
    request = _with_trusted(db, doctor, patient, receives_answer=True)
    assert services.trusted_person(db, request).receives_answer is True
    login(client, dpo)
    page = client.get(f"/rights/r/{request.handle}?lang=en").get_data(as_text=True)
    assert "asked that the trusted person receive the answer too" in page


@pytest.mark.parametrize(("trusted", "message"), [
    (TrustedPerson("", CONTACT), "trusted person's name"),
    (TrustedPerson(NAME, "", receives_answer=True), "give their contact details"),
    (TrustedPerson("1 85 05 78 006 084 36"), "social security number"),
    (TrustedPerson("x" * 121), "At most"),
])
def test_a_trusted_person_needs_a_name_and_contact_details_to_receive_the_answer(
        db, doctor, patient, trusted, message) -> None:  # noqa: ANN001
    with pytest.raises(services.TrustedPersonRefused, match=message):
        services.submit_request(db, doctor, kind=RequestKind.ACCESS,
                                case_number=patient.case_number, trusted=trusted)


def test_only_a_patient_is_accompanied_by_a_trusted_person(db, doctor, dpo) -> None:  # noqa: ANN001
    with pytest.raises(services.TrustedPersonRefused, match="Only a patient"):
        services.submit_request(db, doctor, kind=RequestKind.ACCESS, for_self=True,
                                trusted=TrustedPerson(NAME))
    with pytest.raises(BadRequest, match="Only a patient"):
        services.record_request(db, dpo, kind=RequestKind.ACCESS,
                                requester_type=RequesterType.RELATIVE, channel=Channel.POST,
                                received_on=clock.now().date(), case_number="7K3M-9QXA",
                                relative_basis="affected_person", trusted=TrustedPerson(NAME))
    assert db.scalars(select(RightsRequest)).all() == []


def test_the_forms_record_the_trusted_person(app, db, client, doctor, dpo, patient) -> None:  # noqa: ANN001
    login(client, doctor)
    response = client.post("/rights/new?lang=en", data={
        "subject": "patient", "case_number": patient.case_number, "kind": "access",
        "trusted_name": NAME, "trusted_contact": CONTACT})
    assert response.status_code == 302
    request = db.scalar(select(RightsRequest))
    assert services.trusted_person(db, request) == TrustedPerson(NAME, CONTACT, False)
    # A bad value is shown on the trusted person's field; nothing is recorded.
    response = client.post("/rights/new?lang=en", data={
        "subject": "patient", "case_number": patient.case_number, "kind": "access",
        "trusted_contact": CONTACT, "trusted_copy": "y"})
    assert response.status_code == 200 and "trusted person&#39;s name" in response.text
    assert len(db.scalars(select(RightsRequest)).all()) == 1
    # The public form too.
    anonymous = app.test_client()
    response = anonymous.post("/rights/ask?lang=en", data={
        "requester_type": "patient_direct", "kind": "access", "confirmer": "Dr Martin, CH",
        "contact": "patient@example.org", "trusted_name": NAME, "trusted_contact": CONTACT,
        "confidentiality_read": "y"})
    assert response.status_code == 200 and "Your request is recorded" in response.text
    public = db.scalar(select(RightsRequest).where(RightsRequest.channel == "web"))
    assert services.trusted_person(db, public).name == NAME
