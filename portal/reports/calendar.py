"""The reporting calendar: planning reports, recording their submission and approval.

Public face for other areas: `final_resume_approval_date` (the retention trigger) and
`reports_of`. Every change is audited in the caller's transaction.
"""

from __future__ import annotations

import calendar as _months
import enum
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.audit.services import actor_fields, record
from portal.reports.models import SummaryReport

#: the longest reference (ANSM's own numbering) kept for a submission or an approval
MAX_REFERENCE_LENGTH = 64
#: default periodicity (PUT-10: 6-monthly unless the PUT-SP says otherwise) and delay to submit
DEFAULT_PERIOD_MONTHS = 6
DEFAULT_SUBMISSION_DELAY_MONTHS = 2


class CalendarAction(enum.StrEnum):
    """Audited changes of the calendar."""

    PLAN = "reports:report:plan"
    SUBMIT = "reports:report:submit"
    APPROVE = "reports:report:approve"
    FINAL = "reports:report:final"


class CalendarError(ValueError):
    """A calendar change that cannot be made; the message says why, for the person."""


class Status(enum.StrEnum):
    """Where a report stands on a given day."""

    planned = "planned"  # the interval is still running
    in_preparation = "in_preparation"  # locked, not yet due
    overdue = "overdue"  # due date passed, not submitted
    submitted = "submitted"  # at ANSM, résumé not yet approved
    approved = "approved"  # résumé approved by ANSM


def status_of(report: SummaryReport, today: date) -> Status:
    """The report's status on `today` (a local date)."""
    if report.resume_approved_on is not None:
        return Status.approved
    if report.submitted_on is not None:
        return Status.submitted
    if today > report.submission_due_on:
        return Status.overdue
    if today > report.data_lock_date:
        return Status.in_preparation
    return Status.planned


def add_months(day: date, months: int) -> date:
    """`day` moved by `months` calendar months, kept at the month's end when it is shorter."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, _months.monthrange(year, month)[1]))


def reports_of(session: Session, protocol_key: str | None = None) -> list[SummaryReport]:
    """The calendar in order: one protocol's reports, or every protocol's."""
    query = select(SummaryReport).order_by(SummaryReport.protocol_key, SummaryReport.number)
    if protocol_key is not None:
        query = query.where(SummaryReport.protocol_key == protocol_key)
    return list(session.scalars(query))


def approved_reports(session: Session) -> list[SummaryReport]:
    """The reports whose résumé ANSM approved, the latest approval first."""
    return list(
        session.scalars(
            select(SummaryReport)
            .where(SummaryReport.resume_approved_on.is_not(None))
            .order_by(
                SummaryReport.resume_approved_on.desc(),
                SummaryReport.protocol_key,
                SummaryReport.number.desc(),
            )
        )
    )


def report_at(session: Session, protocol_key: str, data_lock: date) -> SummaryReport | None:
    """The protocol's report locked on `data_lock`, if planned."""
    return session.scalar(
        select(SummaryReport).where(
            SummaryReport.protocol_key == protocol_key, SummaryReport.data_lock_date == data_lock
        )
    )


def final_resume_approval_date(session: Session, protocol_key: str) -> date | None:
    """The day ANSM approved the résumé of the protocol's final report, or None while the
    final report is not approved (or no report is marked final). Retention's T1 trigger."""
    return session.scalar(
        select(SummaryReport.resume_approved_on).where(
            SummaryReport.protocol_key == protocol_key,
            SummaryReport.is_final.is_(True),
            SummaryReport.resume_approved_on.is_not(None),
        )
    )


@dataclass(frozen=True)
class NextPeriod:
    period_start: date
    data_lock_date: date
    submission_due_on: date


def next_period(
    session: Session,
    protocol_key: str,
    *,
    first_start: date,
    period_months: int = DEFAULT_PERIOD_MONTHS,
    submission_delay_months: int = DEFAULT_SUBMISSION_DELAY_MONTHS,
) -> NextPeriod:
    """The interval after the protocol's last planned report (or from `first_start`), with
    the periodicity and delay of the protocol definition (`summary_reports`)."""
    last = session.scalar(
        select(SummaryReport)
        .where(SummaryReport.protocol_key == protocol_key)
        .order_by(SummaryReport.number.desc())
        .limit(1)
    )
    start = first_start if last is None else last.data_lock_date + timedelta(days=1)
    lock = add_months(start, period_months) - timedelta(days=1)
    return NextPeriod(start, lock, add_months(lock, submission_delay_months))


def _reference(value: str | None, what: str) -> str:
    text = (value or "").strip()
    if not text:
        raise CalendarError(f"the {what} reference is required")
    if len(text) > MAX_REFERENCE_LENGTH:
        raise CalendarError(
            f"the {what} reference is longer than {MAX_REFERENCE_LENGTH} characters ({len(text)})"
        )
    return text


