"""Settings of the audit area: retention bounds and the thresholds of the automatic checks.

Each is an app.config key with the default below (`init_app` fills the missing ones, PORTAL_<KEY>
sets them). The audit settings production checks (`AUDIT_RETENTION_DAYS`, `AUDIT_ANCHOR_DIR`,
`AUDIT_ANCHOR_MAIL`) have their one default in portal/config.py instead.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy.orm import Session

#: the referential keeps logs six months to one year (CNIL deliberation 2021-122)
MIN_RETENTION_DAYS = 183
MAX_RETENTION_DAYS = 365

DEFAULTS: dict[str, Any] = {
    #: one person reading more than this many distinct patients within one hour
    "AUDIT_MAX_PATIENTS_PER_HOUR": 50,
    #: local hours (TIMEZONE) of the night: activity from START to END raises an alert
    "AUDIT_NIGHT_START_HOUR": 22,
    "AUDIT_NIGHT_END_HOUR": 6,
    #: more than this many failed logins / TOTP replays within the window
    "AUDIT_MAX_FAILED_AUTH": 10,
    "AUDIT_FAILED_AUTH_WINDOW_MINUTES": 15,
    #: one export of more than this many rows
    "AUDIT_MAX_EXPORT_ROWS": 1000,
    #: more than this many exports by one person within the window
    "AUDIT_MAX_EXPORTS": 5,
    "AUDIT_EXPORT_WINDOW_MINUTES": 60,
    #: the checks must have run successfully within this many days (referential: two months)
    "AUDIT_CHECK_MAX_AGE_DAYS": 60,
    #: each check re-reads this many hours before the end of the previous one
    "AUDIT_CHECK_OVERLAP_HOURS": 24,
    #: `portal audit verify` warns when the newest anchor is older than this
    "AUDIT_ANCHOR_MAX_AGE_DAYS": 2,
}


def init_app(app: Flask) -> None:
    """Give every audit setting its default when the configuration does not set it."""
    from portal.config import apply_area_defaults

    apply_area_defaults(app.config, DEFAULTS)


def setting(session_or_app: Session | Flask, name: str) -> Any:
    """Return the audit setting `name` of the app (or of the app a session was opened for)."""
    if isinstance(session_or_app, Flask):
        app = session_or_app
    else:
        from portal.db import app_of

        app = app_of(session_or_app)
    return app.config[name]


def timezone_name(session_or_app: Session | Flask) -> str:
    """Return the local time zone of people-facing times and of the night rule."""
    return str(setting(session_or_app, "TIMEZONE"))
