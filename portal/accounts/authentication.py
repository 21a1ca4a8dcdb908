"""Authentication steps: password with lockout, second factor, passwords set and changed.

* Password (SEC-AUT-3i, 5a, 5b): the lock state lives in the database, keyed on the submitted
  login whether an account exists or not; a locked login is refused without checking the
  password; an unknown login still costs one argon2 verification; every refusal looks the same.
* Hashing budget: every verification first takes a slot of `hash_budget` (the known lane for
  accounts that completed a login before, the open lane for everything else); without a free
  slot the attempt is answered at once as busy, nothing hashed and nothing counted.
* Second factor (SEC-AUT-2c to 2g): the TOTP secret is sealed with the TOTP key; a code is
  accepted for steps T and T-1 only, and only when its step is newer than the last accepted one,
  which an atomic `UPDATE ... WHERE totp_last_step < :step` decides, so that two requests
  submitting the same code cannot both succeed. Recovery codes are argon2 hashes, single use.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from portal import clock
from portal.accounts import hash_budget, lockout, sessions, totp_codes
from portal.accounts.actions import AccountAction
from portal.accounts.hashing import hasher
from portal.accounts.models import AccountToken, LoginFailure, LoginThrottle, RecoveryCode, User
from portal.accounts.password_policy import check_password
from portal.accounts.services import (
    AccountError,
    login_key,
    normalise_login,
    token_is_live,
    void_tokens,
)
from portal.audit.services import record
from portal.db import app_of, rows_affected
from portal.errors import Conflict
from portal.keys import keyring_of
from portal.permissions import Permission
from portal.sealing import open_, seal, totp_aad

#: administrators renew their password after this long (CNIL 2022-100, SEC-AUT-3h)
PRIVILEGED_PASSWORD_AGE = timedelta(days=365)
#: holding any of these makes an account privileged (administrators)
PRIVILEGED_PERMISSIONS = frozenset({Permission.USER_ADMIN, Permission.GRANT_ADMIN})
#: at most one mail per account and window about wrong or replayed codes (SEC-AUT-2i)
SECOND_FACTOR_ALERT_WINDOW = timedelta(hours=1)
#: the name authenticator applications show next to the code
ISSUER = "AAC Portal"
MAX_LOGIN_LENGTH = 64


class PasswordRejected(AccountError):
    """A new password breaks the policy; `reasons` are `password_policy.Reason` codes."""

    def __init__(self, reasons: Iterable[str], field: str = "new_password") -> None:
        self.reasons = list(reasons)
        super().__init__(_("This password is refused."), field)


# --- password step ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginResult:
    """The outcome of a password attempt; a refusal never says why (SEC-AUT-3i)."""

    user: User | None = None
    #: the account this failure just locked, to tell its owner
    locked_account: User | None = None
    #: no verification slot was free: nothing was checked nor counted, the person may retry
    busy: bool = False

    @property
    def ok(self) -> bool:
        return self.user is not None


def _recent_failures(session: Session, key: str, now: datetime) -> list[datetime]:
    return list(session.scalars(
        select(LoginFailure.at).where(LoginFailure.login_key == key,
                                      LoginFailure.at > now - lockout.WINDOW)
    ))


def _account_for(session: Session, login: str) -> User | None:
    normalised = normalise_login(login)
    if not 0 < len(normalised) <= MAX_LOGIN_LENGTH:
        return None
    return session.scalar(select(User).where(User.login_normalised == normalised))


def _lane(user: User | None) -> hash_budget.Lane:
    """The known lane is for accounts that proved both factors before and can still log in."""
    if (user is not None and user.password_hash is not None and not user.is_disabled
            and user.last_login_at is not None):
        return hash_budget.Lane.KNOWN
    return hash_budget.Lane.OPEN


def has_login_history(session: Session, login: str) -> bool:
    """Tell whether `login` names an account that completed a login before and may log in.

    Such attempts draw on the known lane of the hashing budget and stay out of the overall
    failure limit, which unknown logins can fill.
    """
    return _lane(_account_for(session, login)) is hash_budget.Lane.KNOWN


def check_login(session: Session, login: str, password: str) -> LoginResult:
    """Check a login and password, counting failures and locking per SEC-AUT-5a/5b.

    Unknown logins, accounts without a password and disabled accounts run one verification
    against a dummy hash and are counted and locked like any other login. The verification
    needs a slot of the hashing budget; without one the result is `busy`.
    """
    now = clock.now()
    key = login_key(login)
    user = _account_for(session, login)
    app = app_of(session)
    check = hasher(app)
    lane = _lane(user)
    # The slot is asked for before anything else: during a flood most attempts find none, and
    # the answer must then cost as little as possible (the other pages wait behind it).
    known_id = user.id if user is not None and lane is hash_budget.Lane.KNOWN else None
    with hash_budget.slot(app, lane, known_id) as granted:
        if not granted:
            return LoginResult(busy=True)
        state: User | LoginThrottle | None = user if user is not None else session.get(
            LoginThrottle, key)
        consecutive = state.failed_logins if state is not None else 0
        stored_lock = state.locked_until if state is not None else None
        failures = _recent_failures(session, key, now)
        if (stored_lock is not None and stored_lock > now) or lockout.is_locked(
                consecutive, failures, now):
            # While locked the password is not even checked (SEC-AUT-5a).
            record(session, user, AccountAction.LOGIN_FAILURE, user, outcome="failure",
                   reason="locked")
            return LoginResult()
        if user is None or user.password_hash is None or user.is_disabled:
            check.verify_dummy(password)
            reason = ("unknown_login" if user is None else
                      "disabled" if user.is_disabled else "not_activated")
            ok = False
        else:
            ok = check.verify(user.password_hash, password)
            reason = "bad_password"
    if ok:
        assert user is not None and user.password_hash is not None
        if check.needs_rehash(user.password_hash):
            user.password_hash = check.hash(password)
        session.flush()
        record(session, user, AccountAction.PASSWORD_VERIFIED, user)
        return LoginResult(user=user)

    consecutive = _count_failure(session, user, key, now)
    until = lockout.locked_until(consecutive, [*failures, now], now)
    locked_now = until is not None
    if user is not None:
        user.locked_until = until
    else:
        session.execute(update(LoginThrottle).where(LoginThrottle.login_key == key)
                        .values(locked_until=until))
    _purge(session, now)
    session.flush()
    record(session, user, AccountAction.LOGIN_FAILURE, user, outcome="failure", reason=reason)
    if until is not None:
        minutes = max(1, round((until - now).total_seconds() / 60))
        record(session, user, AccountAction.LOGIN_LOCKED, user, outcome="failure",
               minutes=minutes, failures=consecutive)
    return LoginResult(locked_account=user if locked_now else None)


def _count_failure(session: Session, user: User | None, key: str, now: datetime) -> int:
    """Record one failure and return the new consecutive count (atomic across workers)."""
    session.add(LoginFailure(login_key=key, at=now))
    if user is not None:
        count = session.execute(
            update(User).where(User.id == user.id)
            .values(failed_logins=User.failed_logins + 1)
            .returning(User.failed_logins),
            execution_options={"synchronize_session": False},
        ).scalar_one()
        set_committed_value(user, "failed_logins", count)
        return int(count)
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(LoginThrottle).values(
        login_key=key, failed_logins=1, updated_at=now)
    statement = statement.on_conflict_do_update(
        index_elements=[LoginThrottle.login_key],
        set_={"failed_logins": LoginThrottle.failed_logins + 1, "updated_at": now},
    ).returning(LoginThrottle.failed_logins)
    return int(session.execute(statement).scalar_one())


def _purge(session: Session, now: datetime) -> None:
    """Forget failures older than the 24-hour window and unknown logins no longer locked."""
    horizon = now - lockout.WINDOW
    session.execute(delete(LoginFailure).where(LoginFailure.at <= horizon))
    session.execute(delete(LoginThrottle).where(
        LoginThrottle.updated_at <= horizon,
        (LoginThrottle.locked_until.is_(None)) | (LoginThrottle.locked_until <= now),
    ))


def complete_login(session: Session, user: User, method: str) -> None:
    """Record a full login (both factors): counters reset, pending links die."""
    now = clock.now()
    user.last_login_at = now
    user.failed_logins = 0
    user.locked_until = None
    void_tokens(session, user)
    session.flush()
    record(session, user, AccountAction.LOGIN_SUCCESS, user, method=method)


# --- second factor ---------------------------------------------------------------------------


class CodeCheck(enum.Enum):
    """How a second-factor code was received."""

    ACCEPTED = "accepted"
    WRONG = "wrong"
    REPLAYED = "replayed"


def seal_secret(session: Session, user: User, secret: str) -> bytes:
    """Seal a TOTP secret for `user` with the TOTP key (never the patient-data keys)."""
    return seal(keyring_of(session).key("totp"), secret.encode(), totp_aad(user.id))


def totp_secret(session: Session, user: User) -> str:
    """Open the user's sealed TOTP secret."""
    if user.totp_secret_sealed is None:
        raise Conflict(_("No second factor is set up for this account."))
    return open_(keyring_of(session).key("totp"), user.totp_secret_sealed,
                 totp_aad(user.id)).decode()


