"""The job runner: run every duty that is due, each under its database lock, and record it.

`run_due(app)` takes the duties in order. For each it takes the duty's lock (`locks.py`);
under the lock it decides whether the duty is due (no successful run within its period, no
attempt in the last minutes), marks as interrupted a run left `running` by a runner that
died, records a new run, runs the duty and records its end, outcome and figures. A second
runner started at the same moment waits for no lock: it skips what the first one holds, then
finds it done. `status(session)` tells which duty is late (for `portal jobs status`).
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from portal import clock
from portal.db import new_session
from portal.jobs.duties import DUTIES, Duty, Outcome
from portal.jobs.locks import duty_lock
from portal.jobs.models import JobRun

log = logging.getLogger(__name__)

#: after a failed run, the next attempt waits at least this long (or the duty's period)
RETRY_AFTER = timedelta(minutes=10)
#: the longest summary kept per run
MAX_SUMMARY = 4000


def runner_name() -> str:
    """host:pid of this runner."""
    return f"{socket.gethostname()}:{os.getpid()}"[:128]


@dataclass(frozen=True)
class RunResult:
    """What one `run_due` did with one duty."""

    job: str
    #: ran | not_due | locked
    action: str
    ok: bool | None = None
    summary: str = ""


def _last(session: Session, job: str, *, success: bool) -> JobRun | None:
    query = select(JobRun).where(JobRun.job == job)
    if success:
        query = query.where(JobRun.outcome == "success")
    else:
        query = query.where(JobRun.outcome != "running")
    return session.scalars(query.order_by(JobRun.started_at.desc(), JobRun.id.desc())
                           .limit(1)).first()


def is_due(session: Session, duty: Duty, now: datetime) -> bool:
    """No success within the duty's period, and no attempt ended in the last minutes."""
    success = _last(session, duty.name, success=True)
    if success is not None and success.started_at + duty.every > now:
        return False
    attempt = _last(session, duty.name, success=False)
    retry = min(duty.every, RETRY_AFTER)
    return attempt is None or attempt.started_at + retry <= now


def _start(app: Flask, duty: Duty, runner: str) -> int | None:
    """Under the lock: the id of a new run when the duty is due, else None."""
    now = clock.now()
    with new_session(app) as session:
        if not is_due(session, duty, now):
            return None
        # We hold the lock: a run still `running` belongs to a runner that died.
        session.execute(
            update(JobRun).where(JobRun.job == duty.name, JobRun.outcome == "running")
            .values(outcome="interrupted", ended_at=now,
                    summary="the runner stopped before the end of the run")
            .execution_options(synchronize_session=False)
        )
        run = JobRun(job=duty.name, started_at=now, outcome="running", runner=runner)
        session.add(run)
        session.commit()
        return run.id


def _end(app: Flask, run_id: int, outcome: Outcome) -> None:
    with new_session(app) as session:
        run = session.get(JobRun, run_id)
        assert run is not None
        run.ended_at = clock.now()
        run.outcome = "success" if outcome.ok else "failure"
        run.counts = dict(outcome.counts)
        run.summary = outcome.summary[:MAX_SUMMARY]
        session.commit()


def run_duty(app: Flask, duty: Duty, runner: str | None = None) -> RunResult:
    """Run `duty` if it is due and nobody else holds it."""
    runner = runner or runner_name()
    with duty_lock(app, duty.name, runner, duty.lease) as held:
        if not held:
            return RunResult(duty.name, "locked")
        run_id = _start(app, duty, runner)
        if run_id is None:
            return RunResult(duty.name, "not_due")
        try:
            with app.app_context():
                outcome = duty.run(app)
        except Exception as exc:  # noqa: BLE001 - one failed duty must not stop the others
            # One line in the log, the reason in the run's record: no traceback on a terminal.
            log.error("the duty %s failed: %s: %s", duty.name, type(exc).__name__, exc)
            outcome = Outcome(False, {}, f"{type(exc).__name__}: {exc}")
        _end(app, run_id, outcome)
        return RunResult(duty.name, "ran", outcome.ok, outcome.summary)


def run_due(app: Flask, only: str | None = None) -> list[RunResult]:
    """Run every duty that is due (or only the one named), in order."""
    runner = runner_name()
    return [run_duty(app, duty, runner) for duty in DUTIES
            if only is None or duty.name == only]


@dataclass(frozen=True)
class DutyStatus:
    """Where one duty stands, for `portal jobs status` and the page."""

    duty: Duty
    last: JobRun | None
    last_success: JobRun | None
    late: bool


def status(session: Session, now: datetime | None = None) -> list[DutyStatus]:
    """Each duty's last run and last success; late when no success within period + grace."""
    moment = now or clock.now()
    found = []
    for duty in DUTIES:
        last = session.scalars(select(JobRun).where(JobRun.job == duty.name)
                               .order_by(JobRun.started_at.desc(), JobRun.id.desc())
                               .limit(1)).first()
        success = _last(session, duty.name, success=True)
        late = success is None or success.started_at + duty.every + duty.grace < moment
        found.append(DutyStatus(duty, last, success, late))
    return found


def recent_runs(session: Session, limit: int = 100) -> list[JobRun]:
    """The newest runs of every duty."""
    return list(session.scalars(select(JobRun).order_by(JobRun.started_at.desc(),
                                                        JobRun.id.desc()).limit(limit)))


def run_counts(session: Session) -> dict[str, int]:
    """How many runs each duty has had (tests, the page)."""
    return {job: n for job, n in session.execute(
        select(JobRun.job, func.count()).group_by(JobRun.job))}
