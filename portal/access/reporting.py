"""Days in local time, the people-facing grant descriptions and the review CSV export."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from portal import clock
from portal.access.actions import AccessAction
from portal.access.grant_lifecycle import Acting, audit, require, review_due_at
from portal.access.models import AccessGrant
from portal.access.review import ReviewGroup, grants_due_for_review
from portal.db import app_of
from portal.permissions import Permission

REVIEW_COLUMNS = (
    "manager_login", "manager_name", "grant_id", "login", "name", "role", "scope", "category",
    "protocol", "establishments", "valid_from", "valid_until", "status", "due_at",
    "last_reviewed_at", "last_review_decision",
)


def local_zone(session: Session) -> ZoneInfo:
    """Return the portal's local time zone (PORTAL_TIMEZONE)."""
    return ZoneInfo(app_of(session).config["TIMEZONE"])


def day_start(day: date, zone: ZoneInfo) -> datetime:
    """Return the first instant of a local day, in UTC terms (aware)."""
    return datetime.combine(day, time.min, tzinfo=zone)


def day_end(day: date, zone: ZoneInfo) -> datetime:
    """Return the last second of a local day: a grant "until 31 May" ends at 23:59:59."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone) - timedelta(seconds=1)


def _cell(value: object) -> str:
    """Neutralise spreadsheet formulas in exported text (CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else ""


def review_rows(groups: list[ReviewGroup]) -> list[list[str]]:
    """Return one row per grant due, manager first (see REVIEW_COLUMNS)."""
    rows = []
    for group in groups:
        manager = group.manager
        for grant in group.grants:
            rows.append([_cell(v) for v in (
                manager.login if manager else "", manager.full_name if manager else "",
                grant.id, grant.user.login, grant.user.full_name, grant.role, grant.scope,
                grant.category, grant.protocol_key or "",
                " ".join(e.finess for e in grant.establishments), _when(grant.valid_from),
                _when(grant.valid_until), grant.status, _when(review_due_at(grant)),
                _when(grant.last_reviewed_at), grant.last_review_decision or "",
            )])
    return rows


def export_review(session: Session, actor: Acting, now: datetime | None = None) -> str:
    """Return the grants due for review as CSV (UTF-8 text) and record the export."""
    require(session, actor, Permission.GRANT_REVIEW)
    groups = grants_due_for_review(session, now or clock.now())
    rows = review_rows(groups)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(REVIEW_COLUMNS)
    writer.writerows(rows)
    audit(session, actor, AccessAction.REVIEW_EXPORT, None, row_count=len(rows))
    return buffer.getvalue()


def describe(grant: AccessGrant) -> str:
    """Return a one-line technical description of a grant (CLI listings)."""
    where = " ".join(e.finess for e in grant.establishments)
    parts = [
        f"#{grant.id}", grant.user.login, grant.role, f"{grant.scope}/{grant.category}",
        grant.status, f"{_when(grant.valid_from)} -> {_when(grant.valid_until)}",
    ]
    if where:
        parts.append(f"establishments={where}")
    if grant.protocol_key:
        parts.append(f"protocol={grant.protocol_key}")
    if grant.motivation:
        parts.append(f"motivation={grant.motivation}:{grant.motivation_reference}")
    return "  ".join(parts)
