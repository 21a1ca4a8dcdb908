"""After ANSM approves a résumé, it goes to every prescriber and pharmacist of the product
(PUT-13): the professionals linked to a case of the protocol.

Linked means: holding an active prescriber or hospital pharmacist grant, and either having
registered or filled in one of the protocol's cases, or being a pharmacist of an establishment
that follows one. The mail carries the résumé's tables (aggregates, suppression applied).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select, union
from sqlalchemy.orm import Session

from portal import clock
from portal.access.models import AccessGrant, GrantStatus, membership
from portal.accounts.models import User
from portal.audit.services import record
from portal.outbox.services import enqueue
from portal.permissions import Role
from portal.records.models import Patient, Submission
from portal.reports.dataset import CUMULATIVE
from portal.reports.models import SummaryReport
from portal.reports.outputs import table_rows
from portal.reports.services import latest_generation, stored

MAIL_ACTION = "reports:resume:mail"
_ROLES = (Role.PRESCRIBER.value, Role.HOSPITAL_PHARMACIST.value)


class MailingError(ValueError):
    """The résumé cannot be mailed yet; the message says why."""


def linked_professionals(session: Session, protocol_key: str) -> list[User]:
    """The prescribers and pharmacists linked to a case of `protocol_key`, by login."""
    now = clock.now()
    active = select(AccessGrant.user_id, AccessGrant.role).where(
        AccessGrant.status == GrantStatus.ACTIVE.value,
        AccessGrant.valid_from <= now,
        AccessGrant.valid_until >= now,
        AccessGrant.role.in_(_ROLES),
        or_(AccessGrant.protocol_key.is_(None), AccessGrant.protocol_key == protocol_key),
    )
    authors = union(
        select(Patient.created_by_id.label("user_id")).where(Patient.protocol_key == protocol_key),
        select(Submission.created_by_id.label("user_id"))
        .join(Patient)
        .where(Patient.protocol_key == protocol_key),
    ).subquery()
    sites = select(Patient.establishment_id).where(Patient.protocol_key == protocol_key)
    pharmacists = select(membership.c.user_id).where(membership.c.establishment_id.in_(sites))
    grants = active.subquery()
    query = (
        select(User)
        .where(
            or_(
                User.id.in_(
                    select(grants.c.user_id).where(grants.c.user_id.in_(select(authors.c.user_id)))
                ),
                User.id.in_(
                    select(grants.c.user_id).where(
                        grants.c.role == Role.HOSPITAL_PHARMACIST.value,
                        grants.c.user_id.in_(pharmacists),
                    )
                ),
            )
        )
        .order_by(User.login)
    )
    return [user for user in session.scalars(query) if user.email]


def resume_text(report: SummaryReport, session: Session) -> str:
    generation = latest_generation(session, report)
    if generation is None:
        raise MailingError(f"report {report.number} has not been generated")
    meta, tables = stored(generation)
    lines = [f"Résumé du rapport périodique de synthèse n° {meta.number}", ""]
    lines += [f"{name} : {value}" for name, value in meta.lines()]
    for table in tables:
        if table.scope != CUMULATIVE:
            continue
        lines += ["", table.full_title]
        lines += ["  " + " | ".join(row) for row in table_rows(table)]
    return "\n".join(lines) + "\n"


def mail_resume(session: Session, actor: Any, report: SummaryReport) -> list[User]:
    """Queue the approved résumé to every linked professional (sent when the caller commits).

    :raises MailingError: the résumé is not approved, or the report was never generated.
    """
    if report.resume_approved_on is None:
        raise MailingError(f"the résumé of report {report.number} is not approved by ANSM")
    body = resume_text(report, session)
    subject = f"Résumé approuvé du rapport de synthèse n° {report.number} ({report.protocol_key})"
    recipients = linked_professionals(session, report.protocol_key)
    for user in recipients:
        enqueue(session, user.email, subject, body, kind="report_resume")
    record(session, actor, MAIL_ACTION, report, recipients=len(recipients))
    return recipients
