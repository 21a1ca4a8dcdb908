"""The rows of an export, shared by its CSV and ODM writers: which submissions, read how.

Rows come from the database in batches (server-side cursor on PostgreSQL) and are decrypted
one at a time, so memory stays flat whatever the number of submissions. The export is logged
(with its row count) before the first byte is sent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from queue import Empty, Full, Queue
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Integer, bindparam, func, select
from sqlalchemy.orm import Session

from portal import clock
from portal.errors import BadRequest, Forbidden, NotFound
from portal.export_purposes import (
    PURPOSE_DETAIL,
    ExportPurpose,
    ResearchCover,
    purpose_of,
    research_covers,
)
from portal.keys import KeyFileError
from portal.permissions import Permission
from portal.protocols.builder import current_locale
from portal.protocols.models import ProtocolVersion
from portal.records.actions import RecordsAction
from portal.records.form_codes import codes_for, form_code
from portal.records.integrity import report_integrity_failure
from portal.records.models import Patient, Submission, SubmissionRevision
from portal.records.policy import View, log_read, view_for
from portal.records.versions import in_force, protocol_of
from portal.sealing import BulkOpener, IntegrityCheckFailed, revision_aad_maker, ring_of

FORMATS = ("csv", "odm")
BATCH = 2000


class ResearchNotCovered(Forbidden):
    """A research export with no formality in force covering it (referential 5.4)."""


@dataclass
class ExportJob:
    """One export: what, for whom, how many rows, and the failures met while streaming."""

    view: View
    protocol_key: str
    form_key: str | None
    fmt: str
    version: ProtocolVersion
    up_to: int
    row_count: int
    locale: str
    purpose: ExportPurpose
    #: the formality covering a research export: only its fields are exported
    research: ResearchCover | None = None
    integrity_failures: list[str] = field(default_factory=list)
    #: (record id, case number) of every row refused by its integrity check, in stream order
    refused: list[tuple[str, str]] = field(default_factory=list)

    @property
    def filename(self) -> str:
        stamp = clock.now().strftime("%Y%m%dT%H%M%SZ")
        what = self.form_key or "all-forms"
        extension = "csv" if self.fmt == "csv" else "xml"
        return f"{self.protocol_key}-{what}-{stamp}.{extension}"

    def scope(self, form_key: str) -> frozenset[str] | None:
        """The keys of `form_key`'s fields a research export may hold; None: every field."""
        if self.research is None:
            return None
        return scope_of(self.research, form_key)


def _in_scope(session: Session, query: Any, cover: ResearchCover | None) -> Any:
    """Keep, under a research formality, only the submissions of the forms it covers a field
    of: the others are neither counted nor read (their stored codes, which the column's type
    lets through unchanged on every path)."""
    if cover is None:
        return query
    forms = sorted({key.partition(".")[0] for key in cover.fields})
    return query.where(Submission.form_key.in_([form_code(session, key) for key in forms]))


def scope_of(cover: ResearchCover, form_key: str) -> frozenset[str]:
    """The keys of a form's fields that a research formality covers."""
    prefix = f"{form_key}."
    return frozenset(key[len(prefix):] for key in cover.fields if key.startswith(prefix))


def _research_cover(session: Session, protocol_key: str, form_key: str | None,
                    reference: str | None) -> ResearchCover:
    """The formality in force covering a research export of `protocol_key` (and `form_key`).

    :raises ResearchNotCovered: none is in force (or its notice is no longer published), the
        one named is not, several are and none is named, or it covers nothing of the form.
    """
    covers = research_covers(session, protocol_key)
    if not covers:
        raise ResearchNotCovered(_(
            "A research export needs the formality that covers it (reference, date, protocol "
            "and fields), recorded by the DPO, and the published information notice for that "
            "reuse. None is in force for this protocol: the export is refused."))
    if reference:
        chosen = [c for c in covers if c.reference == reference]
        if not chosen:
            raise ResearchNotCovered(_(
                "The formality %(ref)s is not in force for this protocol (ended, withdrawn, "
                "or its information notice is no longer the published one): the export is "
                "refused.", ref=reference))
        cover = chosen[0]
    elif len(covers) > 1:
        raise ResearchNotCovered(_(
            "Several research formalities are in force for this protocol: choose the one "
            "that covers this export."))
    else:
        cover = covers[0]
    if form_key is not None and not scope_of(cover, form_key):
        raise ResearchNotCovered(_(
            "The formality %(ref)s covers no field of this form: the export is refused.",
            ref=cover.reference))
    return cover


def _base_query(view: View, protocol_key: str, form_key: str | None) -> Any:
    query = (
        select(Submission.id)
        .join(Patient, Patient.id == Submission.patient_id)
        .where(Submission.status == "submitted", Patient.limited_at.is_(None),
               Patient.protocol_key == protocol_key, view.patient_filter())
    )
    if form_key is not None:
        query = query.where(Submission.form_key == form_key)
    return query


