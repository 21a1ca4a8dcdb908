"""The schedule state kept with every write agrees with the schedule computed from the forms.

Random sequences of submissions, rectifications and discontinuations go through the same
services as the pages; after each sequence the kept state (its clear columns and its sealed
inputs) must give what the whole forms give, on several days, and what a rebuild gives.
"""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from portal.audit.models import AuditEvent
from portal.protocols.builder import validate_answers
from portal.protocols.schema import FormKind
from portal.protocols.services import install_protocol
from portal.records import overview, submissions
from portal.records.actions import RectificationReason
from portal.records.models import Patient, ScheduleState, Submission, SubmissionRevision
from portal.records.refusals import FieldError
from portal.records.schedule import Filled, compute, next_visit
from portal.records.schedule_state import SCHEDULE_KINDS, open_facts, state_of
from tests.helpers_auth import login
from tests.records import helpers

_cases = itertools.count()
_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ"
CODES = ["M1", "M3", "M6", "M12", "M18", "M24"]

#: one step: what to do, and the numbers it needs (days, a visit, which form)
STEP = st.one_of(
    st.tuples(st.just("initiation"), st.integers(30, 800)),
    st.tuples(st.just("follow_up"), st.sampled_from([*CODES, None]), st.integers(0, 800)),
    st.tuples(st.just("rectify"), st.integers(0, 20), st.sampled_from([*CODES, None]),
              st.integers(0, 800)),
    st.tuples(st.just("discontinuation"), st.integers(0, 800)),
)


