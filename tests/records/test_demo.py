"""The demo seeder: a few patients with forms, created once."""

from __future__ import annotations

from sqlalchemy import func, select

from portal.records import submissions
from portal.records.demo import seed_demo
from portal.records.models import Patient, Submission
from portal.records.overview import schedule_of


def test_demo_patients_are_seeded_once(app, db, prescriber):
    lines = seed_demo(app, db)
    db.commit()
    assert len(lines) == 3 and all(line.startswith("Demo patient") for line in lines)
    assert db.scalar(select(func.count()).select_from(Patient)) == 3
    assert db.scalar(select(func.count()).select_from(Submission)) == 5
    event = db.scalar(select(Submission).where(Submission.form_key == "adverse_event"))
    assert event.parent_id is not None
    for submission in db.scalars(select(Submission)):
        assert submissions.read_answers(db, prescriber, submission)
    overdue = [schedule_of(db, prescriber, p).overdue for p in db.scalars(select(Patient))]
    assert any(overdue)  # "My patients" has something to show
    assert seed_demo(app, db) == ["Demo patients: already there."]
    assert db.scalar(select(func.count()).select_from(Patient)) == 3


def test_demo_skipped_without_the_demo_people(app, db, protocol):
    assert seed_demo(app, db)[0].startswith("Demo patients: skipped")
