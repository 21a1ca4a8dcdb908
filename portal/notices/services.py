"""Notice rules: drafts, publication, versions and their differences, the attestation choices.

The rules on slot values (completeness, normalisation) live in `portal.notices.slots`. Every
function takes the session and the acting person (a `User`, or an `Actor` for the CLI
operator and system jobs), applies the rules, writes one audit entry and flushes. Nothing here
commits. The first-login acknowledgements live in `portal.notices.acknowledgements`.
"""

from __future__ import annotations

import json
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from portal import clock
from portal.access.policy import permissions_for
from portal.accounts.models import User
from portal.audit.services import Actor, record
from portal.db import app_of
from portal.errors import BadRequest, Conflict, Forbidden, NotFound
from portal.in_force import cached, changed
from portal.notices import defaults
from portal.notices.actions import NoticeAction
from portal.notices.catalog import SLOTS_BY_KEY, Audience, Slot
from portal.notices.models import NoticeStatus, NoticeVersion
from portal.notices.rendering import render_body
from portal.notices.slots import (
    MissingSlot,
    SlotChange,
    as_audience,
    changed_slots,
    clean_values,
    missing_slots,
)
from portal.notices.transfers import with_register_transfers
from portal.permissions import Permission

Acting = User | Actor

__all__ = [
    "MissingSlot", "NoticeIncomplete", "SlotChange", "attestation_choices",
    "attestation_version", "changed_slots", "clean_values", "current_draft",
    "current_published", "diff", "discard_draft", "get_version", "inconsistent_shared_slots",
    "missing_slots", "previous_published", "publish", "published_in_force", "published_version",
    "start_draft",
    "suggests_material", "update_draft", "versions_of",
]

#: the cache of the published versions, cleared by a publication (see `portal.in_force`)
NOTICE_IN_FORCE = "notice-version"

#: statuses of versions that were published at some point
PUBLIC_STATUSES = (NoticeStatus.PUBLISHED, NoticeStatus.SUPERSEDED)


class NoticeIncomplete(BadRequest):
    """Publication refused: mandatory slots are empty or a transfer has no mechanism."""

    def __init__(self, problems: list[MissingSlot]) -> None:
        super().__init__(_("The notice cannot be published yet: %(problems)s",
                           problems="; ".join(p.message for p in problems)))
        self.problems = problems


# --- helpers ---------------------------------------------------------------------------------


def _is_trusted(actor: Acting) -> bool:
    return isinstance(actor, Actor) and actor.kind in {"cli", "system"}


def _require_manage(session: Session, actor: Acting) -> None:
    """Refuse unless the actor may edit and publish notices (the DPO), or is the server."""
    if _is_trusted(actor):
        return
    if not isinstance(actor, User) or Permission.NOTICE_MANAGE not in permissions_for(
        session, actor
    ):
        raise Forbidden(_("Only the data protection officer edits and publishes notices."))


def _user_id(actor: Acting) -> int | None:
    return actor.id if isinstance(actor, User) else None


def _actor_label(actor: Acting) -> str:
    return actor.full_name if isinstance(actor, User) else actor.label


# --- reading ---------------------------------------------------------------------------------


def current_published(session: Session, audience: Audience | str) -> NoticeVersion | None:
    """Return the version of `audience` in force now, or None when none was published."""
    return session.scalar(
        select(NoticeVersion).where(NoticeVersion.audience == as_audience(audience).value,
                                    NoticeVersion.status == NoticeStatus.PUBLISHED)
    )


def published_in_force(session: Session, audience: Audience | str) -> NoticeVersion | None:
    """`current_published`, kept a few seconds per process (`portal.in_force`) for the pages
    that only show or check it on every request; publishing clears it."""
    audience = as_audience(audience)
    return cached(session, NOTICE_IN_FORCE, audience.value,
                  lambda db: current_published(db, audience))


def current_draft(session: Session, audience: Audience | str) -> NoticeVersion | None:
    """Return the draft being prepared for `audience`, or None."""
    return session.scalar(
        select(NoticeVersion).where(NoticeVersion.audience == as_audience(audience).value,
                                    NoticeVersion.status == NoticeStatus.DRAFT)
    )


def versions_of(session: Session, audience: Audience | str,
                published_only: bool = False) -> list[NoticeVersion]:
    """Return the versions of `audience`, newest first."""
    query = select(NoticeVersion).where(NoticeVersion.audience == as_audience(audience).value)
    if published_only:
        query = query.where(NoticeVersion.status.in_(PUBLIC_STATUSES))
    return list(session.scalars(query.order_by(NoticeVersion.number.desc())))


def get_version(session: Session, version_id: int) -> NoticeVersion:
    """Return a version by id.

    :raises NotFound: no such version.
    """
    version = session.get(NoticeVersion, version_id)
    if version is None:
        raise NotFound(_("There is no such notice version."))
    return version


