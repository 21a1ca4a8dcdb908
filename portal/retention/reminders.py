"""An AAC ending within 30 days without a renewal: the prescriber who registered the case is
reminded once, by a mail that names no patient (a link to the case's page only)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import has_app_context
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import clock
from portal.accounts.models import User
from portal.audit.services import record
from portal.db import app_of
from portal.outbox.services import enqueue
from portal.records.models import Patient
from portal.retention.actions import RetentionAction
from portal.retention.models import PERIOD_KINDS, TERMINATION_KINDS, CaseState, RetentionCase

SUBJECT = _l("AAC portal: an AAC ends on %(day)s without a renewal")
BODY = _l("The compassionate access authorisation of a patient you follow ends on %(day)s "
          "and no renewal is recorded. If the treatment goes on, ask ANSM for the renewal and "
          "record it in the patient's access form. The case's page:")


def send_aac_reminders(session: Session, actor: Any, today: date) -> int:
    """Remind the prescribers of the AACs ending within the reminder window; once per period."""
    app = app_of(session)
    window = int(app.config["RETENTION_AAC_REMINDER_DAYS"])
    sent = 0
    for case in session.scalars(select(RetentionCase)
                                .where(RetentionCase.state == CaseState.ACTIVE.value,
                                       RetentionCase.patient_id.is_not(None))
                                .order_by(RetentionCase.id)):
        periods = [e for e in case.events if e.kind in PERIOD_KINDS and e.end_date]
        if not periods:
            continue
        last = max(periods, key=lambda e: (e.end_date, e.id))
        if last.reminded_at is not None or not (
                today <= last.end_date <= today + timedelta(days=window)):  # type: ignore[operator]
            continue
        if any(e.kind in TERMINATION_KINDS and e.decision_date >= last.decision_date
               for e in case.events):
            continue
        patient = session.get(Patient, case.patient_id)
        prescriber = session.get(User, patient.created_by_id) if patient and (
            patient.created_by_id) else None
        last.reminded_at = clock.now()
        if prescriber is None or prescriber.is_disabled:
            record(session, actor, RetentionAction.AAC_REMIND, case, outcome="failure",
                   end_date=last.end_date.isoformat())  # type: ignore[union-attr]
            continue
        subject, body = _compose(app, prescriber, last.end_date, patient.handle)  # type: ignore[arg-type, union-attr]
        enqueue(session, prescriber.email, subject, body, kind="aac_reminder")
        record(session, actor, RetentionAction.AAC_REMIND, case, recipient=prescriber.audit_ref,
               end_date=last.end_date.isoformat())  # type: ignore[union-attr]
        sent += 1
    session.flush()
    return sent


def _compose(app: Any, user: User, day: date, handle: str) -> tuple[str, str]:
    from portal.i18n import local_time

    link = f"{app.config['BASE_URL'].rstrip('/')}/patients/{handle}"

    def render() -> tuple[str, str]:
        locale = user.locale or app.config.get("BABEL_DEFAULT_LOCALE", "fr")
        with force_locale(locale):
            shown = local_time(day, "long_date", locale)
            return str(SUBJECT % {"day": shown}), f"{BODY % {'day': shown}}\n\n{link}\n"

    if has_app_context():
        return render()
    with app.app_context():
        return render()
