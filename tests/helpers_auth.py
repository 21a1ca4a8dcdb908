"""Test helpers for every area: people with accounts, grants, and a login through the real forms.

    from tests.helpers_auth import CHEAP_ARGON2, login, make_user

    user = make_user(db, "c.martin", role=Role.PRESCRIBER)   # committed
    login(client, user)                                      # password form, then TOTP form

Set `PASSWORD_HASHER=CHEAP_ARGON2` in your `app_config` to keep argon2 fast in tests.
`login` works with CSRF protection on or off (it reads the token from the form).
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pyotp
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal import clock
from portal.accounts import authentication, services, sessions, totp_codes
from portal.accounts.models import AccountToken, User, UserSession
from portal.audit.services import cli_actor
from portal.db import new_session
from portal.mail import outbox_dir
from portal.permissions import Role
from tests.conftest import CHEAP_ARGON2  # noqa: F401 - re-exported for the areas' tests

#: a password every policy rule accepts and that contains no name used in tests
DEFAULT_PASSWORD = "Kx7#vLq9!mWz2pRt"
CLI = cli_actor("tests")
#: a valid FINESS number (check key correct) of a fictitious establishment
TEST_FINESS = "750712184"

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def _names_from(login: str) -> tuple[str, str]:
    parts = [p for p in re.split(r"[._-]+", login) if p]
    last = parts[-1].capitalize() if parts else "Martin"
    return "Camille", last if len(last) > 1 else "Martin"


def make_user(
    db: Session,
    login: str = "c.martin",
    *,
    role: Role | None = None,
    password: str | None = DEFAULT_PASSWORD,
    enrolled: bool = True,
    first_name: str | None = None,
    last_name: str | None = None,
    email: str | None = None,
    **grant_options: Any,
) -> User:
    """Create an account through the services, activate it, enrol TOTP, optionally grant a role.

    `password=None` leaves the account waiting for activation; `enrolled=False` leaves the
    second factor to set up at first login. Commits.
    """
    default_first, default_last = _names_from(login)
    data = services.NewAccount(
        login=login, first_name=first_name or default_first, last_name=last_name or default_last,
        email=email or f"{login}@example.org")
    user, token = services.create_user(db, CLI, data)
    if password is not None:
        stored = db.scalar(select(AccountToken).where(
            AccountToken.token_hash == services.token_hash(token)))
        assert stored is not None
        authentication.set_password_with_token(db, stored, password)
        if enrolled:
            authentication.prepare_enrolment(db, user)
            user.totp_confirmed_at = clock.now()
    db.flush()
    if role is not None:
        grant_role(db, user, role, **grant_options)
    db.commit()
    return user


def _approver(db: Session) -> User:
    """A second administrator, for grants that need approval (created once per database)."""
    from portal.access.models import Category, Scope
    from portal.access.services import GrantRequest, request_grant

    existing = services.user_by_login(db, "o.verdier")
    if existing is not None:
        return existing
    approver = make_user(db, "o.verdier", first_name="Odile", last_name="Verdier")
    start = clock.now()
    request_grant(db, CLI, GrantRequest(
        approver, Role.ADMINISTRATOR, Scope.AGGREGATED, Category.OTHER, start,
        start + timedelta(days=365),
    ))
    return approver


def grant_role(db: Session, user: User, role: Role, *, scope: Any = None, category: Any = None,
               establishments: Any = None, days: int = 180) -> Any:
    """Give `user` an active grant for `role` through the access services (approved if needed).

    Defaults: pseudonymised scope; health data when the role reaches any; healthcare roles get
    a membership of a test establishment.
    """
    from portal.access import services as access
    from portal.access.models import Category, Scope

    scope = scope or (Scope.AGGREGATED if role == Role.ADMINISTRATOR else Scope.PSEUDONYMISED)
    category = category or (Category.HEALTH if access.role_reaches_health(role)
                            else Category.OTHER)
    if establishments is None:
        establishments = ()
        if role.is_healthcare:
            place = access.establishment_by_finess(db, TEST_FINESS) or \
                access.create_establishment(db, CLI, TEST_FINESS, "Centre hospitalier Exemple")
            access.add_member(db, CLI, user, place)
            establishments = (place,)
    start = clock.now()
    kwargs: dict[str, Any] = {}
    if role in (Role.AUDITOR, Role.ARCHIVIST):
        days = min(days, 30)
        kwargs = {"motivation": "internal_procedures", "motivation_reference": "AUD-2026-01"}
    made = access.request_grant(db, CLI, access.GrantRequest(user, role, scope, category, start,
                                start + timedelta(days=days), establishments, **kwargs))
    if access.needs_approval(scope, category):
        access.approve_grant(db, _approver(db), made)
    db.flush()
    return made


def csrf_token(client: FlaskClient, path: str) -> dict[str, str]:
    """Return {"csrf_token": ...} read from the form at `path` when CSRF protection is on."""
    if not client.application.config.get("WTF_CSRF_ENABLED", True):
        return {}
    match = _CSRF.search(client.get(path).get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return {"csrf_token": match.group(1)}


def totp_code(app: Flask, user: User) -> str:
    """Return a code the portal will accept now for `user` (a step newer than the last used).

    Steps T and T-1 are accepted, each once. When a test logs the same person in more than
    twice within 30 seconds, the last used step is moved back: test-only bookkeeping, the
    replay rule itself is tested in tests/accounts/test_totp.py.
    """
    with new_session(app) as db:
        fresh = db.get(User, user.id)
        assert fresh is not None
        secret = authentication.totp_secret(db, fresh)
        now_step = totp_codes.time_step(clock.now())
        for step in (now_step - 1, now_step):
            if step > fresh.totp_last_step:
                return pyotp.TOTP(secret).generate_otp(step)
        db.execute(update(User).where(User.id == user.id).values(totp_last_step=now_step - 1))
        db.commit()
        return pyotp.TOTP(secret).generate_otp(now_step)


def login(client: FlaskClient, user: User, password: str = DEFAULT_PASSWORD) -> Any:
    """Log `user` in through the login form and the TOTP (or enrolment) form; return the last
    response (a redirect to the requested page)."""
    app = client.application
    response = client.post("/login", data={"login": user.login, "password": password,
                                            **csrf_token(client, "/login")})
    assert response.status_code == 302, f"login refused for {user.login}"
    step = response.headers["Location"]
    response = client.post(step, data={"code": totp_code(app, user),
                                       **csrf_token(client, step)})
    assert response.status_code in (200, 302), f"second factor refused for {user.login}"
    return response


def send_queued(app: Flask) -> None:
    """Run the outbox sender over every message waiting for its first attempt, including
    those a test queued under a clock frozen ahead of the real time (sent at that time)."""
    from sqlalchemy import func, select

    from portal.db import new_session
    from portal.outbox.models import OutboxMessage
    from portal.outbox.services import send_due

    with new_session(app) as session:
        latest = session.scalar(select(func.max(OutboxMessage.next_attempt_at)).where(
            OutboxMessage.state == "pending", OutboxMessage.attempts == 0))
    if latest is None:
        return
    with clock.frozen(max(latest, clock.now())):
        send_due(app)


def outbox(app: Flask) -> list[EmailMessage]:
    """Run the outbox sender, then return the messages the development mail backend wrote,
    oldest first."""
    from portal.accounts.notifications import wait_for_background

    wait_for_background()
    send_queued(app)
    directory = Path(outbox_dir(app))
    if not directory.exists():
        return []
    return [message_from_bytes(path.read_bytes(), policy=policy.default)  # type: ignore[misc]
            for path in sorted(directory.glob("*.eml"))]


def mail_body(message: EmailMessage) -> str:
    """Return the plain-text body of a message."""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()


def session_cookie(db: Session, user: User, secret: str,
                   name: str = "aac_session") -> tuple[str, str]:
    """A fully logged-in session for `user`, as the login leaves it (cookie signed by `secret`),
    for clients outside the test app (gunicorn instances)."""
    raw = secrets.token_urlsafe(32)
    now = clock.now()
    db.add(UserSession(id_hash=sessions.hash_id(raw), user_id=user.id, created_at=now,
                       last_seen_at=now, mfa_at=now))
    db.commit()
    signer = Flask("cookie")
    signer.secret_key = secret
    value = SecureCookieSessionInterface().get_signing_serializer(signer).dumps(
        {sessions.SESSION_KEY: raw})
    return name, value
