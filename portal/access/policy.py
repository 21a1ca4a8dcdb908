"""The one policy: what a person may do now, from their role and their valid grants.

Views, CLI commands and exports all ask here. It is computed on every request (no cache beyond
the request), so an expired, suspended or withdrawn grant stops working at the next request.
Any failure inside the policy means no permission: it fails closed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from flask import has_request_context
from flask.globals import request_ctx
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from portal import clock
from portal.access.models import AccessGrant, Category, GrantStatus, Scope
from portal.accounts.models import User
from portal.db import DATABASE_UNAVAILABLE
from portal.permissions import HEALTHCARE_ROLES, ROLE_PERMISSIONS, Permission, Role

log = logging.getLogger(__name__)

#: permissions that reach individual records: never with an aggregated-only grant
RECORD_LEVEL = frozenset({
    Permission.PATIENT_CREATE, Permission.PATIENT_READ, Permission.SUBMISSION_READ,
    Permission.SUBMISSION_WRITE, Permission.RECORD_EXPORT, Permission.LIMITATION_MANAGE,
    Permission.ARCHIVE_READ,
})
#: permissions that touch health data: never with an "other data" grant
HEALTH = RECORD_LEVEL | {Permission.AGGREGATE_READ}
#: from the narrowest scope to the widest
SCOPE_ORDER = {Scope.AGGREGATED: 0, Scope.PSEUDONYMISED: 1, Scope.IDENTIFYING: 2}


def valid_grants(session: Session, user: User, at: datetime | None = None) -> list[AccessGrant]:
    """Return the user's grants that are active and in their validity period at `at`.

    Within one request, the answer for "now" is read once and reused (the authorizer, the
    record policy and the menus all ask); the next request reads again.
    """
    if at is None and has_request_context():
        memo = request_ctx.__dict__.setdefault("portal_valid_grants", {})
        key = (id(session), user.id)
        if key not in memo:
            memo[key] = _query_valid_grants(session, user, clock.now())
        return list(memo[key])
    return _query_valid_grants(session, user, at or clock.now())


#: built once (every page asks): building a statement and its cache key costs about as much
#: as running it
_VALID_GRANTS = select(AccessGrant).where(
    AccessGrant.user_id == bindparam("user_id"),
    AccessGrant.status == GrantStatus.ACTIVE,
    AccessGrant.valid_from <= bindparam("moment"),
    AccessGrant.valid_until >= bindparam("moment"),
)


def _query_valid_grants(session: Session, user: User, moment: datetime) -> list[AccessGrant]:
    return list(session.scalars(_VALID_GRANTS, {"user_id": user.id, "moment": moment}).all())


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
    except DATABASE_UNAVAILABLE:
        raise  # an outage is a 503, not a refusal
    except Exception:  # noqa: BLE001 - fail closed: a broken policy grants nothing
        log.exception("access policy failed for user %s; refusing everything", user.id)
        return frozenset()


def denial_reason(session: Session, user: User, at: datetime | None = None) -> str:
    """Explain why a person lacks a permission, as a short code for the audit trail.

    account_disabled, missing_permission (a valid grant, but not for this), expired,
    not_started, pending_approval, suspended, withdrawn or no_grant; the newest grant decides.
    """
    moment = at or clock.now()
    if user.is_disabled:
        return "account_disabled"
    grants = session.scalars(
        select(AccessGrant).where(AccessGrant.user_id == user.id).order_by(AccessGrant.id.desc())
    ).all()
    if any(g.is_valid_at(moment) for g in grants):
        return "missing_permission"
    if not grants:
        return "no_grant"
    newest = grants[0]
    if newest.status == GrantStatus.ACTIVE:
        return "expired" if newest.valid_until < moment else "not_started"
    return str(newest.status)


# --- the healthcare perimeter, for the records area -----------------------------------------


@dataclass(frozen=True)
class Perimeter:
    """What part of the records a person reaches now."""

    #: the widest scope among valid health grants; None: no record at all
    scope: Scope | None
    #: establishments of healthcare grants; None when a laboratory grant covers all of them
    establishment_ids: frozenset[int] | None
    #: protocols covered; None when a grant covers every protocol
    protocol_keys: frozenset[str] | None


def _health_grants(session: Session, user: User | None, at: datetime | None,
                   protocol_key: str | None = None) -> list[AccessGrant]:
    if user is None or user.is_disabled:
        return []
    grants = [g for g in valid_grants(session, user, at) if g.category == Category.HEALTH]
    if protocol_key is not None:
        grants = [g for g in grants if g.protocol_key in (None, protocol_key)]
    return grants


def establishment_ids_for(session: Session, user: User | None,
                          at: datetime | None = None) -> set[int]:
    """Return the establishments of the user's valid healthcare grants (empty: none)."""
    if user is None or user.is_disabled:
        return set()
    try:
        return {
            establishment.id
            for grant in valid_grants(session, user, at)
            if Role(grant.role) in HEALTHCARE_ROLES
            for establishment in grant.establishments
        }
    except DATABASE_UNAVAILABLE:
        raise  # an outage is a 503, not a refusal
    except Exception:  # noqa: BLE001 - fail closed, like the policy
        log.exception("perimeter of user %s failed; no establishment", user.id)
        return set()


def scope_for(session: Session, user: User | None, at: datetime | None = None,
              protocol_key: str | None = None) -> Scope | None:
    """Return the widest scope among the user's valid health grants (for a protocol if given)."""
    try:
        scopes = [Scope(g.scope) for g in _health_grants(session, user, at, protocol_key)]
    except DATABASE_UNAVAILABLE:
        raise  # an outage is a 503, not a refusal
    except Exception:  # noqa: BLE001 - fail closed, like the policy
        log.exception("scope of user %s failed; no scope", getattr(user, "id", None))
        return None
    return max(scopes, key=SCOPE_ORDER.__getitem__) if scopes else None


def perimeter_for(session: Session, user: User | None, at: datetime | None = None,
                  protocol_key: str | None = None) -> Perimeter:
    """Return scope, establishments and protocols the user reaches now; fails closed."""
    try:
        grants = _health_grants(session, user, at, protocol_key)
    except DATABASE_UNAVAILABLE:
        raise  # an outage is a 503, not a refusal
    except Exception:  # noqa: BLE001 - fail closed, like the policy
        log.exception("perimeter of user %s failed; nothing", getattr(user, "id", None))
        grants = []
    if not grants:
        return Perimeter(None, frozenset(), frozenset())
    scope = max((Scope(g.scope) for g in grants), key=SCOPE_ORDER.__getitem__)
    lab_wide = any(Role(g.role) not in HEALTHCARE_ROLES for g in grants)
    establishments = None if lab_wide else frozenset(
        e.id for g in grants for e in g.establishments
    )
    protocols = None if any(g.protocol_key is None for g in grants) else frozenset(
        g.protocol_key for g in grants if g.protocol_key
    )
    return Perimeter(scope, establishments, protocols)
