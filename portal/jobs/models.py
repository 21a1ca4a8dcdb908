"""What the job runner records: one row per run of a duty, and the SQLite lease rows."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, UTCDateTime

#: the outcomes of a run; `running` until it ends, `interrupted` when its runner died
OUTCOMES = ("running", "success", "failure", "interrupted")


class JobRun(Base):
    """One run of one duty by `portal jobs run`: when, by which runner, how it ended."""

    __tablename__ = "job_run"
    __table_args__ = (
        CheckConstraint("outcome IN ('running', 'success', 'failure', 'interrupted')",
                        name="outcome"),
        Index("ix_job_run_job_started", "job", "started_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str] = mapped_column(String(16), default="running")
    #: the figures the duty reports (messages sent, grants expired...)
    counts: Mapped[dict | None] = mapped_column(JSON)
    #: what the duty printed, or why it failed (no personal data: the commands print none)
    summary: Mapped[str | None] = mapped_column(Text)
    #: host:pid of the runner
    runner: Mapped[str] = mapped_column(String(128))


class JobLease(Base):
    """The lock of a duty on SQLite (PostgreSQL uses an advisory lock): held by `owner`
    until `lease_until`, taken over by another runner once the lease expired."""

    __tablename__ = "job_lease"

    job: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
