"""The reporting calendar (PUT-10): reports planned in order, submission then approval, each
with its date and reference; the final report's approval is the retention trigger."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.audit.models import AuditEvent
from portal.audit.services import cli_actor
from portal.reports import final_resume_approval_date
from portal.reports.calendar import (
    CalendarError,
    Status,
    add_months,
    mark_final,
    next_period,
    plan_report,
    record_approval,
    record_submission,
    reports_of,
    status_of,
)
from portal.reports.models import SummaryReport

ACTOR = cli_actor("cli:medaff")


def _first(db, **kwargs) -> SummaryReport:  # noqa: ANN001, ANN003
    return plan_report(
        db, ACTOR, "velnor", period_start=date(2026, 1, 1), data_lock=date(2026, 6, 30), **kwargs
    )


def test_reports_follow_each_other_and_their_status_moves_with_the_dates(db) -> None:
    first = _first(db)
    second = plan_report(
        db, ACTOR, "velnor", data_lock=date(2026, 12, 31), submission_due=date(2027, 2, 15)
    )
    assert (first.number, second.number) == (1, 2)
    assert second.period_start == date(2026, 7, 1)
    assert first.submission_due_on == date(2026, 8, 30)  # 2 months after the lock by default
    assert status_of(first, date(2026, 6, 30)) is Status.planned
    assert status_of(first, date(2026, 7, 1)) is Status.in_preparation
    assert status_of(first, date(2026, 8, 31)) is Status.overdue
    record_submission(db, ACTOR, first, submitted_on=date(2026, 8, 1), reference="ANSM-PSR-1")
    assert status_of(first, date(2026, 9, 1)) is Status.submitted
    record_approval(db, ACTOR, first, approved_on=date(2026, 10, 1), reference="ANSM-APP-1")
    assert status_of(first, date(2026, 10, 2)) is Status.approved
    assert [r.number for r in reports_of(db, "velnor")] == [1, 2]
    actions = list(
        db.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.target_type == "summary_report")
            .order_by(AuditEvent.seq)
        )
    )
    assert actions == [
        "reports:report:plan",
        "reports:report:plan",
        "reports:report:submit",
        "reports:report:approve",
    ]


def test_the_retention_trigger_is_the_final_reports_approval_only(db) -> None:
    first = _first(db)
    record_submission(db, ACTOR, first, submitted_on=date(2026, 7, 20), reference="S1")
    record_approval(db, ACTOR, first, approved_on=date(2026, 9, 1), reference="A1")
    assert final_resume_approval_date(db, "velnor") is None  # not the final report
    last = plan_report(db, ACTOR, "velnor", data_lock=date(2026, 12, 31))
    mark_final(db, ACTOR, last)
    assert final_resume_approval_date(db, "velnor") is None  # final, not yet approved
    record_submission(db, ACTOR, last, submitted_on=date(2027, 1, 20), reference="S2")
    record_approval(db, ACTOR, last, approved_on=date(2027, 3, 2), reference="A2")
    assert final_resume_approval_date(db, "velnor") == date(2027, 3, 2)
    assert final_resume_approval_date(db, "other") is None
    with pytest.raises(CalendarError, match="final one"):
        plan_report(db, ACTOR, "velnor", data_lock=date(2027, 6, 30))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda db, r: record_approval(
                db, ACTOR, r, approved_on=date(2026, 8, 1), reference="A"
            ),
            "has not been submitted",
        ),
        (
            lambda db, r: record_submission(
                db, ACTOR, r, submitted_on=date(2026, 6, 30), reference="S"
            ),
            "after its data lock",
        ),
        (
            lambda db, r: record_submission(
                db, ACTOR, r, submitted_on=date(2026, 7, 2), reference="  "
            ),
            "reference is required",
        ),
        (
            lambda db, r: record_submission(
                db, ACTOR, r, submitted_on=date(2026, 7, 2), reference="x" * 65
            ),
            "longer than 64",
        ),
        (
            lambda db, r: plan_report(db, ACTOR, "velnor", data_lock=date(2026, 6, 30)),
            "not after the previous",
        ),
        (
            lambda db, r: plan_report(db, ACTOR, "new", data_lock=date(2026, 6, 30)),
            "needs the start",
        ),
    ],
)
def test_refused_changes_say_why_and_change_nothing(db, change, message) -> None:  # noqa: ANN001
    report = _first(db)
    with pytest.raises(CalendarError, match=message):
        change(db, report)
    db.refresh(report)
    assert report.submitted_on is None and report.resume_approved_on is None
    assert len(reports_of(db)) == 1


def test_approval_before_submission_is_refused(db) -> None:
    report = _first(db)
    record_submission(db, ACTOR, report, submitted_on=date(2026, 8, 1), reference="S1")
    with pytest.raises(CalendarError, match="before the submission"):
        record_approval(db, ACTOR, report, approved_on=date(2026, 7, 31), reference="A1")


def test_the_database_refuses_an_approval_without_its_date(db) -> None:
    report = _first(db)
    report.approval_reference = "A1"
    with pytest.raises(IntegrityError):
        db.flush()
    db.rollback()


def test_next_period_follows_the_protocols_periodicity() -> None:
    assert add_months(date(2026, 8, 31), 6) == date(2027, 2, 28)
    assert add_months(date(2026, 1, 1), 12) == date(2027, 1, 1)


def test_next_period_starts_after_the_last_lock(db) -> None:
    period = next_period(db, "velnor", first_start=date(2026, 1, 1))
    assert (period.period_start, period.data_lock_date) == (date(2026, 1, 1), date(2026, 6, 30))
    _first(db)
    period = next_period(
        db, "velnor", first_start=date(2026, 1, 1), period_months=12, submission_delay_months=1
    )
    assert (period.period_start, period.data_lock_date, period.submission_due_on) == (
        date(2026, 7, 1),
        date(2027, 6, 30),
        date(2027, 7, 30),
    )
