"""Pages of the rights area: professionals submit and follow; the DPO records and handles."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response as BaseResponse
from wtforms.fields.choices import SelectChoice

from portal import clock
from portal.db import get_session
from portal.errors import NotFound, PortalError
from portal.extensions import limiter
from portal.permissions import Permission, granted_permissions, public, requires
from portal.records.reading import RECTIFICATION_LABELS
from portal.rights import (
    answers,
    deadlines,
    handling,
    labels,
    links,
    queries,
    references,
    services,
)
from portal.rights.forms import (
    ActionForm,
    ExtendForm,
    LimitForm,
    PublicRequestForm,
    RecordRequestForm,
    RefuseForm,
    ReviewForm,
    SubmitRequestForm,
)
from portal.rights.labels import (
    CONFIDENTIALITY_PARAGRAPHS,
    CONFIDENTIALITY_TITLE,
    NOT_APPLICABLE_INTRO,
    NOT_APPLICABLE_WHY,
    PROFESSIONAL_LIMITATION_LABELS,
    confidentiality_text,
)
from portal.rights.models import (
    NOT_APPLICABLE_KINDS,
    ExtensionReason,
    RefusalReason,
    RelativeBasis,
    RequesterType,
    RequestKind,
    RightsRequest,
)

bp = Blueprint("rights", __name__, url_prefix="/rights")

#: the public form: a few requests an hour from one address, and a small body
PUBLIC_LIMIT = "5 per hour"
PUBLIC_GLOBAL_LIMIT = "200 per day"
PUBLIC_MAX_BYTES = 16 * 1024


@bp.app_template_filter("rights_paragraphs")
def rights_paragraphs(text: str | None) -> Markup:
    """Render plain text as paragraphs (a block of "- " lines is a list), escaped."""
    from portal.notices.rendering import paragraphs

    return paragraphs(text or "")


def _label(table: dict[Any, Any]) -> Callable[[str | None], str]:
    return lambda code: str(table.get(code, code)) if code else ""


@bp.context_processor
def _labels() -> dict[str, Any]:
    return {
        "kind_label": _label(labels.KIND_LABELS),
        "state_label": _label(labels.STATE_LABELS),
        "requester_label": _label(labels.REQUESTER_LABELS),
        "channel_label": _label(labels.CHANNEL_LABELS),
        "refusal_label": _label(labels.REFUSAL_LABELS),
        "extension_label": _label(labels.EXTENSION_LABELS),
        "relative_label": _label(labels.RELATIVE_BASIS_LABELS),
        "reason_label": _label(labels.EVENT_REASON_LABELS),
        "rectification_label": _label(RECTIFICATION_LABELS),
        "shown_case": queries.shown_case,
    }

NO_STORE = {"Cache-Control": "no-store"}


def _user() -> Any:
    return current_user._get_current_object()


def _handling() -> bool:
    return Permission.RIGHTS_HANDLE in granted_permissions()


def _trusted(form: Any) -> services.TrustedPerson:
    """The trusted person typed in a request form."""
    return services.TrustedPerson(form.trusted_name.data, form.trusted_contact.data,
                                  bool(form.trusted_copy.data))


def _load(handle: str) -> RightsRequest:
    return queries.get_for(get_session(), _user(), handle, handling=_handling())


# --- professionals ----------------------------------------------------------------------------


@bp.get("/")
@requires(Permission.RIGHTS_SUBMIT)
def my_requests() -> str:
    """List the requests the professional submitted or that are answered through them."""
    session = get_session()
    requests = queries.requests_of(session, _user())
    today = clock.now()
    return render_template(
        "rights/list.html", requests=requests,
        due={r.id: services.current_due(r, today) for r in requests},
    )


@bp.route("/new", methods=["GET", "POST"])
@requires(Permission.RIGHTS_SUBMIT)
def new_request() -> str | BaseResponse:
    """Submit a request for a patient of one's establishment, or for one's own data."""
    form = SubmitRequestForm()
    if form.validate_on_submit():
        session = get_session()
        try:
            request = services.submit_request(
                session, _user(), kind=RequestKind(form.kind.data),
                case_number=form.case_number.data, for_self=form.subject.data == "self",
                trusted=_trusted(form),
            )
        except PortalError as exc:
            target = form.case_number if form.subject.data == "patient" else form.kind
            if isinstance(exc, services.TrustedPersonRefused):
                target = form.trusted_name
            target.errors = [*target.errors, exc.message or ""]
        else:
            session.commit()
            flash(_("Request %(number)s recorded.", number=request.number), "success")
            return redirect(url_for("rights.show", handle=request.handle))
    return render_template("rights/new.html", form=form, why=NOT_APPLICABLE_WHY,
                           intro=NOT_APPLICABLE_INTRO, not_applicable=NOT_APPLICABLE_KINDS)


@bp.get("/r/<handle>")
@requires(Permission.RIGHTS_SUBMIT)
def show(handle: str) -> tuple[str, int, dict[str, str]]:
    """Show a request: its state, due date and history; the DPO's actions for the DPO."""
    session = get_session()
    request = _load(handle)
    handling_ = _handling()
    now = clock.now()
    due = services.current_due(request, now)
    context: dict[str, Any] = {
        "request": request, "handling": handling_, "due": due,
        "urgency": deadlines.urgency(due, now) if request.is_open else None,
        "why": NOT_APPLICABLE_WHY, "intro": NOT_APPLICABLE_INTRO,
        "not_applicable": request.kind_enum in NOT_APPLICABLE_KINDS,
        "case": links.case_summary(session, request) if handling_ else None,
        "versions": handling.linked_versions(session, request)
        if request.kind_enum is RequestKind.RECTIFICATION else [],
        # The forms the submitter can rectify, once the case is theirs (or cleared).
        "to_rectify": links.submissions_to_rectify(session, request)
        if request.kind_enum is RequestKind.RECTIFICATION and request.is_open
        and not (request.manual_review and request.review_cleared_at is None) else [],
    }
    if handling_:
        context.update(
            typed=references.read_details(session, request),
            trusted=services.trusted_person(session, request),
            limit_form=_limit_form(request), refuse_form=_refuse_form(request),
            review_form=ReviewForm(prefix="review"),
            recipient=links.recipient_label(session, request),
            action_form=ActionForm(), extend_form=ExtendForm(prefix="extend"),
        )
    return render_template("rights/detail.html", **context), 200, NO_STORE


