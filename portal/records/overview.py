"""What the patient pages show: the schedule, the forms one may open, the overdue lists."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.protocols.models import ProtocolVersion
from portal.protocols.schema import FormKind, Protocol
from portal.records.actions import RecordsAction
from portal.records.models import Patient, Submission
from portal.records.policy import view_for, visible_patients
from portal.records.schedule import Filled, PatientSchedule, compute
from portal.records.services import clinical_today
from portal.records.submissions import (
    EVENT_KINDS,
    patient_submissions,
    read_answers,
    submission_form,
)
from portal.records.versions import in_force, protocol_of

#: forms whose answers the schedule reads
SCHEDULE_KINDS = frozenset({FormKind.initiation, FormKind.follow_up, FormKind.discontinuation})


def protocol_in_force(session: Session, patient: Patient
                      ) -> tuple[ProtocolVersion, Protocol] | None:
    """Return the version in force of the patient's protocol and its definition."""
    version = in_force(session, patient.protocol_key)
    if version is None:
        return None
    return version, protocol_of(version).definition


def month_label(month: int) -> str:
    """Label of a repeating visit."""
    return _("Month %(n)s", n=month)


def schedule_of(session: Session, actor: Any, patient: Patient,
                submissions: list[Submission] | None = None) -> PatientSchedule | None:
    """Return the patient's visit schedule (decrypts the forms it needs)."""
    found = protocol_in_force(session, patient)
    if found is None:
        return None
    _version, definition = found
    submissions = patient_submissions(session, patient) if submissions is None else submissions
    filled = []
    for submission in submissions:
        if submission.is_draft:
            continue
        kind = submission_form(submission).definition.kind
        if kind not in SCHEDULE_KINDS:
            continue
        filled.append(Filled(submission.handle, submission.form_key, kind,
                             submission.submitted_at.date() if submission.submitted_at
                             else clinical_today(session),
                             read_answers(session, actor, submission)))
    return compute(definition, filled, clinical_today(session), month_label)


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


@dataclass(frozen=True)
class OverdueRow:
    """A patient with visits overdue or due, for the professional's list."""

    patient: Patient
    schedule: PatientSchedule
    mine: bool


def my_patients(session: Session, actor: Any) -> list[OverdueRow]:
    """Return the actor's patients with overdue or due visits (theirs first); logs the list."""
    from portal.audit.services import record

    view = view_for(session, actor)
    patients = list(session.scalars(
        visible_patients(session, actor).where(Patient.limited_at.is_(None))
        .order_by(Patient.created_at)
    ))
    by_patient: dict[int, list[Submission]] = {p.id: [] for p in patients}
    if patients:
        for submission in session.scalars(
            select(Submission).where(Submission.patient_id.in_(list(by_patient)))
            .order_by(Submission.id)
        ):
            by_patient[submission.patient_id].append(submission)
    rows = []
    for patient in patients:
        schedule = schedule_of(session, actor, patient, by_patient[patient.id])
        if schedule is None or schedule.ended is not None:
            continue
        if schedule.overdue or schedule.due:
            rows.append(OverdueRow(patient, schedule, patient.created_by_id == view.user_id))
    rows.sort(key=lambda r: (not r.mine, -len(r.schedule.overdue), r.patient.case_number))
    record(session, actor, RecordsAction.PATIENT_LIST, None, row_count=len(rows),
           list="overdue")
    return rows
