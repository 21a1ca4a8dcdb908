"""The door (`portal.records.reading`): each read function checks the policy, decrypts, and
writes exactly one audit entry with its purpose, even when the caller's transaction fails."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.audit.models import AuditEvent
from portal.audit.services import SYSTEM
from portal.errors import Forbidden
from portal.records import reading
from portal.records.models import Submission
from portal.records.reading import Purpose
from tests.records import helpers


def _read_entries(db: Session) -> list[AuditEvent]:
    db.expire_all()
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action.like("records:%:read"))
                           .order_by(AuditEvent.seq)))


def _one_patient(db: Session, actor: Any, patient: Any) -> Any:
    return reading.find_patient(db, actor, purpose=Purpose.PAGE, handle=patient.handle)


def _identity(db: Session, actor: Any, patient: Any) -> Any:
    return reading.patient_identity(db, actor, patient, purpose=Purpose.PAGE)


def _values(db: Session, actor: Any, patient: Any) -> Any:
    found = db.scalar(select(Submission).where(Submission.patient_id == patient.id))
    return reading.submission_values(db, actor, found, purpose=Purpose.PAGE)


def _case(db: Session, actor: Any, patient: Any) -> Any:
    return reading.case_submissions(db, actor, patient, purpose=Purpose.PAGE)


def _record(db: Session, actor: Any, patient: Any) -> Any:
    return reading.case_record(db, actor, patient, purpose=Purpose.PAGE)


def _stream(db: Session, actor: Any, patient: Any) -> Any:
    return list(reading.protocol_submissions(db, SYSTEM, patient.protocol_key,
                                             purpose=Purpose.REPORT))


def _bulk(db: Session, actor: Any, patient: Any) -> Any:
    with reading.bulk_read(db, SYSTEM, Purpose.PURGE, ("protocol", patient.protocol_key)) as bulk:
        bulk.patient_identity(patient)
        return bulk.case_submissions(patient)


def _archived(db: Session, actor: Any, patient: Any) -> Any:
    from portal.retention.bundle import case_rows

    collected = case_rows(db, patient.id)
    assert collected is not None
    rows, keys = collected
    return reading.archived_submissions(db, SYSTEM, patient.reference, rows,
                                        {key.row: key for key in keys}, purpose=Purpose.ARCHIVE)


#: every read function of the door, with the purpose its entry must name
READS: dict[str, tuple[Callable[[Session, Any, Any], Any], str, str]] = {
    "find_patient": (_one_patient, "records:patient:read", "page"),
    "patient_identity": (_identity, "records:patient:read", "page"),
    "submission_values": (_values, "records:submission:read", "page"),
    "case_submissions": (_case, "records:patient:read", "page"),
    "case_record": (_record, "records:patient:read", "page"),
    "protocol_submissions": (_stream, "records:data:read", "report"),
    "bulk_read": (_bulk, "records:data:read", "purge"),
    "archived_submissions": (_archived, "records:patient:read", "archive"),
}


def test_the_table_names_every_read_function_of_the_door() -> None:
    assert {read.__name__ for read in reading.READ_FUNCTIONS} == set(READS)


@pytest.mark.parametrize("name", sorted(READS))
def test_each_read_writes_one_entry_with_its_purpose(db, prescriber, patient, name) -> None:
    helpers.submit(db, prescriber, patient, "initiation")
    before = len(_read_entries(db))
    read, action, purpose = READS[name]
    read(db, prescriber, patient)
    db.commit()
    entries = _read_entries(db)[before:]
    assert [(e.action, e.details["purpose"]) for e in entries] == [(action, purpose)]


@pytest.mark.parametrize("name", sorted(READS))
def test_a_read_is_logged_when_the_transaction_fails_after_it(db, prescriber, patient,
                                                              name) -> None:
    helpers.submit(db, prescriber, patient, "initiation")
    before = len(_read_entries(db))
    read, action, purpose = READS[name]
    read(db, prescriber, patient)
    db.rollback()  # the request failed after the read
    entries = _read_entries(db)[before:]
    assert [(e.action, e.details["purpose"]) for e in entries] == [(action, purpose)]


def test_the_values_read_are_the_stored_ones(db, prescriber, patient) -> None:
    submitted = helpers.submit(db, prescriber, patient, "initiation")
    values = reading.submission_values(db, prescriber, submitted, purpose=Purpose.PAGE)
    assert values.answers["dose_value"] == helpers.DISTINCTIVE["dose"]
    identity = reading.patient_identity(db, prescriber, patient, purpose=Purpose.PAGE)
    assert identity.letters == patient_letters(db, patient)
    streamed = list(reading.protocol_submissions(db, SYSTEM, patient.protocol_key,
                                                 purpose=Purpose.REPORT, batch_size=1))
    assert [s.handle for s in streamed] == [submitted.handle]
    assert streamed[0].answers == values.answers


def patient_letters(db: Session, patient: Any) -> str:
    from portal.records.identities import read_identity

    return read_identity(db, SYSTEM, patient).letters


def test_a_stream_as_of_an_earlier_time_leaves_later_forms_out(db, prescriber, patient,
                                                                test_clock) -> None:
    from datetime import timedelta

    first = helpers.submit(db, prescriber, patient, "initiation")
    earlier = first.submitted_at - timedelta(seconds=1)
    assert list(reading.protocol_submissions(db, SYSTEM, patient.protocol_key,
                                             purpose=Purpose.REPORT, as_of=earlier)) == []
    assert [s.handle for s in reading.protocol_submissions(
        db, SYSTEM, patient.protocol_key, purpose=Purpose.REPORT,
        as_of=first.submitted_at)] == [first.handle]


def test_a_read_outside_the_perimeter_is_refused_and_logged(db, prescriber_b, patient) -> None:
    with pytest.raises(Forbidden):
        reading.patient_identity(db, prescriber_b, patient, purpose=Purpose.PAGE)
    db.commit()
    denied = [e for e in _read_entries(db) if e.outcome == "denied"]
    assert [(e.action, e.details["purpose"]) for e in denied] == [
        ("records:patient:read", "page")]


def test_a_person_may_not_read_for_a_purge(db, prescriber, patient) -> None:
    with pytest.raises(Forbidden):
        reading.case_submissions(db, prescriber, patient, purpose=Purpose.PURGE)


def test_a_page_that_fails_after_the_read_leaves_the_read_on_the_trail(
    app, db, client, prescriber, patient, monkeypatch
) -> None:
    from tests.helpers_auth import login

    login(client, prescriber)
    before = len(_read_entries(db))

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("the page failed after reading the patient")

    monkeypatch.setattr("portal.records.overview.schedule_of", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = client.get(f"/patients/{patient.handle}")
    assert response.status_code == 500
    entries = _read_entries(db)[before:]
    assert [(e.action, e.target_ref, e.actor_id) for e in entries] == [
        ("records:patient:read", patient.reference, prescriber.id)]


def test_aggregated_access_streams_for_a_report_only(db, prescriber, patient, aggregated) -> None:
    submitted = helpers.submit(db, prescriber, patient, "initiation")
    streamed = reading.protocol_submissions(db, aggregated, patient.protocol_key,
                                            purpose=Purpose.REPORT)
    assert [s.handle for s in streamed] == [submitted.handle]
    with pytest.raises(Forbidden):
        reading.protocol_submissions(db, aggregated, patient.protocol_key, purpose=Purpose.PAGE)


def test_protocols_learn_the_forms_in_use_from_the_hook_the_records_register(
    db, prescriber, patient
) -> None:
    from portal.protocols.services import used_forms

    assert used_forms(db, patient.protocol_key) == set()
    helpers.submit(db, prescriber, patient, "initiation")
    assert used_forms(db, patient.protocol_key) == {"initiation"}