def plan_report(
    session: Session,
    actor: Any,
    protocol_key: str,
    *,
    data_lock: date,
    period_start: date | None = None,
    submission_due: date | None = None,
    submission_delay_months: int = DEFAULT_SUBMISSION_DELAY_MONTHS,
    is_final: bool = False,
) -> SummaryReport:
    """Add the protocol's next report to the calendar. Its interval starts the day after the
    previous report's data lock (or on `period_start` for the first one).

    :raises CalendarError: the data lock is not after the previous one, or a first report has
        no start, or a report is already final.
    """
    previous = session.scalar(
        select(SummaryReport)
        .where(SummaryReport.protocol_key == protocol_key)
        .order_by(SummaryReport.number.desc())
        .limit(1)
    )
    if previous is not None:
        if previous.is_final:
            raise CalendarError(
                f"report {previous.number} of {protocol_key} is the final one: "
                "no report can follow it"
            )
        if data_lock <= previous.data_lock_date:
            raise CalendarError(
                f"the data lock {data_lock.isoformat()} is not after the "
                f"previous report's ({previous.data_lock_date.isoformat()})"
            )
        start = previous.data_lock_date + timedelta(days=1)
        if period_start is not None and period_start != start:
            raise CalendarError(
                f"the interval must start on {start.isoformat()}, the day after "
                "the previous data lock"
            )
    else:
        if period_start is None:
            raise CalendarError("the first report needs the start of its interval")
        if period_start > data_lock:
            raise CalendarError("the interval starts after its data lock")
        start = period_start
    due = submission_due or add_months(data_lock, submission_delay_months)
    if due < data_lock:
        raise CalendarError("the submission is due before the data lock")
    number = (
        session.scalar(
            select(func.max(SummaryReport.number)).where(SummaryReport.protocol_key == protocol_key)
        )
        or 0
    ) + 1
    report = SummaryReport(
        protocol_key=protocol_key,
        number=number,
        period_start=start,
        data_lock_date=data_lock,
        submission_due_on=due,
        is_final=is_final,
        created_by_label=actor_fields(actor)[2],
    )
    session.add(report)
    session.flush()
    record(session, actor, CalendarAction.PLAN, report, final=int(is_final))
    return report


def record_submission(
    session: Session, actor: Any, report: SummaryReport, *, submitted_on: date, reference: str
) -> SummaryReport:
    """Record the sending of the report to ANSM.

    :raises CalendarError: before its data lock, already submitted, or no reference.
    """
    reference = _reference(reference, "submission")
    if report.submitted_on is not None:
        raise CalendarError(
            f"report {report.number} was already submitted on {report.submitted_on.isoformat()}"
        )
    if submitted_on <= report.data_lock_date:
        raise CalendarError("a report is submitted after its data lock")
    report.submitted_on, report.submission_reference = submitted_on, reference
    session.flush()
    record(session, actor, CalendarAction.SUBMIT, report)
    return report


def record_approval(
    session: Session, actor: Any, report: SummaryReport, *, approved_on: date, reference: str
) -> SummaryReport:
    """Record ANSM's approval of the report's résumé (PUT-10: the date is mandatory).

    :raises CalendarError: not submitted, approved before its submission, already approved,
        or no reference.
    """
    reference = _reference(reference, "approval")
    if report.submitted_on is None:
        raise CalendarError(f"report {report.number} has not been submitted to ANSM")
    if report.resume_approved_on is not None:
        raise CalendarError(
            f"the résumé of report {report.number} was already approved on "
            f"{report.resume_approved_on.isoformat()}"
        )
    if approved_on < report.submitted_on:
        raise CalendarError("the approval date is before the submission date")
    report.resume_approved_on, report.approval_reference = approved_on, reference
    session.flush()
    record(session, actor, CalendarAction.APPROVE, report, final=int(report.is_final))
    return report


def mark_final(session: Session, actor: Any, report: SummaryReport) -> SummaryReport:
    """Make `report` the protocol's final one (it must be its last report).

    :raises CalendarError: another report is final, or a later report exists.
    """
    others = [r for r in reports_of(session, report.protocol_key) if r.id != report.id]
    if any(r.is_final for r in others):
        raise CalendarError(f"{report.protocol_key} already has a final report")
    if any(r.number > report.number for r in others):
        raise CalendarError(f"report {report.number} is not the last of {report.protocol_key}")
    if report.resume_approved_on is not None:
        # The approval date would suddenly become a retention trigger after the fact.
        raise CalendarError("an approved report cannot be made final afterwards")
    report.is_final = True
    session.flush()
    record(session, actor, CalendarAction.FINAL, report)
    return report
