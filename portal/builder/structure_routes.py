"""The structured editor: forms, sections, fields and timepoints of a draft as pages.

Every edit goes through `drafts.edit_structure`, which writes the definition back to the
draft's text and saves it like a typed text: the text editor shows the same definition, and
the findings are those of the same linter.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict
from wtforms.fields.choices import SelectChoice

from portal.db import get_session
from portal.errors import BadRequest, Conflict, NotFound
from portal.permissions import Permission, requires
from portal.protocols import drafts, structure
from portal.protocols.loader import Problem
from portal.protocols.models import DraftStatus, ProtocolDraft

from .forms import ConfirmForm, FieldForm, RevisionForm, SectionForm
from .routes import bp


def _type_label(kind: str) -> str:
    return {
        "integer": _("Whole number"), "decimal": _("Decimal number"), "date": _("Date"),
        "partial_date": _("Month and year"), "year": _("Year"), "yes_no": _("Yes / no"),
        "single_choice": _("One answer from a list"),
        "multiple_choice": _("Several answers from a list"),
        "coded": _("Coded value (list or strict pattern)"),
        "calculated": _("Calculated from other fields"),
    }.get(kind, kind)


def _by_field(findings: tuple[Problem, ...]) -> dict[str, list[Problem]]:
    found: dict[str, list[Problem]] = defaultdict(list)
    for problem in findings:
        if problem.field_key:
            found[problem.field_key].append(problem)
    return dict(found)


def _editable(draft: ProtocolDraft) -> None:
    if draft.status != DraftStatus.EDITING:
        raise Conflict(_("This draft was submitted: it can no longer be changed."))


@bp.get("/drafts/<int:draft_id>/structure")
@requires(Permission.PROTOCOL_MANAGE)
def structure_page(draft_id: int) -> Any:
    """Forms, sections and fields with their findings, the timepoints, and the edits."""
    found = drafts.get_draft(get_session(), draft_id)
    result = drafts.lint(found.text, found.source_name)
    try:
        data = structure.parse(found.text, found.source_name)
    except structure.StructureError:
        data = None
    points: list[dict[str, Any]] = []
    if data is not None:
        try:
            points = structure.timepoints(data)
        except structure.StructureError:
            points = []
    general = tuple(p for p in result.findings if not p.field_key)
    return render_template(
        "builder/structure.html", draft=found, data=data, result=result,
        by_field=_by_field(result.findings), general=general, timepoints=points,
        types=[(t, _type_label(t)) for t in structure.OFFERED_TYPES], type_label=_type_label,
        revision_form=RevisionForm(formdata=None, revision=found.revision),
        confirm_form=ConfirmForm(),
        forms=result.protocol.definition.forms if result.protocol is not None else [],
    )


def _apply(draft_id: int, revision: int, edit: Callable[[dict[str, Any]], Any],
           anchor: str = "") -> Any:
    session = get_session()
    try:
        saved, _outcome = drafts.edit_structure(
            session, _actor(), draft_id, revision, edit)
    except drafts.DraftConflict as exc:
        session.rollback()
        flash(_("%(who)s saved this draft after you opened it: your change was not made. "
                "Here is the draft as it is now.", who=exc.draft.updated_by_label), "error")
        return redirect(url_for(".structure_page", draft_id=draft_id), 303)
    except structure.StructureError as exc:
        session.rollback()
        flash(str(exc), "error")
        return redirect(url_for(".structure_page", draft_id=draft_id), 303)
    session.commit()
    findings = len(saved.lint.findings)
    if findings:
        flash(_("Saved, with %(n)s finding(s) to correct.", n=findings), "info")
    else:
        flash(_("Saved. No finding: the draft can be submitted."), "success")
    target = url_for(".structure_page", draft_id=draft_id)
    return redirect(target + (f"#{anchor}" if anchor else ""), 303)


def _actor() -> Any:
    from flask_login import current_user

    return current_user._get_current_object()


#: the buttons of the structure page: action → (edit, anchor) from the button's parts
def _edit_for(action: str, parts: list[str], posted: MultiDict[str, str]
              ) -> tuple[Callable[[dict[str, Any]], Any], str]:
    form_key = parts[0] if parts else ""
    section_key = parts[1] if len(parts) > 1 else ""
    field_key = parts[2] if len(parts) > 2 else ""
    if action == "field_up":
        return (lambda d: structure.move_field(d, form_key, section_key, field_key, -1),
                f"field-{field_key}")
    if action == "field_down":
        return (lambda d: structure.move_field(d, form_key, section_key, field_key, 1),
                f"field-{field_key}")
    if action == "field_duplicate":
        return (lambda d: structure.duplicate_field(d, form_key, section_key, field_key),
                f"field-{field_key}")
    if action == "field_remove":
        return (lambda d: structure.remove_field(d, form_key, section_key, field_key),
                f"section-{section_key}")
    if action == "field_add":
        kind = posted.get(f"type-{form_key}-{section_key}", "")
        return (lambda d: structure.add_field(d, form_key, section_key, kind),
                f"section-{section_key}")
    if action == "section_up":
        return (lambda d: structure.move_section(d, form_key, section_key, -1),
                f"section-{section_key}")
    if action == "section_down":
        return (lambda d: structure.move_section(d, form_key, section_key, 1),
                f"section-{section_key}")
    if action == "section_remove":
        return (lambda d: structure.remove_section(d, form_key, section_key), f"form-{form_key}")
    if action == "section_add":
        return (lambda d: structure.add_section(d, form_key), f"form-{form_key}")
    code = form_key
    if action == "timepoint_add":
        return structure.add_timepoint, "timepoints"
    if action == "timepoint_remove":
        return (lambda d: structure.remove_timepoint(d, code)), "timepoints"
    if action == "timepoint_up":
        return (lambda d: structure.move_timepoint(d, code, -1)), "timepoints"
    if action == "timepoint_down":
        return (lambda d: structure.move_timepoint(d, code, 1)), "timepoints"
    if action == "timepoints_save":
        def save_all(data: dict[str, Any]) -> None:
            for point in structure.timepoints(data):
                prefix = f"tp-{point.get('code')}-"
                structure.update_timepoint(data, str(point.get("code")), {
                    name: posted.get(prefix + name, "")
                    for name in ("label_fr", "label_en", "day", "month",
                                 "window_before_days", "window_after_days")})
        return save_all, "timepoints"
    raise BadRequest()


@bp.post("/drafts/<int:draft_id>/structure")
@requires(Permission.PROTOCOL_MANAGE)
def structure_edit(draft_id: int) -> Any:
    """One button of the structure page: move, duplicate, remove, add; or the timepoints."""
    found = drafts.get_draft(get_session(), draft_id)
    _editable(found)
    form = RevisionForm()
    if not form.validate():
        raise BadRequest()
    action, *parts = (request.form.get("action") or "").split("|")
    edit, anchor = _edit_for(action, parts, request.form)
    return _apply(draft_id, form.revision.data or 0, edit, anchor)


def _field_choices(form: FieldForm, data: dict[str, Any]) -> None:
    form.type.choices = [SelectChoice(t, _type_label(t)) for t in structure.OFFERED_TYPES]
    form.category.choices = [SelectChoice(c, c) for c in structure.CATEGORIES]
    form.identifies.choices = [SelectChoice("", _("Not an identification item"))] + [
        SelectChoice(v, v) for v in structure.IDENTIFIES]
    form.code_list.choices = [SelectChoice("", _("No code list"))] + [
        SelectChoice(k, k) for k in (data.get("code_lists") or {})]


def _field_data(fld: dict[str, Any]) -> dict[str, Any]:
    label, help_text = fld.get("label") or {}, fld.get("help") or {}
    return {
        "key": fld.get("key"), "type": fld.get("type"), "label_fr": label.get("fr"),
        "label_en": label.get("en"), "help_fr": help_text.get("fr"),
        "help_en": help_text.get("en"), "required": bool(fld.get("required")),
        "category": fld.get("category"),
        "necessity_justification": fld.get("necessity_justification"),
        "identifies": fld.get("identifies") or "", "visible_if": fld.get("visible_if"),
        "put_ref": fld.get("put_ref"), "unit": fld.get("unit"),
        "min": "" if fld.get("min") is None else str(fld.get("min")),
        "max": "" if fld.get("max") is None else str(fld.get("max")),
        "decimals": "" if fld.get("decimals") is None else str(fld.get("decimals")),
        "step": "" if fld.get("step") is None else str(fld.get("step")),
        "choices": structure.choices_text(fld), "code_list": fld.get("code_list") or "",
        "pattern": fld.get("pattern"),
        "max_length": "" if fld.get("max_length") is None else str(fld.get("max_length")),
        "expression": fld.get("expression"), "unknown": bool(fld.get("unknown")),
        "review_confirmed": (fld.get("review") or {}).get("status") == "confirmed",
        "review_justification": (fld.get("review") or {}).get("justification"),
    }


@bp.route("/drafts/<int:draft_id>/structure/<form_key>/<section_key>/<field_key>",
          methods=["GET", "POST"])
@requires(Permission.PROTOCOL_MANAGE)
def field_page(draft_id: int, form_key: str, section_key: str, field_key: str) -> Any:
    """One field: type, labels and help in both languages, answers or code list, unit,
    bounds, required, condition; identification items from the allowed list only, and the
    justification a sensitive category needs."""
    found = drafts.get_draft(get_session(), draft_id)
    try:
        data = structure.parse(found.text, found.source_name)
        fld = structure.field_of(data, form_key, section_key, field_key)
    except structure.StructureError:
        raise NotFound() from None
    if request.method == "POST":
        _editable(found)
        form = FieldForm()
        _field_choices(form, data)
        if form.validate():
            if form.category.data in structure.SENSITIVE and not (
                    form.necessity_justification.data or "").strip():
                form.necessity_justification.errors = [
                    _("A sensitive category needs the reason why this data is strictly "
                      "necessary.")]
            else:
                values = {name: getattr(form, name).data for name in form._fields
                          if name not in ("csrf_token", "revision")}
                # Only what the page showed is set; hidden inputs of other types are left out.
                shown = set(request.form)
                values = {k: v for k, v in values.items()
                          if k in shown or k in ("required", "unknown", "review_confirmed")}
                new_key = [field_key]

                def edit(d: dict[str, Any]) -> None:
                    new_key[0] = structure.update_field(d, form_key, section_key, field_key,
                                                        values)

                return _apply(draft_id, form.revision.data or 0, edit, f"field-{new_key[0]}")
        status = 422
    else:
        form = FieldForm(formdata=None, data={**_field_data(fld), "revision": found.revision})
        _field_choices(form, data)
        status = 200
    result = drafts.lint(found.text, found.source_name)
    kind = form.type.data or fld.get("type")
    return render_template(
        "builder/field.html", draft=found, form=form, form_key=form_key,
        section_key=section_key, field_key=field_key, fld=fld,
        keys=structure.TYPE_KEYS.get(str(kind), frozenset()),
        findings=_by_field(result.findings).get(field_key, []),
        sensitive=sorted(structure.SENSITIVE),
    ), status


@bp.route("/drafts/<int:draft_id>/structure/<form_key>/<section_key>", methods=["GET", "POST"])
@requires(Permission.PROTOCOL_MANAGE)
def section_page(draft_id: int, form_key: str, section_key: str) -> Any:
    """A section's title, condition and repetition."""
    found = drafts.get_draft(get_session(), draft_id)
    try:
        data = structure.parse(found.text, found.source_name)
        section = structure.section_of(data, form_key, section_key)
    except structure.StructureError:
        raise NotFound() from None
    if request.method == "POST":
        _editable(found)
        form = SectionForm()
        if form.validate():
            values = {name: getattr(form, name).data for name in form._fields}
            return _apply(draft_id, form.revision.data or 0,
                          lambda d: structure.update_section(d, form_key, section_key, values),
                          f"section-{section_key}")
        status = 422
    else:
        title = section.get("title") or {}
        repeat = section.get("repeat") or {}
        form = SectionForm(formdata=None, data={
            "revision": found.revision, "title_fr": title.get("fr"), "title_en": title.get("en"),
            "visible_if": section.get("visible_if"),
            "repeat_min": str(repeat.get("min", "")) if repeat else "",
            "repeat_max": str(repeat.get("max", "")) if repeat else ""})
        status = 200
    return render_template("builder/section.html", draft=found, form=form, form_key=form_key,
                           section_key=section_key), status
