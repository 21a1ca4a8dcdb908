"""Reading the intermediate archive: an archivist, a stated reason, one logged entry per read.

The archive keeps each case as stored; a read shows what the case holds (its forms, their
status and dates, their answers opened through the records door for the `archive` purpose, its
hand-offs) to the holder of an archivist grant, after a reason. Every read is an audit entry the
DPO's page shows, and the door logs the opened answers with the same reason; both name the case
by its opaque reference only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.audit.models import AuditEvent
from portal.audit.services import record
from portal.db import app_of
from portal.records.reading import Purpose, archived_submissions, form_of, shown_sections
from portal.retention import archive as store
from portal.retention.actions import RetentionAction
from portal.retention.references import reference_for

#: why an archived case is read (CNIL: an archive is consulted occasionally, with a reason)
READ_REASONS: dict[str, Any] = {
    "litigation": _l("Litigation or pre-litigation"),
    "authority_request": _l("Request from an authority (ANSM, CNIL, court)"),
    "pharmacovigilance": _l("Pharmacovigilance follow-up of a past case"),
    "audit": _l("Audit of the processing"),
}


@dataclass(frozen=True)
class ArchivedForm:
    form_key: str
    status: str
    submitted_at: datetime | None
    revisions: int
    #: the form's title and its answers as labelled sections (submitted forms only)
    title: str | None = None
    sections: tuple[Any, ...] = ()
    #: the revision the answers shown come from
    revision: int | None = None


@dataclass(frozen=True)
class ArchivedView:
    reference: str
    case_number: str
    protocol_key: str
    archived_at: datetime
    forms: list[ArchivedForm]
    hand_offs: int


def _locale() -> str:
    from flask_babel import get_locale

    return str(get_locale() or "fr")


class ArchiveReadRefused(ValueError):
    """A read without a valid reason."""


def read_archived_case(session: Session, actor: Any, case_number: str, reason: str,
                       reason_reference: str) -> ArchivedView | None:
    """Read one archived case by its case number; None (also logged) when none is archived."""
    if reason not in READ_REASONS:
        raise ArchiveReadRefused("reason")
    reason_reference = (reason_reference or "").strip()
    if not reason_reference or len(reason_reference) > 64:
        raise ArchiveReadRefused("reason_reference")
    reference = reference_for(session, case_number.strip())
    with store.archive_engine(app_of(session)).connect() as connection:
        found = store.load_case(connection, reference)
    record(session, actor, RetentionAction.ARCHIVE_READ, ("retention_case", reference),
           outcome="success" if found else "failure", reason=reason,
           reason_ref=reason_reference)
    if found is None:
        return None
    opened = {values.submission_id: values for values in archived_submissions(
        session, actor, reference, found.rows, found.keys, purpose=Purpose.ARCHIVE,
        reason=reason, reason_ref=reason_reference)}
    revisions: dict[int, int] = {}
    for revision_row in found.rows.get("submission_revision", []):
        submission_id = revision_row["submission_id"]
        revisions[submission_id] = revisions.get(submission_id, 0) + 1
    forms = []
    for row in found.rows.get("submission", []):
        values = opened.get(row["id"])
        title: str | None = None
        sections: tuple[Any, ...] = ()
        revision: int | None = None
        if values is not None:
            revision = values.revision
            title = form_of(session, values).definition.title.get(_locale())
            sections = tuple(shown_sections(session, values))
        forms.append(ArchivedForm(row["form_key"], row["status"], row.get("submitted_at"),
                                  revisions.get(row["id"], 0), title, sections,
                                  revision))
    patient = found.rows["patient"][0]
    return ArchivedView(reference, patient["case_number"], found.protocol_key, found.archived_at,
                        forms, len(found.rows.get("event_hand_off", [])))


def recent_archive_reads(session: Session, limit: int = 50) -> list[AuditEvent]:
    """The latest reads of the archive, for the DPO."""
    return list(session.scalars(
        select(AuditEvent).where(AuditEvent.action == RetentionAction.ARCHIVE_READ.value)
        .order_by(AuditEvent.seq.desc()).limit(limit)))
