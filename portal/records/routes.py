"""Record pages: patient lists, registration, the patient page, limitation, exports, print.

Views stay thin: find the record through the one policy (`patient_for` / `submission_for`,
which log the read), validate, call one service, commit, redirect. URLs carry only random
handles. The protocol form pages are in `form_routes.py`, on the same blueprint.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Response,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from portal.access.models import Establishment
from portal.db import get_session
from portal.errors import BadRequest, Forbidden, NotFound
from portal.export_purposes import research_covers
from portal.permissions import Permission, requires
from portal.protocols.builder import current_locale
from portal.protocols.models import ProtocolVersion
from portal.records import (
    export,
    identities,
    limitation,
    overview,
    paper,
    pharmacovigilance,
    refusals,
    registrations,
    submissions,
)
from portal.records.actions import (
    LIMITATION_LABELS,
)
from portal.records.blueprint import bp, current_actor
from portal.records.forms import (
    ExportForm,
    HandOffForm,
    LiftForm,
    LimitationForm,
    RegistrationForm,
)
from portal.records.models import Patient
from portal.records.policy import patient_for, submission_to_change, view_for
from portal.records.versions import in_force, protocol_of

# --- patients ------------------------------------------------------------------------------------


def _list_request() -> tuple[dict[str, Any], str]:
    """Sort, position and search of a list page, and the search as typed.

    The search comes only from a POST body: a case number never goes into a URL. Sort and
    position (a random handle) may be links.
    """
    source = request.form if request.method == "POST" else request.args
    typed = request.form.get("q", "") if request.method == "POST" else ""
    return {"sort": source.get("sort") or None, "after": source.get("after") or None,
            "search": typed}, typed


def _listed(read: Any, session: Any, actor: Any) -> tuple[overview.ListPage, str, str | None]:
    """Run a list service; a search that cannot be a case number is a form error."""
    arguments, typed = _list_request()
    try:
        return read(session, actor, **arguments), typed, None
    except overview.SearchError as exc:
        arguments.update(search=None, after=None)
        return read(session, actor, **arguments), typed, str(exc)


@bp.route("/patients", methods=["GET", "POST"])
@requires(Permission.PATIENT_READ)
def patients() -> Any:
    """List the patients the person reaches (letters only with identifying scope), a page at a
    time, searchable by case number and sortable."""
    session, actor = get_session(), current_actor()
    view = view_for(session, actor)
    page, typed, error = _listed(overview.patient_page, session, actor)
    names = _establishment_names(session, {r.patient.establishment_id for r in page.rows})
    session.commit()
    return render_template("records/patients.html", page=page, names=names, view=view,
                           typed=typed, search_error=error,
                           sorts=overview.SORT_LABELS, statuses=overview.CASE_STATUS_LABELS,
                           can_register=view.can(Permission.PATIENT_CREATE)), \
        422 if error else 200


@bp.route("/pharmacovigilance", methods=["GET", "POST"])
@requires(Permission.SUBMISSION_READ)
def events() -> Any:
    """The adverse-event and pregnancy forms submitted, for review and hand-off, a page at a
    time: by default those still to hand off, the ones new since the last visit marked."""
    session, actor = get_session(), current_actor()
    source = request.form if request.method == "POST" else request.args
    show = source.get("show") or None

    def read(session: Any, actor: Any, **arguments: Any) -> overview.ListPage:
        return overview.event_page(session, actor, show=show, **arguments)

    page, typed, error = _listed(read, session, actor)
    names = _establishment_names(session, {r.patient.establishment_id for r in page.rows})
    can_hand_off = pharmacovigilance.holds_pharmacovigilance(session, actor)
    session.commit()
    return render_template("records/events.html", page=page, names=names, typed=typed,
                           search_error=error, sorts=overview.EVENT_SORT_LABELS,
                           shows=overview.EVENT_SHOW_LABELS, can_hand_off=can_hand_off,
                           hand_off_form=HandOffForm()), \
        422 if error else 200


@bp.post("/pharmacovigilance/<handle>/hand-off")
@requires(Permission.SUBMISSION_READ)
def hand_off(handle: str) -> ResponseReturnValue:
    """Record that an event form went to the pharmacovigilance system (pharmacovigilance)."""
    session, actor = get_session(), current_actor()
    form = HandOffForm()
    if not form.validate_on_submit():
        raise BadRequest(_("The form expired: show the list again and retry."))
    found = submission_to_change(session, actor, handle, need=Permission.SUBMISSION_READ)
    pharmacovigilance.hand_off(session, actor, found)
    session.commit()
    flash(_("Case %(case)s: the form is recorded as handed off to pharmacovigilance.",
            case=found.patient.case_number), "success")
    back = {"sort": form.sort.data or None, "show": form.show.data or None}
    return redirect(url_for(".events", **{k: v for k, v in back.items() if v}), 303)


def _establishment_names(session: Any, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(select(Establishment.id, Establishment.name)
                           .where(Establishment.id.in_(sorted(ids))))
    return {row.id: row.name for row in rows}


@bp.route("/patients/new", methods=["GET", "POST"])
@requires(Permission.PATIENT_CREATE)
def register() -> Any:
    """Register a patient; a probable duplicate is shown before a second registration."""
    session, actor = get_session(), current_actor()
    form = RegistrationForm()
    establishments = registrations.registration_establishments(session, actor)
    versions = registrations.registration_versions(session, actor)
    form.establishment_id.choices = [(e.id, e.name) for e in establishments]
    form.protocol_key.choices = [(v.protocol_key, protocol_of(v).definition.title.get(
        current_locale())) for v in versions]
    paediatric = any(registrations.is_paediatric(v) for v in versions)
    if not establishments:
        raise Forbidden(_("You belong to no establishment where you may register patients."))
    duplicates: list[Patient] = []
    if form.validate_on_submit():
        data = _registration(form)
        try:
            patient = registrations.register_patient(session, actor, data,
                                                confirm_duplicate=form.confirm_duplicate.data)
        except refusals.ProbableDuplicate as exc:
            duplicates = exc.patients
        except refusals.FieldError as exc:
            session.commit()  # a refused NIR/INS is logged (without the value)
            _field_error(form, exc)
        else:
            session.commit()
            flash(_("Patient registered with case number %(case)s.", case=patient.case_number),
                  "success")
            return redirect(url_for(".patient", handle=patient.handle), 303)
    elif request.method == "POST":
        _refuse_posted_identifiers(session, actor, request.form, form, "registration")
        # Every error at once: the rules of the fields the form itself accepted, too.
        refused = frozenset(name for name, fld in form._fields.items() if fld.errors)
        for problem in registrations.identity_problems(session, _registration(form), refused):
            _field_error(form, problem)
    status = 422 if request.method == "POST" and not duplicates else 200
    return render_template("records/register.html", form=form, duplicates=duplicates,
                           paediatric=paediatric), status


def _registration(form: RegistrationForm) -> registrations.Registration:
    month = form.birth_month.data
    return registrations.Registration(
        surname_letters=form.surname_letters.data, first_name_letters=form.first_name_letters
        .data, sex=form.sex.data, birth_year=form.birth_year.data,
        birth_month=int(month) if month and str(month).isdigit() else None,
        birth_day=form.birth_day.data, weight_kg=form.weight_kg.data,
        height_cm=form.height_cm.data, establishment_id=form.establishment_id.data,
        protocol_key=form.protocol_key.data,
    )


def _field_error(form: Any, exc: refusals.FieldError) -> None:
    for problem in getattr(exc, "problems", None) or [exc]:
        target = getattr(form, problem.field, None) if problem.field else None
        if target is not None:
            target.errors = list(target.errors) + [problem.message]
        else:
            form.form_errors.append(problem.message)


def _refuse_posted_identifiers(session: Any, actor: Any, posted: MultiDict, form: Any,
                               context: str) -> None:
    """Refuse a NIR/INS typed anywhere, even when the form is invalid for other reasons."""
    values = {k: posted.getlist(k) for k in posted if k != "csrf_token"}
    try:
        refusals.refuse_identifiers(session, actor, values, context=context)
    except refusals.IdentifierRefused as exc:
        session.commit()
        _field_error(form, exc)


@bp.get("/patients/<handle>")
@requires(Permission.PATIENT_READ)
def patient(handle: str) -> str:
    """Show a patient: identity as the scope allows, schedule, forms, limitation."""
    session, actor = get_session(), current_actor()
    found = patient_for(session, actor, handle)
    view = view_for(session, actor)
    identity = identities.shown_identity(session, actor, found, view)
    subs = submissions.patient_submissions(session, found)
    schedule = overview.schedule_of(session, actor, found)
    choices = overview.form_choices(session, found, subs)
    titles = {c.key: c.title for c in choices}
    session.commit()
    return render_template(
        "records/patient.html", patient=found, identity=identity, view=view,
        submissions=subs, schedule=schedule, choices=choices, titles=titles,
        establishment=found.establishment, limit_form=LimitationForm(), lift_form=LiftForm(),
        limitation_labels=LIMITATION_LABELS,
        can_write=view.can(Permission.SUBMISSION_WRITE) and not found.is_limited,
        can_limit=view.can(Permission.LIMITATION_MANAGE),
    )


@bp.route("/my-patients", methods=["GET", "POST"])
@requires(Permission.SUBMISSION_WRITE)
def my_patients() -> Any:
    """List my patients with visits overdue or due, a page at a time."""
    session, actor = get_session(), current_actor()
    page, typed, error = _listed(overview.my_patients, session, actor)
    session.commit()
    return render_template("records/my_patients.html", page=page, typed=typed,
                           search_error=error, sorts=overview.SORT_LABELS), \
        422 if error else 200


@bp.post("/patients/<handle>/limit")
@requires(Permission.LIMITATION_MANAGE)
def limit(handle: str) -> ResponseReturnValue:
    """Limit a patient's records (data protection officer)."""
    session, actor = get_session(), current_actor()
    found = patient_for(session, actor, handle, need=Permission.LIMITATION_MANAGE)
    form = LimitationForm()
    if not form.validate_on_submit():
        raise BadRequest(_("Choose a reason for the limitation."))
    try:
        limitation.limit_patient(session, actor, found, form.reason.data,
                               form.request_ref.data or None)
    except refusals.FieldError as exc:
        session.commit()  # a refused NIR/INS is logged (without the value)
        flash(exc.message, "error")
        return redirect(url_for(".patient", handle=found.handle), 303)
    session.commit()
    flash(_("The patient's records are limited: nothing can be filled or changed."), "success")
    return redirect(url_for(".patient", handle=found.handle), 303)


