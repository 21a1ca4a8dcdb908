"""Demo establishments and grants for the demo team (twice is the same as once).

Two fictitious establishments (FINESS numbers of the non-existent département 99, with a
correct check key). Healthcare people belong to the first one, except one prescriber (or, with
a single prescriber, the hospital pharmacist) placed in the second, so that refusing another
establishment's patients can be shown. With two administrators, the first asks for every grant
and the second approves those on directly identifying health data (maker-checker); with one,
the grants are asked for on the command line and that administrator approves.

The medical affairs grant was asked for a little over a year ago, starting 100 days later, so
that the annual review has one grant to show (`grants_due_for_review`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy.orm import Session

from portal import clock
from portal.access import services
from portal.access.models import Category, GrantStatus, Scope
from portal.accounts.models import User
from portal.audit.services import Actor
from portal.permissions import HEALTHCARE_ROLES, Role

_DEMO_ACTOR = Actor("cli", "portal demo")

DEMO_ESTABLISHMENTS = (
    ("990000010", "Centre hospitalier des Tilleuls (fictif)", "Villeneuve-sur-Demo"),
    ("990000028", "Clinique du Parc (fictive)", "Saint-Exemple"),
)

#: role -> (scope, category): what each role needs for the demo
DEMO_GRANTS: dict[Role, tuple[Scope, Category]] = {
    Role.PRESCRIBER: (Scope.IDENTIFYING, Category.HEALTH),
    Role.HOSPITAL_PHARMACIST: (Scope.IDENTIFYING, Category.HEALTH),
    Role.HEALTHCARE_STAFF: (Scope.IDENTIFYING, Category.HEALTH),
    Role.PHARMACIST_IN_CHARGE: (Scope.PSEUDONYMISED, Category.HEALTH),
    Role.PHARMACOVIGILANCE: (Scope.PSEUDONYMISED, Category.HEALTH),
    Role.MEDICAL_AFFAIRS: (Scope.AGGREGATED, Category.HEALTH),
    Role.SUPPLY: (Scope.IDENTIFYING, Category.OTHER),
    Role.AUDITOR: (Scope.PSEUDONYMISED, Category.HEALTH),
    Role.DPO: (Scope.PSEUDONYMISED, Category.HEALTH),
    Role.ADMINISTRATOR: (Scope.AGGREGATED, Category.OTHER),
    Role.PROCESSOR: (Scope.PSEUDONYMISED, Category.HEALTH),
    Role.ARCHIVIST: (Scope.PSEUDONYMISED, Category.HEALTH),
}

#: the role whose demo grant is due for its annual review: asked this long ago...
DUE_FOR_REVIEW_ROLE = Role.MEDICAL_AFFAIRS
DUE_FOR_REVIEW_ASKED = timedelta(days=370)
#: ...to start this long after it was asked (so that it still runs today)
DUE_FOR_REVIEW_START = timedelta(days=100)


def _field(person: Any, name: str) -> Any:
    return person[name] if isinstance(person, dict) else getattr(person, name)


def _demo_people(session: Session) -> list[tuple[User, Role]]:
    """The demo people that exist in the database, with their role, in DEMO_PEOPLE order."""
    from portal.accounts.demo import DEMO_PEOPLE
    from portal.accounts.services import user_by_login

    found = []
    for person in DEMO_PEOPLE:
        user = user_by_login(session, _field(person, "login"))
        if user is not None:
            found.append((user, Role(_field(person, "role"))))
    return found


def _second_site(people: list[tuple[User, Role]]) -> set[int]:
    """Who works in the second establishment (see the module docstring)."""
    prescribers = [u.id for u, r in people if r == Role.PRESCRIBER]
    if len(prescribers) >= 2:
        return set(prescribers[1:2])
    return {u.id for u, r in people if r == Role.HOSPITAL_PHARMACIST}


def _has_grant(session: Session, user: User, role: Role) -> bool:
    return any(
        g.role == role and g.status in {GrantStatus.ACTIVE, GrantStatus.PENDING_APPROVAL}
        and g.valid_until > clock.now()
        for g in services.grants_of(session, user)
    )


def seed_demo(app: Flask, session: Session) -> list[str]:
    """Create the demo establishments, memberships and grants; return a line per change."""
    lines: list[str] = []
    places = []
    for finess, name, city in DEMO_ESTABLISHMENTS:
        place = services.establishment_by_finess(session, finess)
        if place is None:
            place = services.create_establishment(session, _DEMO_ACTOR, finess, name, city)
            lines.append(f"Establishment {finess} {name}")
        places.append(place)

    people = _demo_people(session)
    admins = [u for u, r in people if r == Role.ADMINISTRATOR]
    now = clock.now()
    for admin in admins:
        if not _has_grant(session, admin, Role.ADMINISTRATOR):
            services.request_grant(session, _DEMO_ACTOR, services.GrantRequest(
                admin, Role.ADMINISTRATOR, Scope.AGGREGATED, Category.OTHER, now,
                now + timedelta(days=services.MAX_GRANT_DAYS),
            ))
            lines.append(f"Grant  {admin.login:<12} administrator (aggregated, other data)")
    maker: User | Actor = admins[0] if len(admins) >= 2 else _DEMO_ACTOR
    checker = admins[1] if len(admins) >= 2 else (admins[0] if admins else None)
    second_site = _second_site(people)

    for user, role in people:
        if role == Role.ADMINISTRATOR or _has_grant(session, user, role):
            continue
        scope, category = DEMO_GRANTS[role]
        establishments = []
        extra: dict[str, Any] = {}
        days = services.MAX_GRANT_DAYS
        if role in HEALTHCARE_ROLES:
            place = places[1] if user.id in second_site else places[0]
            if user not in place.members:
                services.add_member(session, _DEMO_ACTOR, user, place)
            establishments = [place]
        if role in (Role.AUDITOR, Role.ARCHIVIST):
            extra = {"motivation": "internal_procedures", "motivation_reference": "AUD-DEMO-001"}
            days = services.MAX_AUDITOR_DAYS
        if role == DUE_FOR_REVIEW_ROLE:
            grant = _ask_long_ago(session, user, role, scope, category, days)
        else:
            grant = services.request_grant(session, maker, services.GrantRequest(
                user, role, scope, category, now, now + timedelta(days=days), establishments,
                **extra,
            ))
        approved = ""
        if grant.status == GrantStatus.PENDING_APPROVAL and checker is not None:
            services.approve_grant(session, checker, grant)
            approved = f", approved by {checker.login}"
        where = f" at {establishments[0].name}" if establishments else ""
        if role == DUE_FOR_REVIEW_ROLE:
            approved += ", asked over a year ago: due for its annual review"
        lines.append(f"Grant  {user.login:<12} {role.value} ({scope.value}, {category.value}"
                     f"{where}) until {grant.valid_until.date().isoformat()}{approved}")
    return lines


def _ask_long_ago(session: Session, user: User, role: Role, scope: Scope, category: Category,
                  days: int) -> Any:
    """Ask for a grant as it was asked for over a year ago (the trail dates it then).

    Asked on the command line: the demo administrators' own grants start today.
    """
    asked = clock.now() - DUE_FOR_REVIEW_ASKED
    start = asked + DUE_FOR_REVIEW_START
    with clock.frozen(asked):
        return services.request_grant(session, _DEMO_ACTOR, services.GrantRequest(
            user, role, scope, category, start, start + timedelta(days=days),
        ))