def prepare_enrolment(session: Session, user: User) -> None:
    """Draw a TOTP secret for an account that has none yet (kept until confirmed)."""
    if user.totp_confirmed_at is None and user.totp_secret_sealed is None:
        user.totp_secret_sealed = seal_secret(session, user, totp_codes.new_secret())
        session.flush()


def provisioning_uri(session: Session, user: User) -> str:
    """Return the otpauth:// URI of the user's pending secret (for the QR code)."""
    return totp_codes.provisioning_uri(totp_secret(session, user), user.login, ISSUER)


def _claim_step(session: Session, user: User, step: int) -> bool:
    # The database decides: of two requests with the same code, one update matches a row.
    result = session.execute(
        update(User).where(User.id == user.id, User.totp_last_step < step)
        .values(totp_last_step=step),
        execution_options={"synchronize_session": False},
    )
    if rows_affected(result) != 1:
        return False
    set_committed_value(user, "totp_last_step", step)
    return True


def check_totp(session: Session, user: User, code: str) -> CodeCheck:
    """Check a TOTP code (steps T and T-1, each usable once); failures and replays are audited."""
    if user.totp_secret_sealed is None or user.is_disabled:
        record(session, user, AccountAction.TOTP_FAILURE, user, outcome="failure",
               reason="no_secret")
        return CodeCheck.WRONG
    step = totp_codes.matching_step(totp_secret(session, user), code, clock.now())
    if step is None:
        record(session, user, AccountAction.TOTP_FAILURE, user, outcome="failure",
               reason="wrong_code")
        return CodeCheck.WRONG
    if not _claim_step(session, user, step):
        record(session, user, AccountAction.TOTP_REPLAY, user, outcome="denied")
        return CodeCheck.REPLAYED
    return CodeCheck.ACCEPTED


