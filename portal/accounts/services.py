"""Accounts: creation by an administrator, activation links, disabling, unlocking (SEC-AUT-1, 4).

Each function takes the session and the acting person (a `User`, or an `Actor` for the CLI
operator), checks the actor may act, writes its audit entry and flushes; nothing commits. The
authentication steps themselves (password, second factor, password change) live in
`portal.accounts.authentication`.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from portal import clock
from portal.access.policy import permissions_for
from portal.accounts import sessions
from portal.accounts.actions import AccountAction
from portal.accounts.models import (
    AccountToken,
    LoginFailure,
    LoginThrottle,
    RecoveryCode,
    TokenPurpose,
    User,
)
from portal.audit.services import Actor, record
from portal.db import app_of
from portal.errors import BadRequest, Conflict, Forbidden
from portal.identifiers import normalise_rpps
from portal.permissions import Permission

#: an activation or reset link works this long (SEC-AUT-4a: at most 24 hours)
TOKEN_LIFETIME = timedelta(hours=24)
LOGIN_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,62}[A-Za-z0-9]")
EMAIL_PATTERN = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}")
PHONE_PATTERN = re.compile(r"\+?[0-9][0-9 .-]{5,30}")
LOCALES = ("fr", "en")
#: generic or shared names no account may carry (SEC-AUT-1a, ASVS 6.3.2)
GENERIC_LOGINS = frozenset({
    "admin", "administrator", "administrateur", "adm", "root", "superuser", "sysadmin",
    "system", "test", "tests", "testeur", "tester", "demo", "guest", "invite", "user",
    "utilisateur", "users", "support", "service", "default", "operator", "operateur",
    "webmaster", "postmaster", "contact", "info", "secretariat", "accueil", "pharmacie",
    "medecin", "docteur", "doctor", "anonymous", "anonyme", "shared", "commun", "equipe", "team",
})

Acting = User | Actor


class AccountError(BadRequest):
    """A value refused by an account rule; `field` names the form field at fault."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# --- small helpers ---------------------------------------------------------------------------


def normalise_login(login: str) -> str:
    """Return the unique form of a login: NFKC, case-folded, without surrounding spaces."""
    return unicodedata.normalize("NFKC", login).casefold().strip()


def user_id_of_login(session: Session, login: str) -> int | None:
    """The id of the account with this login (as typed: normalised first), or None."""
    return session.scalar(select(User.id).where(User.login_normalised == normalise_login(login)))


def login_key(login: str) -> str:
    """Return the key under which attempts on a submitted login are counted (a SHA-256)."""
    return hashlib.sha256(normalise_login(login).encode()).hexdigest()


