"""The public page: how to make a request, and a form that needs no account."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.errors import BadRequest
from portal.rights import references, services
from portal.rights.models import RequesterType, RequestKind, RequestState, RightsRequest
from tests.helpers_auth import login
from tests.rights.helpers import FOLLOW_UP, fill, install_protocol, register_patient


def _form(**changes: str) -> dict[str, str]:
    data = {"requester_type": "patient_direct", "kind": "access", "relative_basis": "",
            "case_number": "", "confirmer": "Dr Martin, Centre hospitalier Exemple",
            "doctor_rpps": "", "doctor_name": "", "contact": "p.lambert@example.org",
            "confidentiality_read": "y"}
    data.update(changes)
    return data


def test_the_page_explains_how_to_ask_and_what_writing_directly_means(client) -> None:  # noqa: ANN001
    page = client.get("/rights/ask?lang=en")
    assert page.status_code == 200
    assert "How to make a request" in page.text
    assert "ask the doctor who treats you" in page.text
    confidentiality = page.text[page.text.index('id="confidentiality"'):]
    assert "they will know that you made this request" in confidentiality
    assert "kept encrypted with the request and deleted with it" in confidentiality
    assert "section 11.3" in page.text
    assert 'name="contact"' in page.text and 'name="case_number"' in page.text
    # Nothing more than needed: no name, no birth date, no free text.
    for absent in ('name="first_name"', 'name="birth', "<textarea"):
        assert absent not in page.text


def test_a_request_without_an_account_gets_a_receipt_and_lands_unverified(app, client, db,
                                                                          dpo) -> None:  # noqa: ANN001
    response = client.post("/rights/ask?lang=en", data=_form(case_number="qx4k 7mwp"))
    assert response.status_code == 200
    request = db.scalar(select(RightsRequest))
    assert f"Receipt number: {request.number}" in response.text
    assert request.state == RequestState.UNVERIFIED and request.channel == "web"
    assert request.patient_id is None and request.submitted_by_id is None
    details = references.read_details(db, request)
    read = details.pop(services.CONFIDENTIALITY_KEY)
    assert details == {
        "case_reference": "QX4K-7MWP", "confirmer": "Dr Martin, Centre hospitalier Exemple",
        "contact": "p.lambert@example.org"}
    assert "they will know that you made this request" in read["text"]
    as_dpo = app.test_client()
    login(as_dpo, dpo)
    inbox = as_dpo.get("/rights/dpo?lang=en").text
    row = next(r for r in inbox.split("<tr>") if request.number in r)
    assert "unverified" in row and "Public request form" in row
    page = as_dpo.get(f"/rights/r/{request.handle}?lang=en").text
    assert "p.lambert@example.org" in page and "Dr Martin, Centre hospitalier Exemple" in page


def test_an_unverified_request_discloses_nothing_until_the_dpo_has_checked(app, client, db,
                                                                          doctor, dpo,
                                                                          hospital_a) -> None:  # noqa: ANN001
    from portal.errors import Conflict
    from portal.rights import handling

    install_protocol(db)
    patient = register_patient(db, doctor, hospital_a)
    fill(db, doctor, patient, "followup", FOLLOW_UP)
    client.post("/rights/ask", data=_form(case_number=patient.case_number))
    request = db.scalar(select(RightsRequest))
    assert request.patient_id is None  # the typed number links nothing
    for step in (services.start, handling.answer_access):
        with pytest.raises(Conflict):
            step(db, dpo, request)
    db.rollback()
    services.ask_identity(db, dpo, request, reason="confirm_through_physician")
    services.confirm_identity(db, dpo, request)
    services.clear_review(db, dpo, request, patient.case_number, identity_confirmed=True,
                          relation_confirmed=True)
    handling.answer_access(db, dpo, request)
    assert request.state == RequestState.ANSWERED


@pytest.mark.parametrize(("changes", "message"), [
    ({"contact": "185057800608491"}, "social security number"),
    ({"contact": "".join(chr(ord(c) + 0xFEE0) for c in "185057800608491")},
     "social security number"),
    ({"confirmer": "Dr X \u200b1\u200b85\u200b05\u200b78\u200b006\u200b084\u200b91"},
     "social security number"),
    ({"case_number": "1/85/05/78/006/084/91"}, "social security number"),
    ({"contact": ""}, "Give an e-mail or postal address"),
    ({"confirmer": ""}, "Name the doctor or the hospital"),
    ({"requester_type": "relative"}, "State on what ground the relative asks"),
    ({"requester_type": "patient_via_doctor"}, "gives their RPPS number and name"),
    ({"requester_type": "professional_self"}, "Not a valid choice"),
    ({"contact": "x" * 301}, "300"),
])
def test_bad_input_is_refused_with_its_reason_and_nothing_kept(client, db, changes,  # noqa: ANN001
                                                               message) -> None:
    response = client.post("/rights/ask?lang=en", data=_form(**changes))
    assert response.status_code == 200
    assert message in response.text
    assert "Receipt number" not in response.text
    assert db.scalars(select(RightsRequest)).all() == []


def test_the_form_is_rate_limited(client, db) -> None:  # noqa: ANN001
    for _ in range(5):
        assert client.post("/rights/ask", data=_form()).status_code == 200
    assert client.post("/rights/ask", data=_form()).status_code == 429
    assert len(db.scalars(select(RightsRequest)).all()) == 5
    # Reading the page stays possible.
    assert client.get("/rights/ask").status_code == 200


def test_the_form_is_size_limited(client, db) -> None:  # noqa: ANN001
    response = client.post("/rights/ask?lang=en", data=_form(padding="x" * 20_000))
    assert response.status_code == 413
    assert db.scalars(select(RightsRequest)).all() == []


def test_the_doctors_page_points_to_the_public_page(app, doctor) -> None:  # noqa: ANN001
    client = app.test_client()
    login(client, doctor)
    assert 'href="/rights/ask"' in client.get("/rights/?lang=en").text


def test_a_patient_writing_directly_acknowledges_the_confidentiality_text_first(
        app, client, db) -> None:  # noqa: ANN001
    # Not ticked: the form says why, nothing is recorded.
    response = client.post("/rights/ask?lang=en", data=_form(confidentiality_read=""))
    assert response.status_code == 200 and "then tick the box" in response.text
    assert db.scalars(select(RightsRequest)).all() == []
    # The service refuses it too, whoever calls it.
    with pytest.raises(BadRequest, match="confidentiality"):
        services.submit_public(db, kind=RequestKind.ACCESS,
                               requester_type=RequesterType.PATIENT_DIRECT,
                               confirmer="Dr Martin", contact="p.lambert@example.org")
    db.rollback()
    # Ticked, in French: the receipt repeats the text, the request keeps it as it was read.
    response = client.post("/rights/ask?lang=fr", data=_form())
    assert response.status_code == 200
    receipt = response.text[response.text.index('id="receipt"'):]
    assert "ils sauront que vous avez fait cette demande" in receipt
    request = db.scalar(select(RightsRequest))
    kept = references.read_details(db, request)[services.CONFIDENTIALITY_KEY]
    assert "ils sauront que vous avez fait cette demande" in kept["text"]
    assert kept["read_at"].startswith(request.received_at.date().isoformat())
    # A relative is not asked for it (the text is about the patient's own confidentiality).
    relative = anonymous_post(app, _form(requester_type="relative",
                                         relative_basis="affected_person",
                                         confidentiality_read=""))
    assert relative.status_code == 200 and "Receipt number" in relative.text


def anonymous_post(app, data: dict[str, str]):  # noqa: ANN001, ANN201
    return app.test_client().post("/rights/ask?lang=en", data=data)
