"""Collecting a case's rows from the active base, as they are, to move them to the archive.

Nothing is decrypted: the sealed identity and answers move with their ciphertext; their wrapped
data keys are set apart (archive.archived_key) so that the purge can destroy them first.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.records import event_refs_of
from portal.records.models import EventHandOff, Patient, Submission, SubmissionRevision
from portal.retention.archive import ArchivedKey

Rows = dict[str, list[dict[str, Any]]]


def case_rows(session: Session, patient_id: int) -> tuple[Rows, list[ArchivedKey]] | None:
    """Return the rows of a patient's case and their wrapped keys, or None if it is gone."""
    patient = session.execute(
        select(Patient.__table__).where(Patient.__table__.c.id == patient_id)).mappings().first()
    if patient is None:
        return None
    keys = [ArchivedKey("patient", patient["wrapped_key"], patient["kek_version"])]
    rows: Rows = {"patient": [{k: v for k, v in patient.items() if k != "wrapped_key"}]}
    submissions = session.execute(
        select(Submission.__table__).where(Submission.__table__.c.patient_id == patient_id)
        .order_by(Submission.__table__.c.id)).mappings().all()
    rows["submission"] = [dict(s) for s in submissions]
    ids = [s["id"] for s in submissions]
    revisions = session.execute(
        select(SubmissionRevision.__table__)
        .where(SubmissionRevision.__table__.c.submission_id.in_(ids))
        .order_by(SubmissionRevision.__table__.c.id)).mappings().all() if ids else []
    rows["submission_revision"] = []
    for revision in revisions:
        keys.append(ArchivedKey(f"revision:{revision['id']}", revision["wrapped_key"],
                                revision["kek_version"]))
        rows["submission_revision"].append(
            {k: v for k, v in revision.items() if k != "wrapped_key"})
    hand_offs = session.execute(
        select(EventHandOff.__table__)
        .where(EventHandOff.__table__.c.event_ref.in_(event_refs_of(session, ids)))
    ).mappings().all() if ids else []
    rows["event_hand_off"] = [dict(h) for h in hand_offs]
    return rows, keys
