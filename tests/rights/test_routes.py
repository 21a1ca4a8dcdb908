"""The pages: a doctor submits and follows; the DPO records, handles and answers."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal import clock
from portal.rights import services
from portal.rights.models import RequestKind, RequestState, RightsRequest
from tests.helpers_auth import login
from tests.rights.helpers import FOLLOW_UP, at


@pytest.fixture
def as_doctor(app, doctor):  # noqa: ANN001, ANN201
    client = app.test_client()
    login(client, doctor)
    return client


@pytest.fixture
def as_dpo(app, dpo):  # noqa: ANN001, ANN201
    client = app.test_client()
    login(client, dpo)
    return client


def _handle(response) -> str:  # noqa: ANN001
    match = re.search(r"/rights/r/([A-Za-z0-9_-]+)$", response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1)


def test_the_form_explains_why_three_rights_do_not_apply(as_doctor) -> None:
    page = as_doctor.get("/rights/new?lang=en")
    assert page.status_code == 200
    assert "section 11.3" in page.text
    assert "legal obligation" in page.text and "article 21" in page.text
    assert "17(3)(b)" in page.text and "article 20(1)" in page.text


def test_a_doctor_submits_for_a_patient_and_follows_the_request(as_doctor, db, patient) -> None:
    response = as_doctor.post("/rights/new", data={
        "subject": "patient", "case_number": patient.case_number, "kind": "access"})
    assert response.status_code == 302
    page = as_doctor.get(response.headers["Location"] + "?lang=en")
    assert page.status_code == 200
    assert f"Case {patient.case_number}" in page.text
    assert "received" in page.text and "Answer due by" in page.text
    assert "Handling" not in page.text  # the DPO's actions are not shown to the doctor
    listing = as_doctor.get("/rights/?lang=en")
    assert patient.case_number in listing.text
    request = db.scalar(select(RightsRequest))
    assert request.submitted_by_id is not None and request.channel == "portal"


@pytest.mark.parametrize(("data", "message"), [
    ({"subject": "patient", "case_number": "", "kind": "access"}, "Give the case number"),
    ({"subject": "patient", "case_number": "2 84 12 75 108 123 45", "kind": "access"},
     "social security number"),
    ({"subject": "patient", "case_number": "ABC"}, "Choose the right"),
])
def test_bad_input_is_shown_on_the_form(as_doctor, db, data, message) -> None:
    response = as_doctor.post("/rights/new?lang=en", data=data)
    assert response.status_code == 200
    assert message in response.text
    assert db.scalars(select(RightsRequest)).all() == []


def test_the_dpo_pages_are_refused_to_a_doctor(as_doctor, db, doctor) -> None:
    assert as_doctor.get("/rights/dpo").status_code == 403
    request = services.submit_request(db, doctor, kind=RequestKind.ACCESS, for_self=True)
    db.commit()
    assert as_doctor.post(f"/rights/r/{request.handle}/refuse",
                          data={"refuse-reason": "no_data"}).status_code == 403
    db.refresh(request)
    assert request.state == RequestState.RECEIVED


def test_another_doctors_request_is_not_found(app, db, doctor, doctor_b) -> None:
    request = services.submit_request(db, doctor, kind=RequestKind.ACCESS, for_self=True)
    db.commit()
    other = app.test_client()
    login(other, doctor_b)
    assert other.get(f"/rights/r/{request.handle}").status_code == 404
    assert other.get(f"/rights/r/{request.handle}/answer").status_code == 404


def test_the_dpo_dashboard_flags_due_soon_and_overdue(as_dpo, db, doctor) -> None:
    with clock.frozen(clock.now() - clock.timedelta(days=40)):
        late = services.submit_request(db, doctor, kind=RequestKind.ACCESS, for_self=True)
    with clock.frozen(clock.now() - clock.timedelta(days=27)):
        soon = services.submit_request(db, doctor, kind=RequestKind.RECTIFICATION,
                                       for_self=True)
    fresh = services.submit_request(db, doctor, kind=RequestKind.ERASURE, for_self=True)
    db.commit()
    page = as_dpo.get("/rights/dpo?lang=en")
    assert page.status_code == 200
    table = page.text[page.text.index('id="open-requests"'):]
    positions = [table.index(r.number) for r in (late, soon, fresh)]
    assert positions == sorted(positions)
    rows = table.split("<tr>")
    assert "Overdue" in next(r for r in rows if late.number in r)
    assert "Due within 7 days" in next(r for r in rows if soon.number in r)
    fresh_row = next(r for r in rows if fresh.number in r)
    assert "Overdue" not in fresh_row and "Due within 7 days" not in fresh_row


def test_the_dpo_answers_an_access_request_and_the_doctor_reads_it(as_dpo, as_doctor, db,
                                                                    doctor, patient) -> None:
    doctor.locale = "en"  # the answer is issued in the requesting doctor's language
    db.merge(doctor)
    db.commit()
    request = services.submit_request(db, doctor, kind=RequestKind.ACCESS,
                                      case_number=patient.case_number)
    db.commit()
    page = as_dpo.get(f"/rights/r/{request.handle}?lang=en")
    assert "Assemble and send the access answer" in page.text
    assert "Centre hospitalier Exemple" in page.text
    response = as_dpo.post(f"/rights/r/{request.handle}/answer", data={})
    assert response.status_code == 302
    db.refresh(request)
    assert request.state == RequestState.ANSWERED
    detail = as_doctor.get(f"/rights/r/{request.handle}?lang=en")
    assert "Read the access answer" in detail.text
    document = as_doctor.get(f"/rights/r/{request.handle}/answer?lang=en")
    assert document.status_code == 200
    assert document.headers["Cache-Control"] == "no-store"
    for article in ("15(1)(a)", "15(1)(b)", "15(1)(c)", "15(1)(d)", "15(1)(e)", "15(1)(f)",
                    "15(1)(g)", "15(1)(h)", "15(2)"):
        assert f"GDPR article {article}" in document.text
    assert "DUP-JE" in document.text and "40 mg" in document.text
    download = as_doctor.get(f"/rights/r/{request.handle}/answer.json")
    assert download.status_code == 200
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.get_json()["copy"]["case"]["case_number"] == patient.case_number


def test_an_erasure_request_gets_the_templated_refusal(as_dpo, as_doctor, db, doctor) -> None:
    response = as_doctor.post("/rights/new", data={"subject": "self", "kind": "erasure"})
    handle = _handle(response)
    page = as_doctor.get(f"/rights/r/{handle}?lang=en")
    assert "Why this right does not apply" in page.text and "17(3)(b)" in page.text
    response = as_dpo.post(f"/rights/r/{handle}/refuse", data={"refuse-reason": "not_applicable"})
    assert response.status_code == 302
    letter = as_doctor.get(f"/rights/r/{handle}/letter?lang=en")
    assert letter.status_code == 200
    assert "article 6(1)(c)" in letter.text and "L. 5121-12-1" in letter.text
    assert "CNIL" in letter.text and "judicial remedy" in letter.text


def test_the_dpo_records_a_letter_from_a_patient(as_dpo, db, doctor, patient) -> None:
    response = as_dpo.post("/rights/dpo/record", data={
        "kind": "access", "requester_type": "patient_direct", "channel": "post",
        "received_on": clock.now().date().isoformat(), "case_number": patient.case_number,
        "via_professional": doctor.login, "via_establishment": "", "relative_basis": "",
        "correspondence_ref": "COURRIER-2026-114"})
    assert response.status_code == 302
    request = db.scalar(select(RightsRequest))
    assert request.state == RequestState.IDENTITY_PENDING
    assert request.via_professional_id == doctor.id and request.channel == "post"
    page = as_dpo.get(f"/rights/r/{request.handle}?lang=en")
    assert "the period is suspended while identity is confirmed" in page.text
    refused = as_dpo.post(f"/rights/r/{request.handle}/answer", data={})
    follow = as_dpo.get(refused.headers["Location"] + "?lang=en")
    assert "Identity is not confirmed yet" in follow.text
    db.refresh(request)
    assert request.answer is None


def test_recording_without_a_confirmer_is_refused_on_the_form(as_dpo, db) -> None:
    response = as_dpo.post("/rights/dpo/record?lang=en", data={
        "kind": "access", "requester_type": "patient_direct", "channel": "email",
        "received_on": "2026-11-20", "case_number": "ABC123", "via_professional": "",
        "via_establishment": "", "relative_basis": ""})
    assert response.status_code == 200
    assert "Name the prescribing physician" in response.text
    assert db.scalars(select(RightsRequest)).all() == []


def test_an_extension_too_late_is_refused_with_its_reason(as_dpo, db, doctor) -> None:
    with clock.frozen(at(2026, 9, 1)):
        request = services.submit_request(db, doctor, kind=RequestKind.ACCESS, for_self=True)
    db.commit()
    response = as_dpo.post(f"/rights/r/{request.handle}/extend",
                           data={"extend-months": "2", "extend-reason": "complexity"})
    page = as_dpo.get(response.headers["Location"] + "?lang=en")
    assert "Too late to extend" in page.text
    db.refresh(request)
    assert request.state == RequestState.RECEIVED and request.extension_recorded_at is None


def test_a_rectification_request_links_to_the_forms_and_shows_its_versions(
        as_doctor, db, doctor, patient) -> None:
    from portal.records.submissions import patient_submissions, rectify_with_answers

    request = services.submit_request(db, doctor, kind=RequestKind.RECTIFICATION,
                                      case_number=patient.case_number)
    db.commit()
    (submission,) = patient_submissions(db, patient)
    page = as_doctor.get(f"/rights/r/{request.handle}?lang=en")
    assert f"/submissions/{submission.handle}/edit" in page.text
    assert "No rectified version names this request yet." in page.text
    rectify_with_answers(db, doctor, submission, {**FOLLOW_UP, "dose_mg": "20"},
                         "patient_request", submission.version, request_ref=request.number)
    db.commit()
    page = as_doctor.get(f"/rights/r/{request.handle}?lang=en")
    assert "Versions produced by this request" in page.text
    assert "Rectification requested by the patient" in page.text


def test_an_extension_is_shown_to_the_doctor_with_its_reason(as_dpo, as_doctor, db,
                                                             doctor) -> None:
    request = services.submit_request(db, doctor, kind=RequestKind.ACCESS, for_self=True)
    db.commit()
    response = as_dpo.post(f"/rights/r/{request.handle}/extend",
                           data={"extend-months": "2", "extend-reason": "number_of_requests"})
    assert response.status_code == 302
    db.refresh(request)
    page = as_doctor.get(f"/rights/r/{request.handle}?lang=en")
    assert "2 more months: The number of requests received" in page.text
    assert "extended" in page.text
    assert services.current_due(request).strftime("%Y") in page.text


def test_the_dpo_limits_then_lifts_after_telling_the_doctor(as_dpo, as_doctor, db, doctor,
                                                           patient) -> None:
    request = services.submit_request(db, doctor, kind=RequestKind.LIMITATION,
                                      case_number=patient.case_number)
    db.commit()
    url = f"/rights/r/{request.handle}"
    assert as_dpo.post(url + "/limit", data={"limit-reason": "accuracy_contested"}).status_code \
        == 302
    page = as_doctor.get(url + "?lang=en")
    assert "The patient's records are limited since" in page.text
    lifted_too_early = as_dpo.post(url + "/lift", data={})
    assert "Tell the requester first" in as_dpo.get(
        lifted_too_early.headers["Location"] + "?lang=en").text
    as_dpo.post(url + "/lift-notice", data={})
    page = as_doctor.get(url + "?lang=en")
    assert "the limitation will be lifted" in page.text
    as_dpo.post(url + "/lift", data={})
    page = as_doctor.get(url + "?lang=en")
    assert "Lifted on" in page.text
    db.refresh(patient)
    assert not patient.is_limited
