"""The visit schedule: done, due, overdue, upcoming; discontinuation ends it; overdue lists."""

from __future__ import annotations

from datetime import date, timedelta

from portal import clock
from portal.protocols.loader import load_path
from portal.protocols.schema import FormKind
from portal.records.schedule import Filled, VisitStatus, compute
from tests.helpers_auth import login
from tests.records import helpers

DEMO = load_path(helpers.DEMO_PROTOCOL).definition
START = date(2025, 1, 10)


def _initiation(start: date = START) -> Filled:
    return Filled("h0", "initiation", FormKind.initiation, start,
                  {"start_date": start.isoformat()})


def _follow_up(code: str, day: date) -> Filled:
    return Filled(f"h-{code}", "follow_up", FormKind.follow_up, day,
                  {"visit_timepoint": code, "visit_date": day.isoformat()})


def _status(schedule, code: str) -> VisitStatus:  # noqa: ANN001
    return next(v.status for v in schedule.visits if v.code == code)


def test_before_the_initiation_day_zero_is_due():
    schedule = compute(DEMO, [], date(2025, 1, 1))
    assert [(v.code, v.status) for v in schedule.visits] == [("D0", VisitStatus.DUE)]


def test_windows_decide_due_and_overdue():
    early = compute(DEMO, [_initiation()], date(2025, 1, 20))
    assert _status(early, "D0") == VisitStatus.DONE
    assert _status(early, "M1") == VisitStatus.UPCOMING
    m1 = next(v for v in early.visits if v.code == "M1")
    assert (m1.due, m1.window_start, m1.window_end) == (
        date(2025, 2, 10), date(2025, 2, 3), date(2025, 2, 17))
    assert _status(compute(DEMO, [_initiation()], date(2025, 2, 5)), "M1") == VisitStatus.DUE
    late = compute(DEMO, [_initiation()], date(2025, 2, 18))
    assert _status(late, "M1") == VisitStatus.OVERDUE
    assert [v.code for v in late.overdue] == ["M1"]


def test_a_follow_up_marks_its_visit_done():
    filled = [_initiation(), _follow_up("M1", date(2025, 2, 11))]
    schedule = compute(DEMO, filled, date(2025, 3, 1))
    m1 = next(v for v in schedule.visits if v.code == "M1")
    assert m1.status == VisitStatus.DONE and m1.done_by == "h-M1"
    assert _status(schedule, "M3") == VisitStatus.UPCOMING


def test_visits_repeat_every_six_months_after_m6():
    schedule = compute(DEMO, [_initiation()], date(2026, 2, 15))
    codes = [v.code for v in schedule.visits]
    assert codes[:4] == ["D0", "M1", "M3", "M6"]
    assert "M12" in codes and codes[-1] == "M18"  # the next one shows, not further
    assert _status(schedule, "M12") == VisitStatus.OVERDUE
    assert _status(schedule, "M18") == VisitStatus.UPCOMING


def test_discontinuation_ends_the_schedule():
    stop = Filled("h-stop", "discontinuation", FormKind.discontinuation, date(2025, 3, 1),
                  {"stop_date": "2025-03-01"})
    schedule = compute(DEMO, [_initiation(), stop], date(2025, 9, 1))
    assert schedule.ended == date(2025, 3, 1)
    assert [v.code for v in schedule.visits] == ["D0", "M1"]
    assert _status(schedule, "M1") == VisitStatus.MISSED
    assert not schedule.overdue and not schedule.due


def test_my_patients_lists_overdue_visits(db, client, prescriber, site_a):
    late = helpers.register(db, prescriber, site_a, surname_letters="Lat")
    on_time = helpers.register(db, prescriber, site_a, surname_letters="Ont")
    stopped = helpers.register(db, prescriber, site_a, surname_letters="Sto")
    start = helpers.today() - timedelta(days=60)
    for patient in (late, on_time, stopped):
        helpers.submit(db, prescriber, patient, "initiation", helpers.initiation_answers(start))
    helpers.submit(db, prescriber, on_time, "follow_up",
                   helpers.follow_up_answers("M1", start + timedelta(days=31)))
    helpers.submit(db, prescriber, stopped, "discontinuation")
    login(client, prescriber)
    page = client.get("/my-patients").get_data(as_text=True)
    assert late.case_number in page and "Overdue" in page
    assert on_time.case_number not in page and stopped.case_number not in page
    patient_page = client.get(f"/patients/{late.handle}").get_data(as_text=True)
    assert "visit-overdue" in patient_page
    assert "Treatment discontinued" in client.get(
        f"/patients/{stopped.handle}").get_data(as_text=True)


def test_my_patients_as_time_goes_by(db, app, protocol, site_a):
    past = clock.now() - timedelta(days=60)
    with clock.frozen(past):
        prescriber = helpers.professional(db, "t.temps", site_a)
        patient = helpers.register(db, prescriber, site_a)
        helpers.submit(db, prescriber, patient, "initiation",
                       helpers.initiation_answers(helpers.today() - timedelta(days=10)))
        then = app.test_client()
        login(then, prescriber)
        assert patient.case_number not in then.get("/my-patients").get_data(as_text=True)
    now = app.test_client()
    login(now, prescriber)
    page = now.get("/my-patients").get_data(as_text=True)
    assert patient.case_number in page and "Overdue" in page
