"""Settings of the reports area (PORTAL_<NAME> sets each; see README)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy.orm import Session

DEFAULTS: dict[str, Any] = {
    #: counts from 1 to this minus one are shown "<N" in reports and aggregate views (PUT-12)
    "REPORT_SMALL_CELL_THRESHOLD": 5,
    #: directory of the recipients' certificates, `<recipient>.pem` (reports leave encrypted)
    "REPORT_RECIPIENTS_DIR": "",
}
#: below this the rule would protect nothing
MIN_THRESHOLD = 2


def init_app(app: Flask) -> None:
    from portal.config import ConfigError, apply_area_defaults

    apply_area_defaults(app.config, DEFAULTS)
    if int(app.config["REPORT_SMALL_CELL_THRESHOLD"]) < MIN_THRESHOLD:
        raise ConfigError(f"PORTAL_REPORT_SMALL_CELL_THRESHOLD must be {MIN_THRESHOLD} or more")


def threshold(session: Session) -> int:
    from portal.db import app_of

    return int(
        app_of(session).config.get(
            "REPORT_SMALL_CELL_THRESHOLD", DEFAULTS["REPORT_SMALL_CELL_THRESHOLD"]
        )
    )
