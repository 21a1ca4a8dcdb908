"""The visit schedule of a patient: done, due, overdue and upcoming visits, from the protocol.

Day 0 is the treatment start given in the initiation form (`start_date`), or the day the
initiation was submitted when the form has no such field. A follow-up is matched to its visit
by the answer whose choices are visit codes (e.g. `visit_timepoint`); otherwise follow-ups fill
the visits in order. A discontinuation ends the schedule: no visit after it is due any more.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from portal.protocols.expressions import Duration
from portal.protocols.schema import FormKind, Protocol, Schedule, Text

#: visits listed after today, so that the next one shows
UPCOMING_SHOWN = 1
#: how far repeating visits are generated at most (years)
MAX_YEARS = 30


class VisitStatus(enum.StrEnum):
    DONE = "done"
    #: done, on a date before its window opened (the professional confirmed it)
    DONE_EARLY = "done_early"
    #: done, on a date after its window closed
    DONE_LATE = "done_late"
    DUE = "due"
    OVERDUE = "overdue"
    UPCOMING = "upcoming"
    #: its window closed before the discontinuation without a form: no longer expected
    MISSED = "missed"


DONE_STATUSES = frozenset({VisitStatus.DONE, VisitStatus.DONE_EARLY, VisitStatus.DONE_LATE})


@dataclass(frozen=True)
class Visit:
    """One scheduled visit and where it stands."""

    code: str
    label: str
    form_key: str | None
    due: date | None
    window_start: date | None
    window_end: date | None
    status: VisitStatus
    #: the handle of the submission that did it
    done_by: str | None = None
    #: the date the visit took place (its visit date, else the day it was submitted)
    done_on: date | None = None

    @property
    def is_done(self) -> bool:
        return self.status in DONE_STATUSES


@dataclass(frozen=True)
class Filled:
    """What the schedule needs of one submitted form (decrypted by the caller)."""

    handle: str
    form_key: str
    kind: FormKind
    submitted_on: date
    answers: Mapping[str, Any]


@dataclass(frozen=True)
class PatientSchedule:
    visits: list[Visit]
    #: day 0, when the initiation is known
    start: date | None
    #: the discontinuation date, when the treatment was stopped
    ended: date | None

    @property
    def overdue(self) -> list[Visit]:
        return [v for v in self.visits if v.status == VisitStatus.OVERDUE]

    @property
    def due(self) -> list[Visit]:
        return [v for v in self.visits if v.status == VisitStatus.DUE]


def _parse_date(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _form_for(protocol: Protocol, code: str, then_after: str | None) -> str | None:
    for form in protocol.forms:
        if code in form.timepoints:
            return form.key
    if then_after is not None:
        for form in protocol.forms:
            if then_after in form.timepoints:
                return form.key
    return None


def _timepoint_answer(protocol: Protocol, form_key: str, codes: set[str],
                      answers: Mapping[str, Any]) -> str | None:
    form = protocol.form(form_key)
    for _si, _fi, _section, fld in form.iter_fields():
        if fld.type == "single_choice" and {c.code for c in fld.choices} & codes:
            value = answers.get(fld.key)
            return value if isinstance(value, str) else None
    return None


def visit_date(protocol: Protocol, form_key: str, answers: Mapping[str, Any]) -> date | None:
    """Return the date a follow-up says the visit took place.

    It is the first date field of the section holding the visit choice (e.g. `visit_date`
    next to `visit_timepoint`), else the form's first top-level date field.
    """
    try:
        form = protocol.form(form_key)
    except KeyError:
        return None
    fallback = None
    for section in form.sections:
        if section.repeat is not None:
            continue
        dates = [f.key for f in section.fields if f.type == "date"]
        if any(f.type == "single_choice" for f in section.fields) and dates:
            return _parse_date(answers.get(dates[0]))
        if dates and fallback is None:
            fallback = dates[0]
    return _parse_date(answers.get(fallback)) if fallback else None


def visit_window(protocol: Protocol, start: date, code: str
                 ) -> tuple[date, date, date] | None:
    """Return (due, window start, window end) of the visit `code`, repeating ones included.

    None when the schedule has no such visit (e.g. an unscheduled visit).
    """
    schedule = protocol.schedule
    for tp in schedule.timepoints:
        if tp.code == code:
            offset = Duration(tp.day, "d") if tp.day is not None else \
                Duration(tp.month or 0, "m")
            return _window(offset.add_to(start), tp.window_before_days, tp.window_after_days)
    then = schedule.then
    if then is None or not code.startswith("M") or not code[1:].isdigit():
        return None
    month = int(code[1:])
    base = next((tp for tp in schedule.timepoints if tp.code == then.after), None)
    base_month = base.month if base is not None and base.month is not None else 0
    if month <= base_month or (month - base_month) % then.every_months or \
            month > MAX_YEARS * 12:
        return None
    return _window(Duration(month, "m").add_to(start), then.window_before_days,
                   then.window_after_days)


def _window(due: date, before: int, after: int) -> tuple[date, date, date]:
    return due, Duration(before, "d").add_to(due, -1), Duration(after, "d").add_to(due)


def start_of(filled: list[Filled]) -> date | None:
    """Return day 0: the initiation's treatment start, else the day it was submitted."""
    initiation = next((f for f in filled if f.kind == FormKind.initiation), None)
    if initiation is None:
        return None
    return _parse_date(initiation.answers.get("start_date")) or initiation.submitted_on