def _limit_form(request: RightsRequest) -> LimitForm:
    form = LimitForm(prefix="limit")
    if handling.is_professional_self(request):
        # The same codes, worded for a professional's own data.
        form.reason.choices = [SelectChoice(code, label)
                               for code, label in PROFESSIONAL_LIMITATION_LABELS.items()]
    return form


def _refuse_form(request: RightsRequest) -> RefuseForm:
    form = RefuseForm(prefix="refuse")
    if request.kind_enum in NOT_APPLICABLE_KINDS:
        form.reason.data = RefusalReason.NOT_APPLICABLE.value
    return form


@bp.get("/r/<handle>/answer")
@requires(Permission.RIGHTS_SUBMIT)
def answer(handle: str) -> tuple[str, int, dict[str, str]]:
    """Show the access answer as a printable document (a disclosure, logged)."""
    session = get_session()
    request = _load(handle)
    document = answers.disclose(session, _user(), request, fmt="html",
                                  handling=_handling())
    session.commit()
    # The document is read in the language it was issued in, headings included.
    with force_locale(document.get("language") or "fr"):
        body = render_template("rights/answer.html", request=request, doc=document)
    return body, 200, NO_STORE


@bp.get("/r/<handle>/answer.json")
@requires(Permission.RIGHTS_SUBMIT)
def answer_json(handle: str) -> Response:
    """Download the access answer as a machine-readable JSON file (a disclosure, logged)."""
    session = get_session()
    request = _load(handle)
    document = answers.disclose(session, _user(), request, fmt="json",
                                  handling=_handling())
    session.commit()
    body = json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True)
    return Response(body, mimetype="application/json", headers={
        **NO_STORE,
        "Content-Disposition": f'attachment; filename="{request.number}-access.json"',
    })


@bp.get("/r/<handle>/letter")
@requires(Permission.RIGHTS_SUBMIT)
def letter(handle: str) -> tuple[str, int, dict[str, str]]:
    """Show the refusal letter (no health data), printable."""
    request = _load(handle)
    if request.refusal_reason is None:
        raise NotFound()
    return render_template("rights/letter.html", request=request,
                           letter=answers.refusal_letter(get_session(), request)), 200, NO_STORE


# --- the DPO ------------------------------------------------------------------------------------


@bp.route("/dpo", methods=["GET", "POST"])
@requires(Permission.RIGHTS_HANDLE)
def dashboard() -> tuple[str, int]:
    """The DPO's inbox: open requests a page at a time, by due date or receipt, flagged due
    soon or overdue, searchable by request or case number (sent by POST only)."""
    session = get_session()
    source = request.form if request.method == "POST" else request.args
    typed = request.form.get("q", "") if request.method == "POST" else ""
    arguments: dict[str, Any] = {"sort": source.get("sort") or None,
                                 "after": source.get("after") or None}
    error = None
    try:
        page = queries.inbox_page(session, search=typed, **arguments)
    except queries.InboxSearchError as exc:
        error = str(exc)
        page = queries.inbox_page(session, sort=arguments["sort"])
    return render_template(
        "rights/dashboard.html", page=page, typed=typed, search_error=error,
        sorts=queries.INBOX_SORT_LABELS,
        to_close=queries.awaiting_closure(session),
        limited=handling.limitations_in_force(session),
    ), 422 if error else 200


