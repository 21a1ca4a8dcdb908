"""What the grant services and the review jobs share: the actor check, the audit call, ends.

Kept apart so that the grant services (services.py) and the review and expiry jobs
(review.py) use one `audit` call and one `require` check without importing each other.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import update
from sqlalchemy.orm import Session

from portal import clock
from portal.access.actions import AccessAction
from portal.access.limits import REVIEW_PERIOD
from portal.access.models import AccessGrant, Category, GrantStatus, Scope
from portal.access.policy import HEALTH, permissions_for
from portal.accounts.models import User, UserSession
from portal.audit.services import Actor, record
from portal.db import rows_affected
from portal.errors import Forbidden
from portal.permissions import ROLE_PERMISSIONS, Permission, Role

#: who acts: a logged-in person, or the CLI operator / a system job
Acting = User | Actor


def audit(session: Session, actor: Acting, action: AccessAction, target: Any,
          **details: Any) -> None:
    """Write the one audit entry of a change, in the caller's transaction."""
    record(session, actor, action, target, **details)


def is_trusted(actor: Acting) -> bool:
    """The CLI operator and system jobs act with the server's authority."""
    return isinstance(actor, Actor) and actor.kind in {"cli", "system"}


def require(session: Session, actor: Acting, permission: Permission) -> None:
    """Refuse unless the actor holds `permission` now (the service-layer check)."""
    if is_trusted(actor):
        return
    if not isinstance(actor, User) or permission not in permissions_for(session, actor):
        raise Forbidden(_("You do not have the right to manage access grants."))


def user_id_of(actor: Acting) -> int | None:
    """Return the acting person's id; None for the CLI operator and system jobs."""
    return actor.id if isinstance(actor, User) else None


def revoke_sessions(session: Session, user_id: int, now: datetime) -> int:
    """End every open session of a person at once; return how many were open."""
    result = session.execute(
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session="fetch")
    )
    return rows_affected(result)


def needs_approval(scope: str, category: str) -> bool:
    """Directly identifying health data needs a second administrator (SEC-HAB-3b)."""
    return scope == Scope.IDENTIFYING and category == Category.HEALTH


def role_reaches_health(role: Role) -> bool:
    """True when the role has any permission on health data."""
    return bool(ROLE_PERMISSIONS[role] & HEALTH)


def review_anchor(grant: AccessGrant) -> datetime:
    """Return when the grant was last looked at: reviewed, else approved, else created."""
    return grant.last_reviewed_at or grant.approved_at or grant.created_at


def review_due_at(grant: AccessGrant) -> datetime:
    """Return when the grant falls due for its annual review."""
    return review_anchor(grant) + REVIEW_PERIOD


def end_grant(session: Session, grant: AccessGrant, status: GrantStatus, reason: str) -> int:
    """Close a grant and end its holder's sessions; return the number of sessions ended."""
    now = clock.now()
    grant.status = status
    grant.ended_at = now
    grant.end_reason = reason
    return revoke_sessions(session, grant.user_id, now)


def reactivate(grant: AccessGrant) -> None:
    """Make a suspended grant active again, forgetting why it was suspended."""
    grant.status = GrantStatus.ACTIVE
    grant.ended_at = None
    grant.end_reason = None
    grant.suspended_for_review = False
