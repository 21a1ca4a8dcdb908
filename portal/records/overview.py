"""What the patient pages show: the schedule, the forms one may open, the patient lists.

Lists are read a page at a time with keyset pagination: the page after a given row is an
indexed range on the sort columns (`ix_patient_created`, the unique case number, and
`ix_submission_submitted` for the pharmacovigilance list), so a page costs the same with a
thousand patients or a hundred thousand. The position is the random handle of the last row
shown, never a case number (nothing identifying goes into a URL). A row whose sealed data
fails its integrity check is shown as such, with no data, and the rest of the list stays
usable; the alert is raised once per record (`integrity.report_integrity_failure`).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, false, or_, select, tuple_
from sqlalchemy.orm import Session

from portal.protocols.models import ProtocolVersion
from portal.protocols.schema import FormKind, Protocol
from portal.records import pharmacovigilance
from portal.records.actions import RecordsAction
from portal.records.clinic_time import clinical_today
from portal.records.identities import Identity, read_identity
from portal.records.integrity import RecordIntegrityError
from portal.records.models import EventHandOff, Patient, ScheduleState, Submission
from portal.records.policy import view_for, visible_patients
from portal.records.schedule import (
    PatientSchedule,
    VisitStatus,
    compute,
    done_status,
    start_of,
    visit_date,
    visit_window,
)
from portal.records.schedule_state import open_facts, state_of
from portal.records.submissions import EVENT_KINDS
from portal.records.versions import in_force, protocol_of


def protocol_in_force(session: Session, patient: Patient
                      ) -> tuple[ProtocolVersion, Protocol] | None:
    """Return the version in force of the patient's protocol and its definition."""
    return definition_in_force(session, patient.protocol_key)


def definition_in_force(session: Session, protocol_key: str
                        ) -> tuple[ProtocolVersion, Protocol] | None:
    """Return the version in force of a protocol and its definition."""
    version = in_force(session, protocol_key)
    if version is None:
        return None
    return version, protocol_of(version).definition


def month_label(month: int) -> str:
    """Label of a repeating visit."""
    return _("Month %(n)s", n=month)


def schedule_of(session: Session, actor: Any, patient: Patient) -> PatientSchedule | None:
    """Return the patient's visit schedule on today, from the case's schedule state.

    Opens one sealed value (the state's inputs), never the forms themselves.
    :raises RecordIntegrityError: the state failed its integrity check (alert raised).
    """
    found = protocol_in_force(session, patient)
    if found is None:
        return None
    facts = open_facts(session, actor, patient, state_of(session, patient.id))
    return compute(found[1], [f.filled for f in facts], clinical_today(session), month_label)


@dataclass(frozen=True)
class FormChoice:
    """A form one may open for a patient."""

    key: str
    title: str
    kind: str
    existing: str | None
    needs_parent: bool


def form_choices(session: Session, patient: Patient,
                 submissions: list[Submission]) -> list[FormChoice]:
    """Return the forms of the protocol in force, with the existing one for single forms."""
    found = protocol_in_force(session, patient)
    if found is None:
        return []
    _version, definition = found
    from portal.protocols.builder import current_locale

    locale = current_locale()
    singles = {s.form_key: s.handle for s in submissions}
    return [
        FormChoice(form.key, form.title.get(locale), form.kind.value,
                   None if form.repeatable else singles.get(form.key),
                   form.kind in EVENT_KINDS)
        for form in definition.forms
    ]



# --- lists: sort, search, keyset pages -------------------------------------------------------

#: rows on one page of a list
PAGE_SIZE = 50
#: a case number as typed, from the alphabet of `services.new_case_number` (no I, L, O, U),
#: with or without its dash: 7K3M-9QXA, or its first characters
_CASE_SEARCH = re.compile(r"^[0-9A-HJKMNP-TV-Z]{1,4}(-?[0-9A-HJKMNP-TV-Z]{0,4})?$")


class PatientSort(enum.StrEnum):
    NEWEST = "newest"
    OLDEST = "oldest"
    CASE = "case"
    CASE_DESC = "case_desc"


SORT_LABELS = {
    PatientSort.NEWEST: _l("Newest registrations first"),
    PatientSort.OLDEST: _l("Oldest registrations first"),
    PatientSort.CASE: _l("Case number, A to Z"),
    PatientSort.CASE_DESC: _l("Case number, Z to A"),
}


class SearchError(ValueError):
    """The search text cannot be a case number: the message says what one looks like."""


