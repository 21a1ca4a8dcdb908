"""The limits and fixed lists of access grants: validity, review period, reasons, formats.

How long an unused account stays enabled is a setting (`ACCESS_INACTIVITY_DAYS`, portal/config.py).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from flask_babel import lazy_gettext as _l

#: the longest validity of a grant (SEC-HAB-1b)
MAX_GRANT_DAYS = 365
#: auditors get ad hoc, time-boxed access (section 8.2)
MAX_AUDITOR_DAYS = 30
#: a grant falls due for review this long after its last review (SEC-HAB-3a)
REVIEW_PERIOD = timedelta(days=365)
#: and is suspended when still not reviewed this long after it fell due
REVIEW_GRACE = timedelta(days=30)
#: auditor motivations: a fixed list (section 8.2 "ad hoc and motivated")
MOTIVATIONS: dict[str, Any] = {
    "regulatory_compliance": _l("Check of compliance with regulatory requirements"),
    "internal_procedures": _l("Check of compliance with internal procedures"),
    "authority_request": _l("Request from a supervisory authority (ANSM, CNIL)"),
    "incident_investigation": _l("Investigation of a security incident or data breach"),
}

#: why a grant is withdrawn or suspended (short codes, shown translated)
END_REASONS: dict[str, Any] = {
    "no_longer_needed": _l("No longer needed"),
    "left_organisation": _l("Left the organisation"),
    "role_changed": _l("Role changed"),
    "security_incident": _l("Security incident"),
    "request_refused": _l("Request refused"),
    "review": _l("Decided at the annual review"),
    "review_overdue": _l("Annual review overdue"),
    "other": _l("Other"),
}

REVIEW_DECISIONS = ("keep", "change", "revoke")

REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{1,63}")
PROTOCOL_KEY = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
