"""A visit dated outside its window: confirmed by the professional, recorded with the
submission, shown as done early or late, never as on time; the overdue list stays right."""

from __future__ import annotations

import re
from datetime import date, timedelta

from sqlalchemy import func, select

from portal import clock
from portal.audit.models import AuditEvent
from portal.protocols.loader import load_path
from portal.protocols.schema import FormKind
from portal.records.models import Submission
from portal.records.schedule import Filled, VisitStatus, compute, visit_window
from tests.helpers_auth import login
from tests.records import helpers

DEMO = load_path(helpers.DEMO_PROTOCOL).definition
START = date(2025, 1, 10)  # M1 is due 2025-02-10, its window 2025-02-03 to 2025-02-17


def _filled(code: str, on: date) -> list[Filled]:
    return [Filled("h0", "initiation", FormKind.initiation, START,
                   {"start_date": START.isoformat()}),
            Filled("h1", "follow_up", FormKind.follow_up, on,
                   {"visit_timepoint": code, "visit_date": on.isoformat()})]


def _m1(schedule):  # noqa: ANN001, ANN202
    return next(v for v in schedule.visits if v.code == "M1")


def test_a_visit_before_its_window_is_done_early_not_on_time():
    early = date(2025, 1, 22)  # 12 days before the window opens
    schedule = compute(DEMO, _filled("M1", early), date(2025, 3, 1))
    m1 = _m1(schedule)
    assert m1.status == VisitStatus.DONE_EARLY and m1.is_done and m1.done_on == early
    assert not schedule.overdue and not schedule.due


def test_a_visit_after_its_window_is_done_late():
    schedule = compute(DEMO, _filled("M1", date(2025, 2, 20)), date(2025, 3, 1))
    assert _m1(schedule).status == VisitStatus.DONE_LATE
    inside = compute(DEMO, _filled("M1", date(2025, 2, 17)), date(2025, 3, 1))
    assert _m1(inside).status == VisitStatus.DONE


def test_windows_of_repeating_and_unknown_visits():
    assert visit_window(DEMO, START, "M1") == (date(2025, 2, 10), date(2025, 2, 3),
                                               date(2025, 2, 17))
    assert visit_window(DEMO, START, "M18") == (date(2026, 7, 10), date(2026, 6, 10),
                                                date(2026, 8, 9))
    assert visit_window(DEMO, START, "M7") is None
    assert visit_window(DEMO, START, "UNSCHED") is None


def _post_follow_up(client, db, patient, visit: date, **extra):  # noqa: ANN001, ANN003, ANN202
    page = client.get(f"/patients/{patient.handle}/forms/follow_up").get_data(as_text=True)
    token = re.search(r'name="token"[^>]*value="([^"]+)"', page).group(1)
    data = helpers.form_data(helpers.follow_up_answers("M1", visit), "follow_up", db)
    data.update(token=token, action="submit", **extra)
    return client.post(f"/patients/{patient.handle}/forms/follow_up", data=data)


def _follow_ups(db) -> int:  # noqa: ANN001
    return db.scalar(select(func.count()).select_from(Submission)
                     .where(Submission.form_key == "follow_up"))


def test_an_early_visit_needs_a_confirmation_that_is_kept(db, client, prescriber, site_a):
    with clock.frozen(clock.now() + timedelta(days=1)) as frozen:
        today = frozen.at.date()
        patient = helpers.register(db, prescriber, site_a)
        start = today - timedelta(days=50)
        helpers.submit(db, prescriber, patient, "initiation", helpers.initiation_answers(start))
        _due, window_start, window_end = visit_window(DEMO, start, "M1")
        early = window_start - timedelta(days=12)
        login(client, prescriber)
        assert patient.case_number in client.get("/my-patients").get_data(as_text=True)

        response = _post_follow_up(client, db, patient, early)
        page = response.get_data(as_text=True)
        assert response.status_code == 422
        assert "This visit date lies outside the visit's window." in page
        assert (f"The visit date {early.isoformat()} is 12 days before the window of this "
                f"visit opens ({window_start.isoformat()} to {window_end.isoformat()})") in page
        assert _follow_ups(db) == 0
        # What was typed is shown again.
        assert f'value="{early.isoformat()}"' in page
        confirm = re.search(r'name="confirm_window" value="([^"]+)"', page).group(1)

        # A confirmation of another date does not count: asked again.
        again = _post_follow_up(client, db, patient, early + timedelta(days=1),
                                confirm_window=confirm)
        assert again.status_code == 422 and _follow_ups(db) == 0

        saved = _post_follow_up(client, db, patient, early, confirm_window=confirm)
        assert saved.status_code == 303
        submission = db.scalar(select(Submission).where(Submission.form_key == "follow_up"))
        assert submission.revisions[-1].visit_window == "early"
        entry = db.scalar(select(AuditEvent).where(
            AuditEvent.action == "records:submission:out_of_window"))
        assert entry is not None and entry.target_ref == submission.audit_ref

        patient_page = client.get(f"/patients/{patient.handle}").get_data(as_text=True)
        assert f"Done early, on {early.isoformat()} (before its window)" in patient_page
        assert "visit-done_early" in patient_page
        # M1 is done (early): nothing is overdue any more.
        assert patient.case_number not in client.get("/my-patients").get_data(as_text=True)


