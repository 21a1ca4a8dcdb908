"""The controller's staff record the ANSM decisions on a patient's AAC through a page."""

from __future__ import annotations

from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.permissions import Role
from portal.retention import services
from tests.helpers_auth import login
from tests.records import helpers as records


def _staff_client(app, db):  # noqa: ANN001, ANN202
    client = app.test_client()
    login(client, records.lab_person(db, "p.responsable", Role.PHARMACIST_IN_CHARGE))
    return client


def _post(client, **fields: str):  # noqa: ANN001, ANN202
    return client.post("/retention/aac", data=fields)


def test_the_staff_record_a_grant_a_renewal_and_a_withdrawal_each_audited(
        app, db, prescriber, site_a) -> None:
    patient = records.register(db, prescriber, site_a)
    client = _staff_client(app, db)
    assert client.get("/retention/aac").status_code == 200
    granted = _post(client, case_number=patient.case_number.lower(), kind="granted",
                    decision_date="2027-01-10", end_date="2028-01-09",
                    evidence_reference="ANSM-AAC-2027-0042")
    assert granted.status_code == 200
    assert "The decision is recorded." in granted.get_data(as_text=True)
    renewed = _post(client, case_number=patient.case_number, kind="renewed",
                    decision_date="2028-01-05", end_date="2029-01-04",
                    evidence_reference="ANSM-AAC-2028-0007")
    assert "ANSM-AAC-2027-0042" in renewed.get_data(as_text=True)
    withdrawn = _post(client, case_number=patient.case_number, kind="withdrawn",
                      decision_date="2028-06-30", evidence_reference="ANSM-RET-2028-0003")
    text = withdrawn.get_data(as_text=True)
    assert withdrawn.status_code == 200 and "ANSM-RET-2028-0003" in text
    case = services.case_of(db, patient)
    db.refresh(case)
    assert [(e.kind, e.decision_date.isoformat(), e.evidence_reference, e.recorded_by_label)
            for e in case.events] == [
        ("granted", "2027-01-10", "ANSM-AAC-2027-0042", "p.responsable"),
        ("renewed", "2028-01-05", "ANSM-AAC-2028-0007", "p.responsable"),
        ("withdrawn", "2028-06-30", "ANSM-RET-2028-0003", "p.responsable")]
    entries = db.scalars(select(AuditEvent).where(
        AuditEvent.action == "retention:aac:record").order_by(AuditEvent.seq)).all()
    assert [(e.actor_label, e.target_ref, e.details["kind"]) for e in entries] == [
        ("p.responsable", patient.reference, "granted"),
        ("p.responsable", patient.reference, "renewed"),
        ("p.responsable", patient.reference, "withdrawn")]


def test_a_decision_breaking_the_rules_is_refused_with_a_clear_error(
        app, db, prescriber, site_a) -> None:
    patient = records.register(db, prescriber, site_a)
    client = _staff_client(app, db)
    too_long = _post(client, case_number=patient.case_number, kind="granted",
                     decision_date="2027-01-10", end_date="2028-03-01",
                     evidence_reference="ANSM-AAC-2027-0042")
    assert too_long.status_code == 422
    assert "An AAC period lasts at most one year from its decision." in too_long.get_data(
        as_text=True)
    unknown = _post(client, case_number="ZZZZ-ZZZZ", kind="suspended",
                    decision_date="2027-01-10", evidence_reference="ANSM-1")
    assert unknown.status_code == 422
    assert "No patient of your perimeter in the active base has this case number." in \
        unknown.get_data(as_text=True)
    missing = _post(client, case_number=patient.case_number, kind="granted")
    assert missing.status_code == 422
    page = missing.get_data(as_text=True)
    assert "Enter the date of the decision." in page
    assert "Enter the reference of the decision." in page
    assert services.case_of(db, patient).events == []


def test_the_page_is_closed_to_a_prescriber(app, db, prescriber) -> None:
    client = app.test_client()
    login(client, prescriber)
    assert client.get("/retention/aac").status_code == 403
