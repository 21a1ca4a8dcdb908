"""Filling forms: drafts, validation, double submission, rectification, conflicts, limitation."""

from __future__ import annotations

import re
import threading

import pytest
import requests
from sqlalchemy import delete, func, select

from portal.audit.models import AuditEvent
from portal.notices.models import NoticeVersion
from portal.records import refusals, submissions
from portal.records.form_codes import form_code
from portal.records.models import Submission, SubmissionRevision
from tests.helpers_auth import login
from tests.records import helpers
from tests.servers import threaded

TOKEN = re.compile(r'name="token"[^>]*value="([^"]+)"')
VERSION = re.compile(r'name="version"[^>]*value="([^"]*)"')


def _open(client, path):  # noqa: ANN001, ANN202
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    page = response.get_data(as_text=True)
    version = VERSION.search(page)
    return page, TOKEN.search(page).group(1), version.group(1) if version else ""


def _post(client, path, answers, form_key, db, **control):  # noqa: ANN001, ANN202
    _page, token, version = _open(client, path)
    data = helpers.form_data(answers, form_key, db)
    data.update({"token": token, "version": version, "action": "submit", **control})
    return client.post(path, data=data)


def _count(db, model=Submission) -> int:  # noqa: ANN001
    db.expire_all()
    return db.scalar(select(func.count()).select_from(model))


def _audits(db, action: str) -> list[AuditEvent]:  # noqa: ANN001
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_draft_saved_then_resumed_and_submitted(db, client, prescriber, patient):
    login(client, prescriber)
    path = f"/patients/{patient.handle}/forms/initiation"
    _page, token, _version = _open(client, path)
    response = client.post(path, data={"token": token, "action": "draft",
                                       "f_dose_value": helpers.DISTINCTIVE["dose"],
                                       "f_indication": "IND-2", "f_unknown_input": "x"})
    assert response.status_code == 303
    draft = db.scalar(select(Submission))
    assert draft.status == "draft"
    assert submissions.read_draft(db, prescriber, draft) == {
        "f_dose_value": [helpers.DISTINCTIVE["dose"]], "f_indication": ["IND-2"]}
    page, _token, version = _open(client, response.headers["Location"])
    assert helpers.DISTINCTIVE["dose"] in page and 'value="IND-2" checked' in page
    # The patient page links to the draft; opening the form again resumes it.
    assert client.get(path).headers["Location"].endswith(f"/submissions/{draft.handle}/edit")
    response = _post(client, f"/submissions/{draft.handle}/edit", helpers.initiation_answers(),
                     "initiation", db)
    assert response.status_code == 303
    db.expire_all()
    assert _count(db) == 1
    submitted = db.scalar(select(Submission))
    assert submitted.status == "submitted" and submitted.revision_number == 1
    assert submissions.read_answers(db, prescriber, submitted)["dose_value"] == \
        helpers.DISTINCTIVE["dose"]


def test_submitting_validates_everything(db, client, prescriber, patient):
    login(client, prescriber)
    answers = helpers.initiation_answers()
    del answers["start_date"]
    answers["baseline_efficacy_score"] = 250
    response = _post(client, f"/patients/{patient.handle}/forms/initiation", answers,
                     "initiation", db)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "This field is required." in page
    assert _count(db) == 0


def test_the_same_request_twice_stores_one_submission(db, client, prescriber, patient):
    login(client, prescriber)
    path = f"/patients/{patient.handle}/forms/initiation"
    _page, token, _version = _open(client, path)
    data = helpers.form_data(helpers.initiation_answers(), "initiation", db)
    data.update(token=token, action="submit")
    first = client.post(path, data=data)
    again = client.post(path, data=data)
    assert first.status_code == again.status_code == 303
    assert first.headers["Location"] == again.headers["Location"]
    assert _count(db) == 1
    assert len(_audits(db, "records:submission:create")) == 1


def _requests_session(client, base: str) -> requests.Session:  # noqa: ANN001
    name = client.application.config["SESSION_COOKIE_NAME"]
    cookie = client.get_cookie(name)
    assert cookie is not None
    web = requests.Session()
    web.cookies.set(name, cookie.value, domain="127.0.0.1", path="/")
    return web


