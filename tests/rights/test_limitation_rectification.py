"""Limitation freezes the records until lifted after notice; rectification links versions."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from portal.access.models import Scope
from portal.errors import Conflict
from portal.permissions import Role
from portal.records.export import prepare_export
from portal.records.models import Patient
from portal.records.refusals import PatientLimited
from portal.rights import handling, services
from portal.rights.models import RequestKind, RequestState, RightsRequest
from tests.helpers_auth import make_user
from tests.rights.helpers import (
    FOLLOW_UP,
    PROTOCOL_KEY,
    audit_actions,
    fill,
)


def _limitation(db, doctor, patient):  # noqa: ANN001, ANN202
    return services.submit_request(db, doctor, kind=RequestKind.LIMITATION,
                                   case_number=patient.case_number)


def _exported_rows(db, reader) -> int:  # noqa: ANN001
    return prepare_export(db, reader, PROTOCOL_KEY, "followup", "csv",
                          purpose="data_quality").row_count


def test_limitation_freezes_the_records_until_lifted_after_notice(db, doctor, dpo,
                                                                 patient) -> None:
    reader = make_user(db, "p.vigilance", role=Role.PHARMACOVIGILANCE, scope=Scope.PSEUDONYMISED)
    assert _exported_rows(db, reader) == 1
    request = _limitation(db, doctor, patient)
    handling.apply_limitation(db, dpo, request, "accuracy_contested")
    db.commit()
    db.refresh(patient)
    assert patient.is_limited and patient.limitation_request_ref == request.number
    assert request.state == RequestState.ANSWERED
    # Frozen: no form can be filled, and the patient is left out of exports.
    with pytest.raises(PatientLimited):
        fill(db, doctor, patient, "followup", FOLLOW_UP)
    db.rollback()
    assert _exported_rows(db, reader) == 0
    # Lifting before the requester is told is refused.
    with pytest.raises(Conflict, match="Tell the requester first"):
        handling.lift_limitation(db, dpo, request)
    handling.notify_lift(db, dpo, request)
    handling.lift_limitation(db, dpo, request)
    db.commit()
    db.refresh(patient)
    assert not patient.is_limited
    assert request.limitation_lifted_at >= request.lift_notified_at
    fill(db, doctor, patient, "followup", {**FOLLOW_UP, "visit_date": "2026-11-20"})
    assert _exported_rows(db, reader) == 2
    assert audit_actions(db, request)[-4:] == [
        "rights:limitation:notify", "rights:notice:mail", "rights:limitation:lift",
        "rights:notice:mail"]


def test_a_limitation_cannot_be_lifted_in_the_database_without_the_notice(db, doctor, dpo,
                                                                         patient) -> None:
    request = _limitation(db, doctor, patient)
    handling.apply_limitation(db, dpo, request, "accuracy_contested")
    db.commit()
    with pytest.raises(IntegrityError):
        db.execute(update(RightsRequest).where(RightsRequest.id == request.id)
                   .values(limitation_lifted_at=request.limitation_applied_at))
        db.flush()
    db.rollback()


def test_only_the_dpo_limits_through_the_records_rules(db, doctor, patient) -> None:
    request = _limitation(db, doctor, patient)
    from portal.errors import Forbidden

    with pytest.raises(Forbidden):
        handling.apply_limitation(db, doctor, request, "accuracy_contested")
    db.rollback()
    assert db.scalar(select(Patient.limited_at).where(Patient.id == patient.id)) is None


def test_an_access_request_cannot_limit(db, doctor, dpo, patient) -> None:
    request = services.submit_request(db, doctor, kind=RequestKind.ACCESS,
                                      case_number=patient.case_number)
    with pytest.raises(Conflict):
        handling.apply_limitation(db, dpo, request, "accuracy_contested")


def test_a_rectification_is_answered_with_the_versions_it_produced(db, doctor, dpo,
                                                                  patient) -> None:
    from portal.records.submissions import patient_submissions, rectify_with_answers

    request = services.submit_request(db, doctor, kind=RequestKind.RECTIFICATION,
                                      case_number=patient.case_number)
    db.commit()
    with pytest.raises(Conflict, match="No rectified version"):
        handling.answer_rectification(db, dpo, request)
    (submission,) = patient_submissions(db, patient)
    rectify_with_answers(db, doctor, submission, {**FOLLOW_UP, "dose_mg": "20"},
                         "patient_request", submission.version, request_ref=request.number)
    db.commit()
    handling.answer_rectification(db, dpo, request)
    db.commit()
    (version,) = handling.linked_versions(db, request)
    assert (version.submission_handle, version.number, version.reason) == (
        submission.handle, 2, "patient_request")
    assert request.state == RequestState.ANSWERED
    assert "rights:rectification:link" in audit_actions(db, request)


def test_a_refused_limitation_request_cannot_freeze_the_records(db, doctor, dpo,
                                                                patient) -> None:
    request = _limitation(db, doctor, patient)
    services.refuse(db, dpo, request, reason="unfounded_or_excessive",
                    justification="The data were checked last week.")
    with pytest.raises(Conflict):
        handling.apply_limitation(db, dpo, request, "accuracy_contested")
    assert db.scalar(select(Patient.limited_at).where(Patient.id == patient.id)) is None
