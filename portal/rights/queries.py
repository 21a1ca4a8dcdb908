"""Reading rights requests: who sees which, the professional's list, the DPO's dashboard."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from portal import clock
from portal.accounts.models import User
from portal.errors import NotFound
from portal.rights import deadlines
from portal.rights.models import OPEN_STATES, RequestState, RightsRequest
from portal.rights.services import current_due

S = RequestState


def get_by_handle(session: Session, handle: str) -> RightsRequest:
    """Return the request with this handle.

    :raises NotFound: when there is none.
    """
    found = session.scalar(select(RightsRequest).where(RightsRequest.handle == handle))
    if found is None:
        raise NotFound()
    return found


def visible_to(user: User, request: RightsRequest, *, handling: bool) -> bool:
    """Tell whether a person may see a request: its handlers, its submitter, its recipient."""
    if handling:
        return True
    return user.id in {request.submitted_by_id, request.subject_user_id,
                       request.via_professional_id}


def get_for(session: Session, user: User, handle: str, *, handling: bool) -> RightsRequest:
    """Return a request the person may see; someone else's is "not found".

    :raises NotFound: when missing or not theirs.
    """
    request = get_by_handle(session, handle)
    if not visible_to(user, request, handling=handling):
        raise NotFound()
    return request


def shown_case(request: RightsRequest, handling: bool = False) -> str | None:
    """Return the case number a page may show for a request, None while it is not linked.

    The number comes from the linked patient, never from what the requester typed; the
    requester sees it only once the link is theirs to know (a patient they follow, or the
    DPO's confirmed review).
    """
    if request.patient is None:
        return None
    if handling or not request.manual_review or request.relation_confirmed_at is not None:
        return request.patient.case_number
    return None


def requests_of(session: Session, user: User) -> list[RightsRequest]:
    """Return the requests a professional submitted, or that are answered through them."""
    return list(session.scalars(
        select(RightsRequest).where(or_(
            RightsRequest.submitted_by_id == user.id,
            RightsRequest.via_professional_id == user.id,
        )).order_by(RightsRequest.received_at.desc(), RightsRequest.id.desc())
    ))


@dataclass(frozen=True)
class DashboardRow:
    """An open request with its live due date and urgency."""

    request: RightsRequest
    due: date
    urgency: deadlines.Urgency


def dashboard(session: Session, now: datetime | None = None) -> list[DashboardRow]:
    """Return the open requests, soonest due first, flagged overdue or due within 7 days."""
    moment = now or clock.now()
    rows = []
    for request in session.scalars(
        select(RightsRequest)
        .where(RightsRequest.state.in_([s.value for s in OPEN_STATES]))
        .options(selectinload(RightsRequest.suspensions))
    ):
        due = current_due(request, moment)
        rows.append(DashboardRow(request, due, deadlines.urgency(due, moment)))
    rows.sort(key=lambda row: (row.due, row.request.id))
    return rows


def awaiting_closure(session: Session) -> list[RightsRequest]:
    """Return the answered or refused requests not closed yet."""
    return list(session.scalars(
        select(RightsRequest)
        .where(RightsRequest.state.in_([S.ANSWERED.value, S.REFUSED.value]))
        .order_by(RightsRequest.received_at)
    ))
