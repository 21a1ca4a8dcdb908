"""People-facing names of roles, scopes, categories, statuses and review decisions."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from portal.access.models import Category, GrantStatus, Scope
from portal.permissions import Role

ROLE_LABELS: dict[str, Any] = {
    Role.PRESCRIBER: _l("Prescribing physician"),
    Role.HOSPITAL_PHARMACIST: _l("Hospital pharmacist"),
    Role.HEALTHCARE_STAFF: _l("Staff under a physician's or pharmacist's responsibility"),
    Role.PHARMACIST_IN_CHARGE: _l("Pharmacist in charge or delegate"),
    Role.PHARMACOVIGILANCE: _l("Pharmacovigilance"),
    Role.MEDICAL_AFFAIRS: _l("Medical affairs, R&D, regulatory affairs, market access"),
    Role.SUPPLY: _l("Orders and supply (no health data)"),
    Role.AUDITOR: _l("Auditor (ad hoc, motivated, at most 30 days)"),
    Role.DPO: _l("Data protection officer"),
    Role.ADMINISTRATOR: _l("Administrator (accounts and grants)"),
    Role.PROCESSOR: _l("Processor staff acting for the laboratory"),
    Role.ARCHIVIST: _l("Archivist (reads the archive; ad hoc, motivated, at most 30 days)"),
}

SCOPE_LABELS: dict[str, Any] = {
    Scope.AGGREGATED: _l("Aggregated figures only"),
    Scope.PSEUDONYMISED: _l("Pseudonymised records"),
    Scope.IDENTIFYING: _l("Directly identifying records"),
}

CATEGORY_LABELS: dict[str, Any] = {
    Category.HEALTH: _l("Health data"),
    Category.OTHER: _l("Other data only (contacts, orders)"),
}

STATUS_LABELS: dict[str, Any] = {
    GrantStatus.PENDING_APPROVAL: _l("Waiting for a second administrator"),
    GrantStatus.ACTIVE: _l("Active"),
    GrantStatus.SUSPENDED: _l("Suspended"),
    GrantStatus.WITHDRAWN: _l("Withdrawn"),
    GrantStatus.EXPIRED: _l("Expired"),
}

DECISION_LABELS: dict[str, Any] = {
    "keep": _l("Keep"),
    "change": _l("Change"),
    "revoke": _l("Revoke"),
}
