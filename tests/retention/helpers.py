"""Retention test helpers: a patient with a dated AAC, days in Paris, the run."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from sqlalchemy.orm import Session

from portal import clock
from portal.retention import jobs, services
from portal.retention.models import RetentionCase
from tests.clock_starts import PARIS
from tests.records import helpers as records

CLI = records.CLI


def paris(day: date, hour: int = 0, minute: int = 30) -> datetime:
    """A time on `day` in Paris (00:30 by default: already that day locally, not yet in UTC)."""
    return datetime.combine(day, time(hour, minute), tzinfo=PARIS)


def patient_with_aac(db: Session, prescriber: Any, site: Any, *, granted: date,
                     ends: date, evidence: str = "ANSM-AAC-2027-0001",
                     **registration: Any) -> tuple[Any, RetentionCase]:
    patient = records.register(db, prescriber, site, **registration)
    case = services.case_of(db, patient)
    services.record_aac_decision(db, CLI, case, "granted", granted, ends, evidence)
    db.commit()
    return patient, case


def run_on(db: Session, day: date, **kwargs: Any) -> jobs.RunReport:
    """Run the daily job at 00:30 Paris time on `day`, the clock frozen there."""
    with clock.frozen(paris(day)):
        return jobs.run(db, CLI, **kwargs)