@bp.post("/patients/<handle>/lift")
@requires(Permission.LIMITATION_MANAGE)
def lift(handle: str) -> ResponseReturnValue:
    """Lift a limitation (data protection officer)."""
    session, actor = get_session(), current_actor()
    found = patient_for(session, actor, handle, need=Permission.LIMITATION_MANAGE)
    form = LiftForm()
    if not form.validate_on_submit():
        raise BadRequest()
    try:
        limitation.lift_limitation(session, actor, found, form.request_ref.data or None)
    except refusals.FieldError as exc:
        session.commit()
        flash(exc.message, "error")
        return redirect(url_for(".patient", handle=found.handle), 303)
    session.commit()
    flash(_("The limitation is lifted."), "success")
    return redirect(url_for(".patient", handle=found.handle), 303)


# --- exports and printable forms ---------------------------------------------------------------


@bp.route("/exports", methods=["GET", "POST"])
@requires(Permission.RECORD_EXPORT)
def exports() -> Any:
    """Choose and download a pseudonymised export (CSV per form, or CDISC ODM XML)."""
    session, actor = get_session(), current_actor()
    view = view_for(session, actor)
    versions = [v for v in session.scalars(select(ProtocolVersion).where(
        ProtocolVersion.is_current.is_(True)).order_by(ProtocolVersion.protocol_key))
        if view.protocol_keys is None or v.protocol_key in view.protocol_keys]
    locale = current_locale()
    form = ExportForm()
    form.protocol_key.choices = [(v.protocol_key, protocol_of(v).definition.title.get(locale))
                                 for v in versions]
    form.form_key.choices = [("", _("All forms (ODM only)"))] + sorted(
        {(f.key, f.title.get(locale)) for v in versions for f in protocol_of(v).definition.forms})
    covers = [c for v in versions for c in research_covers(session, v.protocol_key)]
    form.research.choices = [("", "—")] + [
        (c.reference, f"{c.reference}: {c.formality} ({c.protocol_key})") for c in covers]
    if form.validate_on_submit() and form.fmt.data == "csv" and not form.form_key.data:
        form.form_key.errors = [_("A CSV export holds one form: choose it.")]
    elif form.validate_on_submit():
        try:
            job = export.prepare_export(session, actor, form.protocol_key.data,
                                        form.form_key.data or None, form.fmt.data, locale,
                                        purpose=form.purpose.data,
                                        research=form.research.data or None)
        except export.ResearchNotCovered as exc:
            form.purpose.errors = [exc.message]
        else:
            session.commit()
            return _stream(session, actor, job)
    status = 422 if request.method == "POST" else 200
    return render_template("records/exports.html", form=form, view=view,
                           covers=covers), status


def _stream(session: Any, actor: Any, job: export.ExportJob) -> Response:
    def generate() -> Any:
        try:
            yield from export.stream(session, job)
        finally:
            if job.integrity_failures:
                session.rollback()
                export.finish(session, actor, job)
                session.commit()

    mimetype = "text/csv" if job.fmt == "csv" else "application/xml"
    response = Response(stream_with_context(generate()), mimetype=f"{mimetype}; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{job.filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/protocols/<protocol_key>/forms/<form_key>/print")
@requires(Permission.PROTOCOL_READ)
def print_form(protocol_key: str, form_key: str) -> str:
    """The blank paper version of a form, as the protocol version in force defines it."""
    version = in_force(get_session(), protocol_key[:64])
    if version is None:
        raise NotFound()
    definition = protocol_of(version).definition
    try:
        form = definition.form(form_key)
    except KeyError:
        raise NotFound() from None
    return render_template("records/print.html", protocol=definition, version=version,
                           form=form, sections=paper.paper_form(definition, form),
                           locale=current_locale())
