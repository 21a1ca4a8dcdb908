"""Archived cases leave every active page; an archivist reads one with a reason; the DPO's page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal import clock
from portal.audit.models import AuditEvent
from portal.i18n import local_time
from portal.permissions import Role
from portal.retention import jobs, services
from portal.retention.dates import add_years
from tests.helpers_auth import login, make_user
from tests.records import helpers as records
from tests.retention.helpers import patient_with_aac


@pytest.fixture
def archived(db, prescriber, site_a, archive):  # noqa: ANN001, ANN201
    """One case whose AAC ended three years ago (archived today), one ending in 30 days' time
    minus two years (archive due within 90 days)."""
    today = services.local_today(db)
    ended = add_years(today, -3)
    patient, case = patient_with_aac(db, prescriber, site_a, granted=ended - timedelta(days=300),
                                     ends=ended)
    records.submit(db, prescriber, patient, "initiation")
    soon = add_years(today, -2) + timedelta(days=30)
    kept, _ = patient_with_aac(db, prescriber, site_a, granted=soon - timedelta(days=300),
                               ends=soon, birth_year=1970)
    assert jobs.run(db, records.CLI).archived == 1
    return patient, case, kept


def test_an_archived_case_is_gone_from_the_active_pages(app, db, archived, site_a) -> None:
    patient, _case, kept = archived
    doctor = records.professional(db, "a.durand", site_a)
    client = app.test_client()
    login(client, doctor)
    listing = client.get("/patients").get_data(as_text=True)
    assert kept.case_number in listing
    assert patient.case_number not in listing
    assert client.get(f"/patients/{patient.handle}").status_code == 404
    # The archive page itself is closed to the active roles.
    assert client.get("/retention/archive").status_code == 403
    assert client.post("/retention/archive", data={
        "case_number": patient.case_number, "reason": "audit",
        "reason_reference": "AUD-1"}).status_code == 403


def test_an_archivist_reads_an_archived_case_with_a_reason_and_it_is_logged(
        app, db, archived) -> None:
    patient, case, _kept = archived
    archivist = make_user(db, "r.archiv", role=Role.ARCHIVIST)
    client = app.test_client()
    login(client, archivist)
    page = client.get("/retention/archive")
    assert page.status_code == 200
    refused = client.post("/retention/archive", data={"case_number": patient.case_number})
    assert refused.status_code == 422
    assert "Choose the reason for this read." in refused.get_data(as_text=True)
    assert f"Case {patient.case_number}" not in refused.get_data(as_text=True)
    read = client.post("/retention/archive", data={
        "case_number": patient.case_number, "reason": "litigation",
        "reason_reference": "TJ-2029-42"})
    text = read.get_data(as_text=True)
    assert read.status_code == 200
    assert f"Case {patient.case_number}" in text
    assert "initiation" in text
    # The answers themselves, opened through the records door for the archive purpose.
    assert records.DISTINCTIVE["dose"] in text and records.DISTINCTIVE["biomarker"] in text
    [entry] = db.scalars(select(AuditEvent).where(
        AuditEvent.action == "retention:archive:read")).all()
    assert entry.actor_label == "r.archiv"
    assert entry.target_ref == case.reference
    assert entry.details["reason"] == "litigation"
    assert entry.details["reason_ref"] == "TJ-2029-42"
    [opened] = db.scalars(select(AuditEvent).where(
        AuditEvent.action == "records:patient:read", AuditEvent.actor_label == "r.archiv")).all()
    assert opened.target_ref == case.reference
    assert opened.details == {"purpose": "archive", "submissions": 1, "reason": "litigation",
                              "reason_ref": "TJ-2029-42"}
    # The DPO sees the read, its reason and its reference.
    client = app.test_client()
    login(client, make_user(db, "d.dpo", role=Role.DPO))
    overview = client.get("/retention/").get_data(as_text=True)
    assert "r.archiv" in overview and "TJ-2029-42" in overview
    assert "Litigation or pre-litigation" in overview


def test_the_archive_grant_opens_no_case_of_the_active_base(app, db, archived) -> None:
    _patient, _case, kept = archived
    from portal.errors import Forbidden
    from portal.records.reading import Purpose, find_patient

    archivist = make_user(db, "r.archiv", role=Role.ARCHIVIST)
    with pytest.raises(Forbidden):
        find_patient(db, archivist, purpose=Purpose.ARCHIVE, patient_id=kept.id)


def test_the_dpo_page_counts_states_due_transitions_holds_and_reads(app, db, archived) -> None:
    _patient, _case, kept = archived
    from portal.retention import services

    kept_case = services.case_of(db, kept)
    services.open_hold(db, records.CLI, kept_case, "authority_request", "CNIL-2029-77")
    db.commit()
    dpo = make_user(db, "d.dpo", role=Role.DPO)
    client = app.test_client()
    login(client, dpo)
    response = client.get("/retention/")
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    due = add_years(kept_case.events[0].end_date, 2)
    assert "<th scope=\"row\">Intermediate archive</th><td>1</td>" in text
    assert "<th scope=\"row\">Active base</th><td>1</td>" in text
    assert kept_case.reference in text
    assert "CNIL-2029-77" in text
    assert local_time(due, "date", "en") in text
    assert "succeeded; 1 archived" in text
    assert "The daily retention run has not succeeded" not in text


def test_the_dpo_page_states_how_long_purged_cases_survive_in_backups(app, db) -> None:
    app.config.update(BACKUP_KEEP_DAILY=7, BACKUP_KEEP_WEEKLY=4, BACKUP_KEEP_MONTHLY=3)
    client = app.test_client()
    login(client, make_user(db, "d.dpo", role=Role.DPO))
    text = client.get("/retention/").get_data(as_text=True)
    # three monthly backups kept (3 x 31 days), plus the day until the next prune
    assert "at most 94 days after the purge" in text


def test_the_dpo_page_warns_when_the_run_is_overdue(app, db, archived) -> None:
    with clock.running_from(clock.now() + timedelta(days=2, hours=1)):
        dpo = make_user(db, "d.dpo", role=Role.DPO)
        client = app.test_client()
        login(client, dpo)
        text = client.get("/retention/").get_data(as_text=True)
    assert "The daily retention run has not succeeded for 2 days." in text


def test_the_archive_and_dpo_pages_are_closed_to_a_prescriber(app, db, prescriber) -> None:
    client = app.test_client()
    login(client, prescriber)
    assert client.get("/retention/").status_code == 403


def test_an_archived_case_is_gone_from_the_export(app, db, archived, prescriber) -> None:
    patient, _case, kept = archived
    records.submit(db, prescriber, kept, "initiation")
    vigilance = records.lab_person(db, "p.vigie", Role.PHARMACOVIGILANCE)
    client = app.test_client()
    login(client, vigilance)
    response = client.post("/exports?lang=fr", data={"protocol_key": records.PROTOCOL_KEY,
                                                     "form_key": "initiation", "fmt": "csv",
                                                     "purpose": "data_quality"})
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert kept.case_number in text
    assert patient.case_number not in text
