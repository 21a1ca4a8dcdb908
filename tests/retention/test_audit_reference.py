"""Audit entries name a case by its opaque reference only; the pages show its case number while
the case is in the active base, and after the purge nothing on the trail holds the number."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select, text

from portal.accounts.models import User
from portal.audit.models import AuditEvent
from portal.audit.verify import verify
from portal.permissions import Role
from portal.retention.dates import add_years
from tests.helpers_auth import login, make_user
from tests.records import helpers as records
from tests.retention.helpers import patient_with_aac, run_on


def _trail_bytes(db) -> bytes:  # noqa: ANN001
    """Every column of every audit entry, as the database returns it."""
    rows = db.execute(text("SELECT * FROM audit_event")).all()
    return b"\n".join(repr(tuple(row)).encode() for row in rows)


def _trail_page(app, db, record: str = "") -> str:  # noqa: ANN001
    client = app.test_client()
    auditor = db.scalar(select(User).where(User.login == "a.audit")) or make_user(
        db, "a.audit", role=Role.AUDITOR)
    login(client, auditor)
    if not record:
        return client.get("/audit/").get_data(as_text=True)
    return client.post("/audit/", data={"record": record}).get_data(as_text=True)


@pytest.fixture
def case(app, db, prescriber, site_a, archive):  # noqa: ANN001, ANN201
    """A case with forms filled and read, archived on its date and purged on its own."""
    app.config["RETENTION_ARCHIVE_YEARS"] = 5
    ends = date.fromisoformat(records.access_answers()["aac_end_date"])
    patient, found = patient_with_aac(db, prescriber, site_a, granted=ends - timedelta(days=300),
                                      ends=ends)
    for form in ("access", "initiation", "follow_up"):
        records.submit(db, prescriber, patient, form)
    client = app.test_client()
    login(client, prescriber)
    assert client.get(f"/patients/{patient.handle}").status_code == 200
    return patient, found, add_years(ends, 2), add_years(ends, 5)


def test_entries_name_the_case_by_its_reference_and_pages_show_its_number(app, db, case
                                                                          ) -> None:
    patient, found, _archive_due, _purge_due = case
    assert patient.audit_ref == found.reference and found.reference.startswith("RC-")
    blob = _trail_bytes(db)
    assert found.reference.encode() in blob
    assert patient.case_number.encode() not in blob
    page = _trail_page(app, db)
    assert f"{found.reference} ({patient.case_number})" in page
    # The auditor filters by the case number as people know it.
    filtered = _trail_page(app, db, record=patient.case_number)
    assert "records:patient:create" in filtered and "records:patient:read" in filtered


def test_after_the_purge_no_entry_holds_the_case_number_and_the_trail_verifies(
        app, db, case) -> None:
    patient, found, archive_due, purge_due = case
    assert run_on(db, archive_due).archived == 1
    assert f"{found.reference} (archived case)" in _trail_page(app, db)
    assert "records:patient:create" in _trail_page(app, db, record=patient.case_number)
    assert run_on(db, purge_due).purged == 1
    blob = _trail_bytes(db)
    assert found.reference.encode() in blob
    for line in blob.split(b"\n"):
        assert patient.case_number.encode() not in line, line
    assert verify(db).ok
    page = _trail_page(app, db)
    assert f"{found.reference} (purged case)" in page
    assert patient.case_number not in page
    # The auditor may still look the case's entries up by a number known from elsewhere;
    # the consultation is logged under the reference, and the page shows no number.
    filtered = _trail_page(app, db, record=patient.case_number.replace("-", ""))
    assert "records:patient:create" in filtered
    for line in _trail_bytes(db).split(b"\n"):
        assert patient.case_number.encode() not in line, line
    assert db.scalar(select(AuditEvent.details).where(
        AuditEvent.action == "audit:events:read").order_by(AuditEvent.seq.desc()).limit(1)
    )["filter_record"] == found.reference