def claim_second_factor_alert(session: Session, user: User) -> bool:
    """Tell whether to mail `user` now about second-factor trouble, and note it if so.

    One mail per `SECOND_FACTOR_ALERT_WINDOW`: an attack that trips the limit or replays codes
    again and again would otherwise mail the person at every attempt. The database decides, so
    two workers seeing the same incident send one mail.
    """
    now = clock.now()
    claimed = session.execute(
        update(User).where(User.id == user.id, or_(
            User.second_factor_alert_at.is_(None),
            User.second_factor_alert_at <= now - SECOND_FACTOR_ALERT_WINDOW))
        .values(second_factor_alert_at=now),
        execution_options={"synchronize_session": False},
    )
    if rows_affected(claimed) != 1:
        return False
    set_committed_value(user, "second_factor_alert_at", now)
    return True


def confirm_enrolment(session: Session, user: User, code: str) -> list[str] | None:
    """Confirm enrolment with a first valid code; return the recovery codes to show once."""
    if user.totp_confirmed_at is not None:
        raise Conflict(_("The second factor is already set up."))
    if check_totp(session, user, code) is not CodeCheck.ACCEPTED:
        return None
    user.totp_confirmed_at = clock.now()
    codes = _new_recovery_codes(session, user)
    record(session, user, AccountAction.TOTP_ENROL, user)
    return codes


def _new_recovery_codes(session: Session, user: User) -> list[str]:
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    check = hasher(app_of(session))
    codes = totp_codes.new_recovery_codes()
    now = clock.now()
    for code in codes:
        normalised = totp_codes.normalise_recovery_code(code)
        assert normalised is not None
        session.add(RecoveryCode(user_id=user.id, code_hash=check.hash(normalised),
                                 created_at=now))
    session.flush()
    return codes


def use_recovery_code(session: Session, user: User, code: str) -> bool:
    """Accept an unused recovery code once; it is burnt at first use."""
    normalised = totp_codes.normalise_recovery_code(code)
    if normalised is not None and user.totp_confirmed_at is not None and not user.is_disabled:
        check = hasher(app_of(session))
        unused = session.scalars(select(RecoveryCode).where(
            RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)))
        for candidate in unused:
            if not check.verify(candidate.code_hash, normalised):
                continue
            burnt = session.execute(
                update(RecoveryCode)
                .where(RecoveryCode.id == candidate.id, RecoveryCode.used_at.is_(None))
                .values(used_at=clock.now()),
                execution_options={"synchronize_session": False},
            )
            if rows_affected(burnt) == 1:
                record(session, user, AccountAction.RECOVERY_USE, user,
                       remaining=remaining_recovery_codes(session, user))
                return True
    record(session, user, AccountAction.RECOVERY_FAILURE, user, outcome="failure")
    return False


