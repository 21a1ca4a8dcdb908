"""Setting up people and requests for the rights tests, through the same services."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.access import services as access
from portal.access.models import Establishment, Scope
from portal.accounts.models import User
from portal.audit.models import AuditEvent
from portal.permissions import Role
from portal.rights.models import RightsRequest
from tests.helpers_auth import CLI, TEST_FINESS, make_user

#: a second valid FINESS number (check key correct) of another fictitious establishment
OTHER_FINESS = "330781196"


def at(year: int, month: int, day: int, hour: int = 10) -> datetime:
    """Return an aware UTC time (for clock.frozen)."""
    return datetime(year, month, day, hour, tzinfo=UTC)


def establishment(session: Session, finess: str, name: str) -> Establishment:
    """Return the establishment with this FINESS number, created if needed (committed)."""
    place = access.establishment_by_finess(session, finess) or access.create_establishment(
        session, CLI, finess, name, "Paris")
    session.commit()
    return place


def make_dpo(session: Session, login: str = "claire.dpo") -> User:
    """The data protection officer: identifying health grant, approved by a second admin."""
    return make_user(session, login, role=Role.DPO, scope=Scope.IDENTIFYING)


def make_doctor(session: Session, place: Establishment, login: str) -> User:
    """A prescriber member of `place` with an identifying health grant there (committed)."""
    doctor = make_user(session, login)
    access.add_member(session, CLI, doctor, place)
    from tests.helpers_auth import grant_role

    grant_role(session, doctor, Role.PRESCRIBER, scope=Scope.IDENTIFYING,
               establishments=(place,))
    session.commit()
    return doctor


def audit_actions(session: Session, request: RightsRequest) -> list[str]:
    """Return the audit actions whose target is this request, in order."""
    return list(session.scalars(
        select(AuditEvent.action).where(AuditEvent.target_ref == request.number)
        .order_by(AuditEvent.seq)
    ))


PROTOCOL = Path(__file__).parent / "data" / "rights-protocol.yaml"
PROTOCOL_KEY = "rights_fixture"

FOLLOW_UP = {"visit_date": "2026-10-05", "ecog": "1", "dose_mg": "40", "adverse_event": "no"}
PREGNANCY = {"exposed_person": "partner", "exposure_ga_weeks": "12"}


def install_protocol(session: Session) -> None:
    """Install the rights fixture protocol as the version in force (committed)."""
    from portal.protocols.services import install_protocol as install

    install(session, CLI, PROTOCOL)
    session.commit()


def register_patient(session: Session, doctor: User, place: Establishment,
                     letters: tuple[str, str] = ("DUP", "JE")) -> Any:
    """Register a patient of `place` as `doctor` would (committed)."""
    from portal.records.registrations import Registration
    from portal.records.registrations import register_patient as register

    patient = register(session, doctor, Registration(
        surname_letters=letters[0], first_name_letters=letters[1], sex="F", birth_year=1971,
        birth_month=4, establishment_id=place.id, protocol_key=PROTOCOL_KEY,
        weight_kg="64.5", height_cm=166))
    session.commit()
    return patient


def fill(session: Session, doctor: User, patient: Any, form_key: str,
         raw: dict[str, Any]) -> Any:
    """Submit a form for `patient` as `doctor`, validated like the web form (committed)."""
    from portal.protocols.builder import validate_answers
    from portal.records.submissions import current_form, new_token, submit

    ref = current_form(session, patient, form_key)
    result = validate_answers(ref.protocol, form_key, raw)
    assert result.valid, result.errors
    submission = submit(session, doctor, patient, ref, result.answers, new_token())
    session.commit()
    return submission


__all__ = ["TEST_FINESS", "at", "audit_actions", "establishment", "make_doctor", "make_dpo"]
