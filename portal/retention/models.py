"""The retention state of each case, its dated evidence, legal holds, runs and the purge ledger.

A case is known here by its opaque reference (`case_reference`: a keyed hash of the case number,
never the case number itself), so that what survives a purge — the ledger, the audit entries of
the transitions — cannot be tied back to the patient without the key file and the old number.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, created_at


class CaseState(enum.StrEnum):
    ACTIVE = "active"
    ARCHIVED = "archived"
    PURGED = "purged"


class AacEventKind(enum.StrEnum):
    """The dated decisions on a patient's AAC (ANSM)."""

    GRANTED = "granted"
    RENEWED = "renewed"
    SUSPENDED = "suspended"
    WITHDRAWN = "withdrawn"


PERIOD_KINDS = (AacEventKind.GRANTED.value, AacEventKind.RENEWED.value)
TERMINATION_KINDS = (AacEventKind.SUSPENDED.value, AacEventKind.WITHDRAWN.value)


class Rule(enum.StrEnum):
    """Why a case moved; written in the audit entry and the ledger."""

    #: final résumé approval + active years, the AAC being terminated
    T1_FINAL_RESUME = "t1_final_resume"
    #: no final report for the protocol: AAC termination + active years (DPO sign-off)
    T1_NO_REPORT = "t1_no_report"
    #: AAC termination + archive years
    T2_ARCHIVE_END = "t2_archive_end"
    #: a restore brought back a case already purged: purged again from the ledger
    LEDGER_REAPPLY = "ledger_reapply"


class RetentionCase(Base):
    """The lifecycle of one patient case: active or archived (purged cases leave the ledger)."""

    __tablename__ = "retention_case"
    __table_args__ = (
        CheckConstraint("state IN ('active', 'archived')", name="state_known"),
        CheckConstraint("state = 'active' OR archived_at IS NOT NULL", name="archived_has_date"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: keyed hash of the case number (see references.py): what the ledger and audit keep
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    #: the patient row while the case is in the active base; no foreign key, as the row
    #: leaves for the archive store at T1
    patient_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    protocol_key: Mapped[str] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(String(12), default=CaseState.ACTIVE.value)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[created_at]

    events: Mapped[list[AacEvent]] = relationship(
        back_populates="case", order_by="AacEvent.id", cascade="all, delete-orphan")
    holds: Mapped[list[LegalHold]] = relationship(
        back_populates="case", order_by="LegalHold.id", cascade="all, delete-orphan")

    audit_type = "retention_case"

    @property
    def audit_ref(self) -> str:
        return self.reference


class AacEvent(Base):
    """One ANSM decision on a patient's AAC, with its evidence (RET-01)."""

    __tablename__ = "retention_aac_event"
    __table_args__ = (
        CheckConstraint("kind IN ('granted', 'renewed', 'suspended', 'withdrawn')",
                        name="kind_known"),
        CheckConstraint("kind NOT IN ('granted', 'renewed') OR end_date IS NOT NULL",
                        name="period_has_end"),
        CheckConstraint("evidence_reference <> ''", name="has_evidence"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("retention_case.id", ondelete="CASCADE"),
                                         index=True)
    #: an AacEventKind
    kind: Mapped[str] = mapped_column(String(12))
    #: the decision's date
    decision_date: Mapped[date] = mapped_column(Date)
    #: granted / renewed: the last day of the period (at most one year after the decision)
    end_date: Mapped[date | None] = mapped_column(Date)
    #: the ANSM decision or letter the date is taken from (mandatory)
    evidence_reference: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[created_at]
    recorded_by_label: Mapped[str] = mapped_column(String(128))
    #: when the prescriber was reminded that this period ends without renewal
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    case: Mapped[RetentionCase] = relationship(back_populates="events")


class LegalHold(Base):
    """A documented litigation or authority request: it postpones the purge while open."""

    __tablename__ = "retention_legal_hold"
    __table_args__ = (
        CheckConstraint("reason IN ('litigation', 'authority_request')", name="reason_known"),
        CheckConstraint("(released_at IS NULL) = (release_reference IS NULL)",
                        name="release_documented"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("retention_case.id", ondelete="CASCADE"),
                                         index=True)
    reason: Mapped[str] = mapped_column(String(20))
    evidence_reference: Mapped[str] = mapped_column(String(64))
    opened_at: Mapped[created_at]
    opened_by_label: Mapped[str] = mapped_column(String(128))
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    release_reference: Mapped[str | None] = mapped_column(String(64))

    case: Mapped[RetentionCase] = relationship(back_populates="holds")


class PurgeLedgerEntry(Base):
    """A purged case: survives the purge so that a restore from an older backup re-applies it."""

    __tablename__ = "retention_purge_ledger"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: the case's opaque reference (keyed hash of its case number)
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    #: kept for the aggregate counts of the reports
    protocol_key: Mapped[str] = mapped_column(String(64), index=True)
    purged_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: a Rule
    rule: Mapped[str] = mapped_column(String(32))
    #: the state the case was purged from
    from_state: Mapped[str] = mapped_column(String(12))
    #: the run that purged it (or the CLI operator's ledger re-application)
    job_id: Mapped[str] = mapped_column(String(40))


class RetentionRun(Base):
    """One `portal retention run`: its outcome feeds `--status` and the DPO's page."""

    __tablename__ = "retention_run"
    __table_args__ = (
        CheckConstraint("outcome IN ('running', 'succeeded', 'failed', 'locked')",
                        name="outcome_known"),
        Index("ix_retention_run_started", "started_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[str] = mapped_column(String(40), unique=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: running | succeeded | failed | locked (another run held the lock)
    outcome: Mapped[str] = mapped_column(String(12))
    archived: Mapped[int] = mapped_column(Integer, default=0)
    purged: Mapped[int] = mapped_column(Integer, default=0)
    held: Mapped[int] = mapped_column(Integer, default=0)
    #: a short error code or class name when it failed (never personal data)
    error: Mapped[str | None] = mapped_column(String(120))


class RetentionLock(Base):
    """The single row a run takes before moving anything: one run at a time, on any machine."""

    __tablename__ = "retention_lock"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[str | None] = mapped_column(String(40))
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
