"""What the fault suite checks after each scenario, from the database: every acknowledged form
stored exactly once, nothing stored that the client was told was not, every revision opens
and has its audit entry, and the audit chain verifies."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.audit.models import AuditEvent
from portal.audit.verify import verify
from portal.records import submissions
from portal.records.models import Submission, SubmissionRevision
from tests.faults.world import Professional
from tests.helpers_auth import session_cookie
from tests.records import helpers


@dataclass
class Team:
    professionals: list[Professional]
    users: list[Any]
    patient_ids: list[int]


def team(db: Session, world: Any, count: int, label: str, **options: Any) -> Team:
    """`count` prescribers of the site, each with a patient of their own and a session."""
    from portal.access.models import Establishment

    site = db.get(Establishment, world.site_id)
    professionals, users, patient_ids = [], [], []
    answers = helpers.form_data(helpers.adverse_event_answers(), "adverse_event", db)
    for index in range(count):
        user = helpers.professional(db, f"{label.lower()}.pro{chr(97 + index)}", site)
        patient = helpers.register(db, user, site, surname_letters=f"{label}{chr(65 + index)}")
        cookie = session_cookie(db, user, world.env["PORTAL_SECRET_KEY"])
        professionals.append(Professional(world.bases, cookie, patient.handle, answers,
                                          seed=index, **options))
        users.append(user)
        patient_ids.append(patient.id)
    db.rollback()  # no transaction of ours stays open during the load
    return Team(professionals, users, patient_ids)


def check_stored(db: Session, crew: Team) -> Counter[str]:
    """Assert what the database holds against what each client was told; return the counts."""
    db.expire_all()
    errors = [error for p in crew.professionals for error in p.errors]
    assert errors == [], errors[:20]
    sent = [s for p in crew.professionals for s in p.sent]
    assert all(s.acknowledged or s.abandoned for s in sent), \
        [s for s in sent if not (s.acknowledged or s.abandoned)][:5]
    rows = db.execute(
        select(SubmissionRevision.token, SubmissionRevision.kind, Submission.id)
        .join(Submission, Submission.id == SubmissionRevision.submission_id)
        .where(Submission.patient_id.in_(crew.patient_ids))).all()
    stored = Counter(token for token, _kind, _id in rows)
    duplicated = [token for token, times in stored.items() if times > 1]
    assert duplicated == []  # the token column is unique: a belt to those braces
    acknowledged = {s.token for s in sent if s.acknowledged}
    abandoned = {s.token for s in sent if s.abandoned}
    # Every acknowledged form is stored once; nothing else is stored, in particular no form
    # whose page said nothing of it was saved.
    assert set(stored) == acknowledged, (len(stored), len(acknowledged))
    assert not abandoned & set(stored)
    # Each revision opens (its data key unwraps, its integrity check holds) and has its entry.
    by_owner = dict(zip(crew.patient_ids, crew.users, strict=True))
    ours = db.scalars(select(Submission).where(Submission.patient_id.in_(crew.patient_ids))
                      ).all()
    revisions = 0
    for submission in ours:
        for number in range(1, submission.revision_number + 1):
            answers = submissions.read_answers(db, by_owner[submission.patient_id], submission,
                                               number)
            assert answers["meddra_llt_code"] == "10019211"
            revisions += 1
    assert revisions == len(acknowledged)
    refs = {s.audit_ref for s in ours}
    entries = Counter(action for action, ref in db.execute(
        select(AuditEvent.action, AuditEvent.target_ref)
        .where(AuditEvent.action.in_(("records:submission:create",
                                      "records:submission:rectify")))).all() if ref in refs)
    kinds = Counter(s.kind for s in sent if s.acknowledged)
    assert entries["records:submission:create"] == kinds["new"], (entries, kinds)
    assert entries["records:submission:rectify"] == kinds["rectify"], (entries, kinds)
    db.rollback()
    report = verify(db)
    assert report.ok, report
    db.rollback()
    return kinds
