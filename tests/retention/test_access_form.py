"""RET-01: the AAC dates come from the access form (evidence: that form), and the reminder."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from portal import clock
from portal.audit.models import AuditEvent
from portal.retention import jobs, services
from portal.retention.dates import add_years
from portal.retention.models import AacEvent
from tests.helpers_auth import mail_body, outbox
from tests.records import helpers as records
from tests.retention.helpers import CLI, paris


def test_the_access_form_gives_the_aac_dates_and_the_case_follows_them(
        app, db, prescriber, site_a, archive) -> None:
    patient = records.register(db, prescriber, site_a)
    access = records.submit(db, prescriber, patient, "access")
    answers = records.access_answers()
    decision = date.fromisoformat(answers["aac_decision_date"])
    end = date.fromisoformat(answers["aac_end_date"])
    jobs.run(db, CLI)
    [event] = db.scalars(select(AacEvent)).all()
    assert (event.kind, event.decision_date, event.end_date) == ("granted", decision, end)
    assert event.evidence_reference == f"form:S{access.id}r1"
    assert records.DISTINCTIVE["aac_ref"] not in event.evidence_reference
    # A second run takes nothing twice.
    jobs.run(db, CLI)
    assert len(db.scalars(select(AacEvent)).all()) == 1
    archive_due = add_years(end, 2)
    with clock.frozen(paris(archive_due - timedelta(days=1))):
        assert jobs.run(db, CLI).archived == 0
    with clock.frozen(paris(archive_due)):
        assert jobs.run(db, CLI).archived == 1


def test_an_aac_ending_within_30_days_reminds_the_prescriber_once(
        app, db, prescriber, site_a, archive) -> None:
    patient = records.register(db, prescriber, site_a)
    case = services.case_of(db, patient)
    today = services.local_today(db)
    services.record_aac_decision(db, CLI, case, "granted", today - timedelta(days=300),
                                 today + timedelta(days=31), "ANSM-AAC-1")
    db.commit()
    jobs.run(db, CLI)
    assert [m for m in outbox(app) if m["To"] == prescriber.email] == []
    with clock.running_from(clock.now() + timedelta(days=1)):
        jobs.run(db, CLI)
        jobs.run(db, CLI)
    [mail] = [m for m in outbox(app) if m["To"] == prescriber.email]
    body = mail_body(mail)
    assert "without a renewal" in mail["Subject"]
    assert f"/patients/{patient.handle}" in body
    assert patient.case_number not in body and patient.case_number not in mail["Subject"]
    assert db.scalar(select(AuditEvent.details).where(
        AuditEvent.action == "retention:aac:remind"))["recipient"]


def test_a_renewal_silences_the_reminder(app, db, prescriber, site_a, archive) -> None:
    patient = records.register(db, prescriber, site_a)
    case = services.case_of(db, patient)
    today = services.local_today(db)
    services.record_aac_decision(db, CLI, case, "granted", today - timedelta(days=300),
                                 today + timedelta(days=10), "ANSM-AAC-1")
    services.record_aac_decision(db, CLI, case, "renewed", today - timedelta(days=5),
                                 today + timedelta(days=300), "ANSM-AAC-2")
    db.commit()
    jobs.run(db, CLI)
    assert [m for m in outbox(app) if m["To"] == prescriber.email] == []


def test_an_aac_period_over_a_year_or_without_evidence_is_refused(db, prescriber, site_a
                                                                  ) -> None:
    import pytest

    patient = records.register(db, prescriber, site_a)
    case = services.case_of(db, patient)
    with pytest.raises(services.RetentionError, match="at most one year"):
        services.record_aac_decision(db, CLI, case, "granted", date(2027, 1, 10),
                                     date(2028, 1, 11), "ANSM-1")
    with pytest.raises(services.RetentionError, match="evidence reference"):
        services.record_aac_decision(db, CLI, case, "granted", date(2027, 1, 10),
                                     date(2027, 6, 1), "")
