"""Pseudonymised exports, streamed: CSV per form, and CDISC ODM 1.3.2 XML (metadata and data).

Rows come from the database in batches (server-side cursor on PostgreSQL) and are decrypted
and written one at a time, so memory stays flat whatever the number of submissions. Exports
carry the case number, never the identification letters or birth data; limited patients are
left out. The caller logs the export (with its row count) before the first byte is sent.
"""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from queue import Empty, Full, Queue
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Integer, bindparam, func, select
from sqlalchemy.orm import Session

from portal import clock
from portal.audit.services import record
from portal.crypto import IntegrityCheckFailed
from portal.errors import Forbidden, NotFound
from portal.keys import KeyFileError
from portal.meddra.services import TermNames
from portal.meddra.services import level_of as meddra_level
from portal.permissions import Permission
from portal.protocols.builder import current_locale
from portal.protocols.models import ProtocolVersion
from portal.protocols.schema import FieldDef, Form, Protocol
from portal.records.actions import RecordsAction
from portal.records.crypto_store import BulkOpener, revision_aad_maker, ring_of
from portal.records.display import choice_labels
from portal.records.form_codes import codes_for, form_code
from portal.records.integrity import report_integrity_failure
from portal.records.models import Patient, Submission, SubmissionRevision
from portal.records.policy import HIDDEN_IDENTIFIERS, View, view_for
from portal.records.versions import in_force, protocol_of

