"""Each case's schedule state as data: kept with every write, read by the overview and pages.

`store` writes the row in the caller's transaction from the schedule's inputs (one sealed
value, `facts`); `apply` folds one stored or rectified form into them without opening any
other form of the case. The clear columns (`next_visit`, its window, `ended`) let the overview
find the cases with a visit due by an indexed query; the pages open `facts` and compute the
whole schedule for the day they are shown (time passing changes statuses, never the inputs).
`overview.rebuild_schedule` recomputes a row from the submissions themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import clock
from portal.protocols.models import ProtocolVersion
from portal.protocols.schema import FormKind, Protocol
from portal.records.integrity import RecordIntegrityError, report_integrity_failure
from portal.records.models import Patient, ScheduleState
from portal.records.schedule import Filled, next_visit, schedule_inputs
from portal.records.versions import in_force, protocol_of
from portal.sealing import (
    IntegrityCheckFailed,
    open_with_refresh,
    ring_of,
    schedule_state_aad,
    seal_value,
)

#: forms whose answers the schedule reads
SCHEDULE_KINDS = frozenset({FormKind.initiation, FormKind.follow_up, FormKind.discontinuation})
#: layout of the sealed `facts`
_FACTS_VERSION = 1


@dataclass(frozen=True)
class Fact:
    """One submitted form as the schedule reads it, in submission order (`id`)."""

    id: int
    filled: Filled

    def to_json(self) -> dict[str, Any]:
        f = self.filled
        return {"i": self.id, "h": f.handle, "f": f.form_key, "k": f.kind.value,
                "d": f.submitted_on.isoformat(), "a": dict(f.answers)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fact:
        return cls(int(data["i"]), Filled(str(data["h"]), str(data["f"]), FormKind(data["k"]),
                                          date.fromisoformat(data["d"]), dict(data["a"])))


def fact_of(submission_id: int, handle: str, form: Any, submitted_on: date,
            answers: dict[str, Any]) -> Fact:
    """Return what the schedule keeps of one submitted form (`form`: its definition)."""
    return Fact(submission_id, Filled(handle, form.key, form.kind, submitted_on,
                                      schedule_inputs(form, answers)))


def store(session: Session, patient: Patient, version: ProtocolVersion, protocol: Protocol,
          facts: list[Fact], *, failed: bool = False) -> ScheduleState:
    """Write the case's state from its inputs (in the caller's transaction)."""
    facts = sorted(facts, key=lambda f: f.id)
    state = state_of(session, patient.id)
    if state is None:
        state = ScheduleState(patient_id=patient.id)
        session.add(state)
    state.protocol_version_id = version.id
    state.computed_at = clock.now()
    state.failed = failed
    if failed:
        state.next_visit = state.next_form_key = None
        state.window_start = state.window_end = None
        state.ended = False
        state.facts = state.wrapped_key = state.kek_version = None
        return state
    nxt = next_visit(protocol, [f.filled for f in facts])
    state.next_visit, state.next_form_key = nxt.code, nxt.form_key
    state.window_start, state.window_end, state.ended = \
        nxt.window_start, nxt.window_end, nxt.ended
    sealed = seal_value(ring_of(session), _aad(patient),
                        {"v": _FACTS_VERSION, "forms": [f.to_json() for f in facts]})
    state.facts, state.wrapped_key, state.kek_version = \
        sealed.payload, sealed.wrapped_key, sealed.kek_version
    return state


def _aad(patient: Patient) -> bytes:
    return schedule_state_aad(patient.handle, patient.protocol_key)


def open_facts(session: Session, actor: Any, patient: Patient,
               state: ScheduleState | None) -> list[Fact]:
    """Open a case's schedule inputs (none without a state: nothing submitted yet).

    :raises RecordIntegrityError: the state failed its integrity check, or was marked failed
        when rebuilt from a form that did (alert raised for the former; the latter raised it).
    """
    if state is None:
        return []
    if state.failed or state.facts is None or state.wrapped_key is None or \
            state.kek_version is None:
        if not state.failed:
            report_integrity_failure(session, actor, ("patient", patient.audit_ref),
                                     part="schedule_state")
        raise RecordIntegrityError(("patient", patient.audit_ref))
    try:
        data = open_with_refresh(session, _aad(patient), state.facts, state.wrapped_key,
                                 state.kek_version)
    except IntegrityCheckFailed:
        report_integrity_failure(session, actor, ("patient", patient.audit_ref),
                                 part="schedule_state")
        raise RecordIntegrityError(("patient", patient.audit_ref)) from None
    return [Fact.from_json(item) for item in data["forms"]]


def state_of(session: Session, patient_id: int) -> ScheduleState | None:
    """Return a case's state, if it has one."""
    return session.scalar(select(ScheduleState).where(ScheduleState.patient_id == patient_id))


def states_of(session: Session, patient_ids: list[int]) -> dict[int, ScheduleState]:
    """Return the states of these cases, by patient id (one query)."""
    if not patient_ids:
        return {}
    return {s.patient_id: s for s in session.scalars(
        select(ScheduleState).where(ScheduleState.patient_id.in_(patient_ids)))}


def apply(session: Session, actor: Any, patient: Patient, fact: Fact) -> bool:
    """Fold one stored or rectified form into the case's state (in the caller's transaction).

    Returns False when the state cannot be updated from itself (it is missing while the case
    has other forms, failed its check, or has no version in force): the caller rebuilds it
    from the submissions then.
    """
    found = in_force(session, patient.protocol_key)
    if found is None:
        return False
    state = state_of(session, patient.id)
    if state is None:
        return False
    try:
        facts = open_facts(session, actor, patient, state)
    except RecordIntegrityError:
        return False
    kept = [f for f in facts if f.id != fact.id]
    store(session, patient, found, protocol_of(found).definition, [*kept, fact])
    return True



def follow_version(session: Session, actor: Any, version: ProtocolVersion) -> None:
    """Recompute the states of a protocol's cases under a version just put in force.

    From their sealed inputs, one value per case (the forms stay closed): a later version
    keeps the fields and types they hold. A state failing its check is marked failed (alert
    raised), as a rebuild would; `portal records rebuild-schedules` retries it from the forms.
    """
    protocol = protocol_of(version).definition
    rows = session.execute(
        select(ScheduleState, Patient).join(Patient, Patient.id == ScheduleState.patient_id)
        .where(Patient.protocol_key == version.protocol_key,
               ScheduleState.failed.is_(False),
               ScheduleState.protocol_version_id != version.id)
        .order_by(ScheduleState.id)
    ).all()
    for state, patient in rows:
        try:
            facts = open_facts(session, actor, patient, state)
        except RecordIntegrityError:
            store(session, patient, version, protocol, [], failed=True)
            continue
        store(session, patient, version, protocol, facts)
    session.flush()
