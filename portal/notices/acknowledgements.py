"""First-login transparency (referential 10.6, SEC-JOU-2, SEC-SEN-2): who must read what.

Every person holding a valid grant (healthcare professionals and laboratory staff alike) is
shown the transparency notice and the IT charter before any other page, and again at the next
login after a *material* version is published. The acknowledgement records that the information
was received; it is not consent, which is not the legal basis of the processing.
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from portal import clock
from portal.access.policy import valid_grants
from portal.accounts.models import User
from portal.audit.services import record
from portal.errors import Conflict
from portal.notices.actions import NoticeAction
from portal.notices.catalog import Audience
from portal.notices.models import NoticeAcknowledgement, NoticeStatus, NoticeVersion
from portal.notices.services import PUBLIC_STATUSES, current_published, published_in_force

TRANSPARENCY = Audience.TRANSPARENCY.value


def is_subject(session: Session, user: User) -> bool:
    """True when the person may reach data now: they must have read the notice and charter."""
    if getattr(user, "is_disabled", True):
        return False
    return bool(valid_grants(session, user))


def closed_for_want_of_notice(session: Session, user: User, *, open_anyway: bool) -> bool:
    """True when `user` may not reach data pages because no notice for portal users is published.

    The people whose access the transparency notice informs (10.6) must be told before they
    work; with no notice in force that is impossible, so their pages stay closed rather than
    letting everyone through. `open_anyway` is the development and test setting that keeps
    pages open.
    """
    if open_anyway:
        return False
    return published_in_force(session, Audience.TRANSPARENCY) is None and is_subject(session, user)


def required_version(session: Session) -> NoticeVersion | None:
    """Return the newest material transparency version: acknowledging it or a later one counts.

    None when no transparency notice was ever published.
    """
    return session.scalar(
        select(NoticeVersion)
        .where(NoticeVersion.audience == TRANSPARENCY,
               NoticeVersion.status.in_(PUBLIC_STATUSES),
               NoticeVersion.material.is_(True))
        .order_by(NoticeVersion.number.desc())
        .limit(1)
    )


def last_acknowledged_number(session: Session, user: User) -> int | None:
    """Return the highest transparency version number the person acknowledged, or None."""
    return session.scalar(
        select(func.max(NoticeVersion.number))
        .join(NoticeAcknowledgement, NoticeAcknowledgement.notice_version_id == NoticeVersion.id)
        .where(NoticeAcknowledgement.user_id == user.id,
               NoticeVersion.audience == TRANSPARENCY)
    )


def pending_version(session: Session, user: User,
                    login_at: datetime | None = None) -> NoticeVersion | None:
    """Return the transparency version the person must acknowledge now, or None.

    :param login_at: when the current session was opened. A material version published after
        it is shown at the next login rather than in the middle of someone's work; a person who
        never acknowledged anything is always asked.
    """
    current = published_in_force(session, Audience.TRANSPARENCY)
    if current is None or not is_subject(session, user):
        return None
    required = required_version(session)
    acknowledged = last_acknowledged_number(session, user)
    if acknowledged is None:
        return current
    if required is None or acknowledged >= required.number:
        return None
    if login_at is not None and required.published_at is not None \
            and required.published_at > login_at:
        return None
    return current


def acknowledgement_of(session: Session, user: User,
                       version: NoticeVersion) -> NoticeAcknowledgement | None:
    """Return the person's acknowledgement of `version`, or None."""
    return session.scalar(
        select(NoticeAcknowledgement).where(NoticeAcknowledgement.user_id == user.id,
                                            NoticeAcknowledgement.notice_version_id == version.id)
    )


def acknowledge(session: Session, user: User, version: NoticeVersion) -> NoticeAcknowledgement:
    """Record that the person read the transparency notice and the IT charter of `version`.

    Acknowledging the same version twice returns the first record.

    :raises Conflict: `version` is not the transparency notice in force (a newer one was
        published while the page was open).
    """
    current = current_published(session, Audience.TRANSPARENCY)
    if current is None or current.id != version.id:
        raise Conflict(_("A newer version of this information was published while the page "
                         "was open: read it below."))
    existing = acknowledgement_of(session, user, version)
    if existing is not None:
        return existing
    acknowledgement = NoticeAcknowledgement(user_id=user.id, notice_version_id=version.id,
                                            acknowledged_at=clock.now())
    try:
        with session.begin_nested():
            session.add(acknowledgement)
            session.flush()
    except IntegrityError:
        # The same person confirmed twice at once (two tabs): the first record stands.
        return session.scalars(
            select(NoticeAcknowledgement)
            .where(NoticeAcknowledgement.user_id == user.id,
                   NoticeAcknowledgement.notice_version_id == version.id)
        ).one()
    record(session, user, NoticeAction.ACKNOWLEDGE, acknowledgement,
           notice=version.audit_ref)
    return acknowledgement


def acknowledgements(session: Session, version_id: int | None = None, *, limit: int = 100,
                     offset: int = 0) -> tuple[list[NoticeAcknowledgement], int]:
    """Return one page of acknowledgements (newest first) and their total, for the DPO."""
    query = select(NoticeAcknowledgement)
    counter = select(func.count(NoticeAcknowledgement.id))
    if version_id is not None:
        query = query.where(NoticeAcknowledgement.notice_version_id == version_id)
        counter = counter.where(NoticeAcknowledgement.notice_version_id == version_id)
    rows = session.scalars(
        query.options(joinedload(NoticeAcknowledgement.user),
                      joinedload(NoticeAcknowledgement.version))
        .order_by(NoticeAcknowledgement.acknowledged_at.desc(), NoticeAcknowledgement.id.desc())
        .limit(limit).offset(offset)
    ).all()
    return list(rows), int(session.scalar(counter) or 0)


def acknowledgements_of(session: Session, user: User) -> list[NoticeAcknowledgement]:
    """Return a person's acknowledgements, oldest first (for their access request, RGT-06)."""
    return list(session.scalars(
        select(NoticeAcknowledgement)
        .options(joinedload(NoticeAcknowledgement.version))
        .where(NoticeAcknowledgement.user_id == user.id)
        .order_by(NoticeAcknowledgement.acknowledged_at)
    ))


def transparency_versions(session: Session) -> list[NoticeVersion]:
    """Return the published transparency versions, newest first (the DPO's filter)."""
    return list(session.scalars(
        select(NoticeVersion)
        .where(NoticeVersion.audience == TRANSPARENCY,
               NoticeVersion.status != NoticeStatus.DRAFT)
        .order_by(NoticeVersion.number.desc())
    ))
