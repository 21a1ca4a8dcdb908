"""The builder's pages: drafts, the text editor with its findings, compare, decide, versions,
and the preview of each form as a prescriber sees it (web and paper)."""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace
from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from portal import clock
from portal.db import get_session
from portal.errors import Conflict, Forbidden, NotFound
from portal.i18n import local_zone, page_language
from portal.permissions import Permission, granted_permissions, requires
from portal.protocols import drafts
from portal.protocols.builder import form_class
from portal.protocols.compare import version_changes
from portal.protocols.loader import Problem
from portal.protocols.models import DraftStatus, ProtocolDraft, ProtocolVersion
from portal.protocols.render import render_answers, render_form
from portal.protocols.services import IncompatibleVersion, ReleaseBlocked, loaded
from portal.records import paper_sections

from .forms import ConfirmForm, RefuseForm, RevisionForm, StartForm, TextForm

bp = Blueprint("builder", __name__, url_prefix="/builder", static_folder="static",
               static_url_path="/static")

def _actor() -> Any:
    return current_user._get_current_object()


def _status_label(status: str) -> str:
    return {
        DraftStatus.EDITING: _("being edited"),
        DraftStatus.SUBMITTED: _("submitted for approval"),
        DraftStatus.APPROVED: _("approved, in force"),
        DraftStatus.REFUSED: _("refused"),
    }.get(status, status)


@bp.app_template_global("draft_status")
def draft_status(status: str) -> str:
    return _status_label(status)


def _in_force_keys(session: Any) -> list[str]:
    return list(session.scalars(
        select(ProtocolVersion.protocol_key).where(ProtocolVersion.is_current.is_(True))
        .order_by(ProtocolVersion.protocol_key)))


@bp.get("/")
@requires(Permission.PROTOCOL_MANAGE)
def drafts_list() -> str:
    """Every draft, newest first, the protocols in force, and how to start a draft."""
    session = get_session()
    form = StartForm()
    keys = _in_force_keys(session)
    form.protocol_key.choices = [SelectChoice(k, k) for k in keys]
    return render_template("builder/index.html", drafts=drafts.list_drafts(session), form=form,
                           keys=keys)


def _upload(name: str) -> tuple[str, bytes] | None:
    stored = request.files.get(name)
    if stored is None or not stored.filename:
        return None
    return stored.filename, stored.read()


@bp.post("/start")
@requires(Permission.PROTOCOL_MANAGE)
def start() -> Any:
    """Start a draft from the version in force, a definition file or an importer's source."""
    session = get_session()
    form = StartForm()
    keys = _in_force_keys(session)
    form.protocol_key.choices = [SelectChoice(k, k) for k in keys]
    error: str | None = None
    if form.validate_on_submit():
        origin = form.origin.data
        try:
            if origin == "current":
                if form.protocol_key.data not in keys:
                    raise drafts.DraftError(_("Choose a protocol in force."))
                draft = drafts.start_from_current(session, _actor(), form.protocol_key.data)
            else:
                main = _upload("upload")
                if main is None:
                    raise drafts.DraftError(_("Choose the file to start from."))
                if origin == "file":
                    draft = drafts.start_from_file(session, _actor(), *main)
                else:
                    files = {"main": main}
                    if origin == "redcap":
                        for role in drafts.REDCAP_SIDE_FILES:
                            side = _upload(role)
                            if side is not None:
                                files[role] = side
                    draft = drafts.start_from_import(session, _actor(), origin, files)
        except drafts.DraftError as exc:
            error = exc.message
        else:
            session.commit()
            return redirect(url_for(".draft", draft_id=draft.id), 303)
    if error:
        form.upload.errors = [error]
    return render_template("builder/index.html", drafts=drafts.list_drafts(session), form=form,
                           keys=keys), 422


def _line_findings(findings: tuple[Problem, ...]) -> dict[int, list[Problem]]:
    by_line: dict[int, list[Problem]] = defaultdict(list)
    for problem in findings:
        by_line[problem.line].append(problem)
    return dict(by_line)


def _finding_json(problem: Problem, warning: bool) -> dict[str, Any]:
    return {"line": problem.line, "column": problem.column, "rule": problem.rule,
            "field": problem.field_key, "message": problem.message, "fix": problem.fix,
            "warning": warning}


