"""Retention of cases: their dated evidence, legal holds, the plan, and each transition.

The transitions are applied by `portal retention run` (jobs.py), one case per transaction, each
guarded by a conditional update of the case's state, so that a transition happens once even if
two runs got past the lock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from portal import clock
from portal.audit.services import record
from portal.db import app_of, rows_affected
from portal.retention import archive as store
from portal.retention.actions import RetentionAction
from portal.retention.dates import add_years
from portal.retention.models import (
    AacEvent,
    AacEventKind,
    CaseState,
    LegalHold,
    PurgeLedgerEntry,
    RetentionCase,
    Rule,
)
from portal.retention.references import reference_for
from portal.retention.rules import AacDecision, Decision, Evidence, plan_case
from portal.retention.shredding import destroy_active_case

MAX_REFERENCE = 64


class RetentionError(ValueError):
    """A retention input that the rules refuse; the message says which and why."""


#: the protocol's final résumé approval date and its evidence, or None (no final report yet)
FinalApproval = Callable[[Session, str], Evidence | None]


def no_final_report(_session: Session, _protocol_key: str) -> Evidence | None:
    return None


def final_approval_of(session: Session, protocol_key: str) -> Evidence | None:
    """The final résumé approval of a protocol, with its reference (the reports calendar)."""
    from portal.reports.calendar import final_resume_approval_date, reports_of

    day = final_resume_approval_date(session, protocol_key)
    if day is None:
        return None
    references = [r.approval_reference for r in reports_of(session, protocol_key)
                  if r.is_final and r.resume_approved_on == day and r.approval_reference]
    if not references:
        return None  # an approval without its letter is no evidence (RET-01)
    return Evidence(day, references[0])


def local_today(session: Session) -> date:
    """Today in the portal's time zone: a rule's date is reached at local midnight."""
    zone = ZoneInfo(str(app_of(session).config.get("TIMEZONE") or "Europe/Paris"))
    return clock.now().astimezone(zone).date()


def _setting(session: Session, name: str) -> int:
    return int(app_of(session).config[name])


# -- cases and their evidence --------------------------------------------------------------

def case_of(session: Session, patient: Any) -> RetentionCase:
    """Return the retention case of a patient (a records Patient), creating it active."""
    found = session.scalar(select(RetentionCase).where(RetentionCase.patient_id == patient.id))
    if found is None:
        found = RetentionCase(reference=reference_for(session, patient.case_number),
                              patient_id=patient.id, protocol_key=patient.protocol_key,
                              state=CaseState.ACTIVE.value)
        session.add(found)
        session.flush()
    return found


def case_by_reference(session: Session, reference: str) -> RetentionCase | None:
    return session.scalar(select(RetentionCase).where(RetentionCase.reference == reference))


def case_states_of(session: Session, references: set[str]) -> dict[str, str]:
    """What became of the cases no longer in the active base, for the audit pages: "archived"
    or "purged" beside their opaque reference (the case number is not in the active base)."""
    from flask_babel import gettext

    wanted = sorted(references)
    named = {ref: gettext("archived case") for ref in session.scalars(
        select(RetentionCase.reference).where(RetentionCase.reference.in_(wanted),
                                              RetentionCase.state == CaseState.ARCHIVED.value))}
    named.update({ref: gettext("purged case") for ref in session.scalars(
        select(PurgeLedgerEntry.reference).where(PurgeLedgerEntry.reference.in_(wanted)))})
    return named


def _evidence(reference: str | None) -> str:
    cleaned = (reference or "").strip()
    if not cleaned:
        raise RetentionError("an evidence reference (the ANSM decision or letter) is required")
    if len(cleaned) > MAX_REFERENCE:
        raise RetentionError(f"the evidence reference is longer than {MAX_REFERENCE} characters")
    return cleaned


def record_aac_decision(session: Session, actor: Any, case: RetentionCase, kind: str,
                        decision_date: date, end_date: date | None,
                        evidence_reference: str | None) -> AacEvent:
    """Record one ANSM decision on the case's AAC (RET-01); every date change is audited."""
    try:
        kind = AacEventKind(kind).value
    except ValueError:
        raise RetentionError(f"unknown AAC decision {kind!r}") from None
    evidence = _evidence(evidence_reference)
    if case.state != CaseState.ACTIVE.value:
        raise RetentionError("the case is archived: its AAC dates can no longer change")
    if kind in (AacEventKind.GRANTED, AacEventKind.RENEWED):
        if end_date is None:
            raise RetentionError("a grant or renewal needs its end date")
        if end_date < decision_date:
            raise RetentionError("the end date is before the decision date")
        if end_date > add_years(decision_date, 1):
            raise RetentionError("an AAC period lasts at most one year from its decision")
    elif end_date is not None:
        raise RetentionError("a suspension or withdrawal has no end date")
    label = getattr(actor, "login", None) or getattr(actor, "label", "unknown")
    event = AacEvent(case=case, kind=kind, decision_date=decision_date, end_date=end_date,
                     evidence_reference=evidence, recorded_by_label=str(label)[:128])
    session.add(event)
    session.flush()
    record(session, actor, RetentionAction.AAC_RECORD, case, kind=kind,
           decision_date=decision_date.isoformat(),
           end_date=end_date.isoformat() if end_date else None)
    return event