def done_status(on: date, window_start: date, window_end: date) -> VisitStatus:
    """How a visit done on `on` stands against its window."""
    if on < window_start:
        return VisitStatus.DONE_EARLY
    if on > window_end:
        return VisitStatus.DONE_LATE
    return VisitStatus.DONE


def _planned(schedule: Schedule, start: date, today: date, ended: date | None,
             label: Any) -> list[tuple[str, Any, date, int, int]]:
    """Return (code, label, due, before, after) of every visit up to the next one."""
    planned = []
    for tp in schedule.timepoints:
        offset = Duration(tp.day, "d") if tp.day is not None else Duration(tp.month or 0, "m")
        planned.append((tp.code, tp.label, offset.add_to(start), tp.window_before_days,
                        tp.window_after_days))
    then = schedule.then
    if then is not None:
        base = next((tp for tp in schedule.timepoints if tp.code == then.after), None)
        month = base.month if base is not None and base.month is not None else 0
        horizon = ended or today
        upcoming = 0
        while month < MAX_YEARS * 12:
            month += then.every_months
            due = Duration(month, "m").add_to(start)
            planned.append((f"M{month}", label(month), due, then.window_before_days,
                            then.window_after_days))
            if due > horizon:
                upcoming += 1
                if upcoming >= UPCOMING_SHOWN:
                    break
    return planned