def _draft_page(draft: ProtocolDraft, *, text: str | None = None, status: int = 200,
                conflict: bool = False, result: drafts.Lint | None = None,
                refuse_form: RefuseForm | None = None, reasons: list[str] | None = None
                ) -> tuple[str, int]:
    shown = draft.text if text is None else text
    result = result or drafts.lint(shown, draft.source_name)
    form = TextForm(formdata=None, text=shown, revision=draft.revision)
    permissions = granted_permissions()
    protocol = result.protocol
    return render_template(
        "builder/draft.html", draft=draft, form=form, result=result,
        by_line=_line_findings(result.findings), line_count=max(1, len(shown.splitlines())),
        report=drafts.import_report(draft), conflict=conflict,
        forms=protocol.definition.forms if protocol is not None else [],
        revision_form=RevisionForm(formdata=None, revision=draft.revision),
        refuse_form=refuse_form or RefuseForm(formdata=None), confirm_form=ConfirmForm(),
        may_decide=Permission.PROTOCOL_APPROVE in permissions
        and drafts.may_decide(draft, _actor()),
        reasons=reasons or [],
    ), status


@bp.get("/drafts/<int:draft_id>")
@requires(Permission.PROTOCOL_MANAGE)
def draft(draft_id: int) -> Any:
    """The text editor, with every finding beside its line, and the draft's actions."""
    return _draft_page(drafts.get_draft(get_session(), draft_id))


@bp.post("/drafts/<int:draft_id>")
@requires(Permission.PROTOCOL_MANAGE)
def save(draft_id: int) -> Any:
    """Save the text (the page's button, or the script's autosave asking for JSON)."""
    session = get_session()
    found = drafts.get_draft(session, draft_id)
    form = TextForm()
    wants_json = request.accept_mimetypes.best == "application/json"
    if not form.validate():
        if wants_json:
            return jsonify(error=_("The page is out of date: reload it.")), 400
        return _draft_page(found, status=400)
    text = form.text.data or ""
    try:
        saved = drafts.save_text(session, _actor(), draft_id, text, form.revision.data)
    except drafts.DraftConflict as exc:
        session.rollback()
        message = _("%(who)s saved this draft after you opened it. Your text was not saved and "
                    "is shown below; the saved text is under it. Merge them, then save again.",
                    who=exc.draft.updated_by_label)
        if wants_json:
            return jsonify(error=message, conflict=True), 409
        flash(message, "error")
        return _draft_page(exc.draft, text=text, status=409, conflict=True)
    except Conflict:
        session.rollback()
        message = _("This draft was submitted: it can no longer be changed.")
        if wants_json:
            return jsonify(error=message), 409
        flash(message, "error")
        return redirect(url_for(".draft", draft_id=draft_id), 303)
    session.commit()
    if wants_json:
        return jsonify(
            revision=saved.draft.revision,
            findings=[_finding_json(p, False) for p in saved.lint.problems]
            + [_finding_json(p, True) for p in saved.lint.warnings],
            saved_at=clock.now().astimezone(local_zone()).strftime("%H:%M:%S"))
    if saved.lint.clean:
        flash(_("Saved. No finding: the draft can be submitted."), "success")
    else:
        flash(_("Saved, with %(n)s finding(s) to correct.", n=len(saved.lint.findings)), "info")
    return _draft_page(saved.draft, result=saved.lint)


@bp.get("/drafts/<int:draft_id>/compare")
@requires(Permission.PROTOCOL_MANAGE)
def compare_page(draft_id: int) -> Any:
    """The draft against the version in force, and what stored submissions forbid."""
    session = get_session()
    found = drafts.get_draft(session, draft_id)
    return render_template("builder/compare.html", draft=found,
                           comparison=drafts.comparison(session, found))


@bp.post("/drafts/<int:draft_id>/submit")
@requires(Permission.PROTOCOL_MANAGE)
def submit(draft_id: int) -> Any:
    session = get_session()
    found = drafts.get_draft(session, draft_id)
    form = RevisionForm()
    if not form.validate():
        return _draft_page(found, status=400)
    try:
        drafts.submit(session, _actor(), draft_id, form.revision.data)
    except drafts.NotSubmittable as exc:
        session.rollback()
        flash(_("The draft cannot be submitted yet:"), "error")
        return _draft_page(drafts.get_draft(session, draft_id), status=409, reasons=exc.reasons)
    except drafts.DraftConflict as exc:
        session.rollback()
        flash(_("%(who)s saved this draft after you opened it: check it, then submit again.",
                who=exc.draft.updated_by_label), "error")
        return redirect(url_for(".draft", draft_id=draft_id), 303)
    session.commit()
    flash(_("Submitted. Another protocol manager must now approve it."), "success")
    return redirect(url_for(".draft", draft_id=draft_id), 303)


