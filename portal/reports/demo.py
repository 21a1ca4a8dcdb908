"""Demo: the demo protocol's first periodic report, planned over the last six months and
computed, so that medical affairs finds a report, the calendar and the dashboard filled."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from flask import Flask
from sqlalchemy.orm import Session

from portal import clock
from portal.audit.services import SYSTEM
from portal.protocols.services import current_version, loaded
from portal.reports.calendar import add_months, plan_report, reports_of
from portal.reports.services import generate, generations_of


def seed_demo(app: Flask, session: Session) -> list[str]:
    """Plan and compute report 1 of the demo protocol; a second run changes nothing."""
    version = current_version(session)
    if version is None:
        return []
    key = version.protocol_key
    if reports_of(session, key):
        return [f"Report 1 of {key} already planned."]
    zone = ZoneInfo(str(app.config.get("TIMEZONE") or "Europe/Paris"))
    today = clock.now().astimezone(zone).date()
    rules = loaded(version).definition.summary_reports
    lock = today - timedelta(days=1)
    start = add_months(lock, -rules.periodicity_months) + timedelta(days=1)
    report = plan_report(session, SYSTEM, key, period_start=start, data_lock=lock,
                         submission_delay_months=rules.submission_delay_months)
    if not generations_of(session, report):
        generate(session, SYSTEM, key, lock)
    return [f"Report 1 of {key} planned ({start.isoformat()} to {lock.isoformat()}) and "
            "computed: see Reports as medical affairs."]
