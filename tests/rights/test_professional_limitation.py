"""A professional's limitation of his own data (issue 24, 11.2): granted by the DPO without
stopping his access to his patients' forms; the notice for professionals says so."""

from __future__ import annotations

from sqlalchemy import select

from portal.access.models import AccessGrant, GrantStatus
from portal.notices.catalog import Audience
from portal.rights import handling, services
from portal.rights.models import RequestKind, RequestState, RightsRequest
from tests.helpers_auth import login, mail_body, outbox
from tests.notices.conftest import publish_notice
from tests.rights.helpers import FOLLOW_UP, audit_actions, fill


def test_the_dpo_grants_a_professionals_limitation_and_his_access_goes_on(
        app, db, doctor, dpo, patient) -> None:  # noqa: ANN001
    request = services.submit_request(db, doctor, kind=RequestKind.LIMITATION, for_self=True)
    db.commit()
    assert handling.professional_limited(db, doctor.id) is None
    handling.apply_limitation(db, dpo, request, "accuracy_contested")
    db.commit()
    assert request.state == RequestState.ANSWERED
    assert handling.professional_limited(db, doctor.id) == request
    assert "rights:limitation:apply" in audit_actions(db, request)
    # His access to his patients' forms goes on: grants unchanged, a form filled, the
    # patient's own records not limited.
    grants = db.scalars(select(AccessGrant).where(AccessGrant.user_id == doctor.id)).all()
    assert grants and all(g.status == GrantStatus.ACTIVE for g in grants)
    fill(db, doctor, patient, "followup", {**FOLLOW_UP, "visit_date": "2026-11-20"})
    db.commit()
    db.refresh(patient)
    assert not patient.is_limited
    # He is told by mail; the lifting follows art. 18(3) as for a patient.
    assert any(message["To"] == doctor.email and request.number in mail_body(message)
               for message in outbox(app))
    handling.notify_lift(db, dpo, request)
    handling.lift_limitation(db, dpo, request)
    db.commit()
    assert handling.professional_limited(db, doctor.id) is None


def test_the_dpo_limits_a_professionals_data_from_the_request_page(
        app, db, client, doctor, dpo, patient) -> None:  # noqa: ANN001
    as_doctor = app.test_client()
    login(as_doctor, doctor)
    response = as_doctor.post("/rights/new?lang=en", data={"subject": "self",
                                                           "kind": "limitation"})
    assert response.status_code == 302
    request = db.scalar(select(RightsRequest).where(RightsRequest.subject_user_id == doctor.id))
    login(client, dpo)
    page = client.get(f"/rights/r/{request.handle}?lang=en").get_data(as_text=True)
    assert "access to his patients' forms go on unchanged" in page
    assert "The professional contests the accuracy of his data" in page
    response = client.post(f"/rights/r/{request.handle}/limit?lang=en",
                           data={"limit-reason": "accuracy_contested"})
    assert response.status_code == 302
    db.refresh(request)
    assert request.limitation_applied_at is not None
    # The doctor still reaches his patient's page.
    assert as_doctor.get(f"/patients/{patient.handle}").status_code == 200


def test_the_notice_for_professionals_says_the_limitation_keeps_their_access(db) -> None:  # noqa: ANN001
    version = publish_notice(db, Audience.PROFESSIONAL)
    assert "without stopping your access" in version.body_en
    assert "sans interrompre votre accès" in version.body_fr
    # Only the professionals' notice: the patients' says nothing of it.
    patients = publish_notice(db, Audience.PATIENT)
    assert "without stopping your access" not in patients.body_en
