"""Deadline reminders for the DPO: D-7, D-2 and overdue requests, mailed daily (RGT-02)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import has_app_context
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import clock
from portal.access.models import AccessGrant, GrantStatus
from portal.access.policy import permissions_for
from portal.accounts.models import User
from portal.audit.services import record
from portal.db import app_of
from portal.outbox.services import enqueue
from portal.permissions import ROLE_PERMISSIONS, Permission, Role
from portal.rights import deadlines
from portal.rights.actions import RightsAction
from portal.rights.queries import DashboardRow, dashboard


def handlers(session: Session, at: datetime | None = None) -> list[User]:
    """Return the people who may handle rights requests now (the DPO and delegates)."""
    roles = [role.value for role in Role if Permission.RIGHTS_HANDLE in ROLE_PERMISSIONS[role]]
    candidates = session.scalars(
        select(User).join(AccessGrant, AccessGrant.user_id == User.id)
        .where(AccessGrant.role.in_(roles), AccessGrant.status == GrantStatus.ACTIVE)
        .distinct().order_by(User.id)
    ).all()
    return [user for user in candidates
            if Permission.RIGHTS_HANDLE in permissions_for(session, user, at)]


def reminder_rows(session: Session, now: datetime | None = None) -> list[DashboardRow]:
    """Return the open requests that need a reminder today: D-7, D-2 or overdue."""
    moment = now or clock.now()
    return [row for row in dashboard(session, moment)
            if row.urgency == deadlines.Urgency.OVERDUE
            or deadlines.is_alert_day(row.due, moment)]


def _body(rows: list[DashboardRow]) -> str:
    lines = [str(_l("Rights requests to answer soon (GDPR article 12(3)):")), ""]
    for row in rows:
        flag = (str(_l("overdue")) if row.urgency == deadlines.Urgency.OVERDUE
                else str(_l("due in %(days)s days", days=(row.due - clock.now().date()).days)))
        lines.append(f"- {row.request.number}: {row.due.isoformat()} ({flag})")
    return "\n".join(lines) + "\n"


def send_reminders(session: Session, actor: Any, now: datetime | None = None) -> int:
    """Queue a mail to each handler listing the requests due in 7 or 2 days and the overdue
    ones (the caller commits); return how many were queued."""
    rows = reminder_rows(session, now)
    if not rows:
        return 0
    app = app_of(session)
    sent = 0
    for user in handlers(session, now):
        if not user.email or user.is_disabled:
            continue

        def compose(user: User = user) -> tuple[str, str]:
            with force_locale(user.locale or app.config["BABEL_DEFAULT_LOCALE"]):
                return (str(_l("Rights requests: %(count)s to answer soon", count=len(rows))),
                        _body(rows))

        if has_app_context():
            subject, body = compose()
        else:
            with app.app_context():
                subject, body = compose()
        enqueue(session, user.email, subject, body, kind="rights_reminder")
        record(session, actor, RightsAction.REMINDER_MAIL, user, requests=len(rows),
               delivery="outbox")
        sent += 1
    return sent