@bp.route("/dpo/record", methods=["GET", "POST"])
@requires(Permission.RIGHTS_HANDLE)
def record_request() -> str | BaseResponse:
    """Record a request that arrived by e-mail or post."""
    form = RecordRequestForm()
    if form.validate_on_submit():
        session = get_session()
        try:
            via = links.find_professional(session, form.via_professional.data)
            establishment_id = links.find_establishment(session, form.via_establishment.data)
            request = services.record_request(
                session, _user(), kind=RequestKind(form.kind.data),
                requester_type=RequesterType(form.requester_type.data),
                channel=form.channel.data, received_on=form.received_on.data,
                case_number=form.case_number.data, via_professional=via,
                via_establishment_id=establishment_id,
                relative_basis=RelativeBasis(form.relative_basis.data)
                if form.relative_basis.data else None,
                correspondence_ref=form.correspondence_ref.data,
                doctor_rpps=form.doctor_rpps.data, doctor_name=form.doctor_name.data,
                trusted=_trusted(form),
            )
        except PortalError as exc:
            form.form_errors.append(exc.message or "")
        else:
            session.commit()
            flash(_("Request %(number)s recorded.", number=request.number), "success")
            return redirect(url_for("rights.show", handle=request.handle))
    return render_template("rights/record.html", form=form)


def _act(handle: str, action: Callable[[Any, Any, RightsRequest], Any],
         done: str) -> BaseResponse:
    """Run one DPO action on a request: commit and flash, or flash why it was refused."""
    session = get_session()
    request = _load(handle)
    form = ActionForm()
    if not form.validate_on_submit():
        flash(_("The form expired: try again."), "error")
        return redirect(url_for("rights.show", handle=handle))
    try:
        action(session, _user(), request)
    except PortalError as exc:
        session.rollback()
        flash(exc.message or _("This action is not possible now."), "error")
    else:
        session.commit()
        flash(done, "success")
    return redirect(url_for("rights.show", handle=handle))


@bp.post("/r/<handle>/identity")
@requires(Permission.RIGHTS_HANDLE)
def ask_identity(handle: str) -> BaseResponse:
    """Put the request on hold until identity is confirmed (clock suspended)."""
    return _act(handle, services.ask_identity,
                _("Identity check recorded: the clock is suspended."))


@bp.post("/r/<handle>/confirm")
@requires(Permission.RIGHTS_HANDLE)
def confirm_identity(handle: str) -> BaseResponse:
    """Record that identity is confirmed; the clock runs again."""
    return _act(handle, services.confirm_identity, _("Identity confirmed."))


@bp.post("/r/<handle>/start")
@requires(Permission.RIGHTS_HANDLE)
def start(handle: str) -> BaseResponse:
    """Take the request in hand."""
    return _act(handle, services.start, _("The request is in progress."))


@bp.post("/r/<handle>/review")
@requires(Permission.RIGHTS_HANDLE)
def clear_review(handle: str) -> BaseResponse:
    """Match a request under manual review to a case."""
    form = ReviewForm(prefix="review")
    if not form.validate_on_submit():
        flash(_("Give the case number as it appears in the portal."), "error")
        return redirect(url_for("rights.show", handle=handle))
    return _act(handle, lambda s, u, r: services.clear_review(
        s, u, r, form.case_number.data, identity_confirmed=form.identity_confirmed.data,
        relation_confirmed=form.relation_confirmed.data),
        _("The request is matched to the case."))


@bp.post("/r/<handle>/extend")
@requires(Permission.RIGHTS_HANDLE)
def extend(handle: str) -> BaseResponse:
    """Record the extension notice, with its reason."""
    form = ExtendForm(prefix="extend")
    if not form.validate_on_submit():
        flash(_("Choose the length and the reason of the extension."), "error")
        return redirect(url_for("rights.show", handle=handle))
    return _act(handle, lambda s, u, r: services.extend(
        s, u, r, months=int(form.months.data), reason=ExtensionReason(form.reason.data)),
        _("Extension recorded; the requester is told."))


@bp.post("/r/<handle>/secrecy")
@requires(Permission.RIGHTS_HANDLE)
def secrecy_check(handle: str) -> BaseResponse:
    """Record that a relative's answer reveals nothing covered by medical secrecy."""
    return _act(handle, services.record_secrecy_check, _("Medical secrecy check recorded."))