def compute(protocol: Protocol, filled: list[Filled], today: date,
            month_label: Any = None) -> PatientSchedule:
    """Return the patient's visits with their status on `today`."""
    schedule = protocol.schedule
    codes = {tp.code for tp in schedule.timepoints}
    then_after = schedule.then.after if schedule.then else None
    stop = next((f for f in filled if f.kind == FormKind.discontinuation), None)
    ended = (_parse_date(stop.answers.get("stop_date")) or stop.submitted_on) if stop else None
    start = start_of(filled)

    def label(month: int) -> str:
        return month_label(month) if month_label else f"M{month}"

    if start is None:
        first = schedule.timepoints[0]
        return PatientSchedule([Visit(first.code, first.label.get(_locale()),
                                      _form_for(protocol, first.code, None), None, None, None,
                                      VisitStatus.DUE)], None, ended)
    planned = _planned(schedule, start, today, ended, label)
    all_codes = codes | {code for code, *_rest in planned}
    done: dict[str, Filled] = {}
    unmatched: dict[str, list[Filled]] = {}
    for item in filled:
        if item.kind == FormKind.initiation:
            done.setdefault(schedule.timepoints[0].code, item)
            continue
        code = _timepoint_answer(protocol, item.form_key, all_codes, item.answers)
        if code is not None and code not in done:
            done[code] = item
        elif code is None:
            unmatched.setdefault(item.form_key, []).append(item)
    visits = []
    for code, text, due, before, after in planned:
        form_key = _form_for(protocol, code, then_after)
        if code not in done and form_key in unmatched and unmatched[form_key]:
            done[code] = unmatched[form_key].pop(0)
        window_start = Duration(before, "d").add_to(due, -1)
        window_end = Duration(after, "d").add_to(due)
        by = done.get(code)
        done_on = None
        if by is not None:
            done_on = (start if by.kind == FormKind.initiation else
                       visit_date(protocol, by.form_key, by.answers)) or by.submitted_on
            # A visit outside its window is done, but never shown as an on-time one.
            status = done_status(done_on, window_start, window_end)
        elif ended is not None and window_start > ended:
            continue  # after the discontinuation: not expected any more
        elif ended is not None and window_end < today:
            status = VisitStatus.MISSED
        elif today > window_end:
            status = VisitStatus.OVERDUE
        elif today >= window_start:
            status = VisitStatus.DUE
        else:
            status = VisitStatus.UPCOMING
        shown = text.get(_locale()) if isinstance(text, Text) else str(text)
        visits.append(Visit(code, shown, form_key, due, window_start, window_end, status,
                            by.handle if by is not None else None, done_on))
    return PatientSchedule(visits, start, ended)


def _locale() -> str:
    from portal.protocols.builder import current_locale

    return current_locale()


#: the answers `compute` reads by name
_NAMED_INPUTS = ("start_date", "stop_date")
#: the field types whose answers `compute` may read (visit codes, visit dates)
_INPUT_TYPES = frozenset({"date", "single_choice"})
#: a day after every visit the schedule can plan (`MAX_YEARS`)
_BEYOND = date(9000, 1, 1)


def schedule_inputs(form: Any, answers: Mapping[str, Any]) -> dict[str, str]:
    """Return the part of a form's answers the schedule reads: its dates and single choices.

    A later version of the protocol keeps these fields and their types (an install refusing
    otherwise), so the schedule computed from them under any version in force is the one
    computed from the whole answers.
    """
    keys = {fld.key for _si, _fi, _section, fld in form.iter_fields() if fld.type in _INPUT_TYPES}
    keys.update(_NAMED_INPUTS)
    return {k: v for k, v in answers.items() if k in keys and isinstance(v, str)}


@dataclass(frozen=True)
class NextVisit:
    """The first visit of a schedule not done yet, whatever today is (None: none left)."""

    code: str | None
    form_key: str | None
    window_start: date | None
    window_end: date | None
    ended: bool

    def due_on(self, today: date) -> bool:
        """Whether the case has a visit due or overdue on `today` (what the overview lists)."""
        if self.ended or self.code is None:
            return False
        return self.window_start is None or self.window_start <= today


def next_visit(protocol: Protocol, filled: list[Filled]) -> NextVisit:
    """Return the visit whose window opens first among those not done.

    Computed as if every visit had come (a day after them all), so that the answer does not
    change as days pass: a case has a visit due on a day exactly when this one's window has
    opened by then.
    """
    schedule = compute(protocol, filled, _BEYOND)
    if schedule.ended is not None:
        return NextVisit(None, None, None, None, True)
    if schedule.start is None:
        first = schedule.visits[0]
        return NextVisit(first.code, first.form_key, None, None, False)
    open_ = [v for v in schedule.visits if not v.is_done and v.window_start is not None]
    if not open_:
        return NextVisit(None, None, None, None, False)
    first = min(open_, key=lambda v: (v.window_start or _BEYOND, v.due or _BEYOND))
    return NextVisit(first.code, first.form_key, first.window_start, first.window_end, False)
