"""Reports fixtures: the demo protocol and a seeded cohort whose counts are written out by hand."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

import portal.notices.models  # noqa: F401 - tables on the metadata (PostgreSQL schema)
import portal.records.models  # noqa: F401
import portal.rights.models  # noqa: F401
from portal import clock
from portal.access.models import Scope
from portal.permissions import Role
from portal.records.models import Patient, Submission
from portal.reports.calendar import plan_report
from portal.reports.models import SummaryReport
from tests.clock_starts import START_UTC
from tests.conftest import make_test_config
from tests.helpers_auth import CHEAP_ARGON2
from tests.records import helpers

PARIS = ZoneInfo("Europe/Paris")
#: the first report's data lock: the day the tests start; its interval: the 60 days before
LOCK = START_UTC.astimezone(PARIS).date()
PERIOD_START = LOCK - timedelta(days=59)
#: forms submitted before the interval (cumulative only) are submitted this long before START
BEFORE = timedelta(days=90)
#: and those of the interval this long before START
DURING = timedelta(days=20)


@pytest.fixture
def app_config(tmp_path: Path, key_file: Path) -> dict[str, object]:
    return make_test_config(tmp_path, key_file, PASSWORD_HASHER=CHEAP_ARGON2)


@dataclass
class Cohort:
    report: SummaryReport
    patients: list[Patient]
    access: list[Submission] = field(default_factory=list)
    case_numbers: list[str] = field(default_factory=list)


def _submit_at(db, ago: timedelta, actor, patient, form_key, answers=None):  # noqa: ANN001, ANN202
    with clock.running_from(START_UTC - ago):
        return helpers.submit(
            db,
            actor,
            patient,
            form_key,
            answers if answers is not None else helpers.ANSWERS[form_key](),
        )


@pytest.fixture
def cohort(db: Session) -> Cohort:
    """Twelve patients, counted by hand:

    - access requests: 12 (F 7, M 5); 4 before the interval (F 2, M 2), 8 during (F 5, M 3);
    - initiations: 10 (patients 0 to 9), 4 before the interval and 6 during;
    - discontinuations: 3 during the interval (patients 0, 1, 2, reason patient_decision);
    - adverse events, all during the interval, not serious: 6 coded 10019211 (patients 0 to 5)
      and 1 coded 10022891 (patient 6).
    """
    with clock.running_from(START_UTC - BEFORE - timedelta(days=1)):
        helpers.install_demo(db)
        site = helpers.site(db)
        prescriber = helpers.professional(db, "c.martin", site)
        patients = [
            helpers.register(db, prescriber, site, birth_year=1950 + i, sex="F" if i < 7 else "M")
            for i in range(12)
        ]
    report = plan_report(
        db, helpers.CLI, helpers.PROTOCOL_KEY, period_start=PERIOD_START, data_lock=LOCK
    )
    db.commit()
    made = Cohort(report, patients, case_numbers=[p.case_number for p in patients])
    before = {0, 1, 7, 8}  # F, F, M, M
    for i, patient in enumerate(patients):
        answers = {**helpers.access_answers(), "sex": "F" if i < 7 else "M"}
        ago = BEFORE if i in before else DURING
        with clock.running_from(START_UTC - ago):
            answers = {**helpers.access_answers(), "sex": "F" if i < 7 else "M"}
        made.access.append(_submit_at(db, ago, prescriber, patient, "access", answers))
    for i in range(10):
        ago = BEFORE if i in (0, 1, 7, 8) else DURING
        with clock.running_from(START_UTC - ago):
            answers = helpers.initiation_answers()
        _submit_at(db, ago, prescriber, patients[i], "initiation", answers)
    for i in range(3):
        _submit_at(db, DURING - timedelta(days=5), prescriber, patients[i], "discontinuation")
    for i in range(7):
        with clock.running_from(START_UTC - DURING + timedelta(days=2)):
            answers = helpers.adverse_event_answers()
        if i == 6:
            answers["meddra_llt_code"] = "10022891"
        _submit_at(
            db, DURING - timedelta(days=2), prescriber, patients[i], "adverse_event", answers
        )
    return made


@pytest.fixture
def medical_affairs(db: Session, cohort):  # noqa: ANN001, ANN201
    return helpers.lab_person(db, "m.agreg", Role.MEDICAL_AFFAIRS, Scope.AGGREGATED)


def lock_of(cohort: Cohort) -> date:
    return cohort.report.data_lock_date