class UnknownCase(RetentionError):
    """No case of the active base with this case number within the person's perimeter."""


def active_case_by_number(session: Session, actor: Any, case_number: str) -> RetentionCase:
    """The retention case of an active patient the actor reaches (the lookup is logged).

    :raises UnknownCase: no such patient in the actor's perimeter (archived ones included: their
        AAC dates no longer change).
    """
    from portal.errors import Forbidden, NotFound
    from portal.records.reading import Purpose, find_patient

    try:
        patient = find_patient(session, actor, purpose=Purpose.PAGE,
                               case_number=case_number.strip().upper())
    except (NotFound, Forbidden):
        raise UnknownCase("no case of the active base has this case number") from None
    return case_of(session, patient)


def decisions_of(case: RetentionCase) -> list[AacDecision]:
    return [AacDecision(e.kind, e.decision_date, e.end_date, e.evidence_reference)
            for e in case.events]


def open_hold(session: Session, actor: Any, case: RetentionCase, reason: str,
              evidence_reference: str | None) -> LegalHold:
    """Put a case on legal hold (a documented litigation or authority request)."""
    if reason not in ("litigation", "authority_request"):
        raise RetentionError("a legal hold is for a litigation or an authority request")
    label = getattr(actor, "login", None) or getattr(actor, "label", "unknown")
    hold = LegalHold(case=case, reason=reason, evidence_reference=_evidence(evidence_reference),
                     opened_by_label=str(label)[:128])
    session.add(hold)
    session.flush()
    record(session, actor, RetentionAction.HOLD_OPEN, case, reason=reason)
    return hold


def release_hold(session: Session, actor: Any, hold: LegalHold,
                 release_reference: str | None) -> None:
    """Close a legal hold with the document that ends it; the purge may then run."""
    if hold.released_at is not None:
        raise RetentionError("this legal hold is already released")
    hold.released_at = clock.now()
    hold.release_reference = _evidence(release_reference)
    session.flush()
    record(session, actor, RetentionAction.HOLD_RELEASE, hold.case, reason=hold.reason)


def is_on_hold(case: RetentionCase) -> bool:
    return any(h.released_at is None for h in case.holds)


# -- the plan ------------------------------------------------------------------------------

@dataclass(frozen=True)
class PlanItem:
    case: RetentionCase
    decision: Decision


def decide(session: Session, case: RetentionCase, on: date,
           final_approval: FinalApproval | None = None) -> Decision:
    source = final_approval or final_approval_of
    return plan_case(case.state, decisions_of(case), source(session, case.protocol_key),
                     is_on_hold(case), on,
                     active_years=_setting(session, "RETENTION_ACTIVE_YEARS"),
                     archive_years=_setting(session, "RETENTION_ARCHIVE_YEARS"))


def plan(session: Session, on: date | None = None,
         final_approval: FinalApproval | None = None) -> list[PlanItem]:
    """Every case with what the rules say on day `on` (default today); changes nothing."""
    on = on or local_today(session)
    cases = session.scalars(select(RetentionCase).order_by(RetentionCase.id))
    return [PlanItem(case, decide(session, case, on, final_approval)) for case in cases]


