"""Named permissions, the roles of section 8 of the referential, and deny by default.

Every view declares what it needs with `@requires(...)` or is explicitly `@public`; a view with
neither is refused at request time, and `tests/test_permissions.py` fails on it. Whether the
current person holds a permission is decided by the authorizer that the accounts area installs
(`portal.accounts.authorization`: login, second factor, gates), which asks the access policy
(`portal.access.policy.permissions_for`: role and valid grants). Before it is installed,
everything that is not public is refused.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, g, request

F = TypeVar("F", bound=Callable[..., Any])


class Permission(enum.StrEnum):
    """A permission is named `<area>:<subject>:<action>`."""

    #: use the portal at all: home page, one's own account and password, logout
    SESSION_USE = "accounts:session:use"
    #: create, disable and reset accounts
    USER_ADMIN = "accounts:user:admin"
    #: manage establishments and grants; approve another administrator's grant
    GRANT_ADMIN = "access:grant:admin"
    #: review grants once a year
    GRANT_REVIEW = "access:grant:review"
    #: install and read protocol versions
    PROTOCOL_MANAGE = "protocols:protocol:manage"
    PROTOCOL_READ = "protocols:protocol:read"
    #: approve or refuse a draft another manager wrote, which puts it in force (maker-checker)
    PROTOCOL_APPROVE = "protocols:protocol:approve"
    #: register a patient of one's establishment
    PATIENT_CREATE = "records:patient:create"
    #: read a patient record (limited by the grant's scope)
    PATIENT_READ = "records:patient:read"
    #: fill, save and rectify submissions
    SUBMISSION_WRITE = "records:submission:write"
    #: read submissions (limited by the grant's scope)
    SUBMISSION_READ = "records:submission:read"
    #: export pseudonymised data
    RECORD_EXPORT = "records:export:create"
    #: read aggregated figures only
    AGGREGATE_READ = "records:aggregate:read"
    #: lift a limitation on a patient's records
    LIMITATION_MANAGE = "records:limitation:manage"
    #: read the audit trail and its alerts
    AUDIT_READ = "audit:event:read"
    #: edit and publish information notices, read acknowledgements
    NOTICE_MANAGE = "notices:notice:manage"
    #: submit a rights request (for a patient or oneself)
    RIGHTS_SUBMIT = "rights:request:create"
    #: handle rights requests
    RIGHTS_HANDLE = "rights:request:handle"
    #: keep the accountability registers: processing record, breaches, processors, DPIA
    REGISTER_MANAGE = "registers:register:manage"
    #: contacts and orders only, never health data
    SUPPLY_MANAGE = "supply:order:manage"
    #: read an archived case (intermediate archive), each read with a stated reason
    ARCHIVE_READ = "retention:archive:read"
    #: see the retention state of the cases, the runs and the legal holds (no health data)
    RETENTION_OVERSEE = "retention:state:read"
    #: record the ANSM decisions on a patient's AAC (start, renewal, suspension, withdrawal)
    AAC_RECORD = "retention:aac:write"
    #: see the backups, their size and their verification (no content)
    BACKUP_READ = "backups:backup:read"
    #: see the outgoing mail waiting and failed (kinds and errors, never the content)
    OUTBOX_READ = "outbox:message:read"
    #: see the job runner's duties and runs (figures only)
    JOBS_READ = "jobs:run:read"


class Role(enum.StrEnum):
    """The people of section 8 of the referential."""

    PRESCRIBER = "prescriber"
    HOSPITAL_PHARMACIST = "hospital_pharmacist"
    HEALTHCARE_STAFF = "healthcare_staff"
    PHARMACIST_IN_CHARGE = "pharmacist_in_charge"
    PHARMACOVIGILANCE = "pharmacovigilance"
    MEDICAL_AFFAIRS = "medical_affairs"
    SUPPLY = "supply"
    AUDITOR = "auditor"
    DPO = "dpo"
    ADMINISTRATOR = "administrator"
    PROCESSOR = "processor"
    #: reads the intermediate archive: ad hoc, motivated, time-limited like the auditor
    ARCHIVIST = "archivist"

    @property
    def is_healthcare(self) -> bool:
        """True for the hospital side, whose perimeter is a set of establishments."""
        return self in HEALTHCARE_ROLES


HEALTHCARE_ROLES = frozenset({Role.PRESCRIBER, Role.HOSPITAL_PHARMACIST, Role.HEALTHCARE_STAFF})

P = Permission
_HEALTHCARE = {
    P.SESSION_USE, P.PATIENT_CREATE, P.PATIENT_READ, P.SUBMISSION_WRITE, P.SUBMISSION_READ,
    P.RIGHTS_SUBMIT, P.PROTOCOL_READ,
}
_LAB_READER = {P.SESSION_USE, P.PATIENT_READ, P.SUBMISSION_READ, P.RECORD_EXPORT,
               P.AGGREGATE_READ, P.PROTOCOL_READ, P.RIGHTS_SUBMIT}

#: what each role may do at most; a grant's scope and perimeter narrow it further
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.PRESCRIBER: frozenset(_HEALTHCARE),
    Role.HOSPITAL_PHARMACIST: frozenset(_HEALTHCARE),
    Role.HEALTHCARE_STAFF: frozenset(_HEALTHCARE - {P.PATIENT_CREATE}),
    Role.PHARMACIST_IN_CHARGE: frozenset(_LAB_READER | {P.PROTOCOL_MANAGE, P.PROTOCOL_APPROVE,
                                                        P.SUBMISSION_WRITE, P.AAC_RECORD}),
    Role.PHARMACOVIGILANCE: frozenset(_LAB_READER),
    #: medical affairs design protocols with the pharmacist in charge (issue 20)
    Role.MEDICAL_AFFAIRS: frozenset(_LAB_READER | {P.PROTOCOL_MANAGE, P.PROTOCOL_APPROVE}),
    Role.SUPPLY: frozenset({P.SESSION_USE, P.SUPPLY_MANAGE, P.RIGHTS_SUBMIT}),
    Role.AUDITOR: frozenset({P.SESSION_USE, P.AUDIT_READ, P.PATIENT_READ, P.SUBMISSION_READ,
                             P.AGGREGATE_READ, P.PROTOCOL_READ}),
    Role.DPO: frozenset({P.SESSION_USE, P.NOTICE_MANAGE, P.RIGHTS_HANDLE, P.RIGHTS_SUBMIT,
                         P.LIMITATION_MANAGE, P.AUDIT_READ, P.PATIENT_READ, P.SUBMISSION_READ,
                         P.PROTOCOL_READ, P.RETENTION_OVERSEE, P.BACKUP_READ, P.REGISTER_MANAGE}),
    Role.ADMINISTRATOR: frozenset({P.SESSION_USE, P.USER_ADMIN, P.GRANT_ADMIN, P.GRANT_REVIEW,
                                   P.PROTOCOL_MANAGE, P.PROTOCOL_READ, P.RIGHTS_SUBMIT,
                                   P.BACKUP_READ, P.REGISTER_MANAGE, P.OUTBOX_READ,
                                   P.JOBS_READ}),
    Role.PROCESSOR: frozenset(_LAB_READER - {P.RECORD_EXPORT}),
    Role.ARCHIVIST: frozenset({P.SESSION_USE, P.ARCHIVE_READ}),
}

PUBLIC_ATTR = "portal_public"
REQUIRES_ATTR = "portal_requires"

Authorizer = Callable[[frozenset[Permission]], None]
PermissionSource = Callable[[], frozenset[Permission]]


def requires(*permissions: Permission) -> Callable[[F], F]:
    """Declare the permissions a view needs (all of them)."""
    if not permissions:
        raise ValueError("requires() needs at least one permission")

    def mark(view: F) -> F:
        setattr(view, REQUIRES_ATTR, frozenset(permissions))
        return view

    return mark


def public(view: F) -> F:
    """Declare a view open to anyone, logged in or not (it must show no personal data)."""
    setattr(view, PUBLIC_ATTR, True)
    return view


def declared_access(view: Callable[..., Any]) -> frozenset[Permission] | None:
    """Return the permissions a view declares, an empty set when public, None when undeclared."""
    if getattr(view, PUBLIC_ATTR, False):
        return frozenset()
    return getattr(view, REQUIRES_ATTR, None)


def _deny_all(_permissions: frozenset[Permission]) -> None:
    from portal.errors import Forbidden

    raise Forbidden()


def set_authorizer(app: Flask, authorizer: Authorizer) -> None:
    """Install the function that decides whether the current user holds the permissions."""
    app.extensions["portal.authorizer"] = authorizer


def set_permission_source(app: Flask, source: PermissionSource) -> None:
    """Install the function returning what the current user may do (for menus and checks)."""
    app.extensions["portal.permission_source"] = source


def granted_permissions() -> frozenset[Permission]:
    """Return the permissions the current user holds in this request (none by default).

    None while the error page of an outage renders: it must not ask the database again.
    """
    if g.get("portal_without_database"):
        return frozenset()
    source = current_app.extensions.get("portal.permission_source")
    return source() if source else frozenset()


def init_app(app: Flask) -> None:
    """Check every request against its view's declaration before the view runs."""
    app.extensions.setdefault("portal.authorizer", _deny_all)
    # Flask's own static route cannot carry a decorator; it serves only our CSS and script.
    if "static" in app.view_functions:
        public(app.view_functions["static"])

    @app.before_request
    def _enforce() -> None:
        if request.endpoint is None:
            return  # routing failed: the 404/405 handler answers
        view = current_app.view_functions[request.endpoint]
        declared = declared_access(view)
        if declared is None:
            _deny_all(frozenset())
        elif declared:
            current_app.extensions["portal.authorizer"](declared)