@bp.post("/drafts/<int:draft_id>/approve")
@requires(Permission.PROTOCOL_APPROVE)
def approve(draft_id: int) -> Any:
    session = get_session()
    found = drafts.get_draft(session, draft_id)
    if not ConfirmForm().validate():
        return _draft_page(found, status=400)
    try:
        installed = drafts.approve(session, _actor(), draft_id)
    except Forbidden:
        session.rollback()
        raise Forbidden(_("A second person approves: whoever wrote or last changed a draft "
                          "cannot approve it.")) from None
    except IncompatibleVersion as exc:
        session.rollback()
        flash(_("The draft would break stored submissions: it is not put in force."), "error")
        return _draft_page(drafts.get_draft(session, draft_id), status=409, reasons=exc.breaks)
    except ReleaseBlocked as exc:
        session.commit()  # the refusal of the other area is kept
        flash(_("The draft is not put in force for now: %(why)s", why=exc.message), "error")
        return _draft_page(drafts.get_draft(session, draft_id), status=409)
    except drafts.NotSubmittable as exc:
        session.rollback()
        return _draft_page(drafts.get_draft(session, draft_id), status=409, reasons=exc.reasons)
    session.commit()
    flash(_("Approved: version %(v)s is now in force.", v=installed.version.version_label),
          "success")
    return redirect(url_for(".versions", protocol_key=installed.version.protocol_key), 303)


@bp.post("/drafts/<int:draft_id>/refuse")
@requires(Permission.PROTOCOL_APPROVE)
def refuse(draft_id: int) -> Any:
    session = get_session()
    found = drafts.get_draft(session, draft_id)
    form = RefuseForm()
    if not form.validate():
        return _draft_page(found, status=422, refuse_form=form)
    try:
        drafts.refuse(session, _actor(), draft_id, form.reason.data or "")
    except Forbidden:
        session.rollback()
        raise Forbidden(_("A second person refuses: whoever wrote or last changed a draft "
                          "cannot refuse it.")) from None
    session.commit()
    flash(_("Refused. Its author sees why and may edit it again."), "success")
    return redirect(url_for(".draft", draft_id=draft_id), 303)


@bp.post("/drafts/<int:draft_id>/reopen")
@requires(Permission.PROTOCOL_MANAGE)
def reopen(draft_id: int) -> Any:
    session = get_session()
    if not ConfirmForm().validate():
        return _draft_page(drafts.get_draft(session, draft_id), status=400)
    drafts.reopen(session, _actor(), draft_id)
    session.commit()
    return redirect(url_for(".draft", draft_id=draft_id), 303)


@bp.get("/protocols/<protocol_key>/versions")
@requires(Permission.PROTOCOL_MANAGE)
def versions(protocol_key: str) -> Any:
    """Every version with its dates, author, approver and changes against the previous."""
    session = get_session()
    found = drafts.versions(session, protocol_key[:64])
    if not found:
        raise NotFound()
    changes = version_changes(found, lambda v: loaded(v).definition)
    rows = [SimpleNamespace(version=v, changes=c) for v, c in zip(found, changes, strict=True)]
    return render_template("builder/versions.html", protocol_key=protocol_key, rows=rows)


# --- preview ---------------------------------------------------------------------------------


def _previewed(draft_id: int, form_key: str) -> tuple[ProtocolDraft, Any, Any]:
    found = drafts.get_draft(get_session(), draft_id)
    result = drafts.lint(found.text, found.source_name)
    if result.protocol is None:
        raise Conflict(_("Correct the draft's problems before previewing its forms."))
    try:
        definition = result.protocol.definition.form(form_key)
    except KeyError:
        raise NotFound() from None
    return found, result.protocol, definition


@bp.route("/drafts/<int:draft_id>/preview/<form_key>", methods=["GET", "POST"])
@requires(Permission.PROTOCOL_MANAGE)
def preview(draft_id: int, form_key: str) -> Any:
    """A form of the draft as a prescriber will see it; filling it runs every check and
    stores nothing."""
    found, protocol, definition = _previewed(draft_id, form_key)
    today = clock.now().astimezone(local_zone()).date()
    status, checked = 200, False
    if request.method == "POST":
        form = form_class(protocol, form_key)(formdata=request.form)
        valid = form.validate(today=today)
        rendered = render_form(form)
        checked = True
        status = 200 if valid else 422
    else:
        rendered, valid = render_answers(protocol, form_key, {}), False
    return render_template(
        "builder/preview.html", draft=found, protocol=protocol.definition, form=definition,
        rendered=rendered, checked=checked, valid=valid, today=today.isoformat(),
        timezone=str(local_zone()), language=page_language(),
    ), status


@bp.get("/drafts/<int:draft_id>/paper/<form_key>")
@requires(Permission.PROTOCOL_MANAGE)
def paper(draft_id: int, form_key: str) -> str:
    """The paper version of a draft's form, as the print page lays it out."""
    found, protocol, definition = _previewed(draft_id, form_key)
    locale = page_language()
    return render_template(
        "builder/paper.html", draft=found, protocol=protocol.definition, form=definition,
        version=SimpleNamespace(version_label=protocol.definition.version),
        sections=paper_sections(protocol.definition, definition, locale), locale=locale)
