"""Destroying a case in the active base: its data keys first (crypto-shredding), then its rows.

Everything a person typed about the patient is sealed under per-row data keys; overwriting the
wrapped keys makes the sealed identity and answers unreadable even where a row's old bytes
linger. Then the rows go: the schedule state, hand-offs, revisions, submissions, the patient.
A rights request about the patient keeps only the case's opaque reference.
"""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from portal.records import event_refs_of
from portal.records.models import (
    EventHandOff,
    Patient,
    ScheduleState,
    Submission,
    SubmissionRevision,
)
from portal.rights.models import RightsRequest

#: what a destroyed data key is overwritten with (the columns are NOT NULL)
SHREDDED = b""


def destroy_active_case(session: Session, patient_id: int, reference: str) -> bool:
    """Shred then delete the patient `patient_id` and everything of its case; False if absent."""
    if session.get(Patient, patient_id) is None:
        return False
    submission_ids = select(Submission.id).where(Submission.patient_id == patient_id)
    session.execute(update(SubmissionRevision)
                    .where(SubmissionRevision.submission_id.in_(submission_ids))
                    .values(wrapped_key=SHREDDED, payload=SHREDDED))
    session.execute(update(Patient).where(Patient.id == patient_id)
                    .values(wrapped_key=SHREDDED, identity=SHREDDED))
    # The schedule's sealed inputs are the answers' dates: shredded, then gone with the case.
    session.execute(delete(ScheduleState).where(ScheduleState.patient_id == patient_id))
    session.flush()
    session.execute(update(RightsRequest).where(RightsRequest.patient_id == patient_id)
                    .where(RightsRequest.case_index.is_(None)).values(case_index=reference))
    session.execute(update(RightsRequest).where(RightsRequest.patient_id == patient_id)
                    .values(patient_id=None))
    refs = event_refs_of(session, list(session.scalars(submission_ids)))
    if refs:
        session.execute(delete(EventHandOff).where(EventHandOff.event_ref.in_(refs)))
    session.execute(delete(SubmissionRevision)
                    .where(SubmissionRevision.submission_id.in_(submission_ids)))
    # Follow-ups point at the form they were opened from: children first.
    session.execute(update(Submission).where(Submission.patient_id == patient_id)
                    .values(parent_id=None))
    session.execute(delete(Submission).where(Submission.patient_id == patient_id))
    session.execute(delete(Patient).where(Patient.id == patient_id))
    session.expire_all()
    return True
