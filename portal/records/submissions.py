"""Filling protocol forms: drafts, submission, rectification with history, and reading back.

Answers arrive validated by the protocol form (web) or by `validate_answers` (programmatic
callers); they are sealed per revision. Each write carries an idempotency token (unique in
the database): a resent request finds its token and changes nothing. Each change to a submitted
form is a new revision with a coded reason; older revisions stay stored, sealed.
"""

from __future__ import annotations

import importlib.util
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import clock
from portal.audit.services import actor_fields, record
from portal.errors import Conflict, Forbidden, NotFound
from portal.permissions import Permission
from portal.protocols.builder import FormPlan, form_plan, validate_answers, validate_draft
from portal.protocols.loader import LoadedProtocol
from portal.protocols.models import ProtocolVersion
from portal.protocols.schema import Form, FormKind
from portal.records import pharmacovigilance, schedule_state
from portal.records.actions import RecordsAction, RectificationReason
from portal.records.clinic_time import clinical_today
from portal.records.form_codes import form_code
from portal.records.integrity import RecordIntegrityError, report_integrity_failure
from portal.records.limitation import checked_request_ref, ensure_not_limited
from portal.records.models import Patient, Submission, SubmissionRevision
from portal.records.policy import HIDDEN_IDENTIFIERS, View, view_for
from portal.records.refusals import FieldError, refuse_identifiers
from portal.records.registrations import new_handle
from portal.records.versions import in_force, protocol_of
from portal.sealing import (
    IntegrityCheckFailed,
    open_with_refresh,
    revision_aad,
    ring_of,
    seal_value,
)

#: forms that may be opened from a follow-up (an event seen at a visit)
EVENT_KINDS = pharmacovigilance.EVENT_KINDS


class SubmissionConflict(Conflict):
    """Someone changed the submission since the page was loaded: nothing was saved."""

    def __init__(self, submission: Submission) -> None:
        super().__init__(_("Someone else changed this form since you opened it. Your input was "
                           "not saved: it is shown below so that nothing is lost."))
        self.submission = submission


class AlreadyFilled(Conflict):
    """A form that exists once per patient was already started or submitted."""

    def __init__(self, submission: Submission) -> None:
        super().__init__(_("This form already exists for this patient."))
        self.submission = submission


class InvalidAnswers(FieldError):
    """Programmatic answers failed validation; `errors` maps answer paths to messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(_("The answers are not valid."))
        self.errors = errors


@dataclass(frozen=True)
class FormRef:
    """A form of a given protocol version."""

    version: ProtocolVersion
    protocol: LoadedProtocol
    definition: Form

    @property
    def plan(self) -> FormPlan:
        return form_plan(self.protocol, self.definition.key)


def new_token() -> str:
    """Return a fresh idempotency token for a form page."""
    return secrets.token_urlsafe(24)


def form_ref(version: ProtocolVersion, form_key: str) -> FormRef:
    """Return the form `form_key` of a protocol version.

    :raises NotFound: the version has no such form.
    """
    protocol = protocol_of(version)
    try:
        return FormRef(version, protocol, protocol.definition.form(form_key))
    except KeyError:
        raise NotFound() from None


def current_form(session: Session, patient: Patient, form_key: str) -> FormRef:
    """Return the form in the protocol version in force for the patient's protocol."""
    version = in_force(session, patient.protocol_key)
    if version is None:
        raise NotFound()
    return form_ref(version, form_key)


def submission_form(submission: Submission) -> FormRef:
    """Return the form a submission was filled against (it always re-renders with it)."""
    return form_ref(submission.protocol_version, submission.form_key)


def identifying_keys(ref: FormRef) -> frozenset[str]:
    """Keys of the fields that hold identification letters or birth data."""
    return frozenset(
        fld.key for _si, _fi, _section, fld in ref.definition.iter_fields()
        if fld.identifies in HIDDEN_IDENTIFIERS
    )


def check_can_write(session: Session, actor: Any, patient: Patient, ref: FormRef) -> View:
    """Refuse unless the actor may fill this form for this patient now.

    :raises Forbidden: no write right, outside the perimeter, or identification fields the
        actor's scope may not see.
    :raises PatientLimited: the patient is limited.
    """
    view = view_for(session, actor)
    if not view.can(Permission.SUBMISSION_WRITE) or not view.covers(patient):
        raise Forbidden()
    ensure_not_limited(patient)
    if not view.shows_identity and identifying_keys(ref):
        raise Forbidden(_("This form holds identification data that your access does not "
                          "show: it can only be filled by the patient's care team."))
    return view