def published_version(session: Session, audience: Audience | str, number: int) -> NoticeVersion:
    """Return a version that was published (in force or superseded).

    :raises NotFound: it does not exist or is still a draft.
    """
    version = session.scalar(
        select(NoticeVersion).where(NoticeVersion.audience == as_audience(audience).value,
                                    NoticeVersion.number == number,
                                    NoticeVersion.status.in_(PUBLIC_STATUSES))
    )
    if version is None:
        raise NotFound(_("This version of the notice does not exist or was never published."))
    return version


def previous_published(session: Session, version: NoticeVersion) -> NoticeVersion | None:
    """Return the published version that came before `version` (for a draft: the current one)."""
    return session.scalar(
        select(NoticeVersion)
        .where(NoticeVersion.audience == version.audience,
               NoticeVersion.number < version.number,
               NoticeVersion.status.in_(PUBLIC_STATUSES))
        .order_by(NoticeVersion.number.desc())
        .limit(1)
    )


# --- differences -----------------------------------------------------------------------------


def diff(session: Session, version: NoticeVersion) -> tuple[NoticeVersion | None,
                                                              list[SlotChange]]:
    """Return the version `version` is compared with and what changed since it."""
    previous = previous_published(session, version)
    return previous, changed_slots(version.audience, previous.slots if previous else None,
                                   version.slots)


def suggests_material(session: Session, version: NoticeVersion) -> bool:
    """True when a slot about purposes, recipients, transfers, retention or rights changed."""
    previous, changes = diff(session, version)
    return previous is None or any(change.slot.material for change in changes)


# --- drafts ----------------------------------------------------------------------------------


def _starting_values(session: Session, audience: Audience) -> dict[str, Any]:
    """What a new draft starts from.

    The audience's latest version (else the defaults), with the shared slots (controller, DPO,
    purposes, recipients, transfers, retention, rights...) taken from the notice published most
    recently for any audience when it is newer: a change published in one notice is carried
    into the next version of the others, and shown in their diff before publication.
    """
    app = app_of(session)
    base = defaults.initial_slots(app, audience, session)
    latest = session.scalar(
        select(NoticeVersion).where(NoticeVersion.audience == audience.value)
        .order_by(NoticeVersion.number.desc()).limit(1)
    )
    if latest is not None:
        base = {key: latest.slots.get(key, value) for key, value in base.items()}
    newest = session.scalar(
        select(NoticeVersion).where(NoticeVersion.status.in_(PUBLIC_STATUSES))
        .order_by(NoticeVersion.published_at.desc()).limit(1)
    )
    own_date = (latest.published_at or latest.created_at) if latest is not None else None
    if newest is not None and newest.audience != audience.value and (
        own_date is None or (newest.published_at or newest.created_at) > own_date
    ):
        for key in base:
            if SLOTS_BY_KEY[key].shared and key in newest.slots:
                base[key] = newest.slots[key]
    return base


def inconsistent_shared_slots(session: Session) -> list[Slot]:
    """Return the shared slots whose value differs between the notices in force."""
    published = [v for v in (current_published(session, a) for a in Audience) if v is not None]
    differing = []
    for key, slot in SLOTS_BY_KEY.items():
        if not slot.shared:
            continue
        values = {json.dumps(v.slots.get(key), sort_keys=True) for v in published
                  if Audience(v.audience) in slot.audiences}
        if len(values) > 1:
            differing.append(slot)
    return differing


def start_draft(session: Session, actor: Acting, audience: Audience | str) -> NoticeVersion:
    """Start the next version of `audience`'s notice as a draft.

    :raises Forbidden: the actor may not manage notices.
    :raises Conflict: a draft already exists for this audience.
    """
    _require_manage(session, actor)
    audience = as_audience(audience)
    if current_draft(session, audience) is not None:
        raise Conflict(_("A draft of this notice already exists: edit it or discard it."))
    number = (session.scalar(select(func.max(NoticeVersion.number))
                             .where(NoticeVersion.audience == audience.value)) or 0) + 1
    version = NoticeVersion(
        audience=audience.value, number=number, status=NoticeStatus.DRAFT,
        slots=_starting_values(session, audience), created_by_id=_user_id(actor),
        updated_by_id=_user_id(actor),
    )
    try:
        with session.begin_nested():
            session.add(version)
            session.flush()
    except IntegrityError:
        # Someone started the same draft at the same moment.
        raise Conflict(_("A draft of this notice was started at the same time: reload the "
                         "page.")) from None
    record(session, actor, NoticeAction.DRAFT_CREATE, version)
    return version


def update_draft(session: Session, actor: Acting, version: NoticeVersion,
                 values: dict[str, Any], expected_revision: int | None = None) -> list[SlotChange]:
    """Save the slot values of a draft and return what changed.

    :raises Forbidden: the actor may not manage notices.
    :raises Conflict: the version is not a draft, or someone saved it in the meantime.
    :raises BadRequest: a value is invalid (see `clean_values`).
    """
    _require_manage(session, actor)
    if not version.is_draft:
        raise Conflict(_("A published version cannot be changed: start a new draft."))
    if expected_revision is not None and expected_revision != version.revision:
        raise Conflict(_("Someone else saved this draft in the meantime: reload it and apply "
                         "your changes again."))
    clean = clean_values(version.audience, values)
    changes = changed_slots(version.audience, version.slots, clean)
    if not changes:
        return []
    version.slots = clean
    version.updated_by_id = _user_id(actor)
    try:
        session.flush()
    except StaleDataError:
        raise Conflict(_("Someone else saved this draft in the meantime: reload it and apply "
                         "your changes again.")) from None
    record(session, actor, NoticeAction.DRAFT_UPDATE, version,
           changed=_keys_detail([c.slot.key for c in changes]))
    return changes


