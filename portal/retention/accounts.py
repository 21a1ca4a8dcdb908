"""RET-05: healthcare professionals' accounts (those given a prescriber, hospital pharmacist or
healthcare staff grant). Without linked cases: disabled after two years unused, their
personal data erased a year later. Linked to a case (registered, filled, handed off or limited
it, in the active base or the archive): kept, for the traceability of who entered what, until
those cases are purged.

Erasing keeps the row itself (grants, notices and requests point at it) with no personal data
left: an opaque login `erased-U<id>`, no name, e-mail, telephone, RPPS, password or second
factor.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from portal import clock
from portal.access.models import AccessGrant
from portal.accounts.models import AccountToken, RecoveryCode, User, UserSession
from portal.accounts.services import disable_user
from portal.audit.services import record
from portal.db import app_of
from portal.permissions import HEALTHCARE_ROLES
from portal.records.models import EventHandOff, Patient, Submission, SubmissionRevision
from portal.retention import archive as store
from portal.retention.actions import RetentionAction
from portal.retention.dates import add_years

ERASED_PREFIX = "erased-U"
#: the columns of archived rows that name an account
_ARCHIVED_USER_COLUMNS = ("created_by_id", "updated_by_id", "author_id", "handed_off_by_id",
                          "limited_by_id")


def linked_user_ids(session: Session) -> set[int]:
    """Every account named by a case of the active base or of the archive."""
    ids: set[int] = set()
    for column in (Patient.created_by_id, Patient.limited_by_id, Submission.created_by_id,
                   Submission.updated_by_id, SubmissionRevision.author_id,
                   EventHandOff.handed_off_by_id):
        ids.update(i for i in session.scalars(select(column).distinct()) if i is not None)
    with store.archive_engine(app_of(session)).connect() as connection:
        for reference in store.references(connection):
            found = store.load_case(connection, reference)
            if found is None:
                continue
            for rows in found.rows.values():
                for row in rows:
                    ids.update(int(row[c]) for c in _ARCHIVED_USER_COLUMNS if row.get(c))
    return ids


def _last_activity(user: User) -> datetime:
    return user.last_login_at or user.created_at


def is_erased(user: User) -> bool:
    return user.login.startswith(ERASED_PREFIX)


def apply_account_retention(session: Session, actor: Any, now: datetime | None = None
                            ) -> tuple[int, int]:
    """Disable, then erase, the unused accounts without cases; return (disabled, erased)."""
    now = now or clock.now()
    config = app_of(session).config
    disable_years = int(config["RETENTION_ACCOUNT_DISABLE_YEARS"])
    delete_years = int(config["RETENTION_ACCOUNT_DELETE_YEARS"])
    linked = linked_user_ids(session)
    disabled = erased = 0
    professionals = select(AccessGrant.user_id).where(
        AccessGrant.role.in_([role.value for role in HEALTHCARE_ROLES]))
    candidates = session.scalars(select(User).where(
        User.id.in_(professionals),
        or_(User.last_login_at.is_(None), User.last_login_at < now)).order_by(User.id))
    for user in list(candidates):
        if user.id in linked or is_erased(user):
            continue
        if not user.is_disabled:
            if add_years(_last_activity(user).date(), disable_years) <= now.date():
                disable_user(session, actor, user)
                record(session, actor, RetentionAction.ACCOUNT_DISABLE, user,
                       rule="unused_without_cases")
                disabled += 1
            continue
        assert user.disabled_at is not None
        if add_years(user.disabled_at.date(), delete_years) <= now.date() and add_years(
                _last_activity(user).date(), disable_years + delete_years) <= now.date():
            _erase(session, user)
            record(session, actor, RetentionAction.ACCOUNT_DELETE, user,
                   rule="disabled_without_cases")
            erased += 1
    session.flush()
    return disabled, erased


def _erase(session: Session, user: User) -> None:
    session.execute(delete(UserSession).where(UserSession.user_id == user.id))
    session.execute(delete(AccountToken).where(AccountToken.user_id == user.id))
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    opaque = f"{ERASED_PREFIX}{user.id}"
    user.login = opaque
    user.login_normalised = opaque
    user.first_name = ""
    user.last_name = ""
    user.email = f"{opaque}@invalid"
    user.phone = None
    user.specialty = None
    user.rpps = None
    user.password_hash = None
    user.totp_secret_sealed = None
    user.totp_confirmed_at = None