FORMATS = ("csv", "odm")
BATCH = 2000
#: a cell starting with one of these could run as a formula in a spreadsheet
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


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
    integrity_failures: list[str] = field(default_factory=list)
    #: (record id, case number) of every row refused by its integrity check, in stream order
    refused: list[tuple[str, str]] = field(default_factory=list)

    @property
    def filename(self) -> str:
        stamp = clock.now().strftime("%Y%m%dT%H%M%SZ")
        what = self.form_key or "all-forms"
        extension = "csv" if self.fmt == "csv" else "xml"
        return f"{self.protocol_key}-{what}-{stamp}.{extension}"


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
                   fmt: str, locale: str | None = None) -> ExportJob:
    """Check the right, count the rows and log the export (the caller commits, then streams).

    :raises Forbidden: the actor may not export.
    :raises NotFound: unknown protocol, form or format.
    """
    view = view_for(session, actor)
    if not view.can(Permission.RECORD_EXPORT):
        raise Forbidden(_("Your access does not include exports."))
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
    base = _base_query(view, protocol_key, form_key).where(Submission.id <= up_to)
    count = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    job = ExportJob(view, protocol_key, form_key, fmt, version, up_to, count,
                    locale or current_locale())
    record(session, actor, RecordsAction.DATA_EXPORT, ("protocol", protocol_key),
           row_count=count, form=form_key or "all", format=fmt, scope=str(view.scope),
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
    query = (_base_query(job.view, job.protocol_key, job.form_key)
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


# --- CSV -----------------------------------------------------------------------------------------


def _safe(text: str) -> str:
    """Defuse a typed value a spreadsheet would run as a formula."""
    if text.startswith(_FORMULA_START) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


#: what to do to a cell after the raw values are picked
_LABEL, _LABELS, _JOIN, _SAFE, _TERM = range(5)


class _Picker:
    """Picks a group of fields (the form's, or one repeated entry's) as CSV cells.

    The values come out of one C-level `itemgetter` call on the answers merged over blanks; a
    label column repeats its field's key and is then mapped through the label table. Only the
    cells that need it (labels, multiple choices, typed codes) are touched in Python.
    """

    def __init__(self, fields: list[FieldDef], protocol: Protocol, locale: str,
                 suffix: str = "", terms: TermNames | None = None) -> None:
        keys: list[str] = []
        self.headers: list[str] = []
        self.fixups: list[tuple[int, int, Any]] = []
        for fld in fields:
            labels = choice_labels(fld, protocol, locale)
            multiple = fld.type == "multiple_choice"
            keys.append(fld.key)
            self.headers.append(fld.key + suffix)
            if multiple:
                self.fixups.append((len(keys) - 1, _JOIN, None))
            elif fld.type == "coded" and not fld.code_list:
                self.fixups.append((len(keys) - 1, _SAFE, None))
            if labels is not None:
                keys.append(fld.key)
                self.headers.append(f"{fld.key}{suffix}_label")
                self.fixups.append((len(keys) - 1, _LABELS if multiple else _LABEL, labels))
            elif terms is not None and (level := meddra_level(fld)) is not None:
                # The MedDRA name beside the code, from the laboratory's release.
                keys.append(fld.key)
                self.headers.append(f"{fld.key}{suffix}_label")
                self.fixups.append((len(keys) - 1, _TERM, (terms, level)))
        self.width = len(keys)
        self.blank: dict[str, Any] = dict.fromkeys(keys)
        getter = itemgetter(*keys) if keys else (lambda _a: ())
        self.get = getter if len(keys) != 1 else (lambda a, g=getter: (g(a),))

    def cells(self, answers: dict[str, Any]) -> list[Any]:
        out = list(self.get({**self.blank, **answers}))
        for position, action, table in self.fixups:
            value = out[position]
            if value is None:
                continue
            if action == _LABEL:
                out[position] = table.get(value, value)
            elif action == _LABELS:
                out[position] = "|".join(table.get(v, v) for v in value)
            elif action == _JOIN:
                out[position] = "|".join(value)
            elif action == _TERM:
                names, level = table
                out[position] = _safe(names.name(value, level) or "")
            else:
                out[position] = _safe(str(value))
        return out


class CsvLayout:
    """The columns of a form's CSV: fields in order, repeated sections numbered, no identifier
    (letters, birth data), a label column after every coded one."""

    def __init__(self, protocol: Protocol, form: Form, locale: str,
                 terms: TermNames | None = None) -> None:
        top: list[FieldDef] = []
        #: (section key, maximum, a picker per entry, blank cells after n entries)
        self.repeats: list[tuple[str, int, list[_Picker], list[tuple[None, ...]]]] = []
        for section in form.sections:
            fields = [f for f in section.fields if f.identifies not in HIDDEN_IDENTIFIERS]
            if section.repeat is None:
                top.extend(fields)
            else:
                maximum = section.repeat.max
                pickers = [_Picker(fields, protocol, locale, f"_{i + 1}", terms)
                           for i in range(maximum)]
                width = pickers[0].width
                pads = [(None,) * (width * (maximum - n)) for n in range(maximum + 1)]
                self.repeats.append((section.key, maximum, pickers, pads))
        self.top = _Picker(top, protocol, locale, terms=terms)
        self.headers = list(self.top.headers)
        for _key, _maximum, pickers, _pads in self.repeats:
            for picker in pickers:
                self.headers.extend(picker.headers)

    def cells(self, answers: dict[str, Any]) -> list[Any]:
        """Return the answer cells of one submission."""
        out = self.top.cells(answers)
        for key, _maximum, pickers, pads in self.repeats:
            entries = answers.get(key) or ()
            for index, entry in enumerate(entries[:len(pickers)]):
                out.extend(pickers[index].cells(entry))
            out.extend(pads[min(len(entries), len(pickers))])
        return out


FIXED_HEADERS = ["case_number", "record_id", "protocol_version", "revision", "submitted_at",
                 "integrity_check"]
#: `integrity_check` of a row: exported, or refused (its answers failed authentication)
CHECK_OK, CHECK_FAILED = "ok", "failed"


def stream_csv(session: Session, job: ExportJob) -> Iterator[str]:
    """Yield the CSV text of a one-form export, a batch of lines at a time."""
    assert job.form_key is not None
    definition = protocol_of(job.version).definition
    layout = CsvLayout(definition, definition.form(job.form_key), job.locale,
                       TermNames(session, job.locale))
    cells = layout.cells
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writerow = writer.writerow
    writerow(FIXED_HEADERS + layout.headers)
    opener = Opener(session, job)
    answers_of = opener.answers
    # PostgreSQL and SQLite format submitted_at themselves (see `submitted_text`).
    formatted = session.get_bind().dialect.name in ("postgresql", "sqlite")
    pending = 0
    for row in rows(session, job, by_subject=False):
        answers = answers_of(row)
        submitted = row[8] if formatted else _iso(row[8])
        if answers is None:
            # Listed without its answers, so the reader knows a record is missing and which.
            writerow([row[9], f"S{row[5]}", row[13], row[3], submitted, CHECK_FAILED])
            continue
        writerow([row[9], f"S{row[5]}", row[13], row[3], submitted, CHECK_OK,
                  *cells(answers)])
        pending += 1
        if pending >= 500:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue()


def _iso(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else ""


def stream(session: Session, job: ExportJob) -> Iterator[str]:
    """Yield the export in its format."""
    if job.fmt == "csv":
        return stream_csv(session, job)
    from portal.records.odm import stream_odm

    return stream_odm(session, job)
