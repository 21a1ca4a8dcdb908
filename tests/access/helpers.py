"""Setting up people, establishments and grants through the access services."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from portal import clock
from portal.access import services
from portal.access.models import AccessGrant, Category, Establishment, Scope
from portal.accounts.models import User
from portal.audit.services import cli_actor
from portal.permissions import Role

CLI = cli_actor("tester")
#: valid FINESS numbers (Luhn) for fictitious establishments
FINESS_A = "750712184"
FINESS_B = "330781196"
_counter = itertools.count(1)


def make_user(session: Session, login: str | None = None, **fields: object) -> User:
    """Create an account row (the accounts area's create_user is not used: no mail here)."""
    n = next(_counter)
    login = login or f"person{n}"
    fields.setdefault("password_changed_at", clock.now())
    user = User(login=login, login_normalised=login.casefold(), first_name=f"First{n}",
                last_name=f"Last{n}", email=f"{login}@example.org", **fields)
    session.add(user)
    session.flush()
    return user


def make_establishment(session: Session, finess: str = FINESS_A,
                       name: str = "Centre hospitalier Exemple") -> Establishment:
    return services.create_establishment(session, CLI, finess, name, "Paris")


def grant(session: Session, user: User, role: Role, scope: Scope = Scope.PSEUDONYMISED,
          category: Category = Category.HEALTH, *, actor: object = CLI, days: int = 90,
          valid_from: datetime | None = None, establishments: tuple = (),
          approver: User | None = None, **kwargs: object) -> AccessGrant:
    """Give `user` a grant (approved by `approver` when it needs a second administrator)."""
    start = valid_from or clock.now()
    made = services.request_grant(session, actor, services.GrantRequest(
        user, role, scope, category, start, start + timedelta(days=days), establishments, **kwargs,
    ))
    if approver is not None:
        services.approve_grant(session, approver, made)
    return made


def make_admin(session: Session, login: str | None = None) -> User:
    """An administrator with a grant created on the command line."""
    admin = make_user(session, login)
    grant(session, admin, Role.ADMINISTRATOR, Scope.AGGREGATED, Category.OTHER, days=365)
    return admin


def healthcare_person(session: Session, role: Role, establishment: Establishment,
                      approver: User, scope: Scope = Scope.IDENTIFYING,
                      login: str | None = None) -> User:
    """A member of `establishment` with an approved healthcare grant there."""
    person = make_user(session, login)
    services.add_member(session, CLI, person, establishment)
    grant(session, person, role, scope, Category.HEALTH, establishments=(establishment,),
          approver=approver if scope == Scope.IDENTIFYING else None)
    return person