def case_search(text: str | None) -> str | None:
    """Return the case number (or its beginning) a person typed, normalised; None if blank.

    :raises SearchError: the text cannot be (the beginning of) a case number.
    """
    typed = (text or "").strip().upper().replace(" ", "")
    if not typed:
        return None
    if not _CASE_SEARCH.match(typed):
        raise SearchError(_("A case number has eight letters or digits, such as 7K3M-9QXA: "
                            "type it, or its first characters."))
    if len(typed) > 4 and typed[4] != "-":
        typed = f"{typed[:4]}-{typed[4:]}"
    return typed


def _sort_of(value: str | None) -> PatientSort:
    try:
        return PatientSort(value or PatientSort.NEWEST)
    except ValueError:
        return PatientSort.NEWEST


def _ordered(query: Any, sort: PatientSort) -> Any:
    if sort == PatientSort.NEWEST:
        return query.order_by(Patient.created_at.desc(), Patient.id.desc())
    if sort == PatientSort.OLDEST:
        return query.order_by(Patient.created_at, Patient.id)
    if sort == PatientSort.CASE:
        return query.order_by(Patient.case_number)
    return query.order_by(Patient.case_number.desc())


def _values(*values: Any) -> Any:
    """A row value of plain values, compared with a tuple of columns (which gives them its
    columns' types); `tuple_`'s stubs only list SQL expressions."""
    return tuple_(*values)


def _after(query: Any, sort: PatientSort, last: Patient) -> Any:
    """Rows after `last` in the sort order: a range the sort's index answers directly."""
    if sort == PatientSort.NEWEST:
        return query.where(tuple_(Patient.created_at, Patient.id) <
                           _values(last.created_at, last.id))
    if sort == PatientSort.OLDEST:
        return query.where(tuple_(Patient.created_at, Patient.id) >
                           _values(last.created_at, last.id))
    if sort == PatientSort.CASE:
        return query.where(Patient.case_number > last.case_number)
    return query.where(Patient.case_number < last.case_number)


def _searched(query: Any, search: str | None) -> Any:
    if search is None:
        return query
    if len(search) == 9:
        return query.where(Patient.case_number == search)
    # Only [0-9A-Z-] reach here (case_search): nothing to escape in the pattern.
    return query.where(Patient.case_number.like(f"{search}%"))


def _cursor(session: Session, query: Any, handle: str | None) -> Patient | None:
    """The row a page starts after, if it is one the same query reaches."""
    if not handle or len(handle) > 32:
        return None
    return session.scalar(query.where(Patient.handle == handle))


class CaseStatus(enum.StrEnum):
    """Where a case stands, from what was submitted (no decryption needed)."""

    AWAITING_INITIATION = "awaiting_initiation"
    ON_TREATMENT = "on_treatment"
    DISCONTINUED = "discontinued"
    LIMITED = "limited"


CASE_STATUS_LABELS = {
    CaseStatus.AWAITING_INITIATION: _l("Initiation not submitted yet"),
    CaseStatus.ON_TREATMENT: _l("On treatment"),
    CaseStatus.DISCONTINUED: _l("Treatment discontinued"),
    CaseStatus.LIMITED: _l("Records limited"),
}


def case_statuses(session: Session, patients: Sequence[Patient]) -> dict[int, CaseStatus]:
    """Return each patient's case status, from one query over the page's submissions."""
    kinds_of: dict[str, dict[str, FormKind]] = {}
    for key in {p.protocol_key for p in patients}:
        found = definition_in_force(session, key)
        kinds_of[key] = {f.key: f.kind for f in found[1].forms} if found else {}
    submitted: dict[int, set[FormKind]] = {p.id: set() for p in patients}
    by_id = {p.id: p for p in patients}
    if patients:
        for patient_id, form_key in session.execute(
            select(Submission.patient_id, Submission.form_key)
            .where(Submission.patient_id.in_(sorted(submitted)),
                   Submission.status == "submitted").distinct()
        ):
            kind = kinds_of[by_id[patient_id].protocol_key].get(form_key)
            if kind is not None:
                submitted[patient_id].add(kind)
    statuses = {}
    for patient in patients:
        kinds = submitted[patient.id]
        if patient.is_limited:
            statuses[patient.id] = CaseStatus.LIMITED
        elif FormKind.discontinuation in kinds:
            statuses[patient.id] = CaseStatus.DISCONTINUED
        elif FormKind.initiation in kinds:
            statuses[patient.id] = CaseStatus.ON_TREATMENT
        else:
            statuses[patient.id] = CaseStatus.AWAITING_INITIATION
    return statuses