def prepare_export(session: Session, actor: Any, protocol_key: str, form_key: str | None,
                   fmt: str, locale: str | None = None, *, purpose: str | None,
                   research: str | None = None) -> ExportJob:
    """Check the right, count the rows and log the export (the caller commits, then streams).

    :param purpose: one of `ExportPurpose`; an export that states none is refused.
    :param research: for a research export, the register reference of the formality covering
        it (needed only when several are in force for the protocol).
    :raises Forbidden: the actor may not export.
    :raises ResearchNotCovered: a research export no formality in force covers.
    :raises BadRequest: no purpose, or one outside the closed list.
    :raises NotFound: unknown protocol, form or format.
    """
    view = view_for(session, actor)
    if not view.can(Permission.RECORD_EXPORT):
        raise Forbidden(_("Your access does not include exports."))
    stated = purpose_of(purpose) if purpose else None
    if stated is None:
        raise BadRequest(_("Every export states its purpose: choose one from the list."))
    cover = None
    if stated is ExportPurpose.RESEARCH:
        # Research is a distinct processing: it needs the formality that covers it (reference,
        # date, scope) and its published notice, checked before anything is counted or read;
        # the export then holds only the fields in the formality's scope.
        cover = _research_cover(session, protocol_key, form_key, research)
    if fmt not in FORMATS:
        raise NotFound()
    if view.protocol_keys is not None and protocol_key not in view.protocol_keys:
        raise Forbidden()
    version = in_force(session, protocol_key)
    if version is None:
        raise NotFound()
    if form_key is not None:
        try:
            protocol_of(version).definition.form(form_key)
        except KeyError:
            raise NotFound() from None
    elif fmt == "csv":
        raise NotFound()  # a CSV holds one form
    up_to = session.scalar(select(func.max(Submission.id))) or 0
    base = _in_scope(session, _base_query(view, protocol_key, form_key), cover).where(
        Submission.id <= up_to)
    count = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    job = ExportJob(view, protocol_key, form_key, fmt, version, up_to, count,
                    locale or current_locale(), stated, cover)
    # Written with the caller's commit, or on its own if the request fails: on the trail
    # before the first byte is sent either way.
    purpose_detail: dict[str, Any] = {PURPOSE_DETAIL: str(stated)}
    if cover is not None:
        # The register's references only: what the DPO typed stays in the register.
        purpose_detail.update(research=cover.reference, notice=cover.notice[:64],
                              fields=len(cover.fields))
    log_read(session, actor, RecordsAction.DATA_EXPORT, ("protocol", protocol_key),
             row_count=count, form=form_code(session, form_key) if form_key else "all",
             format=fmt, scope=str(view.scope), **purpose_detail,
             establishments="all" if view.establishment_ids is None
             else len(view.establishment_ids))
    return job


def submitted_text(dialect: str) -> Any:
    """`submission.submitted_at` as ISO 8601 text in UTC, formatted by the database.

    Done in SQL because converting and formatting a datetime per row in Python costs as much as
    the rest of a CSV row; the text is the same on every database.
    """
    column = Submission.submitted_at
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"')
    if dialect == "sqlite":
        return func.strftime("%Y-%m-%dT%H:%M:%S+00:00", column)
    return column


def rows(session: Session, job: ExportJob, *, by_subject: bool) -> Iterator[Any]:
    """Stream the current revision of every exported submission, in batches (rows unpack in
    the order of the columns selected).

    :param by_subject: grouped by protocol version and patient (ODM), else in submission order
        (CSV: no sort at all, the primary key's order).
    """
    query = (
        select(SubmissionRevision.payload, SubmissionRevision.wrapped_key,
               SubmissionRevision.kek_version, SubmissionRevision.number,
               SubmissionRevision.kind, Submission.id, Submission.handle, Submission.form_key,
               submitted_text(session.get_bind().dialect.name).label("submitted_at"),
               Patient.case_number, Patient.handle.label("patient_handle"),
               ProtocolVersion.protocol_key,
               ProtocolVersion.content_hash, ProtocolVersion.version_label,
               ProtocolVersion.id.label("version_id"))
        .select_from(Submission)
        .join(SubmissionRevision, (SubmissionRevision.submission_id == Submission.id) &
              (SubmissionRevision.number == Submission.revision_number))
        .join(Patient, Patient.id == Submission.patient_id)
        .join(ProtocolVersion, ProtocolVersion.id == Submission.protocol_version_id)
        .where(Submission.status == "submitted", Submission.id <= job.up_to,
               Patient.limited_at.is_(None), Patient.protocol_key == job.protocol_key,
               job.view.patient_filter())
    )
    if job.form_key is not None:
        # The stored code itself: the paged reader below runs on the driver's cursor, which
        # applies no column type (the type lets a code through unchanged).
        query = query.where(Submission.form_key == form_code(session, job.form_key))
    else:
        # (One form: `prepare_export` checked that the formality covers it.)
        query = _in_scope(session, query, job.research)
    connection = session.connection()
    if by_subject:
        # Grouped by subject: one ordered query read through a server-side cursor.
        query = query.order_by(ProtocolVersion.id, Patient.id, Submission.form_key,
                               Submission.id)
        yield from connection.execution_options(stream_results=True, yield_per=BATCH) \
            .execute(query)
        return
    # In submission order: pages keyed on the primary key, each a short indexed query, read
    # one page ahead by a helper thread on its own connection while this one decrypts.
    codes = codes_for(session.get_bind().dialect)
    for row in _prefetched(session.get_bind(), query):
        yield (*row[:_FORM_KEY], codes.form_key(row[_FORM_KEY]), *row[_FORM_KEY + 1:])


