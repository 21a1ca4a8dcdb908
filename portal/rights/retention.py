"""Keeping rights requests as accountability evidence, then deleting them (RET-06).

A request and its files (transitions, suspensions, the sealed answer) are kept for
`RIGHTS_RETENTION_YEARS` (default 5) after it was answered or refused, then deleted; each
deletion is audited. A request whose limitation is still in force is kept whatever its age:
it is the reason why the records are frozen.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from portal import clock
from portal.audit.services import record
from portal.db import app_of
from portal.rights.actions import RightsAction
from portal.rights.deadlines import add_months
from portal.rights.models import RequestState, RightsRequest

FINISHED = (RequestState.ANSWERED.value, RequestState.REFUSED.value, RequestState.CLOSED.value)


def retention_cutoff(session: Session, now: datetime | None = None) -> datetime:
    """Return the moment before which a finished request has been kept long enough."""
    moment = now or clock.now()
    years = int(app_of(session).config["RIGHTS_RETENTION_YEARS"])
    return datetime.combine(add_months(moment.date(), -12 * years), time(0, 0), tzinfo=UTC)


def expired(session: Session, now: datetime | None = None) -> list[RightsRequest]:
    """Return the finished requests past their retention period."""
    cutoff = retention_cutoff(session, now)
    return list(session.scalars(
        select(RightsRequest)
        .where(RightsRequest.state.in_(FINISHED))
        .where(or_(RightsRequest.answered_at < cutoff, RightsRequest.refused_at < cutoff))
        # A limitation still in force keeps its request.
        .where(or_(RightsRequest.limitation_applied_at.is_(None),
                   RightsRequest.limitation_lifted_at.is_not(None)))
        .order_by(RightsRequest.id)
    ))


def purge_expired(session: Session, actor: Any, now: datetime | None = None) -> list[str]:
    """Delete the requests past their retention period with their files; return their numbers."""
    purged = []
    for request in expired(session, now):
        number = request.number
        record(session, actor, RightsAction.REQUEST_PURGE, request, kind=request.kind,
               state=request.state,
               outcome_on=(request.outcome_at or request.received_at).date().isoformat())
        session.delete(request)
        purged.append(number)
    session.flush()
    return purged
