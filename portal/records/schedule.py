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
    DUE = "due"
    OVERDUE = "overdue"
    UPCOMING = "upcoming"
    #: its window closed before the discontinuation without a form: no longer expected
    MISSED = "missed"


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
    initiation = next((f for f in filled if f.kind == FormKind.initiation), None)
    stop = next((f for f in filled if f.kind == FormKind.discontinuation), None)
    ended = (_parse_date(stop.answers.get("stop_date")) or stop.submitted_on) if stop else None
    start = None
    if initiation is not None:
        start = _parse_date(initiation.answers.get("start_date")) or initiation.submitted_on

    def label(month: int) -> str:
        return month_label(month) if month_label else f"M{month}"

    if start is None:
        first = schedule.timepoints[0]
        return PatientSchedule([Visit(first.code, first.label.get(_locale()),
                                      _form_for(protocol, first.code, None), None, None, None,
                                      VisitStatus.DUE)], None, ended)
    planned = _planned(schedule, start, today, ended, label)
    all_codes = codes | {code for code, *_rest in planned}
    done: dict[str, str] = {}
    unmatched: dict[str, list[Filled]] = {}
    for item in filled:
        if item.kind == FormKind.initiation:
            done.setdefault(schedule.timepoints[0].code, item.handle)
            continue
        code = _timepoint_answer(protocol, item.form_key, all_codes, item.answers)
        if code is not None and code not in done:
            done[code] = item.handle
        elif code is None:
            unmatched.setdefault(item.form_key, []).append(item)
    visits = []
    for code, text, due, before, after in planned:
        form_key = _form_for(protocol, code, then_after)
        if code not in done and form_key in unmatched and unmatched[form_key]:
            done[code] = unmatched[form_key].pop(0).handle
        window_start = Duration(before, "d").add_to(due, -1)
        window_end = Duration(after, "d").add_to(due)
        if code in done:
            status = VisitStatus.DONE
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
                            done.get(code)))
    return PatientSchedule(visits, start, ended)


def _locale() -> str:
    from portal.protocols.builder import current_locale

    return current_locale()
