"""Answering applicable requests: access, rectification and limitation, through the records.

Each answer checks first what the requester needs (identity, review, secrecy), then acts on
the records through the records area's own services, so that the freeze and the new versions
follow the same rules and the same audit trail as any other change.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import clock
from portal.accounts.models import User
from portal.audit.services import record
from portal.errors import BadRequest, Conflict
from portal.records.reading import LIMITATION_LABELS
from portal.rights import answers, links, notify, services
from portal.rights.actions import RightsAction
from portal.rights.links import LinkedVersion
from portal.rights.models import RequesterType, RequestKind, RightsRequest


def _require_kind(request: RightsRequest, kind: RequestKind) -> None:
    if request.kind_enum is not kind:
        raise Conflict(str(_l("This action is for another kind of request.")))


def answer_access(session: Session, actor: User, request: RightsRequest) -> None:
    """Assemble the access answer, make it available to the requester, and tell them."""
    _require_kind(request, RequestKind.ACCESS)
    services.check_answerable(request)
    answers.assemble(session, actor, request)
    services.mark_answered(session, actor, request, "access_answer_ready")
    notify.requester(session, actor, request, notify.Notice.ANSWERED)


def linked_versions(session: Session, request: RightsRequest) -> list[LinkedVersion]:
    """Return the rectification versions that name this request."""
    return links.rectifications_for(session, request)


def answer_rectification(session: Session, actor: User, request: RightsRequest) -> None:
    """Answer a rectification request once the versions it produced are in the records.

    :raises Conflict: when no version names the request yet.
    """
    _require_kind(request, RequestKind.RECTIFICATION)
    services.check_answerable(request)
    versions = linked_versions(session, request)
    if not versions and request.requester_type != "professional_self":
        raise Conflict(str(_l("No rectified version names this request yet: rectify the "
                              "submission first, giving the request number.")))
    record(session, actor, RightsAction.RECTIFICATION_LINK, request, versions=len(versions))
    services.mark_answered(session, actor, request, "rectified")
    notify.requester(session, actor, request, notify.Notice.ANSWERED)


def is_professional_self(request: RightsRequest) -> bool:
    """True for a professional's request about his own data."""
    return request.requester_type == RequesterType.PROFESSIONAL_SELF


def apply_limitation(session: Session, actor: User, request: RightsRequest,
                     reason: str) -> None:
    """Grant a limitation and answer the request.

    A patient's records are frozen (nothing filled or changed, left out of exports). A
    professional's own data are kept as they are and used only for his access and the
    traceability of his entries: his account, grants and access to his patients' forms go on
    unchanged (nothing of the records or of the access area is touched).

    :param reason: a records LimitationReason code (the ground of art. 18(1)).
    """
    _require_kind(request, RequestKind.LIMITATION)
    services.check_answerable(request)
    if request.limitation_applied_at is not None:
        raise Conflict(str(_l("The limitation is already applied.")))
    if is_professional_self(request):
        if reason not in LIMITATION_LABELS:
            raise BadRequest(str(_l("Choose a ground of the limitation.")))
    else:
        links.limit_patient(session, actor, request, reason)
    request.limitation_applied_at = clock.now()
    session.flush()
    record(session, actor, RightsAction.LIMITATION_APPLY, request, reason=reason,
           subject="professional" if is_professional_self(request) else "patient")
    services.mark_answered(session, actor, request, "limitation_applied")
    notify.requester(session, actor, request, notify.Notice.LIMITED)


def notify_lift(session: Session, actor: User, request: RightsRequest) -> None:
    """Tell the requester the limitation is about to be lifted (art. 18(3)); required first."""
    if request.limitation_applied_at is None or request.limitation_lifted_at is not None:
        raise Conflict(str(_l("No limitation in force for this request.")))
    if request.lift_notified_at is not None:
        raise Conflict(str(_l("The requester was already told.")))
    request.lift_notified_at = clock.now()
    session.flush()
    record(session, actor, RightsAction.LIMITATION_NOTIFY, request)
    notify.requester(session, actor, request, notify.Notice.LIFT_PLANNED)


def lift_limitation(session: Session, actor: User, request: RightsRequest) -> None:
    """Lift the limitation after the checks; refused until the requester was told."""
    if request.limitation_applied_at is None or request.limitation_lifted_at is not None:
        raise Conflict(str(_l("No limitation in force for this request.")))
    if request.lift_notified_at is None:
        raise Conflict(str(_l("Tell the requester first that the limitation will be lifted.")))
    if not is_professional_self(request):
        links.lift_patient(session, actor, request)
    request.limitation_lifted_at = clock.now()
    session.flush()
    record(session, actor, RightsAction.LIMITATION_LIFT, request)
    notify.requester(session, actor, request, notify.Notice.LIFTED)


def professional_limited(session: Session, user_id: int) -> RightsRequest | None:
    """The request under which a professional's own data are limited now, or None."""
    return session.scalars(
        select(RightsRequest).where(
            RightsRequest.requester_type == RequesterType.PROFESSIONAL_SELF,
            RightsRequest.subject_user_id == user_id,
            RightsRequest.limitation_applied_at.is_not(None),
            RightsRequest.limitation_lifted_at.is_(None))
        .order_by(RightsRequest.limitation_applied_at.desc()).limit(1)
    ).first()


def limitations_in_force(session: Session) -> list[RightsRequest]:
    """Return the requests whose limitation is applied and not lifted yet."""
    return list(session.scalars(
        select(RightsRequest).where(RightsRequest.limitation_applied_at.is_not(None),
                                    RightsRequest.limitation_lifted_at.is_(None))
        .order_by(RightsRequest.limitation_applied_at)
    ))

