"""Exposure to the treatment and the visits overdue at the data lock, on the seeded cohort
(tests/reports/conftest.py), counted by hand from the dates the cohort was seeded with."""

from __future__ import annotations

import statistics
from datetime import date, timedelta

from sqlalchemy import select

from portal import clock
from portal.reports.dataset import Table
from portal.reports.services import generate
from tests.clock_starts import START_UTC
from tests.records import helpers
from tests.reports.conftest import BEFORE, DURING, LOCK, PERIOD_START


def _table(tables: list[Table], key: str, scope: str) -> dict[str, list[str]]:
    table = next(t for t in tables if t.key == key and t.scope == scope)
    return dict(zip(table.row_labels, table.rows_text(), strict=True))


def _spans() -> list[tuple[date, date]]:
    """Each initiated patient's treatment: the initiation form's start date (a month before
    the day it was filled in) to the stop date of the discontinuation (the day it was filled
    in), or to the data lock."""
    started_before = helpers.month_before((START_UTC - BEFORE).date())
    started_during = helpers.month_before((START_UTC - DURING).date())
    stopped = (START_UTC - (DURING - timedelta(days=5))).date()
    return [
        (started_before, stopped),  # patients 0 and 1, initiated before the interval, stopped
        (started_before, stopped),
        (started_during, stopped),  # patient 2, initiated during it, stopped
        *[(started_during, LOCK)] * 5,  # patients 3 to 6 and 9
        *[(started_before, LOCK)] * 2,  # patients 7 and 8
    ]


def _text(number: float) -> str:
    return str(int(number)) if number == int(number) else str(number)


def test_exposure_duration_matches_the_hand_counts(db, cohort) -> None:
    tables = generate(db, helpers.CLI, helpers.PROTOCOL_KEY, LOCK).tables
    cumulative = sorted((end - start).days + 1 for start, end in _spans())
    assert _table(tables, "exposure_duration", "cumulative") == {
        "Patients": ["10"],
        "Médiane": [_text(statistics.median(cumulative))],
        "Minimum": [str(cumulative[0])],
        "Maximum": [str(cumulative[-1])],
        "Cumul (patients-années)": [f"{sum(cumulative) / 365.25:.1f}"],
    }
    # Within the interval: the days of treatment from its first day (or the start) to the
    # lock (or the stop); every patient was treated during the interval.
    interval = sorted(
        (min(end, LOCK) - max(start, PERIOD_START)).days + 1 for start, end in _spans()
    )
    shown = _table(tables, "exposure_duration", "interval")
    assert shown["Patients"] == ["10"]
    assert shown["Médiane"] == [_text(statistics.median(interval))]
    assert shown["Maximum"] == [str(interval[-1])] == [str((LOCK - PERIOD_START).days + 1)]


def test_the_visits_overdue_at_the_data_lock_are_counted(db, cohort) -> None:
    # No follow-up was filled in. At the lock: patients 7 and 8 (started four months before)
    # miss M1 and M3; patients 3 to 6 and 9 (started seven weeks before) miss M1; patients 0 to
    # 2 stopped, so the visits whose window closed after their stop are not overdue.
    # Cumulative: M1 7, M3 2 (hidden, and M1 beside it), total 9.
    tables = generate(db, helpers.CLI, helpers.PROTOCOL_KEY, LOCK).tables
    assert _table(tables, "overdue_visits", "cumulative") == {
        "Initiation (J0)": ["0"],
        "Mois 1": ["n.d."],
        "Mois 3": ["<5"],
        "Mois 6": ["0"],
        "Total": ["9"],
    }
    # In the interval, only the windows that closed during it: M1 of patients 3 to 6 and 9,
    # M3 of patients 7 and 8 (their M1 closed before the interval).
    assert _table(tables, "overdue_visits", "interval") == {
        "Initiation (J0)": ["0"],
        "Mois 1": ["n.d."],
        "Mois 3": ["<5"],
        "Mois 6": ["0"],
        "Total": ["7"],
    }


def test_a_follow_up_filled_in_is_no_longer_overdue(db, cohort) -> None:
    # Patient 7 fills in M1 and M3 (late, before the lock): 7 overdue visits are left. M1 is
    # filled in twice: the report keeps one form per visit, which changes nothing.
    with clock.running_from(START_UTC - timedelta(days=3)):
        prescriber = db.scalar(select(helpers.User).where(helpers.User.login == "c.martin"))
        for timepoint in ("M1", "M1", "M3"):
            helpers.submit(
                db,
                prescriber,
                cohort.patients[7],
                "follow_up",
                helpers.follow_up_answers(timepoint),
            )
    tables = generate(db, helpers.CLI, helpers.PROTOCOL_KEY, LOCK).tables
    overdue = _table(tables, "overdue_visits", "cumulative")
    assert overdue["Total"] == ["7"]
    assert overdue["Mois 3"] == ["<5"]


def test_the_forms_kept_for_the_schedule_give_the_schedule_of_every_form() -> None:
    from portal.protocols.loader import load_path
    from portal.protocols.schema import FormKind
    from portal.records.reading import Filled, visit_schedule
    from portal.reports.dataset import _Kept
    from tests.protocols.support import DEMO

    protocol = load_path(DEMO).definition
    start = date(2026, 1, 5)
    forms = [("initiation", FormKind.initiation, start, {"start_date": start.isoformat()})]
    visits = ["M1", "M1", "M3", None, "M12", "M3", None, "M6", "M1"]
    for i, visit in enumerate(visits):
        day = start + timedelta(days=30 * (i + 1))
        answers = {"visit_date": day.isoformat()}
        if visit:
            answers["visit_timepoint"] = visit
        forms.append(("follow_up", FormKind.follow_up, day, answers))
    stop = start + timedelta(days=400)
    forms.append(("discontinuation", FormKind.discontinuation, stop,
                  {"stop_date": stop.isoformat()}))
    kept = _Kept(protocol)
    every = []
    for key, kind, day, answers in forms:
        kept.add(1, key, kind, day, answers)
        every.append(Filled("", key, kind, day, answers))
    assert len(kept.filled[1]) < len(every)
    lock = date(2027, 6, 30)
    label = lambda month: f"M{month}"  # noqa: E731
    assert visit_schedule(protocol, kept.filled[1], lock, label) == visit_schedule(
        protocol, every, lock, label
    )
