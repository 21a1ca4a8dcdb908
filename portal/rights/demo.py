"""Demo rights requests: a few requests in different states, through the same services."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.access.services import establishment_ids_for
from portal.accounts.models import User
from portal.records.models import Patient
from portal.rights import services
from portal.rights.models import Channel, RequesterType, RequestKind, RightsRequest
from portal.rights.reminders import handlers

#: the demo prescriber created by the accounts seeder
DEMO_DOCTOR = "c.martin"


def seed_demo(app: Flask, session: Session) -> list[str]:
    """Create demo requests once (none when requests exist or the people are missing)."""
    if session.scalar(select(func.count()).select_from(RightsRequest)):
        return []
    doctor = session.scalar(select(User).where(User.login_normalised == DEMO_DOCTOR))
    dpos = handlers(session)
    if doctor is None or not dpos:
        return []
    dpo = dpos[0]
    lines = []
    erasure = services.submit_request(session, doctor, kind=RequestKind.ERASURE, for_self=True)
    lines.append(f"Rights request {erasure.number}: erasure of {doctor.login}'s own data "
                 "(to answer with the templated refusal)")
    patient = session.scalar(
        select(Patient).where(Patient.establishment_id.in_(
            establishment_ids_for(session, doctor) or {-1})).order_by(Patient.id))
    if patient is not None:
        access = services.submit_request(session, doctor, kind=RequestKind.ACCESS,
                                         case_number=patient.case_number)
        lines.append(f"Rights request {access.number}: access for case {patient.case_number}")
        direct = services.record_request(
            session, dpo, kind=RequestKind.LIMITATION,
            requester_type=RequesterType.PATIENT_DIRECT, channel=Channel.POST,
            received_on=access.received_at.date(), case_number=patient.case_number,
            via_professional=doctor, correspondence_ref="DEMO-COURRIER-1")
        lines.append(f"Rights request {direct.number}: limitation by post, identity to confirm "
                     f"through {doctor.login}")
    return lines