#: built once: the account page asks at every view
_UNUSED_CODES = select(func.count(RecoveryCode.id)).where(
    RecoveryCode.user_id == bindparam("user_id"), RecoveryCode.used_at.is_(None))


def remaining_recovery_codes(session: Session, user: User) -> int:
    """Count the unused recovery codes of `user`."""
    return int(session.scalar(_UNUSED_CODES, {"user_id": user.id}) or 0)


def regenerate_recovery_codes(session: Session, user: User, password: str,
                              code: str) -> list[str]:
    """Replace the recovery codes; needs the password and a fresh TOTP code (SEC-AUT-2h).

    :raises AccountError: wrong password or code (the field is named).
    """
    if not user.password_hash or not hasher(app_of(session)).verify(user.password_hash,
                                                                     password):
        record(session, user, AccountAction.RECOVERY_FAILURE, user, outcome="failure",
               reason="bad_password")
        raise AccountError(_("The password is not correct."), "password")
    if check_totp(session, user, code) is not CodeCheck.ACCEPTED:
        raise AccountError(_("The code is not valid. Wait for the next code and try again."),
                           "code")
    codes = _new_recovery_codes(session, user)
    record(session, user, AccountAction.RECOVERY_REGENERATE, user)
    return codes


# --- passwords -------------------------------------------------------------------------------


def policy_context(session: Session, user: User) -> dict[str, object]:
    """Return the personal and product words a password of `user` must not contain."""
    app = app_of(session)
    names = [user.first_name, user.last_name, str(app.config["CONTROLLER_NAME"])]
    return {"login": user.login, "email": user.email, "names": [n for n in names if n]}


def _set_password(session: Session, user: User, new_password: str) -> None:
    reasons = check_password(new_password, **policy_context(session, user))  # type: ignore[arg-type]
    if reasons:
        raise PasswordRejected(reasons)
    check = hasher(app_of(session))
    if user.password_hash and check.verify(user.password_hash, new_password):
        raise AccountError(_("Choose a password different from the current one."),
                           "new_password")
    user.password_hash = check.hash(new_password)
    user.password_changed_at = clock.now()
    user.must_change_password = False


def change_password(session: Session, user: User, current: str, new_password: str, *,
                    keep_session: str | None) -> int:
    """Change one's password: the current one is required; other sessions end (SEC-SES-6).

    Returns how many other sessions were ended.

    :raises AccountError: the current password is wrong.
    :raises PasswordRejected: the new password breaks the policy.
    """
    if not user.password_hash or not hasher(app_of(session)).verify(user.password_hash,
                                                                     current):
        record(session, user, AccountAction.PASSWORD_CHANGE, user, outcome="failure",
               reason="bad_current_password")
        raise AccountError(_("The current password is not correct."), "current_password")
    _set_password(session, user, new_password)
    ended = sessions.revoke_all(session, user, keep=keep_session)
    void_tokens(session, user)
    session.flush()
    record(session, user, AccountAction.PASSWORD_CHANGE, user, sessions_ended=ended)
    return ended


def set_password_with_token(session: Session, token: AccountToken, new_password: str) -> User:
    """Set the password through an activation or reset link, which then dies.

    The person still has to pass (or enrol) the second factor afterwards (SEC-AUT-2h).

    :raises AccountError: the link is no longer valid.
    :raises PasswordRejected: the password breaks the policy.
    """
    now = clock.now()
    if not token_is_live(token, now):
        record(session, None, AccountAction.TOKEN_REFUSED, token, outcome="denied")
        raise AccountError(_("This link is no longer valid. Ask your administrator for a "
                             "new one."))
    user = token.user
    _set_password(session, user, new_password)
    token.used_at = now
    void_tokens(session, user)
    sessions.revoke_all(session, user)
    # The person proved they hold the mailed link: earlier failures no longer count.
    user.failed_logins = 0
    user.locked_until = None
    session.execute(delete(LoginFailure).where(
        LoginFailure.login_key == login_key(user.login_normalised)))
    session.flush()
    record(session, user, AccountAction.PASSWORD_RESET, user, purpose=token.purpose)
    return user


def password_change_required(user: User, permissions: frozenset[str],
                             now: datetime | None = None) -> bool:
    """Tell whether the person must choose a new password before anything else.

    Forced change (suspected compromise), or an administrator whose password is older than
    365 days (CNIL 2022-100 renews privileged passwords only, SEC-AUT-3h).
    """
    if user.must_change_password:
        return True
    if not PRIVILEGED_PERMISSIONS & permissions:
        return False
    moment = now or clock.now()
    changed = user.password_changed_at
    return changed is None or moment - changed > PRIVILEGED_PASSWORD_AGE