def test_a_late_visit_is_confirmed_and_shown_late(db, client, prescriber, site_a):
    with clock.frozen(clock.now() + timedelta(days=1)) as frozen:
        today = frozen.at.date()
        patient = helpers.register(db, prescriber, site_a)
        start = today - timedelta(days=60)
        helpers.submit(db, prescriber, patient, "initiation", helpers.initiation_answers(start))
        _due, _start, window_end = visit_window(DEMO, start, "M1")
        login(client, prescriber)
        response = _post_follow_up(client, db, patient, today)
        page = response.get_data(as_text=True)
        days = (today - window_end).days
        assert response.status_code == 422
        assert f"is {days} days after the window of this visit closed" in page
        confirm = re.search(r'name="confirm_window" value="([^"]+)"', page).group(1)
        assert _post_follow_up(client, db, patient, today,
                               confirm_window=confirm).status_code == 303
        submission = db.scalar(select(Submission).where(Submission.form_key == "follow_up"))
        assert submission.revisions[-1].visit_window == "late"
        patient_page = client.get(f"/patients/{patient.handle}").get_data(as_text=True)
        assert f"Done late, on {today.isoformat()} (after its window)" in patient_page


def test_a_visit_inside_its_window_is_saved_at_once(db, client, prescriber, site_a):
    with clock.frozen(clock.now() + timedelta(days=1)) as frozen:
        today = frozen.at.date()
        patient = helpers.register(db, prescriber, site_a)
        start = today - timedelta(days=40)
        helpers.submit(db, prescriber, patient, "initiation", helpers.initiation_answers(start))
        due, _start, _end = visit_window(DEMO, start, "M1")
        login(client, prescriber)
        assert _post_follow_up(client, db, patient, due).status_code == 303
        submission = db.scalar(select(Submission).where(Submission.form_key == "follow_up"))
        assert submission.revisions[-1].visit_window is None


def test_a_rectified_visit_date_outside_the_window_is_confirmed_too(db, client, prescriber,
                                                                    site_a):
    with clock.frozen(clock.now() + timedelta(days=1)) as frozen:
        today = frozen.at.date()
        patient = helpers.register(db, prescriber, site_a)
        start = today - timedelta(days=40)
        helpers.submit(db, prescriber, patient, "initiation", helpers.initiation_answers(start))
        due, window_start, _end = visit_window(DEMO, start, "M1")
        saved = helpers.submit(db, prescriber, patient, "follow_up",
                               helpers.follow_up_answers("M1", due))
        early = window_start - timedelta(days=3)
        login(client, prescriber)
        path = f"/submissions/{saved.handle}/edit"

        def post(**extra):  # noqa: ANN003, ANN202
            page = client.get(path).get_data(as_text=True)
            token = re.search(r'name="token"[^>]*value="([^"]+)"', page).group(1)
            version = re.search(r'name="version"[^>]*value="([^"]*)"', page).group(1)
            data = helpers.form_data(helpers.follow_up_answers("M1", early), "follow_up", db)
            data.update(token=token, version=version, action="submit",
                        reason="transcription_error", **extra)
            return client.post(path, data=data)

        response = post()
        page = response.get_data(as_text=True)
        assert response.status_code == 422 and "3 days before the window" in page
        confirm = re.search(r'name="confirm_window" value="([^"]+)"', page).group(1)
        assert post(confirm_window=confirm).status_code == 303
        db.expire_all()
        submission = db.get(Submission, saved.id)
        assert [r.visit_window for r in submission.revisions] == [None, "early"]
