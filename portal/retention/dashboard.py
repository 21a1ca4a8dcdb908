"""The DPO's view of retention (RET-07): counts per state, what falls due, holds, the last run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.records.models import Patient
from portal.retention import jobs, services
from portal.retention.models import CaseState, LegalHold, PurgeLedgerEntry, RetentionCase

HORIZON_DAYS = 90


@dataclass(frozen=True)
class Due:
    reference: str
    state: str
    #: archive | purge
    transition: str
    day: date
    rule: str | None
    on_hold: bool


@dataclass(frozen=True)
class Overview:
    today: date
    active: int
    archived: int
    purged: int
    without_evidence: int
    due: list[Due]
    holds: list[LegalHold]
    status: jobs.RunStatus


def overview(session: Session, today: date | None = None) -> Overview:
    """Everything the DPO's page shows; reads no patient data (references and dates only)."""
    today = today or services.local_today(session)
    horizon = today + timedelta(days=HORIZON_DAYS)
    archived = session.scalar(select(func.count()).select_from(RetentionCase)
                              .where(RetentionCase.state == CaseState.ARCHIVED.value)) or 0
    due: list[Due] = []
    without_evidence = 0
    for item in services.plan(session, today):
        decision, case = item.decision, item.case
        if decision.action == "missing":
            without_evidence += 1
            continue
        hold = services.is_on_hold(case)
        if case.state == CaseState.ACTIVE.value and decision.archive_due and (
                decision.archive_due <= horizon) and (
                decision.purge_due is None or decision.archive_due < decision.purge_due):
            due.append(Due(case.reference, case.state, "archive", decision.archive_due,
                           decision.rule if decision.action == "archive" else None, hold))
        if decision.purge_due and decision.purge_due <= horizon:
            due.append(Due(case.reference, case.state, "purge", decision.purge_due,
                           "t2_archive_end", hold))
    # Patients of the active base never given a retention case have no dated evidence yet.
    known = select(RetentionCase.patient_id).where(RetentionCase.patient_id.is_not(None))
    without_evidence += session.scalar(select(func.count()).select_from(Patient)
                                       .where(Patient.id.not_in(known))) or 0
    return Overview(
        today=today,
        active=session.scalar(select(func.count()).select_from(Patient)) or 0,
        archived=archived,
        purged=session.scalar(select(func.count()).select_from(PurgeLedgerEntry)) or 0,
        without_evidence=without_evidence,
        due=sorted(due, key=lambda d: (d.day, d.reference)),
        holds=list(session.scalars(select(LegalHold).where(LegalHold.released_at.is_(None))
                                   .order_by(LegalHold.opened_at))),
        status=jobs.run_status(session),
    )