# -- transitions ---------------------------------------------------------------------------

def _audit_transition(session: Session, actor: Any, reference: str, from_state: str,
                      to_state: str, decision: Decision, job_id: str) -> None:
    inputs = {key: value for key, value in decision.inputs.items() if not key.endswith("_ref")}
    record(session, actor, RetentionAction.CASE_TRANSITION, ("retention_case", reference),
           from_state=from_state, to_state=to_state, rule=decision.rule, job=job_id,
           archive_due=decision.archive_due.isoformat() if decision.archive_due else None,
           purge_due=decision.purge_due.isoformat() if decision.purge_due else None,
           **inputs)


def archive_case(session: Session, actor: Any, case: RetentionCase, decision: Decision,
                 job_id: str) -> bool:
    """T1: copy the case's rows to the archive store, then remove them from the active base.

    The copy is committed first and written again by a resumed run; the active side changes in
    the caller's transaction, guarded by the case still being active. False if already moved.
    """
    from portal.retention.bundle import case_rows

    if case.state != CaseState.ACTIVE.value or case.patient_id is None:
        return False
    collected = case_rows(session, case.patient_id)
    if collected is None:
        return False
    rows, keys = collected
    now = clock.now()
    with store.archive_engine(app_of(session)).begin() as connection:
        store.store_case(connection, case.reference, case.protocol_key, now, job_id, rows, keys)
    moved = rows_affected(session.execute(
        update(RetentionCase)
        .where(RetentionCase.id == case.id, RetentionCase.state == CaseState.ACTIVE.value)
        .values(state=CaseState.ARCHIVED.value, archived_at=now, patient_id=None)
    ))
    if moved != 1:
        return False
    destroy_active_case(session, collected_patient_id(rows), case.reference)
    _audit_transition(session, actor, case.reference, CaseState.ACTIVE.value,
                      CaseState.ARCHIVED.value, decision, job_id)
    return True


def collected_patient_id(rows: dict[str, list[dict[str, Any]]]) -> int:
    return int(rows["patient"][0]["id"])


def purge_case(session: Session, actor: Any, case: RetentionCase, decision: Decision,
               job_id: str) -> bool:
    """T2: destroy the case (keys first, then rows), wherever it is; write the ledger."""
    from_state = case.state
    reference, protocol_key, patient_id = case.reference, case.protocol_key, case.patient_id
    if from_state == CaseState.ARCHIVED.value:
        engine = store.archive_engine(app_of(session))
        with engine.begin() as connection:
            store.shred_keys(connection, reference)
        with engine.begin() as connection:
            store.delete_case(connection, reference)
    gone = rows_affected(session.execute(
        delete(RetentionCase).where(RetentionCase.id == case.id,
                                    RetentionCase.state == from_state)
    ))
    if gone != 1:
        return False
    if patient_id is not None:
        destroy_active_case(session, patient_id, reference)
    _write_ledger(session, reference, protocol_key, decision.rule or Rule.T2_ARCHIVE_END.value,
                  from_state, job_id)
    _audit_transition(session, actor, reference, from_state, CaseState.PURGED.value, decision,
                      job_id)
    return True


def _write_ledger(session: Session, reference: str, protocol_key: str, rule: str,
                  from_state: str, job_id: str) -> None:
    if session.scalar(select(PurgeLedgerEntry.id)
                      .where(PurgeLedgerEntry.reference == reference)) is not None:
        return
    session.add(PurgeLedgerEntry(reference=reference, protocol_key=protocol_key,
                                 purged_at=clock.now(), rule=rule, from_state=from_state,
                                 job_id=job_id))
    session.flush()


def purge_ledger(session: Session) -> list[PurgeLedgerEntry]:
    """Every purged case (opaque reference, date, rule), oldest first."""
    return list(session.scalars(select(PurgeLedgerEntry).order_by(PurgeLedgerEntry.id)))