@dataclass(frozen=True)
class PatientRow:
    """One row of the patient list; `failed`: its sealed identity failed its check."""

    patient: Patient
    status: CaseStatus
    identity: Identity | None = None
    failed: bool = False


@dataclass(frozen=True)
class ListPage:
    """One page of a list and where the next one starts."""

    rows: list[Any]
    sort: str
    search: str | None
    #: the handle to start the next page after; None on the last page
    next_after: str | None
    #: True when this is not the first page
    continued: bool
    scanned: int = 0
    failures: list[str] = field(default_factory=list)
    #: the review list: which events it shows, and since when a row counts as new
    show: str | None = None
    since: datetime | None = None


def patient_page(session: Session, actor: Any, *, sort: str | None = None,
                 search: str | None = None, after: str | None = None,
                 page_size: int | None = None) -> ListPage:
    """Return one page of the patients the actor reaches; logs the list.

    With identifying scope the identification letters are opened row by row: a row that
    fails its integrity check shows as failed, the others as usual.
    :raises SearchError: the search text cannot be a case number.
    """
    from portal.audit.services import record

    view = view_for(session, actor)
    page_size = page_size or PAGE_SIZE
    order = _sort_of(sort)
    wanted = case_search(search)
    query = _searched(visible_patients(session, actor), wanted)
    last = _cursor(session, query, after)
    paged = _ordered(query if last is None else _after(query, order, last), order)
    patients = list(session.scalars(paged.limit(page_size + 1)))
    more = len(patients) > page_size
    patients = patients[:page_size]
    statuses = case_statuses(session, patients)
    rows, failures = [], []
    for patient in patients:
        identity = None
        if view.shows_identity:
            try:
                identity = read_identity(session, actor, patient)
            except RecordIntegrityError:
                failures.append(patient.case_number)
                rows.append(PatientRow(patient, statuses[patient.id], failed=True))
                continue
        rows.append(PatientRow(patient, statuses[patient.id], identity))
    record(session, actor, RecordsAction.PATIENT_LIST, None, row_count=len(rows),
           sort=str(order), searched=wanted is not None, continued=last is not None,
           integrity_failures=len(failures))
    return ListPage(rows, order, wanted, patients[-1].handle if more and patients else None,
                    last is not None, len(patients), failures)


@dataclass(frozen=True)
class OverdueRow:
    """A patient with visits overdue or due, for the professional's list.

    `schedule` is None when one of the patient's forms failed its integrity check.
    """

    patient: Patient
    schedule: PatientSchedule | None
    mine: bool

    @property
    def failed(self) -> bool:
        return self.schedule is None


def my_patients(session: Session, actor: Any, *, sort: str | None = None,
                search: str | None = None, after: str | None = None,
                page_size: int | None = None) -> ListPage:
    """Return one page of the actor's patients with visits overdue or due; logs the list.

    One query over the cases' schedule states (`schedule_state`) joined to the visible
    patients, keyset-paged on the sort's index: a page is full whenever that many cases have
    a visit due. Only the rows shown open their state's sealed inputs, to list their visits.
    A case whose state fails its integrity check (or was rebuilt from a form that failed its
    own) is listed as failed: its visits cannot be known.
    :raises SearchError: the search text cannot be a case number.
    """
    from portal.audit.services import record

    view = view_for(session, actor)
    page_size = page_size or PAGE_SIZE
    order = _sort_of(sort)
    wanted = case_search(search)
    base = _searched(visible_patients(session, actor).where(Patient.limited_at.is_(None)),
                     wanted)
    # The cursor is any visible case: the last row shown may have been filled in meanwhile.
    last = _cursor(session, base, after)
    query = _due_cases(base, clinical_today(session))
    paged = _ordered(query if last is None else _after(query, order, last), order)
    found = list(session.execute(paged.limit(page_size + 1)))
    more = len(found) > page_size
    found = found[:page_size]
    rows: list[OverdueRow] = []
    failures: list[str] = []
    definitions: dict[str, Protocol | None] = {}
    for patient, state in found:
        mine = patient.created_by_id == view.user_id
        if patient.protocol_key not in definitions:
            loaded = protocol_in_force(session, patient)
            definitions[patient.protocol_key] = loaded[1] if loaded else None
        definition = definitions[patient.protocol_key]
        if definition is None:
            continue
        try:
            facts = open_facts(session, actor, patient, state)
        except RecordIntegrityError:
            failures.append(patient.case_number)
            rows.append(OverdueRow(patient, None, mine))
            continue
        schedule = compute(definition, [f.filled for f in facts], clinical_today(session),
                           month_label)
        rows.append(OverdueRow(patient, schedule, mine))
    record(session, actor, RecordsAction.PATIENT_LIST, None, row_count=len(rows),
           list="overdue", sort=str(order), searched=wanted is not None,
           continued=last is not None, integrity_failures=len(failures))
    return ListPage(rows, order, wanted,
                    found[-1][0].handle if more and found else None,
                    last is not None, len(found), failures)


