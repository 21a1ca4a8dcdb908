"""The door to patient data: every read from outside the records area goes through here.

One call checks the policy for the stated purpose, decrypts, and logs the read. Other areas
(rights, reports, retention, archives, backups, audit) import this module and
`portal.records.models`, nothing else of `records` (`tests/test_imports.py` enforces it).

What a caller gets
------------------
- `find_patient(...)`: one patient's metadata (no decryption), by handle, id or case number.
- `patient_identity(...)`: one patient's sealed identity, opened.
- `submission_values(...)`: one submission's current values (or a given revision's).
- `case_submissions(...)`: a case's submitted forms, opened, oldest first.
- `protocol_submissions(...)`: a streamed iteration over a protocol's submitted forms as they
  stood at a given time (`as_of`), in keyset batches: memory stays bounded whatever the count.
- `case_record(...)`: a case's identity and submitted forms in one read (a copy of the data).
- `archived_submissions(...)`: an archived case's submitted forms, opened from the rows and
  wrapped keys the archive keeps (purpose `archive`: the server, or an archivist's grant).
- `bulk_read(...)`: a context manager for a job reading many cases (a purge, an archive, a
  report): the door functions called on it write one audit entry for the whole job instead of
  one per call, with the counts of what was read.

`READ_FUNCTIONS` lists them (a test enumerates it). Beside them, and logging nothing since they
read no patient data: `may_read` (the policy's answer, for links and menus), `form_of` and
`shown_sections` (a submission's form definition and its answers as labelled sections),
`case_search`/`SearchError` (what a typed case number is), `forms_with_submissions`, and the
records' coded lists (`LIMITATION_LABELS`, `RECTIFICATION_LABELS`), and the visit schedule
computed from forms already read (`visit_schedule`, `Filled`, `VisitStatus`: the reports count
the forms overdue at a data lock). Two changes other areas
trigger also pass here: `limit_patient` and `lift_limitation` (each audited as a write).

Every read function takes `purpose` (a `Purpose`) and writes exactly one audit entry: the
`records:patient:read`, `records:submission:read` or `records:data:read` action with detail
`purpose=<value>`, plus short counts. A refusal is logged too (outcome "denied") and raises
`Forbidden`.

When the entry is written
-------------------------
The entry is queued on the session and written just before the caller's transaction commits
(holding the audit head lock for the commit only). If the transaction does not commit (rolled
back, or the session closed after an error), the entry is written in a short transaction of its
own as soon as the caller's transaction has ended, when the caller's locks are released: a read
that happened is on the trail whether or not the request later fails. A bulk read's or a
stream's counts are those reached when the entry is written.

Who may read, per purpose
-------------------------
- `page`: the person's own perimeter and grants (as on every records page).
- `rights_request`: the rights-handling permission (the data protection officer answering a
  request); the caller matched the request to the patient.
- `export`: the perimeter and the export permission.
- `report`: the perimeter and the export or aggregate-read permission (the report shows
  figures; only the report code sees the values).
- `archive`, `purge`, `backup_drill`: the server's own jobs and the CLI operator only; besides
  them, the holder of an archivist grant reads an archived case (`archived_submissions` only:
  the grant opens nothing of the active base).
Limited patients (right to limitation) are left out of `protocol_submissions` unless the caller
asks for them (`include_limited`, for archives and backups, which keep data as stored).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, false, func, select
from sqlalchemy.orm import Session

from portal.access.models import Scope
from portal.access.services import perimeter_for
from portal.audit.services import Actor, record
from portal.errors import Forbidden, NotFound
from portal.keys import KeyFileError
from portal.permissions import Permission
from portal.protocols.models import ProtocolVersion
from portal.records.actions import LIMITATION_LABELS, RECTIFICATION_LABELS, RecordsAction
from portal.records.display import shown_answers
from portal.records.form_codes import form_code
from portal.records.identities import Identity
from portal.records.identities import read_identity as _open_identity
from portal.records.integrity import RecordIntegrityError, report_integrity_failure
from portal.records.limitation import lift_limitation, limit_patient
from portal.records.lookups import forms_with_submissions
from portal.records.models import Patient, Submission, SubmissionRevision
from portal.records.overview import SearchError, case_search
from portal.records.policy import (
    HIDDEN_IDENTIFIERS,
    View,
    log_read,
    permissions_of,
    view_for,
)
from portal.records.schedule import Filled, VisitStatus
from portal.records.schedule import compute as visit_schedule
from portal.records.submissions import FormRef, form_ref, open_revision, submission_form
from portal.sealing import (
    BulkOpener,
    IntegrityCheckFailed,
    open_with_refresh,
    revision_aad,
    revision_aad_maker,
    ring_of,
)

__all__ = [
    # the identification items no export holds (a research formality's scope neither)
    "HIDDEN_IDENTIFIERS",
    "LIMITATION_LABELS",
    "READ_FUNCTIONS",
    "RECTIFICATION_LABELS",
    "BulkRead",
    "CaseRecord",
    "Filled",
    "FormRef",
    "Identity",
    "Purpose",
    "RecordIntegrityError",
    "SearchError",
    "SubmissionValues",
    "VisitStatus",
    "archived_submissions",
    "bulk_read",
    "case_record",
    "case_search",
    "case_submissions",
    "find_patient",
    "form_of",
    "forms_with_submissions",
    "lift_limitation",
    "limit_patient",
    "may_read",
    "patient_identity",
    "protocol_submissions",
    "shown_sections",
    "submission_values",
    "visit_schedule",
]

#: rows fetched and opened at a time by `protocol_submissions`
BATCH = 500


class Purpose(enum.StrEnum):
    """Why patient data is read: logged with every read."""

    PAGE = "page"
    RIGHTS_REQUEST = "rights_request"
    EXPORT = "export"
    REPORT = "report"
    ARCHIVE = "archive"
    PURGE = "purge"
    BACKUP_DRILL = "backup_drill"
    #: a case number or blind-index match, before anything else is read
    LOOKUP = "lookup"


#: purposes only the server's own jobs and the CLI operator read for
_SYSTEM_PURPOSES = frozenset({Purpose.ARCHIVE, Purpose.PURGE, Purpose.BACKUP_DRILL})


@dataclass(frozen=True)
class SubmissionValues:
    """One submission as read: metadata in clear and its answers, opened."""

    submission_id: int
    handle: str
    patient_id: int
    case_number: str
    protocol_key: str
    protocol_version_id: int
    form_key: str
    status: str
    #: the revision the answers come from
    revision: int
    submitted_at: datetime | None
    answers: dict[str, Any]

    @property
    def audit_ref(self) -> str:
        return f"S{self.submission_id}"


@dataclass(frozen=True)
class CaseRecord:
    """A case as read for a copy of the data: its identity and its submitted forms."""

    patient: Patient
    identity: Identity
    submissions: list[SubmissionValues]


# --- the policy per purpose ----------------------------------------------------------------------


def _is_server(actor: Any) -> bool:
    return isinstance(actor, Actor) and actor.kind in ("cli", "system")


def _authorize(session: Session, actor: Any, purpose: Purpose, patient: Patient | None,
               need: Permission, action: RecordsAction, target: Any) -> None:
    """Refuse (logged, `Forbidden`) unless `actor` may read `patient` for `purpose`."""
    if not _allowed(session, actor, purpose, patient, need):
        record(session, actor, action, target, outcome="denied", purpose=str(purpose))
        raise Forbidden()


def _allowed(session: Session, actor: Any, purpose: Purpose, patient: Patient | None,
             need: Permission) -> bool:
    allowed = False
    try:
        if _is_server(actor):
            allowed = True
        elif purpose in _SYSTEM_PURPOSES:
            allowed = False
        elif purpose == Purpose.RIGHTS_REQUEST:
            allowed = Permission.RIGHTS_HANDLE in permissions_of(session, actor)
        elif purpose == Purpose.REPORT and not _has_record_view(session, actor):
            allowed = Permission.AGGREGATE_READ in permissions_of(session, actor)
        else:
            view = view_for(session, actor)
            wanted = {Purpose.EXPORT: Permission.RECORD_EXPORT}.get(purpose, need)
            if purpose == Purpose.REPORT:
                wanted = Permission.RECORD_EXPORT if view.can(Permission.RECORD_EXPORT) \
                    else Permission.AGGREGATE_READ
            allowed = view.can(wanted) and (patient is None or view.covers(patient))
    except Forbidden:
        allowed = False
    return allowed


def _has_record_view(session: Session, actor: Any) -> bool:
    try:
        view_for(session, actor)
    except Forbidden:
        return False
    return True


def _protocol_filter(session: Session, actor: Any, purpose: Purpose) -> Any:
    """The SQL perimeter of a bulk read (everything for the server and the DPO)."""
    if _is_server(actor) or purpose == Purpose.RIGHTS_REQUEST:
        return None
    if purpose == Purpose.REPORT and not _has_record_view(session, actor):
        # Aggregated figures: the same establishments and protocols, no record page.
        perimeter = perimeter_for(session, actor)
        if perimeter.scope is None:
            return false()
        return View(actor.id, Scope(perimeter.scope), perimeter.establishment_ids,
                    perimeter.protocol_keys, frozenset()).patient_filter()
    return view_for(session, actor).patient_filter()


# --- how a read is logged ------------------------------------------------------------------------


class BulkRead:
    """Reads made for one job, logged as one entry (see `bulk_read`)."""

    def __init__(self, session: Session, actor: Any, purpose: Purpose, target: Any,
                 details: dict[str, Any]) -> None:
        self.session = session
        self.actor = actor
        self.purpose = Purpose(purpose)
        self.counts: dict[str, Any] = {"patients": 0, "submissions": 0}
        log_read(session, actor, RecordsAction.BULK_READ, target,
                 purpose=str(self.purpose), _live=self.counts, **details)

    def find_patient(self, **kwargs: Any) -> Patient:
        """`find_patient` within this job (no entry of its own)."""
        return find_patient(self.session, self.actor, purpose=self.purpose, _bulk=self, **kwargs)

    def patient_identity(self, patient: Patient) -> Identity:
        """`patient_identity` within this job."""
        return patient_identity(self.session, self.actor, patient, purpose=self.purpose,
                                _bulk=self)

    def submission_values(self, submission: Submission, number: int | None = None
                          ) -> SubmissionValues:
        """`submission_values` within this job."""
        return submission_values(self.session, self.actor, submission, purpose=self.purpose,
                                 number=number, _bulk=self)

    def case_submissions(self, patient: Patient, **kwargs: Any) -> list[SubmissionValues]:
        """`case_submissions` within this job."""
        return case_submissions(self.session, self.actor, patient, purpose=self.purpose,
                                _bulk=self, **kwargs)

    def protocol_submissions(self, protocol_key: str, **kwargs: Any
                             ) -> Iterator[SubmissionValues]:
        """`protocol_submissions` within this job."""
        return protocol_submissions(self.session, self.actor, protocol_key,
                                    purpose=self.purpose, _bulk=self, **kwargs)

    def count(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n


@contextmanager
def bulk_read(session: Session, actor: Any, purpose: Purpose, target: Any = None,
              **details: Any) -> Iterator[BulkRead]:
    """Read many cases for one job, logged as one `records:data:read` entry.

    :param target: what the job covers, e.g. ("protocol", key), or None.
    :param details: short codes naming the job (e.g. `job="purge_2026_12"`); the entry also
        counts the patients and submissions read.
    """
    yield BulkRead(session, actor, purpose, target, details)


# --- the read functions --------------------------------------------------------------------------


def find_patient(session: Session, actor: Any, *, purpose: Purpose, handle: str | None = None,
                 patient_id: int | None = None, case_number: str | None = None,
                 need: Permission = Permission.PATIENT_READ,
                 _bulk: BulkRead | None = None) -> Patient:
    """Return one patient (metadata, nothing decrypted) by handle, id or case number.

    :raises NotFound: no such patient.
    :raises Forbidden: the actor may not read it for `purpose` (the refusal is logged).
    """
    purpose = Purpose(purpose)
    query = select(Patient)
    if handle is not None:
        query = query.where(Patient.handle == handle[:32])
    elif patient_id is not None:
        query = query.where(Patient.id == patient_id)
    elif case_number is not None:
        query = query.where(Patient.case_number == (case_number or "").strip().upper()[:16])
    else:
        raise NotFound()
    patient = session.scalar(query)
    if patient is None:
        raise NotFound()
    _authorize(session, actor, purpose, patient, need, RecordsAction.PATIENT_READ, patient)
    _log_one(session, actor, purpose, _bulk, RecordsAction.PATIENT_READ, patient,
             patients=1)
    return patient


def patient_identity(session: Session, actor: Any, patient: Patient, *, purpose: Purpose,
                     _bulk: BulkRead | None = None) -> Identity:
    """Open a patient's sealed identity (letters, sex, birth, weight, height).

    :raises Forbidden: the actor may not read it for `purpose` (logged).
    :raises RecordIntegrityError: the identity failed its integrity check (alert raised).
    """
    purpose = Purpose(purpose)
    _authorize(session, actor, purpose, patient, Permission.PATIENT_READ,
               RecordsAction.PATIENT_READ, patient)
    _log_one(session, actor, purpose, _bulk, RecordsAction.PATIENT_READ, patient,
             patients=1, part="identity")
    return _open_identity(session, actor, patient)


def submission_values(session: Session, actor: Any, submission: Submission, *,
                      purpose: Purpose, number: int | None = None,
                      _bulk: BulkRead | None = None) -> SubmissionValues:
    """Open one submission's current answers (or revision `number`'s).

    :raises NotFound: a draft, or no such revision.
    :raises Forbidden: the actor may not read it for `purpose` (logged).
    :raises RecordIntegrityError: the revision failed its integrity check (alert raised).
    """
    purpose = Purpose(purpose)
    patient = submission.patient
    _authorize(session, actor, purpose, patient, Permission.SUBMISSION_READ,
               RecordsAction.SUBMISSION_READ, submission)
    revision = _revision(submission, number)
    _log_one(session, actor, purpose, _bulk, RecordsAction.SUBMISSION_READ, submission,
             submissions=1, patient=patient.audit_ref, form=form_code(session, submission.form_key))
    return _values(submission, patient, revision,
                   open_revision(session, actor, submission, revision))


def case_submissions(session: Session, actor: Any, patient: Patient, *, purpose: Purpose,
                     form_kinds: frozenset[str] | None = None,
                     _bulk: BulkRead | None = None) -> list[SubmissionValues]:
    """Open every submitted form of a case (drafts are left out), oldest first.

    :param form_kinds: only the forms of these kinds (e.g. a relative's copy).
    :raises Forbidden: the actor may not read the case for `purpose` (logged).
    :raises RecordIntegrityError: a revision failed its integrity check (alert raised).
    """
    purpose = Purpose(purpose)
    _authorize(session, actor, purpose, patient, Permission.SUBMISSION_READ,
               RecordsAction.PATIENT_READ, patient)
    chosen = _submitted(session, patient, form_kinds)
    _log_one(session, actor, purpose, _bulk, RecordsAction.PATIENT_READ, patient,
             patients=1, submissions=len(chosen))
    return [_opened(session, actor, submission) for submission in chosen]


def protocol_submissions(session: Session, actor: Any, protocol_key: str, *,
                         purpose: Purpose, as_of: datetime | None = None,
                         form_key: str | None = None, include_limited: bool = False,
                         batch_size: int = BATCH,
                         _bulk: BulkRead | None = None) -> Iterator[SubmissionValues]:
    """Stream a protocol's submitted forms as they stood at `as_of` (now by default).

    A submission counts when it was submitted at or before `as_of`; its values are those of its
    newest revision written at or before `as_of`. Rows come in batches of `batch_size` by
    submission id, each batch opened then dropped. A revision failing its integrity check is
    skipped (the DPO alert is raised, the entry counts it as `refused`).

    The policy is checked and the read logged (one entry, counting the rows yielded) when
    iteration starts.

    :raises Forbidden: the actor may not read the protocol for `purpose` (logged).
    """
    purpose = Purpose(purpose)
    _authorize(session, actor, purpose, None, Permission.SUBMISSION_READ,
               RecordsAction.BULK_READ, ("protocol", protocol_key))
    if _bulk is None:
        counts: dict[str, Any] = {"submissions": 0, "refused": 0}
        log_read(session, actor, RecordsAction.BULK_READ, ("protocol", protocol_key),
                 purpose=str(purpose), form=form_code(session, form_key) if form_key else "all",
                 as_of=as_of.isoformat(timespec="seconds") if as_of else "now", _live=counts)
    else:
        counts = _bulk.counts
    perimeter = _protocol_filter(session, actor, purpose)
    return _stream(session, actor, purpose, protocol_key, as_of, form_key, include_limited,
                   perimeter, max(1, batch_size), counts)


def _stream(session: Session, actor: Any, purpose: Purpose, protocol_key: str,
            as_of: datetime | None,
            form_key: str | None, include_limited: bool, perimeter: Any, batch_size: int,
            counts: dict[str, Any]) -> Iterator[SubmissionValues]:
    # Two set-based steps per batch: the upper bound of the next batch by id (the filters,
    # answered by the primary key's order), then the rows of that id range with the revision
    # each stood at. A revision chosen inside the join, row by row, made the planner re-read and
    # re-sort the protocol's whole join for every batch; a list of ids (IN) cost more to build
    # and parse than the range, which the same filters keep exact.
    conditions = [Submission.status == "submitted", Patient.protocol_key == protocol_key]
    if as_of is not None:
        conditions.append(Submission.submitted_at <= as_of)
    if form_key is not None:
        conditions.append(Submission.form_key == form_key)
    if not include_limited:
        conditions.append(Patient.limited_at.is_(None))
    if perimeter is not None:
        conditions.append(perimeter)
    chosen = select(Submission.id).join(Patient, Patient.id == Submission.patient_id).where(
        *conditions)
    columns = (Submission.id, Submission.handle, Submission.patient_id, Submission.form_key,
               Submission.status, Submission.submitted_at, Submission.protocol_version_id,
               SubmissionRevision.number, SubmissionRevision.kind, SubmissionRevision.payload,
               SubmissionRevision.wrapped_key, SubmissionRevision.kek_version,
               Patient.case_number, Patient.handle.label("patient_handle"),
               ProtocolVersion.content_hash)

    def rows_of(low: int, high: int) -> list[Any]:
        if as_of is None:
            revision_join = SubmissionRevision.number == Submission.revision_number
            query = select(*columns).select_from(Submission)
        else:
            stood = (select(SubmissionRevision.submission_id,
                            func.max(SubmissionRevision.number).label("number"))
                     .where(SubmissionRevision.submission_id > low,
                            SubmissionRevision.submission_id <= high,
                            SubmissionRevision.kind != "draft",
                            SubmissionRevision.created_at <= as_of)
                     .group_by(SubmissionRevision.submission_id)
                     .subquery())
            revision_join = SubmissionRevision.number == stood.c.number
            query = (select(*columns).select_from(Submission)
                     .join(stood, stood.c.submission_id == Submission.id))
        return list(connection.execute(
            query.join(SubmissionRevision, and_(SubmissionRevision.submission_id == Submission.id,
                                                revision_join))
            .join(Patient, Patient.id == Submission.patient_id)
            .join(ProtocolVersion, ProtocolVersion.id == Submission.protocol_version_id)
            .where(Submission.id > low, Submission.id <= high, *conditions)
            .order_by(Submission.id)).all())

    # Rows straight from the connection: the ORM's result layer took about 7 % of a report's
    # time for rows that map to no object. The session is flushed once, as its own execute would.
    session.flush()
    connection = session.connection()
    opener = BulkOpener(ring_of(session))
    makers: dict[tuple[str, str], Any] = {}
    last = 0
    while True:
        high = connection.scalar(chosen.where(Submission.id > last).order_by(Submission.id)
                                 .offset(batch_size - 1).limit(1))
        if high is None:
            # The last, shorter batch: whatever is left after `last`.
            high = connection.scalar(chosen.where(Submission.id > last)
                                     .order_by(Submission.id.desc()).limit(1))
            if high is None:
                return
        page = rows_of(last, high)
        last = high
        # Unpacked once per row: a result row's attributes by name cost more than the
        # decryption of a small form.
        for (sid, handle, patient_id, form_key_of, status, submitted_at, version_id, number,
             kind, payload, wrapped_key, kek_version, case_number, patient_handle,
             content_hash) in page:
            maker = makers.get((content_hash, form_key_of))
            if maker is None:
                maker = makers[(content_hash, form_key_of)] = revision_aad_maker(
                    protocol_key, content_hash, form_key_of)
            aad = maker(handle, number, kind, patient_handle)
            try:
                try:
                    plaintext = opener.open(aad, payload, wrapped_key, kek_version)
                except KeyFileError:
                    opener = BulkOpener(ring_of(session, force=True))
                    plaintext = opener.open(aad, payload, wrapped_key, kek_version)
                answers = json.loads(plaintext)
            except (IntegrityCheckFailed, ValueError):
                counts["refused"] = counts.get("refused", 0) + 1
                report_integrity_failure(session, actor, ("submission", f"S{sid}"),
                                         during=f"read:{purpose}")
                continue
            counts["submissions"] = counts.get("submissions", 0) + 1
            yield SubmissionValues(sid, handle, patient_id, case_number, protocol_key,
                                   version_id, form_key_of, status, number, submitted_at,
                                   answers)


def case_record(session: Session, actor: Any, patient: Patient, *, purpose: Purpose,
                form_kinds: frozenset[str] | None = None) -> CaseRecord:
    """Open a case's identity and every submitted form (drafts left out): one read.

    :param form_kinds: only the forms of these kinds (e.g. a relative's copy).
    :raises Forbidden: the actor may not read the case for `purpose` (logged).
    :raises RecordIntegrityError: a sealed value failed its integrity check (alert raised).
    """
    purpose = Purpose(purpose)
    _authorize(session, actor, purpose, patient, Permission.SUBMISSION_READ,
               RecordsAction.PATIENT_READ, patient)
    chosen = _submitted(session, patient, form_kinds)
    log_read(session, actor, RecordsAction.PATIENT_READ, patient, purpose=str(purpose),
             part="identity", submissions=len(chosen))
    identity = _open_identity(session, actor, patient)
    return CaseRecord(patient, identity, [_opened(session, actor, s) for s in chosen])


#: the door's read functions: each writes exactly one audit entry naming its purpose
def archived_submissions(session: Session, actor: Any, reference: str,
                         rows: dict[str, list[dict[str, Any]]], keys: dict[str, Any], *,
                         purpose: Purpose, **details: Any) -> list[SubmissionValues]:
    """Open the submitted forms of an archived case, oldest first, as the archive keeps them.

    `rows` are the case's rows by table (patient, submission, submission_revision) and `keys`
    the wrapped data key of each revision by "revision:<id>", as `portal.retention.archive`
    stores them. One `records:patient:read` entry names the case by its opaque `reference`,
    with the purpose and `details` (the reader's stated reason).

    :raises Forbidden: not the server, or no archivist grant (the refusal is logged).
    :raises RecordIntegrityError: a revision failed its integrity check (alert raised).
    """
    purpose = Purpose(purpose)
    target = ("retention_case", reference)
    allowed = purpose == Purpose.ARCHIVE and (
        _is_server(actor) or Permission.ARCHIVE_READ in permissions_of(session, actor))
    if not allowed:
        record(session, actor, RecordsAction.PATIENT_READ, target, outcome="denied",
               purpose=str(purpose))
        raise Forbidden()
    patient = rows["patient"][0]
    revisions = {(r["submission_id"], r["number"]): r
                 for r in rows.get("submission_revision", []) if r["kind"] != "draft"}
    opened: list[SubmissionValues] = []
    for submission in rows.get("submission", []):
        revision = revisions.get((submission["id"], submission["revision_number"]))
        key = keys.get(f"revision:{revision['id']}") if revision else None
        if submission["status"] != "submitted" or revision is None or key is None:
            continue
        version = session.get(ProtocolVersion, submission["protocol_version_id"])
        if version is None:
            raise NotFound()
        aad = revision_aad(submission["handle"], revision["number"], revision["kind"],
                           patient["handle"], version.protocol_key, version.content_hash,
                           submission["form_key"])
        try:
            answers = open_with_refresh(session, aad, revision["payload"], key.wrapped_key,
                                        key.kek_version)
        except IntegrityCheckFailed:
            failed = ("submission", f"S{submission['id']}")
            report_integrity_failure(session, actor, failed, patient=reference,
                                     revision=revision["number"])
            raise RecordIntegrityError(failed) from None
        opened.append(SubmissionValues(
            submission["id"], submission["handle"], patient["id"], patient["case_number"],
            version.protocol_key, version.id, submission["form_key"], submission["status"],
            revision["number"], submission.get("submitted_at"), answers))
    log_read(session, actor, RecordsAction.PATIENT_READ, target, purpose=str(purpose),
             submissions=len(opened), **details)
    return opened


READ_FUNCTIONS = (find_patient, patient_identity, submission_values, case_submissions,
                  case_record, protocol_submissions, bulk_read, archived_submissions)


# --- beside the reads: nothing decrypted, nothing logged ---------------------------------------


def may_read(session: Session, actor: Any, patient: Patient | None, *,
             purpose: Purpose = Purpose.PAGE) -> bool:
    """Tell whether `actor` may read `patient`'s record now for `purpose` (nothing is logged:
    no data is read)."""
    if patient is None or actor is None:
        return False
    try:
        return _allowed(session, actor, Purpose(purpose), patient, Permission.PATIENT_READ)
    except Forbidden:
        return False


def form_of(session: Session, values: SubmissionValues) -> FormRef:
    """The form a submission was filled against (protocol version and form definition)."""
    version = session.get(ProtocolVersion, values.protocol_version_id)
    if version is None:
        raise NotFound()
    return form_ref(version, values.form_key)


def shown_sections(session: Session, values: SubmissionValues, *, locale: str | None = None,
                   hidden: frozenset[str] = frozenset()) -> list[Any]:
    """The answers as the record page shows them: sections of labelled fields."""
    ref = form_of(session, values)
    return shown_answers(ref.protocol.definition, ref.definition, values.answers, hidden,
                         locale=locale)


# --- helpers -------------------------------------------------------------------------------------


def _log_one(session: Session, actor: Any, purpose: Purpose, bulk: BulkRead | None,
             action: RecordsAction, target: Any, *, patients: int = 0, submissions: int = 0,
             **details: Any) -> None:
    if bulk is not None:
        bulk.count("patients", patients)
        bulk.count("submissions", submissions)
        return
    if action == RecordsAction.PATIENT_READ and submissions:
        details["submissions"] = submissions
    log_read(session, actor, action, target, purpose=str(purpose), **details)


def _submitted(session: Session, patient: Patient, form_kinds: frozenset[str] | None
               ) -> list[Submission]:
    return [
        s for s in session.scalars(select(Submission).where(
            Submission.patient_id == patient.id, Submission.status == "submitted")
            .order_by(Submission.id))
        if form_kinds is None or str(submission_form(s).definition.kind) in form_kinds
    ]


def _opened(session: Session, actor: Any, submission: Submission) -> SubmissionValues:
    revision = _revision(submission, None)
    return _values(submission, submission.patient, revision,
                   open_revision(session, actor, submission, revision))


def _revision(submission: Submission, number: int | None) -> SubmissionRevision:
    number = number or submission.revision_number
    for revision in submission.revisions:
        if revision.number == number and revision.kind != "draft":
            return revision
    raise NotFound()


def _values(submission: Submission, patient: Patient, revision: SubmissionRevision,
            answers: dict[str, Any]) -> SubmissionValues:
    return SubmissionValues(submission.id, submission.handle, patient.id, patient.case_number,
                            patient.protocol_key, submission.protocol_version_id,
                            submission.form_key, submission.status, revision.number,
                            submission.submitted_at, answers)

