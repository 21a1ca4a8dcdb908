"""Demo accounts: one nominative fictitious person per role, created only in development.

Each gets the same known password and their own TOTP secret, both printed by `portal demo` so
that anyone trying the portal can log in (any authenticator application, or
`python -m pyotp`-style tools, accepts the secret). The access area's seeder gives them their
grants from `DEMO_PEOPLE`. There are no generic accounts (admin, test, demo...): SEC-AUT-1a.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyotp
from flask import Flask
from sqlalchemy.orm import Session

from portal import clock
from portal.accounts import totp_codes
from portal.accounts.authentication import policy_context, seal_secret, totp_secret
from portal.accounts.hashing import hasher
from portal.accounts.password_policy import check_password
from portal.accounts.services import NewAccount, create_user, user_by_login, void_tokens
from portal.audit.services import Actor
from portal.permissions import Role

#: the password of every demo account (development only)
DEMO_PASSWORD = "Tournesol-Vert-Lagune-2026"  # noqa: S105 - printed by `portal demo`
_DEMO_ACTOR = Actor("cli", "portal demo")


class DemoRefused(RuntimeError):
    """Demo accounts are only created with PORTAL_ENV=development."""


@dataclass(frozen=True)
class DemoPerson:
    """A fictitious person of the demo team."""

    login: str
    first_name: str
    last_name: str
    role: Role
    specialty: str | None = None
    rpps: str | None = None

    @property
    def email(self) -> str:
        # example.org is reserved (RFC 2606): demo mails can never reach anyone.
        return f"{self.login}@example.org"


DEMO_PEOPLE: tuple[DemoPerson, ...] = (
    DemoPerson("c.martin", "Claire", "Martin", Role.PRESCRIBER, "Oncologie médicale",
               "10001234565"),
    # A second prescriber, in the other demo establishment: shows that a professional never
    # sees the patients of another establishment.
    DemoPerson("p.bernard", "Pierre", "Bernard", Role.PRESCRIBER, "Hématologie",
               "10002000007"),
    DemoPerson("j.lefebvre", "Julien", "Lefebvre", Role.HOSPITAL_PHARMACIST,
               "Pharmacie hospitalière", "10009876540"),
    DemoPerson("s.moreau", "Sophie", "Moreau", Role.HEALTHCARE_STAFF, "Infirmière de recherche"),
    DemoPerson("a.girard", "Antoine", "Girard", Role.PHARMACIST_IN_CHARGE,
               "Pharmacien responsable"),
    DemoPerson("n.benali", "Nadia", "Benali", Role.PHARMACOVIGILANCE, "Pharmacovigilance"),
    DemoPerson("t.roux", "Thomas", "Roux", Role.MEDICAL_AFFAIRS, "Affaires médicales"),
    DemoPerson("e.fournier", "Émilie", "Fournier", Role.SUPPLY, "Approvisionnement"),
    DemoPerson("m.dubois", "Marc", "Dubois", Role.AUDITOR, "Audit qualité"),
    DemoPerson("i.laurent", "Isabelle", "Laurent", Role.DPO, "Déléguée à la protection des "
               "données"),
    DemoPerson("h.petit", "Hugo", "Petit", Role.ADMINISTRATOR, "Administration du portail"),
    # A second administrator: granting identifying health data needs a checker (maker-checker).
    DemoPerson("y.mercier", "Yasmine", "Mercier", Role.ADMINISTRATOR, "Sécurité des systèmes"),
    DemoPerson("l.garnier", "Léa", "Garnier", Role.PROCESSOR, "Prestataire d'hébergement"),
    DemoPerson("c.blanc", "Claire", "Blanc", Role.ARCHIVIST, "Archives et conformité"),
)


def seed_demo(app: Flask, session: Session) -> list[str]:
    """Create the demo people (twice is the same as once); return their logins and secrets.

    :raises DemoRefused: outside development.
    """
    if app.config["ENV"] != "development":
        raise DemoRefused("demo accounts are only created with PORTAL_ENV=development")
    lines = [f"Demo accounts (password for all: {DEMO_PASSWORD}):"]
    for person in DEMO_PEOPLE:
        user = user_by_login(session, person.login)
        if user is None:
            user, _token = create_user(session, _DEMO_ACTOR, NewAccount(
                login=person.login, first_name=person.first_name, last_name=person.last_name,
                email=person.email, specialty=person.specialty, rpps=person.rpps))
            void_tokens(session, user)
            refused = check_password(DEMO_PASSWORD, **policy_context(session, user))  # type: ignore[arg-type]
            if refused:
                raise DemoRefused(f"the demo password breaks the policy: {refused}")
            now = clock.now()
            user.password_hash = hasher(app).hash(DEMO_PASSWORD)
            user.password_changed_at = now
            user.totp_secret_sealed = seal_secret(session, user, totp_codes.new_secret())
            user.totp_confirmed_at = now
            session.flush()
        name = f"{person.first_name} {person.last_name}"
        lines.append(f"  {person.role.value:<22} {person.login:<12} {name:<20} "
                     f"TOTP secret {totp_secret(session, user)}")
    return lines


@dataclass(frozen=True)
class DemoCode:
    """The code a demo person's authenticator would show now."""

    code: str
    #: seconds before the code changes
    seconds_left: int
    #: the code was already used to log in (each code works once): wait for the next one
    used: bool


def current_demo_code(app: Flask, session: Session, login: str) -> DemoCode:
    """Return the current TOTP code of a demo account, so that trying the demo needs no
    authenticator application.

    :raises DemoRefused: outside development, or for an account that is not a demo person.
    """
    if app.config["ENV"] != "development":
        raise DemoRefused("demo codes are only shown with PORTAL_ENV=development")
    if login not in {person.login for person in DEMO_PEOPLE}:
        raise DemoRefused(f"{login!r} is not a demo account")
    user = user_by_login(session, login)
    if user is None or user.totp_secret_sealed is None:
        raise DemoRefused(f"{login!r} has no second factor yet: run `portal demo` first")
    now = clock.now()
    step = totp_codes.time_step(now)
    totp = pyotp.TOTP(totp_secret(session, user), digits=totp_codes.DIGITS,
                      interval=totp_codes.PERIOD_SECONDS)
    left = totp_codes.PERIOD_SECONDS - int(now.timestamp()) % totp_codes.PERIOD_SECONDS
    return DemoCode(totp.generate_otp(step), left, (user.totp_last_step or -1) >= step)
