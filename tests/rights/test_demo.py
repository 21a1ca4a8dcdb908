"""The demo seeder creates a few requests once, through the services."""

from __future__ import annotations

from sqlalchemy import select

from portal.rights.demo import seed_demo
from portal.rights.models import RequestState, RightsRequest
from tests.rights.helpers import install_protocol, make_doctor, register_patient


def test_the_demo_requests_are_created_once(app, db, hospital_a, dpo) -> None:
    assert seed_demo(app, db) == []  # no demo doctor yet: nothing
    doctor = make_doctor(db, hospital_a, "c.martin")
    install_protocol(db)
    patient = register_patient(db, doctor, hospital_a)
    lines = seed_demo(app, db)
    db.commit()
    assert len(lines) == 3 and patient.case_number in lines[1]
    requests = db.scalars(select(RightsRequest).order_by(RightsRequest.id)).all()
    assert [(r.kind, r.state) for r in requests] == [
        ("erasure", RequestState.RECEIVED), ("access", RequestState.RECEIVED),
        ("limitation", RequestState.IDENTITY_PENDING)]
    assert seed_demo(app, db) == []