def _due_cases(patients: Any, today: date) -> Any:
    """The cases of `patients` with a visit due or overdue on `today`, with their state.

    A case without a state has no form the schedule reads yet: its first visit is due.
    """
    state = ScheduleState
    return (patients.outerjoin(state, state.patient_id == Patient.id).add_columns(state)
            .where(or_(state.id.is_(None), state.failed.is_(True),
                       and_(state.ended.is_(False), state.next_visit.is_not(None),
                            or_(state.window_start.is_(None), state.window_start <= today)))))


# --- the pharmacovigilance review list --------------------------------------------------------


class EventSort(enum.StrEnum):
    NEWEST = "newest"
    OLDEST = "oldest"


EVENT_SORT_LABELS = {
    EventSort.NEWEST: _l("Latest submitted first"),
    EventSort.OLDEST: _l("Earliest submitted first"),
}


class EventShow(enum.StrEnum):
    """Which events the review list shows."""

    TO_HAND_OFF = "to_hand_off"
    ALL = "all"


EVENT_SHOW_LABELS = {
    EventShow.TO_HAND_OFF: _l("To hand off"),
    EventShow.ALL: _l("All, handed off included"),
}


@dataclass(frozen=True)
class EventRow:
    """A submitted adverse-event or pregnancy form, as the review list shows it.

    `new`: submitted or rectified since the person's last visit; `handed_off`: the hand-off of
    its current revision, if done.
    """

    submission: Submission
    patient: Patient
    title: str
    new: bool = False
    handed_off: EventHandOff | None = None


def event_form_keys(session: Session, protocol_keys: Sequence[str]) -> dict[str, str]:
    """Return form key → title of the adverse-event and pregnancy forms in force."""
    from portal.protocols.builder import current_locale

    locale = current_locale()
    found: dict[str, str] = {}
    for key in protocol_keys:
        loaded = definition_in_force(session, key)
        if loaded is None:
            continue
        for form in loaded[1].forms:
            if form.kind in EVENT_KINDS:
                found.setdefault(form.key, form.title.get(locale))
    return found


#: at most this many event forms read per query while filling a page of those still to hand
#: off (the first query reads one page; each next one twice as many as the last)
_EVENT_CHUNK = 800


def event_page(session: Session, actor: Any, *, sort: str | None = None,
               search: str | None = None, after: str | None = None,
               page_size: int | None = None, show: str | None = None) -> ListPage:
    """Return one page of the submitted adverse-event and pregnancy forms; logs the list.

    Only what is stored in clear is shown (case number, form, dates, establishment): the
    reviewer opens a form to read it, and that read is logged as any other. By default only
    the forms still to hand off are listed; rows submitted or rectified since the person's
    last visit are marked new (a first page counts as a visit, `pharmacovigilance.visit`).
    :raises SearchError: the search text cannot be a case number.
    """
    from portal.audit.services import record
    from portal.protocols.models import ProtocolVersion

    view = view_for(session, actor)
    page_size = page_size or PAGE_SIZE
    try:
        order = EventSort(sort or EventSort.NEWEST)
    except ValueError:
        order = EventSort.NEWEST
    wanted = case_search(search)
    keys = view.protocol_keys if view.protocol_keys is not None else frozenset(
        session.scalars(select(ProtocolVersion.protocol_key)
                        .where(ProtocolVersion.is_current.is_(True))))
    titles = event_form_keys(session, sorted(keys))
    query = (select(Submission, Patient).join(Patient, Patient.id == Submission.patient_id)
             .where(Submission.status == "submitted", view.patient_filter(),
                    Submission.form_key.in_(sorted(titles)) if titles else false()))
    try:
        shown = EventShow(show or EventShow.TO_HAND_OFF)
    except ValueError:
        shown = EventShow.TO_HAND_OFF
    query = _searched(query, wanted)
    last = None
    if after and len(after) <= 32:
        hit = session.execute(query.where(Submission.handle == after)).first()
        last = hit[0] if hit is not None else None
    key = tuple_(Submission.submitted_at, Submission.id)

    def following(mark_of: Submission | None) -> Any:
        if mark_of is None:
            return query
        mark = _values(mark_of.submitted_at, mark_of.id)
        return query.where(key < mark if order == EventSort.NEWEST else key > mark)

    def ordered(statement: Any) -> Any:
        if order == EventSort.NEWEST:
            return statement.order_by(Submission.submitted_at.desc(), Submission.id.desc())
        return statement.order_by(Submission.submitted_at, Submission.id)

    # The hand-offs name their forms by a keyed code (no link the database could join on),
    # so "still to hand off" is told here, a chunk of event forms at a time.
    found: list[Any] = []
    hand_offs: dict[int, Any] = {}
    cursor = last
    # Most event forms wait to be handed off, so the first page-sized read usually fills the
    # page; when many are already handed off, doubling keeps the count of queries small.
    size = page_size + 1
    while len(found) <= page_size:
        chunk = list(session.execute(ordered(following(cursor)).limit(size)))
        done = pharmacovigilance.hand_offs_of(session, [s for s, _p in chunk])
        hand_offs.update(done)
        found += [row for row in chunk
                  if shown != EventShow.TO_HAND_OFF or row[0].id not in done]
        if len(chunk) < size:
            break
        cursor = chunk[-1][0]
        size = min(size * 2, max(_EVENT_CHUNK, page_size + 1))
    more = len(found) > page_size
    found = found[:page_size]
    since = pharmacovigilance.visit(session, actor) if last is None else \
        pharmacovigilance.previous_visit(session, actor)
    rows = [EventRow(s, p, titles.get(s.form_key, s.form_key),
                     since is None or s.updated_at > since, hand_offs.get(s.id))
            for s, p in found]
    record(session, actor, RecordsAction.PATIENT_LIST, None, row_count=len(rows),
           list="events", sort=str(order), searched=wanted is not None,
           continued=last is not None, show=str(shown))
    return ListPage(rows, str(order), wanted,
                    rows[-1].submission.handle if more and rows else None, last is not None,
                    len(rows), show=str(shown), since=since)