def token_hash(token: str) -> str:
    """Return the SHA-256 (hex) under which a one-time token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def is_generic_login(login: str) -> bool:
    """Tell whether a login is, or is built on, a generic name (admin2, test.user...)."""
    folded = normalise_login(login)
    parts = [p.strip("0123456789") for p in re.split(r"[._-]+", folded)]
    return folded.strip("0123456789") in GENERIC_LOGINS or any(p in GENERIC_LOGINS for p in parts)


def user_by_login(session: Session, login: str) -> User | None:
    """Return the account whose login matches `login` whatever its case, or None."""
    return session.scalar(select(User).where(User.login_normalised == normalise_login(login)))


def _is_trusted(actor: Acting) -> bool:
    return isinstance(actor, Actor) and actor.kind in {"cli", "system"}


def _require_admin(session: Session, actor: Acting) -> None:
    if _is_trusted(actor):
        return
    if not isinstance(actor, User) or Permission.USER_ADMIN not in permissions_for(session, actor):
        raise Forbidden(_("You do not have the right to manage accounts."))


def _clean(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


# --- creation ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewAccount:
    """What an administrator types to create an account (professional data only)."""

    login: str
    first_name: str
    last_name: str
    email: str
    phone: str | None = None
    specialty: str | None = None
    rpps: str | None = None
    locale: str | None = None


def _check_new_account(session: Session, data: NewAccount) -> NewAccount:
    login = data.login.strip()
    if not LOGIN_PATTERN.fullmatch(login):
        raise AccountError(_("A login has 3 to 64 letters, digits, dots, hyphens or underscores, "
                             "and starts and ends with a letter or a digit."), "login")
    if is_generic_login(login):
        raise AccountError(_("Accounts are personal: a generic login such as admin, test or "
                             "demo is refused. Use the person's name, e.g. c.martin."), "login")
    if user_by_login(session, login) is not None:
        raise AccountError(_("This login is already taken (logins ignore case)."), "login")
    first, last = data.first_name.strip(), data.last_name.strip()
    if not first or len(first) > 80:
        raise AccountError(_("Give the first name (at most 80 characters)."), "first_name")
    if not last or len(last) > 80:
        raise AccountError(_("Give the last name (at most 80 characters)."), "last_name")
    email = data.email.strip()
    if len(email) > 254 or not EMAIL_PATTERN.fullmatch(email):
        raise AccountError(_("Give a valid professional e-mail address."), "email")
    phone = _clean(data.phone)
    if phone is not None and not PHONE_PATTERN.fullmatch(phone):
        raise AccountError(_("Give a telephone number made of digits, spaces, dots or "
                             "hyphens."), "phone")
    rpps = _clean(data.rpps)
    if rpps is not None:
        rpps = normalise_rpps(rpps)
        if rpps is None:
            raise AccountError(_("The RPPS number has 11 digits and a valid check digit."),
                               "rpps")
    specialty = _clean(data.specialty)
    if specialty is not None and len(specialty) > 80:
        raise AccountError(_("The specialty has at most 80 characters."), "specialty")
    locale = _clean(data.locale)
    if locale is not None and locale not in LOCALES:
        raise AccountError(_("Choose French or English."), "locale")
    return NewAccount(login, first, last, email, phone, specialty, rpps, locale)


def create_user(session: Session, actor: Acting, data: NewAccount) -> tuple[User, str]:
    """Create an account without a password and issue its activation link.

    Returns the user and the raw activation token (to mail or, from the CLI, to print); only
    its hash is stored. The administrator never sees or chooses the password (SEC-AUT-4a).

    :raises AccountError: a value breaks a rule (the field is named).
    :raises Forbidden: the actor may not manage accounts.
    """
    _require_admin(session, actor)
    data = _check_new_account(session, data)
    user = User(
        login=data.login, login_normalised=normalise_login(data.login),
        first_name=data.first_name, last_name=data.last_name, email=data.email,
        phone=data.phone, specialty=data.specialty, rpps=data.rpps, locale=data.locale,
        failed_logins=0, totp_last_step=0, must_change_password=False,
        created_at=clock.now(),
    )
    session.add(user)
    session.flush()
    # Failures typed against this login before it existed must not lock the new account.
    _clear_failures(session, user)
    record(session, actor, AccountAction.USER_CREATE, user)
    token = issue_token(session, user, TokenPurpose.ACTIVATION)
    return user, token


# --- one-time links ---------------------------------------------------------------------------


def issue_token(session: Session, user: User, purpose: str) -> str:
    """Issue a single-use link token (256 bits) for `user`, voiding any older one."""
    now = clock.now()
    _void_tokens(session, user, now)
    token = secrets.token_urlsafe(32)
    session.add(AccountToken(user_id=user.id, token_hash=token_hash(token), purpose=purpose,
                             created_at=now, expires_at=now + TOKEN_LIFETIME))
    session.flush()
    return token


def _void_tokens(session: Session, user: User, now: datetime) -> None:
    session.execute(
        update(AccountToken)
        .where(AccountToken.user_id == user.id, AccountToken.used_at.is_(None),
               AccountToken.voided_at.is_(None))
        .values(voided_at=now),
        execution_options={"synchronize_session": False},
    )


def void_tokens(session: Session, user: User) -> None:
    """Void every pending link of `user` (after a login, a password change, a disabling)."""
    _void_tokens(session, user, clock.now())


def token_is_live(token: AccountToken, now: datetime) -> bool:
    """Tell whether a link still works: unused, not voided, not expired, nothing newer.

    A login or a password change after the link was issued also kills it (warehouse pattern),
    even where the voiding write was missed.
    """
    user = token.user
    if token.used_at is not None or token.voided_at is not None or now >= token.expires_at:
        return False
    if user.is_disabled:
        return False
    for later in (user.last_login_at, user.password_changed_at):
        if later is not None and later > token.created_at:
            return False
    return True


def live_token(session: Session, hashed: str) -> AccountToken | None:
    """Return the live token whose hash is `hashed`, or None."""
    if not isinstance(hashed, str) or len(hashed) != 64:
        return None
    token = session.scalar(select(AccountToken).where(AccountToken.token_hash == hashed))
    if token is None or not token_is_live(token, clock.now()):
        return None
    return token


def activation_url(session: Session, token: str) -> str:
    """Return the link to mail: the configured public address, never the request's Host."""
    base = str(app_of(session).config["BASE_URL"]).rstrip("/")
    return f"{base}/activate/{token}"