def _letters() -> str:
    n = next(_cases)
    return "".join(_ALPHABET[(n // len(_ALPHABET) ** i) % len(_ALPHABET)] for i in range(3))


def _follow_up(code: str | None, day: date) -> dict[str, Any]:
    return helpers.follow_up_answers(code or "UNSCHED", day)


def _submit(db: Session, actor: Any, patient: Patient, form_key: str,
            answers: dict[str, Any]) -> None:
    ref = submissions.current_form(db, patient, form_key)
    result = validate_answers(ref.protocol, form_key, answers, today=helpers.today())
    if not result.valid:
        return  # refused as on the page: nothing stored
    submissions.submit(db, actor, patient, ref, result.answers, submissions.new_token())
    db.commit()


def _apply(db: Session, actor: Any, patient: Patient, step: tuple[Any, ...]) -> None:
    today = helpers.today()
    kind = step[0]
    try:
        if kind == "initiation":
            _submit(db, actor, patient, "initiation",
                    helpers.initiation_answers(today - timedelta(days=step[1])))
        elif kind == "follow_up":
            _submit(db, actor, patient, "follow_up",
                    _follow_up(step[1], today - timedelta(days=step[2])))
        elif kind == "discontinuation":
            _submit(db, actor, patient, "discontinuation",
                    helpers.discontinuation_answers(today - timedelta(days=step[1])))
        else:
            stored = list(db.scalars(select(Submission).where(
                Submission.patient_id == patient.id).order_by(Submission.id)))
            if not stored:
                return
            target = stored[step[1] % len(stored)]
            form = submissions.submission_form(target).definition
            day = today - timedelta(days=step[3])
            if form.kind == FormKind.follow_up:
                answers = _follow_up(step[2], day)
            elif form.kind == FormKind.initiation:
                answers = helpers.initiation_answers(day)
            else:
                answers = helpers.discontinuation_answers(day)
            submissions.rectify_with_answers(db, actor, target, answers,
                                             RectificationReason.DATA_QUERY, target.version)
            db.commit()
    except (FieldError, submissions.AlreadyFilled):
        # Refused as on the page (a form already filled, a date the form refuses, nothing
        # changed): nothing was stored, and the state must not have moved either.
        db.rollback()


def _from_forms(db: Session, actor: Any, patient: Patient) -> list[Filled]:
    filled = []
    for s in submissions.patient_submissions(db, patient):
        kind = submissions.submission_form(s).definition.kind
        if s.is_draft or kind not in SCHEDULE_KINDS:
            continue
        assert s.submitted_at is not None
        filled.append(Filled(s.handle, s.form_key, kind, s.submitted_at.date(),
                             submissions.read_answers(db, actor, s)))
    return filled


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(STEP, min_size=1, max_size=7))
def test_the_kept_state_agrees_with_the_forms(db, prescriber, site_a, steps) -> None:
    patient = helpers.register(db, prescriber, site_a, surname_letters=_letters())
    for step in steps:
        _apply(db, prescriber, patient, step)
    db.expire_all()
    definition = overview.protocol_in_force(db, patient)[1]
    whole = _from_forms(db, prescriber, patient)
    state = state_of(db, patient.id)
    assert (state is None) == (not whole)
    kept = [f.filled for f in open_facts(db, prescriber, patient, state)]
    expected = next_visit(definition, whole)
    if state is not None:
        assert not state.failed
        assert (state.next_visit, state.window_start, state.window_end, state.ended) == (
            expected.code, expected.window_start, expected.window_end, expected.ended)
    today = helpers.today()
    for day in (today - timedelta(days=400), today, today + timedelta(days=45),
                today + timedelta(days=900)):
        full = compute(definition, whole, day)
        assert compute(definition, kept, day) == full
        listed = full.ended is None and bool(full.overdue or full.due)
        assert expected.due_on(day) == listed, (day, full)


def test_a_rebuild_gives_the_kept_state(db, prescriber, site_a) -> None:
    patient = helpers.register(db, prescriber, site_a)
    start = helpers.today() - timedelta(days=200)
    helpers.submit(db, prescriber, patient, "initiation", helpers.initiation_answers(start))
    helpers.submit(db, prescriber, patient, "follow_up",
                   helpers.follow_up_answers("M1", start + timedelta(days=31)))
    kept = db.scalar(select(ScheduleState).where(ScheduleState.patient_id == patient.id))
    columns = (kept.next_visit, kept.window_start, kept.window_end, kept.ended)
    assert columns[0] == "M3"
    db.delete(kept)
    db.commit()
    done = submissions.rebuild_schedules(db, helpers.CLI, missing_only=True)
    assert (done.cases, done.failed, done.skipped) == (1, 0, 0)
    again = state_of(db, patient.id)
    assert again is not None
    assert (again.next_visit, again.window_start, again.window_end, again.ended) == columns


def test_a_new_version_in_force_moves_the_kept_states(db, client, prescriber, site_a,
                                                      tmp_path) -> None:
    patient = helpers.register(db, prescriber, site_a)
    start = helpers.today() - timedelta(days=45)
    helpers.submit(db, prescriber, patient, "initiation", helpers.initiation_answers(start))
    login(client, prescriber)
    before = client.get("/my-patients").get_data(as_text=True)
    assert patient.case_number in before and 'class="overdue">Month 1' in before
    # Version 1.1 widens the window of month 1 to 30 days after: due now, not overdue.
    data = yaml.safe_load(helpers.DEMO_PROTOCOL.read_text(encoding="utf-8"))
    data["version"] = "1.1"
    m1 = next(tp for tp in data["schedule"]["timepoints"] if tp["code"] == "M1")
    m1["window_after_days"] = 30
    path = tmp_path / "v1.1.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    installed = install_protocol(db, helpers.CLI, path).version
    db.commit()
    state = state_of(db, patient.id)
    assert state is not None and state.protocol_version_id == installed.id
    assert (state.next_visit, state.window_end) == ("M1", start + timedelta(days=31 + 30))
    after = client.get("/my-patients").get_data(as_text=True)
    assert patient.case_number in after and 'class="overdue"' not in after
    assert "<td>Month 1</td>" in after
    page = client.get(f"/patients/{patient.handle}").get_data(as_text=True)
    assert "visit-overdue" not in page and "visit-due" in page


def test_the_rebuild_command_fills_the_missing_states_and_names_failures(
        db, runner, prescriber, site_a) -> None:
    kept = helpers.register(db, prescriber, site_a, surname_letters="Kep")
    broken = helpers.register(db, prescriber, site_a, surname_letters="Bro")
    for patient in (kept, broken):
        helpers.submit(db, prescriber, patient, "initiation")
    # As after upgrading to the revision that made the table: the states are not there yet.
    db.execute(delete(ScheduleState))
    db.commit()
    result = runner.invoke(args=["records", "rebuild-schedules", "--missing-only"])
    assert result.exit_code == 0, result.output
    assert "2 case(s), 0 failed" in result.output
    assert runner.invoke(args=["records", "rebuild-schedules", "--missing-only"]).output \
        .startswith("Schedule states rebuilt: 0 case(s)")
    revision = db.scalar(select(SubmissionRevision).join(SubmissionRevision.submission)
                         .where(Submission.patient_id == broken.id))
    db.execute(update(SubmissionRevision).where(SubmissionRevision.id == revision.id)
               .values(payload=revision.payload[:20] + bytes([revision.payload[20] ^ 1]) +
                       revision.payload[21:]))
    db.commit()
    result = runner.invoke(args=["records", "rebuild-schedules", "--operator", "ops"])
    assert result.exit_code == 1
    assert "2 case(s), 1 failed their integrity check" in result.output
    db.expire_all()
    assert state_of(db, broken.id).failed and not state_of(db, kept.id).failed
    entry = db.scalar(select(AuditEvent).where(AuditEvent.action == "records:schedule:rebuild")
                      .order_by(AuditEvent.seq.desc()).limit(1))
    assert entry.actor_label == "ops" and entry.details["failed"] == 1