def by_token(session: Session, token: str) -> Submission | None:
    """Return the submission a request with this idempotency token already wrote, if any."""
    if not token:
        return None
    return session.scalar(
        select(Submission).join(SubmissionRevision,
                                SubmissionRevision.submission_id == Submission.id)
        .where(SubmissionRevision.token == token)
    )


def existing_singleton(session: Session, patient: Patient, form_key: str) -> Submission | None:
    """Return the submission of a non-repeatable form, if the patient has one."""
    return session.scalar(select(Submission).where(Submission.patient_id == patient.id,
                                                   Submission.singleton_key == form_key))


def patient_submissions(session: Session, patient: Patient) -> list[Submission]:
    """Return the patient's submissions (metadata only, nothing decrypted), oldest first."""
    return list(session.scalars(
        select(Submission).where(Submission.patient_id == patient.id).order_by(Submission.id)
    ))


def _author(actor: Any) -> tuple[int | None, str]:
    kind, actor_id, label = actor_fields(actor)
    return (actor_id if kind == "user" else None), label


def notice_version(session: Session, ref: FormRef) -> str | None:
    """The patient information note in force, attested on an initiation form (None for other
    forms).

    :raises FieldError: an initiation while no patient note is published.
    """
    if ref.definition.kind != FormKind.initiation:
        return None
    if importlib.util.find_spec("portal.notices.services") is None:
        return None
    from portal.notices.services import current_published

    notice = current_published(session, "patient")
    if notice is None:
        raise FieldError(_("No patient information note is published: the initiation form "
                           "cannot attest that it was handed over. Ask the data protection "
                           "officer to publish it."))
    return str(notice.number)


def _aad(submission: Submission, number: int, kind: str, patient: Patient,
         version: ProtocolVersion) -> bytes:
    return revision_aad(submission.handle, number, kind, patient.handle, version.protocol_key,
                        version.content_hash, submission.form_key)


def _seal_into(session: Session, revision: SubmissionRevision, submission: Submission,
               patient: Patient, version: ProtocolVersion, value: Any) -> None:
    # The revision is already in the session, without its payload: reading the database
    # here (a key-ring check, an expired attribute) must not flush it half-made.
    with session.no_autoflush:
        sealed = seal_value(ring_of(session), _aad(submission, revision.number, revision.kind,
                                                   patient, version), value)
    revision.payload = sealed.payload
    revision.wrapped_key = sealed.wrapped_key
    revision.kek_version = sealed.kek_version


def _check_parent(session: Session, patient: Patient, ref: FormRef,
                  parent: Submission | None) -> None:
    if parent is None:
        return
    parent_kind = submission_form(parent).definition.kind
    if parent.patient_id != patient.id or parent_kind != FormKind.follow_up or \
            ref.definition.kind not in EVENT_KINDS:
        raise FieldError(_("Only an adverse-event or pregnancy form can be opened from a "
                           "follow-up visit of the same patient."))


class InvalidDraft(FieldError):
    """A draft input is ill-typed (text in a number, a code not listed...): nothing is saved.

    `errors` maps input names to messages, for the page to show each under its input.
    """

    def __init__(self, errors: dict[str, list[str]]) -> None:
        name, messages = next(iter(errors.items()))
        super().__init__(_("The draft was not saved: correct the values marked below."), name)
        self.errors = errors