# --- administration ---------------------------------------------------------------------------


def _forbid_self(actor: Acting, user: User, message: str) -> None:
    if isinstance(actor, User) and actor.id == user.id:
        raise Forbidden(message)


def disable_user(session: Session, actor: Acting, user: User) -> int:
    """Disable an account at once: sessions, TOTP secret, recovery codes and links all die.

    Returns how many sessions were ended.

    :raises Forbidden: not an account administrator, or their own account.
    :raises Conflict: the account is already disabled.
    """
    _require_admin(session, actor)
    _forbid_self(actor, user, _("You cannot disable your own account."))
    if user.is_disabled:
        raise Conflict(_("This account is already disabled."))
    now = clock.now()
    user.disabled_at = now
    _drop_second_factor(session, user)
    _void_tokens(session, user, now)
    ended = sessions.revoke_all(session, user)
    session.flush()
    record(session, actor, AccountAction.USER_DISABLE, user, sessions_ended=ended)
    return ended


def _drop_second_factor(session: Session, user: User) -> None:
    user.totp_secret_sealed = None
    user.totp_confirmed_at = None
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))


def reset_user(session: Session, actor: Acting, user: User, *,
               reset_second_factor: bool = False) -> str:
    """Issue a new single-use link so the person chooses a new password (SEC-AUT-4a).

    The current sessions end. The second factor is kept unless `reset_second_factor` (lost
    device): then the person enrols again after choosing the password (SEC-AUT-2h). Returns the
    raw token.

    :raises Forbidden: not an account administrator, or their own account.
    :raises Conflict: the account is disabled.
    """
    _require_admin(session, actor)
    _forbid_self(actor, user, _("Change your own password from your account page."))
    if user.is_disabled:
        raise Conflict(_("This account is disabled."))
    if reset_second_factor:
        _drop_second_factor(session, user)
    ended = sessions.revoke_all(session, user)
    purpose = TokenPurpose.RESET if user.is_activated else TokenPurpose.ACTIVATION
    token = issue_token(session, user, purpose)
    record(session, actor, AccountAction.USER_RESET, user,
           second_factor_reset=reset_second_factor, sessions_ended=ended)
    return token


def unlock_user(session: Session, actor: Acting, user: User) -> None:
    """Lift a lock and forget the failure count, after the person's identity was checked."""
    _require_admin(session, actor)
    was_locked = _clear_failures(session, user)
    record(session, actor, AccountAction.USER_UNLOCK, user, was_locked=was_locked)


def _clear_failures(session: Session, user: User) -> bool:
    now = clock.now()
    was_locked = user.locked_until is not None and user.locked_until > now
    user.failed_logins = 0
    user.locked_until = None
    key = login_key(user.login_normalised)
    session.execute(delete(LoginFailure).where(LoginFailure.login_key == key))
    session.execute(delete(LoginThrottle).where(LoginThrottle.login_key == key))
    session.flush()
    return was_locked


def force_password_change(session: Session, actor: Acting, user: User) -> None:
    """Make the person choose a new password at their next page (suspected compromise)."""
    _require_admin(session, actor)
    user.must_change_password = True
    session.flush()
    record(session, actor, AccountAction.PASSWORD_CHANGE_FORCED, user)


def is_locked(user: User, now: datetime | None = None) -> bool:
    """Tell whether the account's login is locked now (for the administrators' list)."""
    moment = now or clock.now()
    return user.locked_until is not None and user.locked_until > moment


def list_users(session: Session) -> list[User]:
    """Return every account, by last name."""
    return list(session.scalars(
        select(User).order_by(func.lower(User.last_name), func.lower(User.first_name), User.id)
    ))


def account_status(user: User, now: datetime | None = None) -> str:
    """Return a short status code: disabled, pending, locked or active."""
    if user.is_disabled:
        return "disabled"
    if not user.is_activated:
        return "pending"
    if is_locked(user, now):
        return "locked"
    return "active"


def describe(user: User) -> dict[str, Any]:
    """Return what the CLI prints about an account (no secret)."""
    return {"login": user.login, "name": user.full_name, "status": account_status(user)}
