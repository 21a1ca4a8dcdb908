"""The reporting calendar of each protocol: its periodic summary reports (PUT-10).

A report is planned with its interval and data-lock date, then gets its submission to ANSM and
the ANSM approval of its résumé, each with its date and reference. The approval of the final
report's résumé is the retention trigger (domain requirements section 3, T1).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import CheckConstraint, Date, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, bool_false, created_at


class SummaryReport(Base):
    """One periodic summary report of a protocol, numbered from 1 in calendar order."""

    __tablename__ = "summary_report"
    __table_args__ = (
        UniqueConstraint("protocol_key", "number"),
        UniqueConstraint("protocol_key", "data_lock_date", name="uq_summary_report_data_lock"),
        CheckConstraint("period_start <= data_lock_date", name="period_ordered"),
        CheckConstraint("submission_due_on >= data_lock_date", name="due_after_lock"),
        CheckConstraint(
            "(submitted_on IS NULL AND submission_reference IS NULL) OR "
            "(submitted_on IS NOT NULL AND submission_reference IS NOT NULL)",
            name="submission_has_reference",
        ),
        # PUT-10: no approval without its date (and reference), and never before submission.
        CheckConstraint(
            "(resume_approved_on IS NULL AND approval_reference IS NULL) OR "
            "(resume_approved_on IS NOT NULL AND approval_reference IS NOT NULL "
            "AND submitted_on IS NOT NULL AND resume_approved_on >= submitted_on)",
            name="approval_after_submission",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: the protocol (PUT-SP) the report covers
    protocol_key: Mapped[str] = mapped_column(String(64), index=True)
    #: 1 for the protocol's first report, then one more per report
    number: Mapped[int] = mapped_column(Integer)
    #: first day of the interval the report covers
    period_start: Mapped[date] = mapped_column(Date)
    #: last day of data the report takes into account (the interval's end)
    data_lock_date: Mapped[date] = mapped_column(Date)
    #: the day the report is due at ANSM (data lock + the protocol's submission delay)
    submission_due_on: Mapped[date] = mapped_column(Date)
    #: the day it was sent to ANSM, and the reference of that sending
    submitted_on: Mapped[date | None] = mapped_column(Date)
    submission_reference: Mapped[str | None] = mapped_column(String(64))
    #: the day ANSM approved the report's résumé, and the reference of that approval
    resume_approved_on: Mapped[date | None] = mapped_column(Date)
    approval_reference: Mapped[str | None] = mapped_column(String(64))
    #: the protocol's last report (its approval starts the archive countdown)
    is_final: Mapped[bool_false]
    created_at: Mapped[created_at]
    #: who planned it (login or CLI operator)
    created_by_label: Mapped[str] = mapped_column(String(128))

    audit_type = "summary_report"

    @property
    def audit_ref(self) -> str:
        return f"{self.protocol_key}#{self.number}"

    @property
    def is_approved(self) -> bool:
        return self.resume_approved_on is not None

    def __repr__(self) -> str:
        return f"<SummaryReport {self.protocol_key}#{self.number} lock {self.data_lock_date}>"
