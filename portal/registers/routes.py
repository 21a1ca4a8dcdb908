"""The DPO's pages of the registers: read, edit (a new version), history, exports."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup
from wtforms.fields.choices import SelectChoice

from portal import clock
from portal.audit.services import record
from portal.db import get_session
from portal.errors import NotFound
from portal.notices.transfers import transfer_paragraph
from portal.permissions import Permission, requires
from portal.registers import services
from portal.registers.export import Register, render
from portal.registers.forms import (
    BreachForm,
    ConfirmForm,
    DpiaForm,
    ProcessingForm,
    ProcessorForm,
    ResearchForm,
)
from portal.registers.models import RegisterKind

bp = Blueprint("registers", __name__, url_prefix="/registers")

MANAGE = Permission.REGISTER_MANAGE
#: the letters hold case numbers: no copy kept by the browser or a proxy
NO_STORE = {"Cache-Control": "no-store"}


def _user() -> Any:
    return current_user._get_current_object()


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config.get("TIMEZONE", "Europe/Paris"))


def _to_utc(value: datetime | None) -> datetime | None:
    """A local time typed in the form (naive, the portal's zone) as aware UTC."""
    return None if value is None else value.replace(tzinfo=_zone()).astimezone(UTC)


def _to_local(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(_zone()).replace(tzinfo=None)


def _expected(form: Any) -> int | None:
    raw = str(form.number.data or "")
    return int(raw) if raw.isdigit() else None


#: the date fields each register stores as ISO text in its version's data
PROCESSOR_DATES = ("contract_start", "contract_end")
DPIA_DATES = ("next_review_at",)
RESEARCH_DATES = ("formality_date", "valid_until")


def _edited(session: Any, kind: RegisterKind, item_no: int | None) -> Any:
    """The latest version of the entry being edited; None for a new one; 404 if it is not."""
    current = services.latest(session, kind, item_no) if item_no else None
    if item_no is not None and current is None:
        raise NotFound()
    return current


def _dates_from_text(values: dict[str, Any], keys: tuple[str, ...]) -> None:
    """Stored ISO dates as dates for the form (an empty or unreadable one as none)."""
    for key in keys:
        try:
            values[key] = date.fromisoformat(values.get(key) or "")
        except ValueError:
            values[key] = None


def _dates_as_text(values: dict[str, Any], keys: tuple[str, ...]) -> None:
    """The form's dates as the ISO text the register stores (empty when not given)."""
    for key in keys:
        values[key] = values[key].isoformat() if values.get(key) else ""


def _refused(form: Any, exc: services.RegisterRefused) -> None:
    for key, message in exc.problems.items():
        target = getattr(form, key, None)
        if target is not None:
            target.errors = [*list(target.errors or []), message]
        else:
            form.form_errors.append(message)


@bp.get("/")
@requires(MANAGE)
def index() -> str:
    """The registers at a glance: conformity, running breach clocks, DPIA status."""
    session = get_session()
    services.raise_clock_alerts(session)
    found = services.processing_record(session)
    clocks = services.running_clocks(session)
    page = render_template("registers/index.html", record=found, clocks=clocks,
                           dpia=services.dpia_state(session),
                           breaches=services.items(session, RegisterKind.BREACH),
                           processors=services.items(session, RegisterKind.PROCESSOR))
    session.commit()
    return page


def home_panel() -> Markup | None:
    """The breach clocks and review flags on the DPO's home page."""
    session = get_session()
    services.raise_clock_alerts(session)
    clocks = services.running_clocks(session)
    dpia = services.dpia_state(session)
    conforming = services.processing_record(session).conforming
    session.commit()
    return Markup(render_template("registers/_home.html", clocks=clocks, dpia=dpia,  # noqa: S704
                                  conforming=conforming))


# --- record of processing ----------------------------------------------------------------------


@bp.route("/processing", methods=["GET", "POST"])
@requires(MANAGE)
def processing() -> Any:
    """The record of processing (generated) and what the DPO types into it."""
    session = get_session()
    found = services.processing_record(session)
    current = found.current
    form = ProcessingForm(data={**found.typed, "number": current.number if current else ""})
    if form.validate_on_submit():
        try:
            services.save_processing(session, _user(), form.data, _expected(form))
        except services.RegisterRefused as exc:
            _refused(form, exc)
        else:
            session.commit()
            flash(_("Record of processing saved as a new version."), "success")
            return redirect(url_for(".processing"))
    return render_template("registers/processing.html", record=found, form=form)


# --- history of any item ----------------------------------------------------------------------


@bp.get("/<kind>/<int:item_no>/history")
@requires(MANAGE)
def item_history(kind: str, item_no: int) -> str:
    """Every version of an item, newest first."""
    try:
        chosen = RegisterKind(kind)
    except ValueError:
        raise NotFound() from None
    versions = services.history(get_session(), chosen, item_no)
    if not versions:
        raise NotFound()
    return render_template("registers/history.html", versions=versions, kind=chosen)


@bp.get("/<kind>/<int:item_no>/v/<int:number>")
@requires(MANAGE)
def item_version(kind: str, item_no: int, number: int) -> str:
    """One earlier version of an item, as it was saved."""
    try:
        chosen = RegisterKind(kind)
    except ValueError:
        raise NotFound() from None
    found = services.version(get_session(), chosen, item_no, number)
    return render_template("registers/version.html", version=found, kind=chosen,
                           data=services.display_data(found))


# --- breaches -----------------------------------------------------------------------------------


def _breach_data(form: BreachForm) -> dict[str, Any]:
    data = dict(form.data)
    for key in services.BREACH_TIME_FIELDS:
        data[key] = _to_utc(data.get(key))
    data["cases"] = (form.cases.data or "").split()
    for key in ("persons_approx", "records_approx"):
        data[key] = "" if data.get(key) is None else str(data[key])
    return data


@bp.get("/breaches")
@requires(MANAGE)
def breaches() -> str:
    """Every breach, notified or not."""
    session = get_session()
    return render_template("registers/breaches.html",
                           breaches=services.items(session, RegisterKind.BREACH),
                           clocks={c.breach.item_no: c for c in
                                   services.running_clocks(session)})


@bp.route("/breaches/new", methods=["GET", "POST"], defaults={"item_no": None})
@bp.route("/breaches/<int:item_no>", methods=["GET", "POST"])
@requires(MANAGE)
def breach(item_no: int | None) -> Any:
    """Record a breach, or edit one (a new version)."""
    session = get_session()
    current = _edited(session, RegisterKind.BREACH, item_no)
    initial: dict[str, Any] = {"status": "open"}
    if current is not None:
        initial = dict(current.data)
        initial["status"] = current.status
        initial["number"] = current.number
        initial["cases"] = " ".join(current.data.get("cases") or [])
        for key in services.BREACH_TIME_FIELDS:
            initial[key] = _to_local(services.breach_time(current.data, key))
    form = BreachForm(data=initial)
    if form.validate_on_submit():
        try:
            saved = services.save_breach(session, _user(), item_no, _breach_data(form),
                                         status=services.BreachStatus(form.status.data),
                                         expected_number=_expected(form))
        except services.RegisterRefused as exc:
            _refused(form, exc)
        else:
            session.commit()
            flash(_("Breach %(ref)s saved.", ref=saved.reference), "success")
            return redirect(url_for(".breach", item_no=saved.item_no))
    running = {c.breach.item_no: c for c in services.running_clocks(session)}
    return render_template("registers/breach.html", form=form, current=current,
                           clock=running.get(item_no) if item_no else None)


@bp.route("/breaches/<int:item_no>/letters", methods=["GET", "POST"])
@requires(MANAGE)
def letters(item_no: int) -> Any:
    """The letters to the prescribers, each with his own patients' cases; send them."""
    session = get_session()
    breach_version = services.latest(session, RegisterKind.BREACH, item_no)
    if breach_version is None:
        raise NotFound()
    form = ConfirmForm()
    if form.validate_on_submit():
        sent = services.send_prescriber_letters(session, _user(), item_no)
        session.commit()
        flash(_("%(n)d letter(s) sent.", n=sent), "success")
        return redirect(url_for(".letters", item_no=item_no))
    found, unknown = services.prescriber_letters(session, item_no)
    already = {(x.breach_number, x.prescriber_id): x
               for x in services.sent_letters(session, item_no)}
    return render_template("registers/letters.html", breach=breach_version, letters=found,
                           unknown=unknown, form=form, sent=already)


# --- a prescriber's own letters -------------------------------------------------------------------


def letters_panel() -> Markup | None:
    """The breach letters awaiting the person on his home page (none: no panel)."""
    if not current_user.is_authenticated:
        return None
    found = services.letters_for(get_session(), _user())
    if not found:
        return None
    return Markup(render_template("registers/_letters_home.html",  # noqa: S704
                                  letters=found))


@bp.get("/letters")
@requires(Permission.PATIENT_READ)
def my_letters() -> tuple[str, int, dict[str, str]]:
    """The breach letters addressed to the prescriber (his own patients' cases only)."""
    return render_template("registers/my_letters.html",
                           letters=services.letters_for(get_session(), _user())), 200, NO_STORE


@bp.get("/letters/<int:letter_id>")
@requires(Permission.PATIENT_READ)
def my_letter(letter_id: int) -> tuple[str, int, dict[str, str]]:
    """One letter, to its prescriber only (anyone else: not found)."""
    session = get_session()
    letter = services.read_letter(session, _user(), letter_id)
    session.commit()
    return render_template("registers/my_letter.html", letter=letter), 200, NO_STORE


# --- processors and transfers -----------------------------------------------------------------


def _processor_form(initial: dict[str, Any]) -> ProcessorForm:
    form = ProcessorForm(data=initial)
    form.role.choices = [SelectChoice(role.value, str(label))
                         for role, label in services.PROCESSOR_ROLE_LABELS.items()]
    return form


@bp.get("/processors")
@requires(MANAGE)
def processors() -> str:
    """The processors, the transfers outside the EU, and the notices' paragraph from them."""
    session = get_session()
    lang = "fr" if str(_user().locale or current_app.config["BABEL_DEFAULT_LOCALE"]).startswith(
        "fr") else "en"
    return render_template("registers/processors.html",
                           processors=services.items(session, RegisterKind.PROCESSOR),
                           is_transfer=services.is_transfer,
                           paragraph=transfer_paragraph(session, lang),
                           remote=services.remote_access_countries(session))


@bp.route("/processors/new", methods=["GET", "POST"], defaults={"item_no": None})
@bp.route("/processors/<int:item_no>", methods=["GET", "POST"])
@requires(MANAGE)
def processor(item_no: int | None) -> Any:
    """Add a processor or edit one (a new version)."""
    session = get_session()
    current = _edited(session, RegisterKind.PROCESSOR, item_no)
    initial: dict[str, Any] = {}
    if current is not None:
        initial = dict(current.data)
        initial["number"] = current.number
        _dates_from_text(initial, PROCESSOR_DATES)
    form = _processor_form(initial)
    if form.validate_on_submit():
        data = dict(form.data)
        _dates_as_text(data, PROCESSOR_DATES)
        try:
            saved = services.save_processor(session, _user(), item_no, data, _expected(form))
        except services.RegisterRefused as exc:
            _refused(form, exc)
        else:
            session.commit()
            flash(_("Processor %(ref)s saved.", ref=saved.reference), "success")
            return redirect(url_for(".processors"))
    return render_template("registers/processor.html", form=form, current=current)


# --- DPIA -----------------------------------------------------------------------------------


@bp.route("/dpia", methods=["GET", "POST"])
@requires(MANAGE)
def dpia() -> Any:
    """The impact assessment, its status and why it must be reviewed."""
    session = get_session()
    state = services.dpia_state(session)
    initial: dict[str, Any] = dict(state.current.data) if state.current else {}
    if state.current is not None:
        initial["number"] = state.current.number
        _dates_from_text(initial, DPIA_DATES)
    initial["approve"] = False
    form = DpiaForm(data=initial)
    if form.validate_on_submit():
        data = dict(form.data)
        _dates_as_text(data, DPIA_DATES)
        try:
            services.save_dpia(session, _user(), data, approve=bool(form.approve.data),
                               expected_number=_expected(form))
        except services.RegisterRefused as exc:
            _refused(form, exc)
        else:
            session.commit()
            flash(_("Impact assessment saved as a new version."), "success")
            return redirect(url_for(".dpia"))
    return render_template("registers/dpia.html", form=form, state=state,
                           labels=services.DPIA_SECTION_LABELS)


# --- research formalities ------------------------------------------------------------------------


@bp.get("/research")
@requires(MANAGE)
def research() -> str:
    """The formalities covering a research reuse, each with whether it is in force today."""
    return render_template("registers/research.html",
                           states=services.research_states(get_session()),
                           kinds=services.FORMALITY_KINDS)


def _research_form(session: Any, initial: dict[str, Any]) -> ResearchForm:
    form = ResearchForm(data=initial)
    form.formality_kind.choices = [SelectChoice("", "—")] + [
        SelectChoice(key, str(label)) for key, label in services.FORMALITY_KINDS.items()]
    protocols = services.research_protocol_choices(session)
    form.protocol_key.choices = [SelectChoice("", "—")] + [
        SelectChoice(key, label) for key, label in protocols]
    form.fields.choices = [SelectChoice(f"{key}:{value}", f"{key} · {label}")
                           for key, _title in protocols
                           for value, label in services.research_field_choices(session, key)]
    notices = services.research_notice_choices(session)
    kept = str(initial.get("notice") or "")
    if kept and kept not in {ref for ref, _label in notices}:
        notices.append((kept, _("%(ref)s (no longer published)", ref=kept)))
    form.notice.choices = [SelectChoice("", "—")] + [
        SelectChoice(ref, label) for ref, label in notices]
    return form


@bp.route("/research/new", methods=["GET", "POST"], defaults={"item_no": None})
@bp.route("/research/<int:item_no>", methods=["GET", "POST"])
@requires(MANAGE)
def research_entry(item_no: int | None) -> Any:
    """Record a research formality, or edit one (a new version)."""
    session = get_session()
    current = _edited(session, RegisterKind.RESEARCH, item_no)
    initial: dict[str, Any] = {}
    if current is not None:
        initial = dict(current.data)
        initial["number"] = current.number
        protocol_key = initial.get("protocol_key") or ""
        initial["fields"] = [f"{protocol_key}:{f}" for f in initial.get("fields") or []]
        _dates_from_text(initial, RESEARCH_DATES)
    form = _research_form(session, initial)
    if form.validate_on_submit():
        data = dict(form.data)
        _dates_as_text(data, RESEARCH_DATES)
        prefix = f"{data.get('protocol_key') or ''}:"
        # A field of another protocol keeps its prefix: the service refuses it.
        data["fields"] = [v[len(prefix):] if v.startswith(prefix) else v
                          for v in data.get("fields") or []]
        try:
            saved = services.save_research(session, _user(), item_no, data, _expected(form))
        except services.RegisterRefused as exc:
            _refused(form, exc)
        else:
            session.commit()
            flash(_("Research formality %(ref)s saved.", ref=saved.reference), "success")
            return redirect(url_for(".research"))
    state = services.research_state(session, current) if current is not None else None
    return render_template("registers/research_entry.html", form=form, current=current,
                           state=state)


# --- exports ------------------------------------------------------------------------------------


@bp.get("/export/<register>.<fmt>")
@requires(MANAGE)
def export(register: str, fmt: str) -> Response:
    """Download a register as CSV or PDF (audited)."""
    try:
        chosen = Register(register)
    except ValueError:
        raise NotFound() from None
    if fmt not in ("csv", "pdf"):
        raise NotFound()
    session = get_session()
    content = render(session, chosen, fmt)
    record(session, _user(), services.RegisterAction.EXPORT, ("register", chosen.value),
           format=fmt)
    session.commit()
    mimetype = "application/pdf" if fmt == "pdf" else "text/csv; charset=utf-8"
    stamp = clock.now().strftime("%Y%m%d")
    return Response(content, mimetype=mimetype, headers={
        "Content-Disposition": f'attachment; filename="register-{chosen.value}-{stamp}.{fmt}"'})
