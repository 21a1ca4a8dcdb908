"""Reading rights requests: who sees which, the professional's list, the DPO's dashboard."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select, text, tuple_
from sqlalchemy.orm import Session, selectinload

from portal import clock
from portal.accounts.models import User
from portal.errors import NotFound
from portal.records.models import Patient
from portal.records.reading import SearchError, case_search
from portal.rights import deadlines, references
from portal.rights.models import OPEN_SQL, OPEN_STATES, RequestState, RightsRequest
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


# --- the DPO's inbox: keyset pages, search, sort --------------------------------------------

#: open requests on one page of the inbox
INBOX_PAGE_SIZE = 50
_NUMBER = re.compile(r"^(?:DR-?)?0*(\d{1,9})$")


class InboxSort(enum.StrEnum):
    DUE = "due"
    DUE_DESC = "due_desc"
    NEWEST = "newest"
    OLDEST = "oldest"


INBOX_SORT_LABELS = {
    InboxSort.DUE: _l("Soonest due first"),
    InboxSort.DUE_DESC: _l("Latest due first"),
    InboxSort.NEWEST: _l("Latest received first"),
    InboxSort.OLDEST: _l("Earliest received first"),
}


class InboxSearchError(ValueError):
    """The search text is neither a request number nor a full case number."""


@dataclass(frozen=True)
class InboxPage:
    """One page of open requests and where the next one starts."""

    rows: list[DashboardRow]
    sort: str
    search: str | None
    #: the handle of the last request shown, to start the next page after; None on the last
    next_after: str | None
    continued: bool


def inbox_search(session: Session, text: str | None) -> Any:
    """Return the condition a search text puts on the requests, None for a blank text.

    A request number (DR-000123, or 123) finds that request; a full case number finds the
    requests linked to that case and those whose typed case reference matches it (through
    the blind index: typed references are never stored in clear).
    :raises InboxSearchError: the text is neither.
    """
    typed = (text or "").strip().upper().replace(" ", "")
    if not typed:
        return None
    number = _NUMBER.match(typed)
    if number:
        return RightsRequest.id == int(number.group(1))
    try:
        case = case_search(typed)
    except SearchError:
        case = None
    if case is None or len(case) != 9:
        raise InboxSearchError(_("Type a request number (DR-000123) or a full case number "
                                 "(7K3M-9QXA)."))
    patient_id = session.scalar(select(Patient.id).where(Patient.case_number == case))
    conditions = [RightsRequest.case_index == references.case_index(session, case)]
    if patient_id is not None:
        conditions.append(RightsRequest.patient_id == patient_id)
    return or_(*conditions)


def _inbox_keys(sort: InboxSort) -> tuple[Any, Any]:
    if sort in (InboxSort.DUE, InboxSort.DUE_DESC):
        return RightsRequest.due_on, RightsRequest.id
    return RightsRequest.received_at, RightsRequest.id


def inbox_page(session: Session, *, sort: str | None = None, search: str | None = None,
               after: str | None = None, page_size: int | None = None,
               now: datetime | None = None) -> InboxPage:
    """Return one page of the open requests, flagged overdue or due within 7 days.

    The order by due date is the stored due date (`due_on`, refreshed by every move of the
    request); the page shows the live one, which a running suspension pushes later.
    :raises InboxSearchError: the search text is neither a request number nor a case number.
    """
    moment = now or clock.now()
    try:
        order = InboxSort(sort or InboxSort.DUE)
    except ValueError:
        order = InboxSort.DUE
    condition = inbox_search(session, search)
    # The literal text of the partial indexes' condition, so that both databases use them.
    query = select(RightsRequest).where(text(OPEN_SQL))
    if condition is not None:
        query = query.where(condition)
    last = None
    if after and len(after) <= 32:
        last = session.scalar(query.where(RightsRequest.handle == after))
    keys = _inbox_keys(order)
    descending = order in (InboxSort.DUE_DESC, InboxSort.NEWEST)
    if last is not None:
        mark = tuple_(*[getattr(last, k.key) for k in keys])
        query = query.where(tuple_(*keys) < mark if descending else tuple_(*keys) > mark)
    query = query.order_by(*[k.desc() if descending else k for k in keys])
    found = list(session.scalars(query.options(selectinload(RightsRequest.suspensions))
                                 .limit((page_size or INBOX_PAGE_SIZE) + 1)))
    more = len(found) > (page_size or INBOX_PAGE_SIZE)
    found = found[:page_size or INBOX_PAGE_SIZE]
    rows = []
    for request in found:
        due = current_due(request, moment)
        rows.append(DashboardRow(request, due, deadlines.urgency(due, moment)))
    typed = (search or "").strip() or None
    return InboxPage(rows, str(order), typed, found[-1].handle if more and found else None,
                     last is not None)
