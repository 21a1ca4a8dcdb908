"""The records' sealed tables, registered for key rotation, and who reports a failed row."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from portal.db import table_of
from portal.protocols.models import ProtocolVersion
from portal.records.integrity import report_integrity_failure
from portal.records.models import Patient, ScheduleState, Submission, SubmissionRevision
from portal.sealing import (
    WrappedTable,
    patient_aad,
    register_integrity_reporter,
    register_wrapped_table,
    revision_aad,
    schedule_state_aad,
)


def _patients() -> Any:
    return select(Patient.id, Patient.kek_version, Patient.wrapped_key, Patient.handle,
                  Patient.protocol_key)


def _revisions() -> Any:
    return (
        select(SubmissionRevision.id, SubmissionRevision.kek_version,
               SubmissionRevision.wrapped_key, SubmissionRevision.number,
               SubmissionRevision.kind, Submission.handle.label("submission_handle"),
               Submission.form_key, Patient.handle.label("patient_handle"),
               ProtocolVersion.protocol_key, ProtocolVersion.content_hash)
        .join(Submission, Submission.id == SubmissionRevision.submission_id)
        .join(Patient, Patient.id == Submission.patient_id)
        .join(ProtocolVersion, ProtocolVersion.id == Submission.protocol_version_id)
    )


def _schedule_states() -> Any:
    return (select(ScheduleState.id, ScheduleState.kek_version, ScheduleState.wrapped_key,
                   Patient.handle, Patient.protocol_key)
            .join(Patient, Patient.id == ScheduleState.patient_id)
            .where(ScheduleState.wrapped_key.is_not(None)))


def register() -> None:
    """Let `portal keys rotate` re-wrap the patients', revisions' and schedule states' data
    keys."""
    register_wrapped_table(WrappedTable(
        "patient", table_of(Patient), _patients,
        lambda row: patient_aad(row.handle, row.protocol_key),
    ))
    register_wrapped_table(WrappedTable(
        "submission_revision", table_of(SubmissionRevision), _revisions,
        lambda row: revision_aad(row.submission_handle, row.number, row.kind,
                                 row.patient_handle, row.protocol_key, row.content_hash,
                                 row.form_key),
    ))
    register_wrapped_table(WrappedTable(
        "schedule_state", table_of(ScheduleState), _schedule_states,
        lambda row: schedule_state_aad(row.handle, row.protocol_key),
    ))
    # A row whose key fails authentication during a rotation alerts the DPO like a read would.
    register_integrity_reporter(report_integrity_failure)