# --- a visit outside its window ----------------------------------------------------------------


@dataclass(frozen=True)
class WindowDeviation:
    """A follow-up dated outside its visit's window: a warning the professional confirms."""

    code: str
    visit_on: date
    window_start: date
    window_end: date

    @property
    def position(self) -> str:
        """"early" or "late", as stored with the submission."""
        return "early" if self.visit_on < self.window_start else "late"

    @property
    def days(self) -> int:
        """How many days outside the window."""
        if self.visit_on < self.window_start:
            return (self.window_start - self.visit_on).days
        return (self.visit_on - self.window_end).days

    @property
    def token(self) -> str:
        """What the confirmation posts back: it confirms this date for this visit only."""
        return f"{self.code}:{self.visit_on.isoformat()}"


def window_deviation(session: Session, actor: Any, patient: Patient, ref: Any,
                     answers: dict[str, Any]) -> WindowDeviation | None:
    """Return how a follow-up's visit date lies outside its window, or None when it is inside
    (or nothing can be said: no initiation yet, an unscheduled visit, no visit date).

    :param ref: the form being filled (`submissions.FormRef`).
    """
    definition = ref.protocol.definition
    if ref.definition.kind != FormKind.follow_up:
        return None
    codes = {tp.code for tp in definition.schedule.timepoints}
    code = None
    for _si, _fi, _section, fld in ref.definition.iter_fields():
        if fld.type == "single_choice" and {c.code for c in fld.choices} & codes:
            value = answers.get(fld.key)
            code = value if isinstance(value, str) else None
            break
    on = visit_date(definition, ref.definition.key, answers)
    if code is None or on is None:
        return None
    # Day 0 comes from the case's schedule state (one sealed value), not from its forms.
    facts = open_facts(session, actor, patient, state_of(session, patient.id))
    start = start_of([f.filled for f in facts])
    window = visit_window(definition, start, code) if start is not None else None
    if window is None:
        return None
    _due, window_start, window_end = window
    if done_status(on, window_start, window_end) == VisitStatus.DONE:
        return None
    return WindowDeviation(code, on, window_start, window_end)


def record_out_of_window(session: Session, actor: Any, submission: Submission,
                         deviation: WindowDeviation) -> None:
    """Keep with the submission's revision that its visit date was confirmed out of window."""
    from portal.audit.services import record

    revision = submission.revisions[-1]
    revision.visit_window = deviation.position
    session.flush()
    record(session, actor, RecordsAction.VISIT_OUT_OF_WINDOW, submission,
           patient=submission.patient.audit_ref, visit=deviation.code,
           position=deviation.position, days=deviation.days)