def draft_texts(ref: FormRef, posted: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """Return the inputs of a posted form as a draft keeps them: checked, each value whole.

    :raises InvalidDraft: an input is ill-typed; a draft may be incomplete, never ill-typed.
    """
    result = validate_draft(ref.protocol, ref.definition.key,
                            {name: list(values) for name, values in posted.items()})
    if not result.valid:
        raise InvalidDraft(result.errors)
    return result.texts


def save_draft(session: Session, actor: Any, patient: Patient, ref: FormRef,
               texts: dict[str, list[str]], token: str, *, draft: Submission | None = None,
               expected_version: int | None = None,
               parent: Submission | None = None) -> Submission:
    """Save what was typed so far, to resume later: incomplete, but every value well typed.

    :param texts: input name → posted value(s), as `draft_texts` returns them or as posted.
    :raises InvalidDraft: an input is ill-typed (checked again here, whoever calls).
    :raises SubmissionConflict: the draft changed since it was loaded.
    :raises AlreadyFilled: a non-repeatable form exists already.
    """
    check_can_write(session, actor, patient, ref)
    texts = draft_texts(ref, texts)
    now = clock.now()
    author_id, author_label = _author(actor)
    if draft is None:
        submission, revision = _new_submission(session, actor, patient, ref, token, parent,
                                               status="draft")
    else:
        submission = draft
        _check_version(submission, expected_version, "draft")
        revision = submission.revisions[-1]
        revision.token = token
        revision.author_id, revision.author_label, revision.created_at = \
            author_id, author_label, now
        submission.updated_at, submission.updated_by_id = now, author_id
    _seal_into(session, revision, submission, patient, ref.version, texts)
    session.flush()
    record(session, actor, RecordsAction.SUBMISSION_DRAFT, submission,
           patient=patient.audit_ref, form=form_code(session, submission.form_key),
           inputs=len(texts))
    return submission


def _new_submission(session: Session, actor: Any, patient: Patient, ref: FormRef, token: str,
                    parent: Submission | None, *, status: str, notice: str | None = None
                    ) -> tuple[Submission, SubmissionRevision]:
    """A new submission (a draft, or submitted at once) and its first revision, in the
    session and not sealed yet.

    :raises AlreadyFilled: a non-repeatable form exists already.
    :raises FieldError: `parent` cannot open this form.
    """
    _check_new(session, patient, ref, parent)
    now = clock.now()
    author_id, author_label = _author(actor)
    submission = Submission(
        handle=new_handle(), patient=patient, protocol_version=ref.version,
        form_key=ref.definition.key, singleton_key=_singleton(ref), status=status,
        revision_number=1, parent_id=parent.id if parent else None, created_at=now,
        created_by_id=author_id, updated_at=now, updated_by_id=author_id,
        submitted_at=now if status == "submitted" else None,
    )
    revision = SubmissionRevision(
        submission=submission, number=1, kind="draft" if status == "draft" else "original",
        token=token, author_id=author_id, author_label=author_label, created_at=now,
        notice_version=notice)
    session.add_all([submission, revision])
    return submission, revision


def _singleton(ref: FormRef) -> str | None:
    return None if ref.definition.repeatable else ref.definition.key


def _check_new(session: Session, patient: Patient, ref: FormRef,
               parent: Submission | None) -> None:
    _check_parent(session, patient, ref, parent)
    if not ref.definition.repeatable:
        existing = existing_singleton(session, patient, ref.definition.key)
        if existing is not None:
            raise AlreadyFilled(existing)


def _check_version(submission: Submission, expected: int | None, status: str) -> None:
    if submission.status != status or expected is None or expected != submission.version:
        raise SubmissionConflict(submission)


def submit(session: Session, actor: Any, patient: Patient, ref: FormRef,
           answers: dict[str, Any], token: str, *, draft: Submission | None = None,
           expected_version: int | None = None, parent: Submission | None = None) -> Submission:
    """Store a validated form as submitted (a new one, or a draft completed).

    :param answers: as returned by a validated protocol form (`form.answers()`).
    :raises SubmissionConflict: the draft changed since it was loaded.
    :raises AlreadyFilled: a non-repeatable form exists already.
    :raises FieldError: an initiation cannot attest the information note.
    """
    check_can_write(session, actor, patient, ref)
    notice = notice_version(session, ref)
    now = clock.now()
    author_id, author_label = _author(actor)
    if draft is None:
        submission, revision = _new_submission(session, actor, patient, ref, token, parent,
                                               status="submitted", notice=notice)
    else:
        submission = draft
        _check_version(submission, expected_version, "draft")
        revision = submission.revisions[-1]
        revision.kind, revision.token, revision.notice_version = "original", token, notice
        revision.author_id, revision.author_label, revision.created_at = \
            author_id, author_label, now
        submission.status, submission.submitted_at = "submitted", now
        submission.updated_at, submission.updated_by_id = now, author_id
    _seal_into(session, revision, submission, patient, ref.version, answers)
    session.flush()
    record(session, actor, RecordsAction.SUBMISSION_CREATE, submission,
           patient=patient.audit_ref, form=form_code(session, submission.form_key),
           protocol_version=ref.version.version_label, notice_version=notice)
    keep_schedule(session, actor, submission, ref.definition, answers)
    if pharmacovigilance.is_serious(ref.definition.kind, answers):
        pharmacovigilance.notify_serious(session, actor, submission)
    return submission


def keep_schedule(session: Session, actor: Any, submission: Submission, form: Form,
                  answers: dict[str, Any]) -> None:
    """Bring the case's schedule state up to date with a form just stored or rectified.

    The state takes in this form's inputs alone; it is rebuilt from the case's submissions
    only when it cannot be (the case's first such form, a state that failed its check).
    """
    if form.kind not in schedule_state.SCHEDULE_KINDS or submission.submitted_at is None:
        return
    fact = schedule_state.fact_of(submission.id, submission.handle, form,
                                  submission.submitted_at.date(), answers)
    if not schedule_state.apply(session, actor, submission.patient, fact):
        rebuild_schedule(session, actor, submission.patient)
    session.flush()


def rebuild_schedule(session: Session, actor: Any, patient: Patient) -> bool:
    """Recompute a case's schedule state from its submitted forms (decrypts each of them).

    A form failing its integrity check marks the state failed (alert raised): the overview
    lists the case as failed until a rebuild succeeds. Returns False when the protocol has
    no version in force (nothing is written then).
    """
    found = in_force(session, patient.protocol_key)
    if found is None:
        return False
    facts = []
    for submission in patient_submissions(session, patient):
        if submission.is_draft or submission.submitted_at is None:
            continue
        form = submission_form(submission).definition
        if form.kind not in schedule_state.SCHEDULE_KINDS:
            continue
        try:
            answers = read_answers(session, actor, submission)
        except RecordIntegrityError:
            schedule_state.store(session, patient, found, protocol_of(found).definition, [],
                                 failed=True)
            return True
        facts.append(schedule_state.fact_of(submission.id, submission.handle, form,
                                            submission.submitted_at.date(), answers))
    schedule_state.store(session, patient, found, protocol_of(found).definition, facts)
    return True


@dataclass(frozen=True)
class Rebuilt:
    """What `rebuild_schedules` did."""

    cases: int
    failed: int
    skipped: int


def rebuild_schedules(session: Session, actor: Any, *, missing_only: bool = False,
                      batch: int = 500) -> Rebuilt:
    """Recompute every case's schedule state from its forms, committing a batch of cases at a
    time (the command `portal records rebuild-schedules`); one audit entry for the run.

    :param missing_only: only the cases with a submitted form and no state (after upgrading
        to the revision that created the table).
    """
    from portal.records.models import ScheduleState

    query = select(Patient).order_by(Patient.id)
    if missing_only:
        query = query.where(
            ~select(ScheduleState.id).where(ScheduleState.patient_id == Patient.id).exists(),
            select(Submission.id).where(Submission.patient_id == Patient.id,
                                        Submission.status == "submitted").exists())
    cases = failed = skipped = 0
    last = 0
    while True:
        patients = list(session.scalars(query.where(Patient.id > last).limit(batch)))
        if not patients:
            break
        for patient in patients:
            if rebuild_schedule(session, actor, patient):
                cases += 1
                state = schedule_state.state_of(session, patient.id)
                failed += bool(state is not None and state.failed)
            else:
                skipped += 1
        last = patients[-1].id
        session.commit()
        session.expunge_all()
    record(session, actor, RecordsAction.SCHEDULE_REBUILD, None, cases=cases, failed=failed,
           skipped=skipped, missing_only=missing_only)
    session.commit()
    return Rebuilt(cases, failed, skipped)


def flatten(answers: Mapping[str, Any]) -> dict[str, tuple[str, Any]]:
    """Return answer path → (field key, value): `key` or `section[i].key` for repeats."""
    flat: dict[str, tuple[str, Any]] = {}
    for key, value in answers.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            for index, entry in enumerate(value):
                for sub_key, sub_value in entry.items():
                    flat[f"{key}[{index + 1}].{sub_key}"] = (sub_key, sub_value)
        else:
            flat[key] = (key, value)
    return flat


def rectify(session: Session, actor: Any, submission: Submission, answers: dict[str, Any],
            reason: str, token: str, expected_version: int | None,
            request_ref: str | None = None) -> Submission:
    """Change a submitted form: a new revision with a coded reason; the old one stays.

    :param answers: as returned by a validated protocol form (`form.answers()`).
    :param request_ref: the rights request this rectification answers (e.g. DR-000012).
    :raises SubmissionConflict: someone changed it since it was loaded.
    :raises FieldError: no reason from the list, or nothing changed.
    """
    patient = submission.patient
    ref = submission_form(submission)
    check_can_write(session, actor, patient, ref)
    try:
        reason = RectificationReason(reason).value
    except ValueError:
        raise FieldError(_("Choose the reason for the change."), "reason") from None
    _check_version(submission, expected_version, "submitted")
    refuse_identifiers(session, actor, {"request_ref": request_ref},
                       context=f"rectify:{ref.definition.key}")
    request_ref = checked_request_ref(request_ref)
    before = read_answers(session, actor, submission)
    changed = _changed_paths(before, answers)
    if not changed:
        raise FieldError(_("Nothing was changed."))
    now = clock.now()
    author_id, author_label = _author(actor)
    number = submission.revision_number + 1
    revision = SubmissionRevision(
        submission=submission, number=number, kind="rectification", reason=reason,
        request_ref=request_ref, token=token, author_id=author_id, author_label=author_label,
        created_at=now, notice_version=submission.revisions[-1].notice_version,
    )
    _seal_into(session, revision, submission, patient, submission.protocol_version, answers)
    session.add(revision)
    submission.revision_number = number
    submission.updated_at, submission.updated_by_id = now, author_id
    session.flush()
    record(session, actor, RecordsAction.SUBMISSION_RECTIFY, submission,
           patient=patient.audit_ref, form=form_code(session, submission.form_key), revision=number,
           reason=reason, changed=len(changed), request=request_ref)
    keep_schedule(session, actor, submission, ref.definition, answers)
    kind = ref.definition.kind
    if pharmacovigilance.is_serious(kind, answers) and \
            not pharmacovigilance.is_serious(kind, before):
        pharmacovigilance.notify_serious(session, actor, submission)
    return submission


def rectify_with_answers(session: Session, actor: Any, submission: Submission,
                         answers: dict[str, Any], reason: str, expected_version: int,
                         request_ref: str | None = None) -> Submission:
    """Rectify from a dict of answers (e.g. a rights request), validated like the web form.

    :raises IdentifierRefused: a value looks like a NIR or INS (logged without it).
    :raises InvalidAnswers: with the messages per answer path.
    """
    ref = submission_form(submission)
    refuse_identifiers(session, actor,
                       {path[:32]: value if isinstance(value, list) else str(value)
                        for path, (_key, value) in flatten(answers).items()},
                       context=f"rectify:{ref.definition.key}")
    result = validate_answers(ref.protocol, ref.definition.key, answers,
                              today=clinical_today(session))
    if not result.valid:
        raise InvalidAnswers(result.errors)
    return rectify(session, actor, submission, result.answers, reason, new_token(),
                   expected_version, request_ref)


def _changed_paths(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    old, new = flatten(before), flatten(after)
    return sorted(path for path in old.keys() | new.keys()
                  if old.get(path, (None, None))[1] != new.get(path, (None, None))[1])


def open_revision(session: Session, actor: Any, submission: Submission,
                  revision: SubmissionRevision) -> Any:
    """Open one revision's sealed payload (answers, or a draft's raw inputs).

    :raises RecordIntegrityError: it failed authentication (the DPO alert is raised).
    """
    patient = submission.patient
    try:
        return open_with_refresh(
            session, _aad(submission, revision.number, revision.kind, patient,
                          submission.protocol_version),
            revision.payload, revision.wrapped_key, revision.kek_version)
    except IntegrityCheckFailed:
        report_integrity_failure(session, actor, ("submission", submission.audit_ref),
                                 patient=patient.audit_ref, revision=revision.number)
        raise RecordIntegrityError(("submission", submission.audit_ref)) from None


def read_answers(session: Session, actor: Any, submission: Submission,
                 number: int | None = None) -> dict[str, Any]:
    """Open the answers of a revision (the current one by default).

    The caller checked access and logged the read (`submission_for`).
    :raises RecordIntegrityError: the revision failed its integrity check (alert raised).
    """
    revision = _revision(submission, number)
    if revision.kind == "draft":
        raise NotFound()
    return open_revision(session, actor, submission, revision)


def read_draft(session: Session, actor: Any, submission: Submission) -> dict[str, list[str]]:
    """Open the raw inputs saved in a draft."""
    revision = _revision(submission, None)
    if revision.kind != "draft":
        raise NotFound()
    return open_revision(session, actor, submission, revision)


def _revision(submission: Submission, number: int | None) -> SubmissionRevision:
    number = number or submission.revision_number
    for revision in submission.revisions:
        if revision.number == number:
            return revision
    raise NotFound()