def discard_draft(session: Session, actor: Acting, version: NoticeVersion) -> None:
    """Delete a draft that will not be published.

    :raises Conflict: the version was published.
    """
    _require_manage(session, actor)
    if not version.is_draft:
        raise Conflict(_("A published version is kept for the record and cannot be deleted."))
    record(session, actor, NoticeAction.DRAFT_DISCARD, version)
    session.delete(version)
    session.flush()


def _keys_detail(keys: list[str]) -> str:
    """A short code list for the audit trail (at most 120 characters)."""
    text = ",".join(keys)
    return text if len(text) <= 120 else f"{len(keys)} slots"


# --- publication -----------------------------------------------------------------------------


def publish(session: Session, actor: Acting, version: NoticeVersion, material: bool,
            expected_revision: int | None = None) -> NoticeVersion:
    """Publish a draft: it replaces the version in force, which becomes superseded.

    The first version of an audience is always material: nobody has acknowledged anything yet.

    :raises Forbidden: the actor may not manage notices.
    :raises Conflict: the version is not a draft, or it changed since the editor looked at it.
    :raises NoticeIncomplete: a mandatory slot is empty or a transfer has no mechanism.
    """
    _require_manage(session, actor)
    if not version.is_draft:
        raise Conflict(_("This version is already published."))
    if expected_revision is not None and expected_revision != version.revision:
        raise Conflict(_("The draft changed since you opened it: check it again before "
                         "publishing."))
    # The transfers come from the processors register when one is installed (INF-06).
    version.slots = with_register_transfers(session, version.slots)
    problems = missing_slots(version.audience, version.slots)
    if problems:
        raise NoticeIncomplete(problems)
    audience = Audience(version.audience)
    previous = current_published(session, audience)
    changes = changed_slots(audience, previous.slots if previous else None, version.slots)
    if previous is not None and previous.number > version.number:
        raise Conflict(_("A newer version is already published."))
    now = clock.now()
    app = app_of(session)
    changed(session, NOTICE_IN_FORCE)
    try:
        with session.begin_nested():
            if previous is not None:
                previous.status = NoticeStatus.SUPERSEDED
                previous.superseded_at = now
                # Flushed first: the database allows one published version per audience.
                session.flush()
            version.material = True if previous is None else bool(material)
            version.published_at = now
            version.approved_by_id = _user_id(actor)
            version.approved_by_label = _actor_label(actor)[:200]
            version.body_fr = str(render_body(audience, version.slots, "fr",
                                              number=version.number, published_at=now, app=app))
            version.body_en = str(render_body(audience, version.slots, "en",
                                              number=version.number, published_at=now, app=app))
            version.status = NoticeStatus.PUBLISHED
            session.flush()
    except (IntegrityError, StaleDataError):
        raise Conflict(_("This notice was published by someone else at the same time: reload "
                         "the page.")) from None
    if previous is not None:
        record(session, actor, NoticeAction.SUPERSEDE, previous,
               by=version.audit_ref)
    record(session, actor, NoticeAction.PUBLISH, version, material=version.material,
           changed=_keys_detail([c.slot.key for c in changes]),
           supersedes=previous.audit_ref if previous else None)
    return version


# --- the initiation form's attestation (records area) ----------------------------------------


def attestation_choices(session: Session,
                        audience: Audience | str = Audience.PATIENT) -> list[tuple[str, str]]:
    """Return (reference, label) of the patient note's published versions, newest first.

    The records area offers them on the initiation form, where the prescriber attests which
    version of the information note the patient or their legal representative received. The
    version in force comes first; superseded ones stay listed for notes printed earlier.
    """
    from portal.notices.rendering import current_lang, local_date

    app = app_of(session)
    lang = current_lang()
    choices = []
    for version in versions_of(session, audience, published_only=True):
        date = local_date(app, version.published_at, lang)
        if version.status == NoticeStatus.PUBLISHED:
            label = _("Version %(n)d of %(date)s (in force)", n=version.number, date=date)
        else:
            label = _("Version %(n)d of %(date)s (replaced)", n=version.number, date=date)
        choices.append((version.audit_ref, label))
    return choices


def attestation_version(session: Session, reference: str,
                        audience: Audience | str = Audience.PATIENT) -> NoticeVersion | None:
    """Return the published version named by an attestation reference ("patient-v2"), or None."""
    audience = as_audience(audience)
    prefix = f"{audience.value}-v"
    if not reference.startswith(prefix) or not reference[len(prefix):].isdigit():
        return None
    try:
        return published_version(session, audience, int(reference[len(prefix):]))
    except NotFound:
        return None