def reapply_purge_ledger(session: Session, actor: Any, job_id: str = "ledger") -> list[str]:
    """Purge again every case of the ledger still present (after a restore from a backup).

    Looks in the active base (every patient's reference is computed with the key file) and in
    the archive store; shreds and deletes what it finds, audited, in the caller's transaction
    (the archive store's deletions are committed as they go). Returns the references purged.
    """
    from portal.records.models import Patient

    ledger = {entry.reference for entry in purge_ledger(session)}
    if not ledger:
        return []
    purged: list[str] = []
    for patient_id, case_number in session.execute(select(Patient.id, Patient.case_number)):
        reference = reference_for(session, case_number)
        if reference in ledger:
            session.execute(delete(RetentionCase).where(RetentionCase.reference == reference))
            destroy_active_case(session, patient_id, reference)
            purged.append(reference)
    for case in session.scalars(select(RetentionCase)
                                .where(RetentionCase.reference.in_(ledger))):
        session.delete(case)
    engine = store.archive_engine(app_of(session))
    with engine.begin() as connection:
        archived = [r for r in store.references(connection) if r in ledger]
        for reference in archived:
            store.shred_keys(connection, reference)
    with engine.begin() as connection:
        for reference in archived:
            store.delete_case(connection, reference)
            if reference not in purged:
                purged.append(reference)
    session.flush()
    for reference in purged:
        record(session, actor, RetentionAction.LEDGER_REAPPLY, ("retention_case", reference),
               rule=Rule.LEDGER_REAPPLY.value, job=job_id)
    return purged


def archived_at_of(case: RetentionCase) -> datetime | None:
    return case.archived_at


# -- dates taken from the access forms -----------------------------------------------------

#: the evidence reference of a date taken from a submitted form: the form's revision, whose
#: sealed answers hold the ANSM reference (never copied here in clear)
FORM_EVIDENCE = "form:S{submission}r{revision}"


def sync_access_forms(session: Session, actor: Any, job_id: str) -> int:
    """Record the AAC dates of every submitted access form not yet taken (or rectified since).

    The access form (kind `access`) carries the ANSM decision date and end date; the first one
    of a case is its grant, the next ones renewals. Reading goes through the records door, as
    one logged read for the run. Returns the number of dates recorded.
    """
    from portal.records.models import Patient, Submission
    from portal.records.reading import Purpose, bulk_read

    form_keys = tuple(app_of(session).config["RETENTION_AAC_FORM_KEYS"])
    taken = set(session.scalars(select(AacEvent.evidence_reference)
                                .where(AacEvent.evidence_reference.like("form:S%"))))
    pending: dict[int, list[Any]] = {}
    for submission in session.scalars(
            select(Submission).where(Submission.form_key.in_(form_keys),
                                     Submission.status == "submitted").order_by(Submission.id)):
        evidence = FORM_EVIDENCE.format(submission=submission.id,
                                        revision=submission.revision_number)
        if evidence not in taken:
            pending.setdefault(submission.patient_id, []).append(submission.id)
    recorded = 0
    if not pending:
        return 0
    with bulk_read(session, actor, Purpose.ARCHIVE, None, job=job_id) as reader:
        for patient_id in sorted(pending):
            patient = session.get(Patient, patient_id)
            if patient is None:
                continue
            case = case_of(session, patient)
            if case.state != CaseState.ACTIVE.value:
                continue
            forms = [v for v in reader.case_submissions(patient, form_kinds=frozenset({"access"}))
                     if v.submission_id in pending[patient_id]]
            for values in forms:
                recorded += _take_access_form(session, actor, case, values)
    return recorded


def _take_access_form(session: Session, actor: Any, case: RetentionCase, values: Any) -> int:
    decision = _as_date(values.answers.get("aac_decision_date"))
    end = _as_date(values.answers.get("aac_end_date"))
    if decision is None or end is None:
        return 0
    prefix = f"form:S{values.submission_id}r"
    earlier = [e for e in case.events if e.evidence_reference.startswith(prefix)]
    for event in earlier:  # a rectified form replaces the dates it gave
        case.events.remove(event)
    others = [e for e in case.events if e.kind in (AacEventKind.GRANTED, AacEventKind.RENEWED)]
    kind = AacEventKind.RENEWED if others else AacEventKind.GRANTED
    record_aac_decision(session, actor, case, kind, decision, end,
                        FORM_EVIDENCE.format(submission=values.submission_id,
                                             revision=values.revision))
    return 1


def _as_date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None
