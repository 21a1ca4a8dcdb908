"""The annual review (SEC-HAB-3a) and the expiry job (SEC-HAB-2a): what time ends."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from portal import clock
from portal.access.actions import AccessAction
from portal.access.grant_lifecycle import (
    Acting,
    audit,
    end_grant,
    reactivate,
    require,
    review_due_at,
    user_id_of,
)
from portal.access.limits import REVIEW_DECISIONS, REVIEW_GRACE, REVIEW_PERIOD
from portal.access.models import AccessGrant, Category, Establishment, GrantStatus, Scope
from portal.access.policy import SCOPE_ORDER
from portal.accounts.models import User
from portal.accounts.services import disable_user
from portal.audit.services import SYSTEM
from portal.errors import BadRequest, Conflict, Forbidden
from portal.permissions import HEALTHCARE_ROLES, Permission, Role

# --- annual review ---------------------------------------------------------------------------


@dataclass
class ReviewGroup:
    """The grants due for review that one manager asked for (None: created on the CLI)."""

    manager: User | None
    grants: list[AccessGrant] = field(default_factory=list)


def _due_query(now: datetime) -> Any:
    anchor = func.coalesce(AccessGrant.last_reviewed_at, AccessGrant.approved_at,
                           AccessGrant.created_at)
    # Only grants still running after `now`: one ending now needs no review.
    return select(AccessGrant).where(
        anchor <= now - REVIEW_PERIOD,
        AccessGrant.valid_until > now,
        (AccessGrant.status == GrantStatus.ACTIVE)
        | ((AccessGrant.status == GrantStatus.SUSPENDED) & AccessGrant.suspended_for_review),
    )


def grants_due_for_review(session: Session, now: datetime | None = None) -> list[ReviewGroup]:
    """Return the grants not reviewed for 365 days, grouped by manager.

    The manager of a grant is the administrator who asked for it; grants created on the
    command line have no manager and come last.
    """
    now = now or clock.now()
    grants = session.scalars(
        _due_query(now).options(selectinload(AccessGrant.establishments),
                                selectinload(AccessGrant.user))
        .order_by(AccessGrant.id)
    ).all()
    groups: dict[int | None, ReviewGroup] = {}
    for grant in grants:
        if grant.requested_by_id not in groups:
            manager = session.get(User, grant.requested_by_id) if grant.requested_by_id else None
            groups[grant.requested_by_id] = ReviewGroup(manager)
        groups[grant.requested_by_id].grants.append(grant)
    return sorted(groups.values(), key=lambda g: (g.manager is None,
                                                  g.manager.last_name if g.manager else "",
                                                  g.manager.first_name if g.manager else ""))


def review_grant(
    session: Session,
    reviewer: Acting,
    grant: AccessGrant,
    decision: str,
    *,
    scope: Scope | str | None = None,
    category: Category | str | None = None,
    valid_until: datetime | None = None,
    establishments: Iterable[Establishment] | None = None,
    reason: str = "review",
) -> None:
    """Record a review decision: keep, change (narrow only) or revoke.

    A change may only narrow the grant (lower scope, other data instead of health, earlier
    end, fewer establishments); widening needs a new request, with its approval.
    :raises BadRequest: unknown decision, or a change that widens or changes nothing.
    :raises Forbidden: the reviewer reviews their own grant.
    :raises Conflict: the grant is pending or has ended.
    """
    require(session, reviewer, Permission.GRANT_REVIEW)
    if decision not in REVIEW_DECISIONS:
        raise BadRequest(_("The decision is keep, change or revoke."))
    if isinstance(reviewer, User) and reviewer.id == grant.user_id:
        raise Forbidden(_("You cannot review your own grant."))
    if grant.status not in {GrantStatus.ACTIVE, GrantStatus.SUSPENDED}:
        raise Conflict(_("Only an active or suspended grant can be reviewed."))
    now = clock.now()
    details: dict[str, Any] = {}
    if decision == "revoke":
        details["sessions_ended"] = end_grant(session, grant, GrantStatus.WITHDRAWN, reason)
        details["reason"] = reason
    elif decision == "change":
        details.update(_narrow(session, grant, scope, category, valid_until, establishments))
    if decision != "revoke" and grant.suspended_for_review:
        if grant.valid_until <= now:
            raise Conflict(_("This grant has already ended: ask for a new one."))
        reactivate(grant)
        details["reinstated"] = True
    grant.last_reviewed_at = now
    grant.last_reviewed_by_id = user_id_of(reviewer)
    grant.last_review_decision = decision
    session.flush()
    audit(session, reviewer, AccessAction.GRANT_REVIEW, grant, user=f"U{grant.user_id}",
           decision=decision, **details)


def _narrow(session: Session, grant: AccessGrant, scope: Scope | str | None,
            category: Category | str | None, valid_until: datetime | None,
            establishments: Iterable[Establishment] | None) -> dict[str, Any]:
    """Apply a narrowing change decided at review; return what changed, for the audit."""
    changed: dict[str, Any] = {}
    try:
        new_scope = Scope(scope) if scope else Scope(grant.scope)
        new_category = Category(category) if category else Category(grant.category)
    except ValueError:
        raise BadRequest(_("Unknown scope or category.")) from None
    if SCOPE_ORDER[new_scope] > SCOPE_ORDER[Scope(grant.scope)]:
        raise BadRequest(_("A review can only narrow a grant: ask for a new grant to widen it."))
    if new_category == Category.HEALTH and grant.category == Category.OTHER:
        raise BadRequest(_("A review can only narrow a grant: ask for a new grant to widen it."))
    if new_scope != grant.scope:
        changed["scope"] = grant.scope = new_scope.value
    if new_category != grant.category:
        changed["category"] = grant.category = new_category.value
    if valid_until is not None and valid_until != grant.valid_until:
        if valid_until > grant.valid_until:
            raise BadRequest(_("A review cannot extend a grant: ask for a new one."))
        if valid_until <= max(grant.valid_from, clock.now()):
            raise BadRequest(_("The new end date must be in the future."))
        grant.valid_until = valid_until
        changed["valid_until"] = valid_until.isoformat()
    if establishments is not None:
        chosen = list(dict.fromkeys(establishments))
        current = {e.id for e in grant.establishments}
        if not {e.id for e in chosen} <= current:
            raise BadRequest(_("A review can only remove establishments."))
        if Role(grant.role) in HEALTHCARE_ROLES and not chosen:
            raise BadRequest(_("Healthcare staff need at least one establishment."))
        if {e.id for e in chosen} != current:
            grant.establishments = chosen
            changed["establishments"] = len(chosen)
    if not changed:
        raise BadRequest(_("Nothing was changed: choose \"keep\" instead."))
    return changed


# --- expiry (SEC-HAB-2a, SEC-HAB-3a) ---------------------------------------------------------


@dataclass
class ExpiryReport:
    """What one run of `expire` changed."""

    expired_grants: list[int] = field(default_factory=list)
    disabled_users: list[int] = field(default_factory=list)
    suspended_grants: list[int] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.expired_grants or self.disabled_users or self.suspended_grants)


def inactivity_days(session: Session) -> int:
    """Return after how many days without login an account is disabled."""
    from portal.db import app_of

    return int(app_of(session).config["ACCESS_INACTIVITY_DAYS"])


def expire(session: Session, now: datetime | None = None, actor: Acting = SYSTEM
           ) -> ExpiryReport:
    """End what time has ended: expired grants, inactive accounts, overdue reviews.

    Rows are taken with SKIP LOCKED on PostgreSQL, so two workers running it at once do not
    record the same change twice.
    """
    now = now or clock.now()
    report = ExpiryReport()
    ended = session.scalars(
        select(AccessGrant).where(
            AccessGrant.status.in_([GrantStatus.ACTIVE, GrantStatus.SUSPENDED,
                                    GrantStatus.PENDING_APPROVAL]),
            AccessGrant.valid_until < now,
        ).order_by(AccessGrant.id).with_for_update(skip_locked=True)
    ).all()
    for grant in ended:
        previous = grant.status
        grant.status = GrantStatus.EXPIRED
        grant.ended_at = grant.ended_at or now
        report.expired_grants.append(grant.id)
        audit(session, actor, AccessAction.GRANT_EXPIRE, grant, user=f"U{grant.user_id}",
               previous=previous, valid_until=grant.valid_until.isoformat())

    limit = now - timedelta(days=inactivity_days(session))
    inactive = session.scalars(
        select(User).where(
            User.disabled_at.is_(None),
            func.coalesce(User.last_login_at, User.created_at) < limit,
        ).order_by(User.id).with_for_update(skip_locked=True)
    ).all()
    for user in inactive:
        # The finding is ours; the disabling itself is the accounts area's (sessions, second
        # factor, recovery codes and links all die), with its own audit entry.
        last_seen = user.last_login_at or user.created_at
        audit(session, actor, AccessAction.ACCOUNT_INACTIVE, user,
              days=inactivity_days(session), since=last_seen.isoformat(),
              never_logged_in=user.last_login_at is None)
        disable_user(session, actor, user)
        report.disabled_users.append(user.id)

    overdue = session.scalars(
        _due_query(now - REVIEW_GRACE)
        .where(AccessGrant.status == GrantStatus.ACTIVE)
        .order_by(AccessGrant.id).with_for_update(skip_locked=True)
    ).all()
    for grant in overdue:
        sessions = end_grant(session, grant, GrantStatus.SUSPENDED, "review_overdue")
        grant.suspended_for_review = True
        report.suspended_grants.append(grant.id)
        audit(session, actor, AccessAction.GRANT_SUSPEND, grant, user=f"U{grant.user_id}",
               reason="review_overdue", due=review_due_at(grant).isoformat(),
               sessions_ended=sessions)
    session.flush()
    return report
