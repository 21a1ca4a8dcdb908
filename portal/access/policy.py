"""The one policy: what a person may do now, from their role and their valid grants.

Views, CLI commands and exports all ask here. It is computed on every request (no cache beyond
the request), so an expired, suspended or withdrawn grant stops working at the next request.
Any failure inside the policy means no permission: it fails closed.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import clock
from portal.access.models import AccessGrant, Category, GrantStatus, Scope
from portal.accounts.models import User
from portal.permissions import ROLE_PERMISSIONS, Permission, Role

log = logging.getLogger(__name__)

#: permissions that reach individual records: never with an aggregated-only grant
RECORD_LEVEL = frozenset({
    Permission.PATIENT_CREATE, Permission.PATIENT_READ, Permission.SUBMISSION_READ,
    Permission.SUBMISSION_WRITE, Permission.RECORD_EXPORT, Permission.LIMITATION_MANAGE,
})
#: permissions that touch health data: never with an "other data" grant
HEALTH = RECORD_LEVEL | {Permission.AGGREGATE_READ}


def valid_grants(session: Session, user: User, at: datetime | None = None) -> list[AccessGrant]:
    """Return the user's grants that are active and in their validity period at `at`."""
    moment = at or clock.now()
    grants = session.scalars(
        select(AccessGrant).where(
            AccessGrant.user_id == user.id,
            AccessGrant.status == GrantStatus.ACTIVE,
            AccessGrant.valid_from <= moment,
            AccessGrant.valid_until >= moment,
        )
    ).all()
    return list(grants)


def grant_permissions(grant: AccessGrant) -> frozenset[Permission]:
    """Return what one grant allows: its role's permissions narrowed by scope and category."""
    allowed = set(ROLE_PERMISSIONS[Role(grant.role)])
    if grant.scope == Scope.AGGREGATED:
        allowed -= RECORD_LEVEL
    if grant.category == Category.OTHER:
        allowed -= HEALTH
    return frozenset(allowed)


def permissions_for(
    session: Session, user: User | None, at: datetime | None = None
) -> frozenset[Permission]:
    """Return every permission the user holds now; empty for nobody, disabled, or on error."""
    if user is None or getattr(user, "is_disabled", True):
        return frozenset()
    try:
        held: set[Permission] = set()
        for grant in valid_grants(session, user, at):
            held |= grant_permissions(grant)
        return frozenset(held)
    except Exception:  # noqa: BLE001 - fail closed: a broken policy grants nothing
        log.exception("access policy failed for user %s; refusing everything", user.id)
        return frozenset()
