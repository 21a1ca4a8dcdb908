"""Time travel through a case's life: archive on its day, purge on its day, holds, the ledger."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from portal import clock
from portal.audit.models import AuditEvent
from portal.records.models import Patient, Submission, SubmissionRevision
from portal.retention import archive as store
from portal.retention import jobs, services
from portal.retention.models import PurgeLedgerEntry, RetentionCase, RetentionRun
from tests.records import helpers as records
from tests.retention.helpers import CLI, paris, patient_with_aac, run_on

GRANTED = date(2027, 1, 10)
ENDS = date(2027, 12, 31)
#: no final report for the demo protocol: the fallback rule, AAC end + 2 years
ARCHIVE_DUE = date(2029, 12, 31)


@pytest.fixture
def case(db, prescriber, site_a, archive):  # noqa: ANN001, ANN201
    patient, case = patient_with_aac(db, prescriber, site_a, granted=GRANTED, ends=ENDS)
    records.submit(db, prescriber, patient, "initiation")
    return patient, case


def _transitions(db) -> list[AuditEvent]:  # noqa: ANN001
    return list(db.scalars(select(AuditEvent)
                           .where(AuditEvent.action == "retention:case:transition")
                           .order_by(AuditEvent.seq)))


def test_the_case_moves_to_the_archive_on_its_day_and_not_the_day_before(app, db, case) -> None:
    patient, retention_case = case
    report = run_on(db, ARCHIVE_DUE - timedelta(days=1))
    assert report.archived == 0
    assert db.scalar(select(func.count()).select_from(Patient)) == 1

    report = run_on(db, ARCHIVE_DUE)
    assert report.archived == 1
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Patient)) == 0
    assert db.scalar(select(func.count()).select_from(Submission)) == 0
    assert db.scalar(select(func.count()).select_from(SubmissionRevision)) == 0
    moved = db.get(RetentionCase, retention_case.id)
    assert moved.state == "archived" and moved.patient_id is None
    with store.archive_engine(app).connect() as connection:
        found = store.load_case(connection, moved.reference)
    assert found is not None
    assert found.rows["patient"][0]["case_number"] == patient.case_number
    assert len(found.rows["submission_revision"]) == 1
    assert set(found.keys) == {"patient", f"revision:{found.rows['submission_revision'][0]['id']}"}
    [entry] = _transitions(db)
    assert entry.target_ref == moved.reference
    assert entry.details["from_state"] == "active" and entry.details["to_state"] == "archived"
    assert entry.details["rule"] == "t1_no_report"
    assert entry.details["aac_end"] == ENDS.isoformat()
    assert entry.details["job"] == report.job_id
    # The case number is not what the trail of the transition keeps.
    assert patient.case_number not in str(entry.details)


def test_a_second_run_the_same_day_changes_nothing(db, case) -> None:
    run_on(db, ARCHIVE_DUE)
    again = run_on(db, ARCHIVE_DUE)
    assert (again.archived, again.purged) == (0, 0)
    assert len(_transitions(db)) == 1


def test_plan_lists_what_would_move_and_changes_nothing(db, case, runner) -> None:
    result = runner.invoke(args=["retention", "plan", "--at", ARCHIVE_DUE.isoformat()])
    assert result.exit_code == 0, result.output
    assert "1 case(s) would move" in result.output
    assert "active -> archived  rule t1_no_report" in result.output
    before = runner.invoke(args=["retention", "plan", "--at",
                                 (ARCHIVE_DUE - timedelta(days=1)).isoformat()])
    assert "0 case(s) would move" in before.output
    assert "not due" in before.output
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Patient)) == 1
    assert _transitions(db) == []


def test_a_plan_date_that_is_not_a_date_is_refused(runner) -> None:
    result = runner.invoke(args=["retention", "plan", "--at", "31/12/2029"])
    assert result.exit_code == 2
    assert "is not a date (YYYY-MM-DD)" in result.output


def test_without_dated_evidence_nothing_moves(db, prescriber, site_a, archive) -> None:
    patient = records.register(db, prescriber, site_a)
    services.case_of(db, patient)
    db.commit()
    report = run_on(db, date(2200, 1, 1))
    assert (report.archived, report.purged, report.missing) == (0, 0, 1)


def test_the_purge_comes_at_its_date_and_leaves_only_the_ledger(app, db, case) -> None:
    app.config["RETENTION_ARCHIVE_YEARS"] = 5
    patient, retention_case = case
    reference = retention_case.reference
    run_on(db, ARCHIVE_DUE)
    purge_due = date(2032, 12, 31)
    assert run_on(db, purge_due - timedelta(days=1)).purged == 0
    report = run_on(db, purge_due)
    assert report.purged == 1
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(RetentionCase)) == 0
    with store.archive_engine(app).connect() as connection:
        assert store.load_case(connection, reference) is None
        assert connection.execute(select(func.count()).select_from(store.archived_key)
                                  ).scalar() == 0
    [entry] = services.purge_ledger(db)
    assert (entry.reference, entry.rule, entry.from_state) == (
        reference, "t2_archive_end", "archived")
    assert entry.purged_at.date() == purge_due - timedelta(days=1)  # 00:30 Paris is UTC's eve
    assert [e.details["to_state"] for e in _transitions(db)] == ["archived", "purged"]


def test_a_purge_due_before_the_archive_purges_from_the_active_base(app, db, case) -> None:
    app.config["RETENTION_ARCHIVE_YEARS"] = 1
    app.config["RETENTION_ACTIVE_YEARS"] = 2
    report = run_on(db, date(2028, 12, 31))
    assert (report.archived, report.purged) == (0, 1)
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Patient)) == 0
    [entry] = services.purge_ledger(db)
    assert entry.from_state == "active"


def test_a_legal_hold_postpones_the_purge_and_its_release_lets_it_run(app, db, case) -> None:
    app.config["RETENTION_ARCHIVE_YEARS"] = 5
    _patient, retention_case = case
    hold = services.open_hold(db, CLI, retention_case, "litigation", "TJ-PARIS-2029-114")
    db.commit()
    run_on(db, ARCHIVE_DUE)  # a hold does not keep a case in the active base
    report = run_on(db, date(2033, 6, 1))
    assert (report.purged, report.held) == (0, 1)
    with clock.frozen(paris(date(2033, 6, 2), 9)):
        services.release_hold(db, CLI, db.get(type(hold), hold.id), "TJ-PARIS-2033-RELEASE")
        db.commit()
    assert run_on(db, date(2033, 6, 3)).purged == 1


def test_a_hold_needs_its_document(db, case) -> None:
    _patient, retention_case = case
    with pytest.raises(services.RetentionError, match="evidence reference"):
        services.open_hold(db, CLI, retention_case, "litigation", "  ")


def test_reapplying_the_ledger_purges_a_restored_case_again(app, db, case, prescriber,
                                                            site_a) -> None:
    app.config["RETENTION_ARCHIVE_YEARS"] = 1
    app.config["RETENTION_ACTIVE_YEARS"] = 2
    patient, retention_case = case
    run_on(db, date(2028, 12, 31))
    # A restore from an older backup brings the patient back: same case number.
    restored = records.register(db, prescriber, site_a)
    db.execute(Patient.__table__.update().where(Patient.id == restored.id)
               .values(case_number=patient.case_number))
    db.commit()
    purged = services.reapply_purge_ledger(db, CLI)
    db.commit()
    assert purged == [retention_case.reference]
    assert db.scalar(select(func.count()).select_from(Patient)) == 0
    assert services.reapply_purge_ledger(db, CLI) == []
    assert db.scalar(select(func.count()).select_from(PurgeLedgerEntry)) == 1


def test_a_run_finds_the_lock_taken_says_so_and_changes_nothing(db, case, runner) -> None:
    with clock.frozen(paris(ARCHIVE_DUE)):
        assert jobs.take_lock(db, "RR-other")
        result = runner.invoke(args=["retention", "run"])
    assert result.exit_code == 0, result.output
    assert "Another retention run holds the lock" in result.output
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Patient)) == 1
    jobs.release_lock(db, "RR-other")
    with clock.frozen(paris(ARCHIVE_DUE)):
        result = runner.invoke(args=["retention", "run"])
    assert "1 archived" in result.output


def test_a_dead_runs_lock_is_taken_over_once_stale(db, case) -> None:
    with clock.frozen(paris(ARCHIVE_DUE)):
        assert jobs.take_lock(db, "RR-dead")
    with clock.frozen(paris(ARCHIVE_DUE, 5)):
        assert not jobs.take_lock(db, "RR-new")
    with clock.frozen(paris(ARCHIVE_DUE, 7)):
        assert jobs.take_lock(db, "RR-new")


def test_status_fails_when_no_run_succeeded_for_two_days(db, case, runner) -> None:
    with clock.frozen(paris(ARCHIVE_DUE)):
        result = runner.invoke(args=["retention", "run", "--status"])
        assert result.exit_code == 1
        assert "No retention run has succeeded yet" in result.output
        runner.invoke(args=["retention", "run"])
        assert runner.invoke(args=["retention", "run", "--status"]).exit_code == 0
    with clock.frozen(paris(ARCHIVE_DUE + timedelta(days=2), 0, 20)):
        assert runner.invoke(args=["retention", "run", "--status"]).exit_code == 0
    with clock.frozen(paris(ARCHIVE_DUE + timedelta(days=2), 0, 40)):
        result = runner.invoke(args=["retention", "run", "--status"])
        assert result.exit_code == 1
        assert "OVERDUE" in result.output
    assert db.scalar(select(func.count()).select_from(RetentionRun)) == 1
