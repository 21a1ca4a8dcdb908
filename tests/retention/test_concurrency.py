"""Two `portal retention run`s at once, from two machines: each transition happens once."""

from __future__ import annotations

import threading
from datetime import date

from sqlalchemy import func, select

from portal import clock
from portal.audit.models import AuditEvent
from portal.db import new_session
from portal.records.models import Patient
from portal.retention import jobs, services
from portal.retention.models import RetentionCase, RetentionRun
from tests.retention.helpers import CLI, paris, patient_with_aac

ARCHIVE_DUE = date(2029, 12, 31)


def test_two_concurrent_runs_apply_each_transition_once(app, db, prescriber, site_a,
                                                        archive) -> None:
    for year in (1960, 1961, 1962):
        patient_with_aac(db, prescriber, site_a, granted=date(2027, 1, 10),
                         ends=date(2027, 12, 31), birth_year=year)
    barrier = threading.Barrier(2)
    reports: list[jobs.RunReport] = []
    errors: list[BaseException] = []

    def one_run() -> None:
        try:
            with new_session(app) as session:
                barrier.wait()
                reports.append(jobs.run(session, CLI))
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    with clock.frozen(paris(ARCHIVE_DUE)):
        threads = [threading.Thread(target=one_run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert errors == []
    assert sum(r.archived for r in reports) == 3
    assert sorted(r.locked for r in reports) == [False, True]
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Patient)) == 0
    transitions = db.scalar(select(func.count()).select_from(AuditEvent)
                            .where(AuditEvent.action == "retention:case:transition"))
    assert transitions == 3
    outcomes = sorted(db.scalars(select(RetentionRun.outcome)))
    assert outcomes == ["locked", "succeeded"]


def test_a_transition_applied_twice_without_the_lock_happens_once(db, prescriber, site_a,
                                                                  archive) -> None:
    _patient, case = patient_with_aac(db, prescriber, site_a, granted=date(2027, 1, 10),
                                      ends=date(2027, 12, 31))
    decision = services.decide(db, case, ARCHIVE_DUE)
    stale = db.get(RetentionCase, case.id)
    with clock.frozen(paris(ARCHIVE_DUE)):
        assert services.archive_case(db, CLI, stale, decision, "RR-one")
        db.commit()
        # A second machine that read the case as active before the first one committed.
        stale.state = "active"
        stale.patient_id = _patient.id
        db.expunge(stale)
        assert not services.archive_case(db, CLI, stale, decision, "RR-two")
        db.commit()
    assert db.scalar(select(func.count()).select_from(AuditEvent)
                     .where(AuditEvent.action == "retention:case:transition")) == 1