def test_a_double_click_stores_one_submission(app, db, client, prescriber, patient):
    login(client, prescriber)
    path = f"/patients/{patient.handle}/forms/follow_up"
    helpers.submit(db, prescriber, patient, "initiation")
    _page, token, _version = _open(client, path)
    data = helpers.form_data(helpers.follow_up_answers(), "follow_up", db)
    data.update(token=token, action="submit")
    with threaded(app) as base:
        webs = [_requests_session(client, base) for _ in range(6)]
        barrier = threading.Barrier(len(webs))
        statuses: list[int] = []

        def post(web: requests.Session) -> None:
            barrier.wait()
            answer = web.post(base + path, data=data, allow_redirects=False, timeout=30)
            statuses.append(answer.status_code)

        threads = [threading.Thread(target=post, args=(web,)) for web in webs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert statuses == [303] * len(webs)
    follow_ups = db.scalars(select(Submission).where(Submission.form_key == "follow_up")).all()
    assert len(follow_ups) == 1
    assert len([e for e in _audits(db, "records:submission:create")
                if e.details["form"] == form_code(db, "follow_up")]) == 1


def test_a_form_that_exists_once_is_not_filled_twice(db, client, prescriber, patient):
    existing = helpers.submit(db, prescriber, patient, "initiation")
    login(client, prescriber)
    path = f"/patients/{patient.handle}/forms/initiation"
    assert client.get(path).headers["Location"].endswith(f"/submissions/{existing.handle}")
    with pytest.raises(submissions.AlreadyFilled):
        helpers.submit(db, prescriber, patient, "initiation")


def test_rectification_needs_a_reason_and_keeps_the_history(db, client, prescriber, patient):
    original = helpers.submit(db, prescriber, patient, "initiation")
    login(client, prescriber)
    path = f"/submissions/{original.handle}/edit"
    page, _token, _version = _open(client, path)
    assert "Reason for the change" in page and helpers.DISTINCTIVE["dose"] in page
    changed = helpers.initiation_answers()
    changed["dose_value"] = "250.0"
    response = _post(client, path, changed, "initiation", db)
    assert response.status_code == 422
    assert "Choose the reason for the change." in response.get_data(as_text=True)
    response = _post(client, path, changed, "initiation", db, reason="transcription_error")
    assert response.status_code == 303
    db.expire_all()
    submission = db.get(Submission, original.id)
    assert submission.revision_number == 2
    assert submissions.read_answers(db, prescriber, submission)["dose_value"] == "250.0"
    assert submissions.read_answers(db, prescriber, submission, 1)["dose_value"] == \
        helpers.DISTINCTIVE["dose"]
    history = client.get(f"/submissions/{original.handle}/history").get_data(as_text=True)
    assert "Transcription error" in history and prescriber.login in history
    assert "Dose" in history and "250.0" in history and helpers.DISTINCTIVE["dose"] in history
    entry = _audits(db, "records:submission:rectify")[0]
    assert entry.details == {"patient": patient.reference,
                             "form": form_code(db, "initiation"),
                             "revision": 2, "reason": "transcription_error", "changed": 1,
                             "request": None}


def test_rectification_with_nothing_changed_is_refused(db, client, prescriber, patient):
    original = helpers.submit(db, prescriber, patient, "initiation")
    login(client, prescriber)
    stored = submissions.read_answers(db, prescriber, original)
    response = _post(client, f"/submissions/{original.handle}/edit", stored, "initiation", db,
                     reason="data_query")
    assert response.status_code == 422
    assert "Nothing was changed." in response.get_data(as_text=True)
    db.expire_all()
    assert db.get(Submission, original.id).revision_number == 1


def test_rectification_from_a_rights_request_is_linked(db, prescriber, patient):
    original = helpers.submit(db, prescriber, patient, "initiation")
    changed = helpers.initiation_answers()
    changed["disease_severity"] = "moderate"
    submissions.rectify_with_answers(db, prescriber, original, changed, "patient_request",
                                     original.version, request_ref="DR-000012")
    db.commit()
    revision = db.scalar(select(SubmissionRevision).where(SubmissionRevision.number == 2))
    assert revision.request_ref == "DR-000012" and revision.reason == "patient_request"
    bad = dict(changed, disease_severity="extreme")
    with pytest.raises(submissions.InvalidAnswers) as refused:
        submissions.rectify_with_answers(db, prescriber, original, bad, "patient_request",
                                         db.get(Submission, original.id).version)
    assert "disease_severity" in refused.value.errors


def test_the_second_editor_gets_a_conflict_and_loses_nothing(app, db, client, prescriber,
                                                             patient, site_a):
    colleague = helpers.professional(db, "a.petit", site_a)
    original = helpers.submit(db, prescriber, patient, "initiation")
    other = app.test_client()
    login(client, prescriber)
    login(other, colleague)
    path = f"/submissions/{original.handle}/edit"
    _p, first_token, first_version = _open(client, path)
    _p, second_token, second_version = _open(other, path)
    assert first_version == second_version
    mine = helpers.initiation_answers()
    mine["dose_value"] = "300.0"
    theirs = helpers.initiation_answers()
    theirs["dose_value"] = "456.7"
    data = helpers.form_data(mine, "initiation", db)
    data.update(token=first_token, version=first_version, action="submit", reason="data_query")
    assert client.post(path, data=data).status_code == 303
    data = helpers.form_data(theirs, "initiation", db)
    data.update(token=second_token, version=second_version, action="submit",
                reason="source_document")
    response = other.post(path, data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Someone else changed this form" in page
    assert 'value="456.7"' in page  # their input, shown again
    assert "300.0" in page  # what is stored now
    db.expire_all()
    submission = db.get(Submission, original.id)
    assert submission.revision_number == 2
    assert submissions.read_answers(db, prescriber, submission)["dose_value"] == "300.0"
    assert len(_audits(db, "records:submission:conflict")) == 1
    # Re-submitting from the conflict page (it carries the new version) applies the change.
    data.update(token=TOKEN.search(page).group(1), version=VERSION.search(page).group(1))
    assert other.post(path, data=data).status_code == 303
    db.expire_all()
    assert submissions.read_answers(db, prescriber, db.get(Submission, original.id))[
        "dose_value"] == "456.7"


def test_limited_patient_is_frozen_until_the_dpo_lifts_it(db, client, app, prescriber, patient,
                                                          dpo):
    original = helpers.submit(db, prescriber, patient, "initiation")
    login(client, prescriber)
    refused = client.post(f"/patients/{patient.handle}/limit",
                          data={"reason": "accuracy_contested"})
    assert refused.status_code == 403
    officer = app.test_client()
    login(officer, dpo)
    response = officer.post(f"/patients/{patient.handle}/limit",
                            data={"reason": "accuracy_contested", "request_ref": "DR-000007"})
    assert response.status_code == 303
    page = client.get(f"/patients/{patient.handle}").get_data(as_text=True)
    assert "Records limited" in page and "contests the accuracy" in page
    assert "Fill a form" not in page
    response = client.get(f"/patients/{patient.handle}/forms/follow_up")
    assert response.status_code == 303
    response = _post_raw(client, f"/patients/{patient.handle}/forms/follow_up")
    assert response.status_code == 303
    assert _count(db) == 1
    assert client.get(f"/submissions/{original.handle}/edit").status_code == 303
    db.expire_all()
    with pytest.raises(refusals.PatientLimited):
        helpers.submit(db, prescriber, db.get(type(patient), patient.id), "follow_up")
    db.rollback()
    assert officer.post(f"/patients/{patient.handle}/lift", data={}).status_code == 303
    assert "Fill a form" in client.get(f"/patients/{patient.handle}").get_data(as_text=True)
    actions = [e.action for e in db.scalars(select(AuditEvent).order_by(AuditEvent.seq))]
    assert "records:patient:limit" in actions and "records:patient:lift_limitation" in actions


def _post_raw(client, path):  # noqa: ANN001, ANN202
    return client.post(path, data={"token": "x" * 32, "action": "submit"})


def test_initiation_records_the_information_note_version(db, prescriber, patient):
    submitted = helpers.submit(db, prescriber, patient, "initiation")
    assert submitted.revisions[0].notice_version == "1"
    created = _audits(db, "records:submission:create")[0]
    assert created.details["notice_version"] == "1"


def test_initiation_refused_without_a_published_information_note(db, prescriber, patient):
    db.execute(delete(NoticeVersion).where(NoticeVersion.audience == "patient"))
    db.commit()
    with pytest.raises(refusals.FieldError, match="No patient information note"):
        helpers.submit(db, prescriber, patient, "initiation")


def test_adverse_event_opened_from_a_follow_up(db, client, prescriber, patient, site_a):
    helpers.submit(db, prescriber, patient, "initiation")
    follow_up = helpers.submit(db, prescriber, patient, "follow_up")
    login(client, prescriber)
    page = client.get(f"/submissions/{follow_up.handle}").get_data(as_text=True)
    link = f"/patients/{patient.handle}/forms/adverse_event?after={follow_up.handle}"
    assert link.replace("?", "?") in page.replace("&amp;", "&")
    response = _post(client, link, helpers.adverse_event_answers(), "adverse_event", db,
                     parent=follow_up.handle)
    assert response.status_code == 303
    event = db.scalar(select(Submission).where(Submission.form_key == "adverse_event"))
    assert event.parent_id == follow_up.id
    other = helpers.register(db, prescriber, site_a, surname_letters="Oth")
    assert client.get(f"/patients/{other.handle}/forms/adverse_event?after="
                      f"{follow_up.handle}").status_code == 404


def test_nir_in_a_protocol_field_is_refused_without_logging_it(db, client, prescriber, patient):
    login(client, prescriber)
    answers = helpers.access_answers()
    answers["aac_ansm_ref"] = "2 90 12 2A 004 123 67"
    response = _post(client, f"/patients/{patient.handle}/forms/access", answers, "access", db)
    assert response.status_code == 422
    assert "social security number" in response.get_data(as_text=True)
    assert _count(db) == 0
    refused = _audits(db, "records:identifier:refuse")
    assert [e.details["field"] for e in refused] == ["f_aac_ansm_ref"]
    assert "004" not in str(refused[0].details)


def test_two_people_starting_the_same_single_form(app, db, client, prescriber, patient,
                                                  site_a):
    colleague = helpers.professional(db, "a.petit", site_a)
    other = app.test_client()
    login(client, prescriber)
    login(other, colleague)
    path = f"/patients/{patient.handle}/forms/initiation"
    _p, mine, _v = _open(client, path)
    _p, theirs, _v = _open(other, path)
    data = helpers.form_data(helpers.initiation_answers(), "initiation", db)
    assert client.post(path, data=dict(data, token=mine, action="submit")).status_code == 303
    changed = dict(data, f_disease_severity="moderate", token=theirs, action="submit")
    response = other.post(path, data=changed)
    page = response.get_data(as_text=True)
    assert response.status_code == 409 and 'value="moderate" checked' in page
    existing = db.scalar(select(Submission))
    assert f'action="/submissions/{existing.handle}/edit"' in page
    assert _count(db) == 1
    # Their input goes to the form that now exists, as a change with a reason.
    resend = dict(changed, token=TOKEN.search(page).group(1),
                  version=VERSION.search(page).group(1), reason="source_document")
    assert other.post(f"/submissions/{existing.handle}/edit", data=resend).status_code == 303
    db.expire_all()
    assert submissions.read_answers(db, prescriber, existing)["disease_severity"] == "moderate"


def test_a_nir_typed_as_request_number_is_refused(db, app, patient, dpo):
    officer = app.test_client()
    login(officer, dpo)
    response = officer.post(f"/patients/{patient.handle}/limit",
                            data={"reason": "accuracy_contested",
                                  "request_ref": "185057800608491"})
    assert response.status_code == 303
    page = officer.get(response.headers["Location"]).get_data(as_text=True)
    assert "social security number" in page and "Records limited" not in page
    refused = _audits(db, "records:identifier:refuse")
    assert [e.details for e in refused] == [{"field": "request_ref", "context": "limitation"}]