@bp.post("/r/<handle>/answer")
@requires(Permission.RIGHTS_HANDLE)
def answer_access(handle: str) -> BaseResponse:
    """Assemble the access answer and make it available to the requesting professional."""
    return _act(handle, handling.answer_access,
                _("The access answer is ready and the requester is told."))


@bp.post("/r/<handle>/rectified")
@requires(Permission.RIGHTS_HANDLE)
def rectified(handle: str) -> BaseResponse:
    """Answer a rectification request with the versions it produced."""
    return _act(handle, handling.answer_rectification,
                _("The rectification is answered; the versions are linked."))


@bp.post("/r/<handle>/limit")
@requires(Permission.RIGHTS_HANDLE)
def limit(handle: str) -> BaseResponse:
    """Limit the patient's records, or a professional's own data, on a ground of art. 18(1)."""
    form = LimitForm(prefix="limit")
    if not form.validate_on_submit():
        flash(_("Choose the ground of the limitation."), "error")
        return redirect(url_for("rights.show", handle=handle))
    done = (_("The professional's own data are limited; his access goes on. He is told.")
            if handling.is_professional_self(_load(handle))
            else _("The patient's records are limited; the requester is told."))
    return _act(handle, lambda s, u, r: handling.apply_limitation(s, u, r, form.reason.data),
                done)


@bp.post("/r/<handle>/lift-notice")
@requires(Permission.RIGHTS_HANDLE)
def lift_notice(handle: str) -> BaseResponse:
    """Tell the requester that the limitation is about to be lifted."""
    return _act(handle, handling.notify_lift, _("The requester is told of the lifting."))


@bp.post("/r/<handle>/lift")
@requires(Permission.RIGHTS_HANDLE)
def lift(handle: str) -> BaseResponse:
    """Lift the limitation after the checks."""
    return _act(handle, handling.lift_limitation, _("The limitation is lifted."))


@bp.post("/r/<handle>/refuse")
@requires(Permission.RIGHTS_HANDLE)
def refuse(handle: str) -> BaseResponse:
    """Refuse with a coded reason; the letter is generated from it."""
    form = RefuseForm(prefix="refuse")
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(str(error), "error")
        return redirect(url_for("rights.show", handle=handle))
    return _act(handle, lambda s, u, r: services.refuse(
        s, u, r, reason=RefusalReason(form.reason.data), justification=form.justification.data),
        _("The refusal is recorded and its letter is ready."))


@bp.post("/r/<handle>/close")
@requires(Permission.RIGHTS_HANDLE)
def close(handle: str) -> BaseResponse:
    """Close an answered or refused request."""
    return _act(handle, services.close, _("The request is closed."))


# --- anyone, without an account ---------------------------------------------------------------


def _everyone() -> str:
    return "rights-public-form"


@bp.route("/ask", methods=["GET", "POST"])
@public
@limiter.limit(PUBLIC_LIMIT, methods=["POST"])
@limiter.limit(PUBLIC_GLOBAL_LIMIT, key_func=_everyone, methods=["POST"])
def ask() -> tuple[str, int, dict[str, str]]:
    """How to exercise one's rights, and the form that needs no account."""
    # The form holds a few short fields. The CSRF check may have read the body already under
    # the portal-wide limit, so the declared length is checked too.
    request.max_content_length = PUBLIC_MAX_BYTES
    if (request.content_length or 0) > PUBLIC_MAX_BYTES:
        raise RequestEntityTooLarge()
    form = PublicRequestForm()
    receipt = None
    read = False
    if form.validate_on_submit():
        session = get_session()
        try:
            created = services.submit_public(
                session, kind=RequestKind(form.kind.data),
                requester_type=RequesterType(form.requester_type.data),
                confirmer=form.confirmer.data, contact=form.contact.data,
                case_number=form.case_number.data,
                relative_basis=RelativeBasis(form.relative_basis.data)
                if form.relative_basis.data else None,
                doctor_rpps=form.doctor_rpps.data, doctor_name=form.doctor_name.data,
                trusted=_trusted(form),
                # The text as this writer read it, kept with the request.
                confidentiality_read=confidentiality_text()
                if form.confidentiality_read.data else None,
            )
        except PortalError as exc:
            session.rollback()
            form.form_errors.append(exc.message or "")
        else:
            session.commit()
            receipt = created.number
            read = bool(form.confidentiality_read.data)
    return render_template("rights/ask.html", form=form, receipt=receipt, why=NOT_APPLICABLE_WHY,
                           intro=NOT_APPLICABLE_INTRO, read=read,
                           confidentiality_title=CONFIDENTIALITY_TITLE,
                           confidentiality=CONFIDENTIALITY_PARAGRAPHS), 200, NO_STORE