#: where the form key is in a row of `rows` (stored as its code, see `form_codes`)
_FORM_KEY = 7


def exported_versions(session: Session, job: ExportJob) -> list[int]:
    """Return the ids of the protocol versions the exported submissions were filled with.

    The same filters as `rows`, without decrypting anything: one short query before the stream.
    """
    query = (_in_scope(session, _base_query(job.view, job.protocol_key, job.form_key),
                       job.research)
             .where(Submission.id <= job.up_to)
             .with_only_columns(Submission.protocol_version_id).distinct())
    return sorted(session.scalars(query))


def _page_query(query: Any) -> Any:
    # The same bound on both sides of the join: each page starts where the last one ended.
    last = bindparam("after_id", type_=Integer)
    return (query.where(Submission.id > last, SubmissionRevision.submission_id > last)
            .order_by(Submission.id).limit(BATCH))


_DONE = object()


def _prefetched(engine: Any, query: Any, depth: int = 2) -> Iterator[Any]:
    """Yield the rows of `query` page by page, fetching the next page meanwhile.

    The page query is compiled once and run on the driver's cursor (plain tuples, binary
    results on PostgreSQL): the helper thread waits on the database while this one decrypts.
    At most `depth` pages wait in memory; closing the generator (the client went away) stops
    the helper thread.
    """
    compiled = _page_query(query).compile(dialect=engine.dialect,
                                          compile_kwargs={"render_postcompile": True})
    sql, params = str(compiled), dict(compiled.params)
    positions = compiled.positiontup
    pages: Queue[Any] = Queue(maxsize=depth)
    stop = threading.Event()

    def fetch() -> None:
        try:
            with engine.connect() as connection:
                cursor = connection.connection.driver_connection.cursor()
                options = {"binary": True} if engine.dialect.name == "postgresql" else {}
                last = 0
                while not stop.is_set():
                    params["after_id"] = last
                    bound = [params[name] for name in positions] if positions else params
                    cursor.execute(sql, bound, **options)
                    page = cursor.fetchall()
                    _put(pages, page or _DONE, stop)
                    if not page:
                        return
                    last = page[-1][5]
        except BaseException as exc:  # noqa: BLE001 - handed over to the reading thread
            _put(pages, exc, stop)

    helper = threading.Thread(target=fetch, name="records-export-fetch", daemon=True)
    helper.start()
    try:
        while True:
            page = pages.get()
            if page is _DONE:
                return
            if isinstance(page, BaseException):
                raise page
            yield from page
    finally:
        stop.set()
        while helper.is_alive():
            try:
                pages.get_nowait()
            except Empty:
                helper.join(timeout=0.05)


def _put(pages: Queue[Any], item: Any, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            pages.put(item, timeout=0.1)
            return
        except Full:
            continue


class Opener:
    """Unwrap, decrypt and parse rows; KEK ciphers and associated-data makers are kept."""

    def __init__(self, session: Session, job: ExportJob) -> None:
        self.session = session
        self.job = job
        self.bulk = BulkOpener(ring_of(session))
        self.makers: dict[tuple[str, str, str], Any] = {}

    def answers(self, row: Any) -> dict[str, Any] | None:
        (payload, wrapped_key, kek_version, number, kind, row_id, handle, form_key,
         _submitted, case_number, patient_handle, protocol_key, content_hash, _label,
         _version_id) = row
        maker = self.makers.get((protocol_key, content_hash, form_key))
        if maker is None:
            maker = self.makers[(protocol_key, content_hash, form_key)] = revision_aad_maker(
                protocol_key, content_hash, form_key)
        aad = maker(handle, number, kind, patient_handle)
        try:
            try:
                plaintext = self.bulk.open(aad, payload, wrapped_key, kek_version)
            except KeyFileError:
                self.bulk = BulkOpener(ring_of(self.session, force=True))
                plaintext = self.bulk.open(aad, payload, wrapped_key, kek_version)
            return json.loads(plaintext)
        except (IntegrityCheckFailed, ValueError):
            # Never exported as data; listed as refused, reported once the stream ends
            # (see `finish`).
            self.job.integrity_failures.append(f"S{row_id}")
            self.job.refused.append((f"S{row_id}", case_number))
            return None


def finish(session: Session, actor: Any, job: ExportJob) -> None:
    """Raise the alerts for rows that failed their integrity check during the stream."""
    for ref in job.integrity_failures:
        report_integrity_failure(session, actor, ("submission", ref), during="export")


