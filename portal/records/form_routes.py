"""Protocol form pages: fill a new form, resume a draft, rectify, read, history.

Every write carries an idempotency token and the version of the submission the page showed:
a resent request changes nothing, a stale one gets the conflict page with the input shown
again (nothing is lost).
"""

from __future__ import annotations

from typing import Any

from flask import (
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from markupsafe import Markup
from sqlalchemy import select

from portal.db import get_session
from portal.errors import BadRequest, NotFound
from portal.permissions import Permission, requires
from portal.protocols.builder import current_locale
from portal.protocols.render import render_answers, render_form
from portal.records import clinic_time, display, identities, overview, refusals, saving, submissions
from portal.records.actions import (
    RECTIFICATION_LABELS,
)
from portal.records.blueprint import bp, current_actor
from portal.records.forms import (
    ControlForm,
    RectificationForm,
)
from portal.records.history import history as revision_history
from portal.records.inputs import render_inputs
from portal.records.models import Patient, Submission
from portal.records.policy import (
    patient_for,
    patient_to_change,
    submission_for,
    submission_to_change,
    view_for,
)
from portal.records.versions import in_force, protocol_of

#: inputs of a protocol form page that are not answers
CONTROL_NAMES = frozenset({"csrf_token", "token", "version", "action", "parent", "reason",
                           "confirm_window", "confirm_warnings"})


# --- filling forms ---------------------------------------------------------------------------


@bp.route("/patients/<handle>/forms/<form_key>", methods=["GET", "POST"])
@requires(Permission.SUBMISSION_WRITE)
def fill(handle: str, form_key: str) -> Any:
    """Fill a new protocol form for a patient, against the version in force."""
    session, actor = get_session(), current_actor()
    # A POST writes, and its entry names the patient: no separate read entry.
    found = (patient_for if request.method == "GET" else patient_to_change)(
        session, actor, handle, need=Permission.SUBMISSION_WRITE)
    ref = submissions.current_form(session, found, form_key)
    parent = _parent(session, found, request.values.get("parent") or request.args.get("after"))
    try:
        submissions.check_can_write(session, actor, found, ref)
    except refusals.PatientLimited as exc:
        session.commit()
        flash(exc.message, "error")
        return redirect(url_for(".patient", handle=found.handle), 303)
    if not ref.definition.repeatable:
        existing = submissions.existing_singleton(session, found, form_key)
        if existing is not None and request.method == "GET":
            session.commit()
            target = ".edit" if existing.is_draft else ".submission"
            return redirect(url_for(target, handle=existing.handle))
    if request.method == "POST":
        return _post(session, actor, found, ref, parent=parent)
    control = ControlForm(formdata=None, token=submissions.new_token(), version="",
                          parent=parent.handle if parent else "")
    prefill = _prefill(session, actor, found, ref)
    session.commit()
    return _page(found, ref, control, render_answers(ref.protocol, form_key, prefill),
                 mode="new", parent=parent)


def _parent(session: Any, patient: Patient, handle: str | None) -> Submission | None:
    if not handle:
        return None
    parent = session.scalar(select(Submission).where(Submission.handle == handle[:32]))
    if parent is None or parent.patient_id != patient.id or parent.is_draft:
        raise NotFound()
    return parent


def _prefill(session: Any, actor: Any, patient: Patient, ref: submissions.FormRef
             ) -> dict[str, Any]:
    """Answers known from the registration, for the identification fields of a form."""
    wanted = {fld.identifies: fld.key for _si, _fi, section, fld in ref.definition.iter_fields()
              if fld.identifies and section.repeat is None}
    if not wanted:
        return {}
    identity = identities.read_identity(session, actor, patient)
    surname, _sep, first = identity.letters.partition("-")
    known = {"surname_initials": surname, "firstname_initials": first, "sex": identity.sex,
             "birth_month_year": f"{identity.birth_year:04d}-{identity.birth_month:02d}",
             "birth_year": identity.birth_year, "weight": identity.weight_kg,
             "height": identity.height_cm}
    return {key: known[what] for what, key in wanted.items() if known.get(what) is not None}


def _page(patient: Patient, ref: submissions.FormRef, control: ControlForm, rendered: Markup,
          *, mode: str, submission: Submission | None = None, parent: Submission | None = None,
          reason_form: RectificationForm | None = None, status: int = 200,
          conflict: bool = False, current: list[Any] | None = None,
          window: overview.WindowDeviation | None = None) -> tuple[str, int]:
    # After a conflict the input goes to the submission that now exists, at its new version.
    action = url_for(".edit", handle=submission.handle) if conflict and submission else ""
    return render_template(
        "records/fill.html", patient=patient, ref=ref, form_title=ref.definition.title.get(
            current_locale()), control=control, rendered=rendered, mode=mode,
        submission=submission, parent=parent, reason_form=reason_form, conflict=conflict,
        current=current, notice=_notice_hint(ref), action=action, window=window,
        # The day and zone the server decides conditions with (`today`), for conditions.js.
        today=clinic_time.clinical_today(get_session()).isoformat(),
        timezone=clinic_time.clinical_zone(get_session()),
    ), status


def _notice_hint(ref: submissions.FormRef) -> str | None:
    from portal.protocols.schema import FormKind

    if ref.definition.kind != FormKind.initiation:
        return None
    try:
        return submissions.notice_version(get_session(), ref)
    except refusals.FieldError as exc:
        return f"!{exc.message}"


def _post(session: Any, actor: Any, patient: Patient, ref: submissions.FormRef, *,
          draft: Submission | None = None, submitted: Submission | None = None,
          parent: Submission | None = None) -> Any:
    """Handle a POST of a protocol form page: draft, submit or rectify, idempotently."""
    control = ControlForm(request.form)
    if not control.validate():
        raise BadRequest()
    texts = {k: vs for k, vs in request.form.lists() if k not in CONTROL_NAMES}
    reason_form = RectificationForm() if submitted else None
    posted = saving.Posted(
        texts, control.token.data, control.action.data, control.expected_version(),
        request.form.get("confirm_window"),
        reason_form.reason.data if reason_form is not None else None,
        reason_form.validate() if reason_form is not None else True,
        request.form.get("confirm_warnings"))
    outcome = saving.save(session, actor, patient, ref, posted, draft=draft,
                          submitted=submitted, parent=parent)
    if isinstance(outcome, saving.Saved):
        flash(outcome.message, "info" if outcome.resent else "success")
        return _after_save(outcome.submission)
    if isinstance(outcome, saving.Conflicted):
        return _conflict(patient, ref, outcome, texts, parent)
    if outcome.fresh_token:
        control.token.data = submissions.new_token()
    if outcome.reason_error and reason_form is not None:
        reason_form.reason.errors = [outcome.reason_error]
    rendered = render_form(outcome.form) if outcome.form is not None else \
        render_inputs(ref, texts, outcome.errors)
    mode = "rectify" if submitted else ("draft" if draft else "new")
    return _page(patient, ref, control, rendered, mode=mode, submission=submitted or draft,
                 parent=parent, reason_form=reason_form, status=422, window=outcome.window)


def _after_save(submission: Submission) -> ResponseReturnValue:
    target = ".edit" if submission.is_draft else ".submission"
    return redirect(url_for(target, handle=submission.handle), 303)


def _conflict(patient: Patient, ref: submissions.FormRef, outcome: saving.Conflicted,
              texts: dict[str, list[str]], parent: Submission | None) -> tuple[str, int]:
    """Show the second editor their input again, against the version now stored."""
    current = outcome.current
    control = ControlForm(formdata=None, token=submissions.new_token(),
                          version=str(current.version), parent=parent.handle if parent else "")
    mode = "rectify" if not current.is_draft else "draft"
    return _page(patient, ref, control, render_inputs(ref, texts, {}), mode=mode,
                 submission=current, parent=parent,
                 reason_form=RectificationForm() if mode == "rectify" else None,
                 status=409, conflict=True, current=outcome.shown)


@bp.route("/submissions/<handle>/edit", methods=["GET", "POST"])
@requires(Permission.SUBMISSION_WRITE)
def edit(handle: str) -> Any:
    """Resume a draft, or rectify a submitted form (a reason is required)."""
    session, actor = get_session(), current_actor()
    # A POST writes, and its entry names the submission: no separate read entry.
    found = (submission_for if request.method == "GET" else submission_to_change)(
        session, actor, handle, need=Permission.SUBMISSION_WRITE)
    ref = submissions.submission_form(found)
    patient_ = found.patient
    try:
        submissions.check_can_write(session, actor, patient_, ref)
    except refusals.PatientLimited as exc:
        session.commit()
        flash(exc.message, "error")
        return redirect(url_for(".submission", handle=found.handle), 303)
    parent = session.get(Submission, found.parent_id) if found.parent_id else None
    if request.method == "POST":
        if found.is_draft:
            return _post(session, actor, patient_, ref, draft=found, parent=parent)
        return _post(session, actor, patient_, ref, submitted=found)
    control = ControlForm(formdata=None, token=submissions.new_token(),
                          version=str(found.version), parent=parent.handle if parent else "")
    if found.is_draft:
        rendered = render_inputs(ref, submissions.read_draft(session, actor, found), {})
        mode, reason_form = "draft", None
    else:
        rendered = render_answers(ref.protocol, ref.definition.key,
                                  submissions.read_answers(session, actor, found))
        mode, reason_form = "rectify", RectificationForm(formdata=None)
    session.commit()
    return _page(patient_, ref, control, rendered, mode=mode, submission=found, parent=parent,
                 reason_form=reason_form)


@bp.get("/submissions/<handle>")
@requires(Permission.SUBMISSION_READ)
def submission(handle: str) -> Any:
    """Show a submitted form read-only (identification fields masked unless allowed)."""
    session, actor = get_session(), current_actor()
    found = submission_for(session, actor, handle)
    if found.is_draft:
        session.commit()
        return redirect(url_for(".edit", handle=found.handle))
    view = view_for(session, actor)
    ref = submissions.submission_form(found)
    hidden = submissions.identifying_keys(ref) if not view.shows_identity else frozenset()
    answers = submissions.read_answers(session, actor, found)
    shown = display.shown_answers(ref.protocol.definition, ref.definition, answers, hidden)
    events = []
    from portal.protocols.schema import FormKind

    if ref.definition.kind == FormKind.follow_up:
        current = in_force(session, found.patient.protocol_key)
        if current is not None:
            events = [(f.key, f.title.get(current_locale()))
                      for f in protocol_of(current).definition.forms
                      if f.kind in submissions.EVENT_KINDS]
    session.commit()
    return render_template(
        "records/submission.html", submission=found, patient=found.patient, ref=ref,
        form_title=ref.definition.title.get(current_locale()), sections=shown, events=events,
        can_write=view.can(Permission.SUBMISSION_WRITE) and not found.patient.is_limited,
        revision=found.revisions[-1],
    )


@bp.get("/submissions/<handle>/history")
@requires(Permission.SUBMISSION_READ)
def history(handle: str) -> str:
    """Who changed what, when and why."""
    session, actor = get_session(), current_actor()
    found = submission_for(session, actor, handle)
    entries = revision_history(session, actor, found)
    ref = submissions.submission_form(found)
    session.commit()
    return render_template("records/history.html", submission=found, patient=found.patient,
                           entries=entries, form_title=ref.definition.title.get(
                               current_locale()), reasons=RECTIFICATION_LABELS)


