"""`portal retention run`: one run at a time (a lock row), one transaction per transition.

The lock is a single row taken with a conditional update: on any database and from any machine
only one run holds it; a run that died leaves it stale after RETENTION_LOCK_STALE_MINUTES and the
next run takes it over. Each case is then moved in its own transaction, guarded by its state, so
that a run stopped half-way resumes where it stopped and a transition never happens twice.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal import clock
from portal.audit.services import record
from portal.db import app_of, rows_affected
from portal.retention import archive as store
from portal.retention import services
from portal.retention.accounts import apply_account_retention
from portal.retention.actions import RetentionAction
from portal.retention.models import RetentionCase, RetentionLock, RetentionRun
from portal.retention.reminders import send_aac_reminders


def new_job_id() -> str:
    return "RR-" + secrets.token_hex(8)


def _ensure_lock_row(session: Session) -> None:
    if session.get(RetentionLock, 1) is not None:
        return
    try:
        with session.begin_nested():
            session.execute(insert(RetentionLock).values(id=1, job_id=None, taken_at=None))
    except IntegrityError:
        pass  # another run created it at the same moment


def take_lock(session: Session, job_id: str) -> bool:
    """Take the run lock and commit; False when another live run holds it."""
    _ensure_lock_row(session)
    session.commit()
    now = clock.now()
    stale = now - timedelta(minutes=int(app_of(session).config["RETENTION_LOCK_STALE_MINUTES"]))
    taken = rows_affected(session.execute(
        update(RetentionLock)
        .where(RetentionLock.id == 1)
        .where(or_(RetentionLock.job_id.is_(None), RetentionLock.taken_at < stale))
        .values(job_id=job_id, taken_at=now)
    ))
    session.commit()
    return taken == 1


def release_lock(session: Session, job_id: str) -> None:
    session.execute(update(RetentionLock)
                    .where(RetentionLock.id == 1, RetentionLock.job_id == job_id)
                    .values(job_id=None, taken_at=None))
    session.commit()


@dataclass
class RunReport:
    job_id: str
    locked: bool = False
    archived: int = 0
    purged: int = 0
    held: int = 0
    missing: int = 0


def run(session: Session, actor: Any, on: date | None = None,
        final_approval: services.FinalApproval | None = None,
        job_id: str | None = None) -> RunReport:
    """Apply every transition due on day `on` (default today); see the module's docstring."""
    job_id = job_id or new_job_id()
    report = RunReport(job_id)
    started = clock.now()
    if not take_lock(session, job_id):
        report.locked = True
        session.add(RetentionRun(job_id=job_id, started_at=started, finished_at=clock.now(),
                                 outcome="locked"))
        record(session, actor, RetentionAction.RUN_LOCKED, None, job=job_id)
        session.commit()
        return report
    run_row = RetentionRun(job_id=job_id, started_at=started, outcome="running")
    session.add(run_row)
    session.commit()
    try:
        on = on or services.local_today(session)
        services.sync_access_forms(session, actor, job_id)
        session.commit()
        send_aac_reminders(session, actor, on)
        session.commit()
        ids = list(session.scalars(select(RetentionCase.id).order_by(RetentionCase.id)))
        for case_id in ids:
            _apply_one(session, actor, case_id, on, final_approval, job_id, report)
        apply_account_retention(session, actor)
        session.commit()
        run_row.outcome = "succeeded"
    except Exception as exc:
        session.rollback()
        run_row = session.get(RetentionRun, run_row.id)  # type: ignore[assignment]
        run_row.outcome = "failed"
        run_row.error = type(exc).__name__[:120]
        _finish(session, actor, run_row, report)
        release_lock(session, job_id)
        raise
    _finish(session, actor, run_row, report)
    release_lock(session, job_id)
    if report.purged:
        store.compact(store.archive_engine(app_of(session)))
        store.compact(session.get_bind())  # type: ignore[arg-type]
    return report


def _apply_one(session: Session, actor: Any, case_id: int, on: date,
               final_approval: services.FinalApproval | None, job_id: str,
               report: RunReport) -> None:
    case = session.get(RetentionCase, case_id)
    if case is None:
        return
    decision = services.decide(session, case, on, final_approval)
    if decision.action == "archive":
        if services.archive_case(session, actor, case, decision, job_id):
            report.archived += 1
    elif decision.action == "purge":
        if services.purge_case(session, actor, case, decision, job_id):
            report.purged += 1
    elif decision.action == "hold":
        report.held += 1
    elif decision.action == "missing":
        report.missing += 1
    session.commit()


def _finish(session: Session, actor: Any, run_row: RetentionRun, report: RunReport) -> None:
    run_row.finished_at = clock.now()
    run_row.archived, run_row.purged, run_row.held = report.archived, report.purged, report.held
    record(session, actor, RetentionAction.RUN_FINISH, None, job=report.job_id,
           run_outcome=run_row.outcome, archived=report.archived, purged=report.purged,
           held=report.held)
    session.commit()


@dataclass(frozen=True)
class RunStatus:
    last: RetentionRun | None
    last_success: RetentionRun | None
    max_age_days: int
    now: datetime

    @property
    def overdue(self) -> bool:
        if self.last_success is None or self.last_success.finished_at is None:
            return True
        return self.now - self.last_success.finished_at > timedelta(days=self.max_age_days)


def run_status(session: Session) -> RunStatus:
    last = session.scalar(select(RetentionRun).where(RetentionRun.outcome != "locked")
                          .order_by(RetentionRun.started_at.desc(), RetentionRun.id.desc()))
    success = session.scalar(select(RetentionRun).where(RetentionRun.outcome == "succeeded")
                             .order_by(RetentionRun.finished_at.desc(), RetentionRun.id.desc()))
    return RunStatus(last, success, int(app_of(session).config["RETENTION_RUN_MAX_AGE_DAYS"]),
                     clock.now())
