"""Render a protocol form as HTML: the markup is built once per (version, form, locale), then
only values and errors are filled in per request.

A naive per-request WTForms render of a 50-field form is ten times slower than a bare page; here
the static markup (labels, options, attributes, condition data) is a cached list of strings with
a few slots, and a request only walks that list. The page works without JavaScript: every field
is in the markup, conditional ones carry `data-show-if` (the condition as JSON) for an optional
script, and the server discards what a hidden field receives.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from flask import current_app, has_app_context
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape

from portal.protocols.builder import (
    FIELD_PREFIX,
    FieldPlan,
    FormPlan,
    SectionPlan,
    current_locale,
    form_plan,
)
from portal.protocols.expressions import Expression
from portal.protocols.loader import LoadedProtocol
from portal.protocols.schema import (
    CodedFieldDef,
    MultipleChoiceFieldDef,
    Protocol,
    SingleChoiceFieldDef,
    YesNoFieldDef,
)


@dataclass(frozen=True)
class _Slot:
    """A place in the markup filled per request."""

    kind: str  # value | checked | selected | invalid | errors | output | entry | form_errors
    #          | warning (a warning check's message on a field) | confirm (the confirmation box)
    name: str = ""
    code: str = ""


_Part = str | _Slot


def _attr(value: Any) -> str:
    return str(escape(str(value)))


def _show_if(expression: Expression | None, attribute: str = "data-show-if") -> str:
    """The condition as JSON in a single-quoted attribute (JSON quotes need no escaping)."""
    if expression is None:
        return ""
    text = json.dumps(expression.to_json(), separators=(",", ":"), ensure_ascii=False)
    safe = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f" {attribute}='{safe.replace(chr(39), '&#39;')}'"


class _Builder:
    """Writes the static markup of one form in one locale."""

    def __init__(self, plan: FormPlan, locale: str) -> None:
        self.plan = plan
        self.locale = locale
        self.protocol: Protocol = plan.protocol.definition
        self.parts: list[_Part] = []

    def emit(self, *parts: _Part) -> None:
        for part in parts:
            if isinstance(part, str) and self.parts and isinstance(self.parts[-1], str):
                self.parts[-1] += part  # merge neighbours: fewer items to walk per request
            else:
                self.parts.append(part)

    def text(self, text: Any) -> str:
        return _attr(text.get(self.locale))

    def build(self) -> list[_Part]:
        form = self.plan.definition
        self.emit(f'<div class="pf-form" data-form="{_attr(form.key)}">')
        self.emit(_Slot("form_errors"), _Slot("confirm"))
        for section in form.sections:
            self.section(self.plan.sections[section.key])
        self.emit("</div>")
        return self.parts

    def section(self, section: SectionPlan) -> None:
        definition = section.definition
        self.emit(
            f'<fieldset class="pf-section pf-{definition.layout}" id="sec-{definition.key}"'
            f"{_show_if(section.visible_if)}><legend>{self.text(definition.title)}</legend>"
        )
        if definition.help:
            self.emit(f'<p class="pf-help">{self.text(definition.help)}</p>')
        by_key = {p.key: p for p in section.fields}
        ordered = [by_key[f.key] for f in definition.fields]
        if definition.repeat is None:
            for fplan in ordered:
                self.field(fplan, fplan.name)
        else:
            repeat = definition.repeat
            # Entries beyond those in use are sent hidden: static/repeats.js adds and removes
            # them (without JavaScript, a noscript style shows them all).
            add, remove = _attr(_l("Add an entry")), _attr(_l("Remove this entry"))
            self.emit(
                f'<div class="pf-entries" data-add-label="{add}" data-remove-label="{remove}">',
                _Slot("errors", section.name),
            )
            floor = max(1, repeat.min)
            for index in range(repeat.max):
                prefix = f"{section.name}-{index}-"
                legend = _attr(_l("Entry %(n)s", n=index + 1))
                self.emit(
                    f'<fieldset class="pf-entry" data-entry-prefix="{prefix}"',
                    _Slot("entry", section.name, f"{index}/{floor}"),
                    f"><legend>{legend}</legend>",
                )
                for fplan in ordered:
                    # Required only in the entries the form needs: a further one is optional
                    # (its own fields are checked if it is filled).
                    self.field(fplan, prefix + fplan.name, required=index < repeat.min)
                self.emit("</fieldset>")
            self.emit("</div>")
        self.emit("</fieldset>")

    def field(self, fplan: FieldPlan, name: str, *, required: bool = True) -> None:
        fld = fplan.definition
        # Outside the f-string, so that message extraction finds the word.
        required_title = _attr(_l("required"))
        required_mark = (
            f' <abbr class="pf-required" title="{required_title}">*</abbr>'
            if fld.required and required else ""
        )
        label = self.text(fld.label) + required_mark
        help_id = f"{name}-help"
        described = f' aria-describedby="{help_id}"' if fld.help else ""
        is_group = fld.type in ("yes_no", "single_choice", "multiple_choice") and not (
            fld.type == "single_choice" and fld.widget == "select"
        )
        tag = "fieldset" if is_group else "div"
        condition = _show_if(fplan.visible_if)
        if fld.type == "multiple_choice" and fld.max_selected:
            # More answers than this is an invalid (blank) value to conditions: for the script.
            condition += f' data-max-selected="{fld.max_selected}"'
        self.emit(f'<{tag} class="pf-field pf-{fld.type}" id="w-{name}"{condition}>')
        self.emit(
            f"<legend>{label}</legend>" if is_group else f'<label for="{name}">{label}</label>'
        )
        self.widget(fplan, name, described)
        unit = getattr(fld, "unit", None)
        if unit:
            self.emit(f'<span class="pf-unit">{_attr(unit)}</span>')
        if fld.help:
            self.emit(f'<p class="pf-help" id="{help_id}">{self.text(fld.help)}</p>')
        self.emit(_Slot("errors", name))
        section = self.plan.sections[fplan.section]
        checks = section.checks if section.repeated else self.plan.checks
        for check, expression in checks:
            if check.severity == "warning" and fplan.key in check.fields:
                # Shown by the server when the check fails, or by conditions.js as it is typed.
                self.emit(f'<p class="pf-warning" id="warn-{name}-{check.key}" role="status"'
                          f'{_show_if(expression, "data-warn-unless")}',
                          _Slot("warning", name, check.key),
                          f">{self.text(check.message)}</p>")
        self.emit(f"</{tag}>")

    def widget(self, fplan: FieldPlan, name: str, described: str) -> None:
        fld = fplan.definition
        common = f'id="{name}" name="{name}"{described}'
        if fld.type in ("integer", "decimal", "year"):
            attrs = ['inputmode="numeric"' if fld.type != "decimal" else 'inputmode="decimal"']
            if fld.type == "decimal":
                attrs.append(f'step="{format(Decimal(1).scaleb(-fld.decimals), "f")}"')
            elif fld.type == "integer" and fld.step > 1:
                attrs.append(f'step="{fld.step}"')
            for bound in ("min", "max"):
                value = getattr(fld, bound)
                if value is not None:
                    attrs.append(f'{bound}="{_attr(value)}"')
            # A decimal is typed as text: a number input drops the comma of a French "64,5"
            # and sends 645. The server and conditions.js read both separators, and the
            # script reads the bounds and the step from these attributes.
            self.input("text" if fld.type == "decimal" else "number", common, " ".join(attrs),
                       name)
        elif fld.type == "date":
            limits = " ".join(
                f'{bound}="{value.isoformat()}"'
                for bound, value in (("min", fplan.lower), ("max", fplan.upper))
                if isinstance(value, date)
            )
            self.input("date", common, limits, name)
        elif fld.type == "partial_date":
            self.input("month", common, 'placeholder="YYYY-MM"', name)
        elif fld.type == "coded" and fld.pattern:
            # No maxlength: a browser would cut what is typed (a NIR pasted into an 8-digit
            # code would arrive as 8 digits, valid). The server gets it whole and refuses it
            # with the limit named.
            self.input("text", common, 'autocomplete="off" spellcheck="false"', name)
        elif fld.type == "calculated":
            self.emit(f'<output id="{name}" name="{name}">', _Slot("output", name), "</output>")
        elif fld.type == "multiple_choice":
            self.options("checkbox", fplan, name)
        elif fld.type == "coded" or (fld.type == "single_choice" and fld.widget == "select"):
            self.select(fplan, common, name)
        else:
            self.options("radio", fplan, name)

    def input(self, kind: str, common: str, extra: str, name: str) -> None:
        self.emit(f'<input type="{kind}" {common} {extra}'.rstrip(), _Slot("value", name),
                  _Slot("invalid", name), ">")

    def choices(self, fplan: FieldPlan) -> list[tuple[str, str]]:
        fld = fplan.definition
        if isinstance(fld, YesNoFieldDef):
            pairs = [("yes", _l("Yes")), ("no", _l("No"))]
            return [(c, str(t)) for c, t in pairs + ([("unknown", _l("Unknown"))]
                                                     if fld.unknown else [])]
        if isinstance(fld, CodedFieldDef):
            codes = self.protocol.code_lists[fld.code_list or ""].codes
            return [(c.code, f"{c.code} — {c.label.get(self.locale)}") for c in codes]
        assert isinstance(fld, (SingleChoiceFieldDef, MultipleChoiceFieldDef))
        return [(c.code, c.label.get(self.locale)) for c in fld.choices]

    def options(self, kind: str, fplan: FieldPlan, name: str) -> None:
        for index, (code, label) in enumerate(self.choices(fplan)):
            self.emit(
                f'<label class="pf-option"><input type="{kind}" name="{name}" '
                f'id="{name}-{index}" value="{_attr(code)}"',
                _Slot("checked", name, code), f"> {_attr(label)}</label>",
            )

    def select(self, fplan: FieldPlan, common: str, name: str) -> None:
        self.emit(f"<select {common}", _Slot("invalid", name), '><option value="">—</option>')
        for code, label in self.choices(fplan):
            self.emit(f'<option value="{_attr(code)}"', _Slot("selected", name, code),
                      f">{_attr(label)}</option>")
        self.emit("</select>")


_skeletons: dict[tuple[str, str, str, int], tuple[_Part, ...]] = {}
_lock = threading.Lock()


def skeleton(protocol: LoadedProtocol, form_key: str, locale: str) -> tuple[_Part, ...]:
    """Return the cached static markup of a form in `locale` (built on first use)."""
    # Static words ("Yes", "Entry 1") come from the app's catalogue: markup built outside an
    # app (untranslated) must not be served by an app, hence the app in the key.
    app = id(current_app._get_current_object()) if has_app_context() else 0  # type: ignore[attr-defined]
    key = (protocol.content_hash, form_key, locale, app)
    parts = _skeletons.get(key)
    if parts is None:
        with _lock:
            parts = _skeletons.get(key)
            if parts is None:
                builder = _Builder(form_plan(protocol, form_key), locale)
                if app:
                    with force_locale(locale):
                        parts = tuple(builder.build())
                else:
                    parts = tuple(builder.build())
                _skeletons[key] = parts
    return parts


def _errors_html(messages: Sequence[Any]) -> str:
    items = "".join(f"<li>{_attr(m)}</li>" for m in messages)
    return f'<ul class="pf-errors">{items}</ul>'


def _confirm_html(warnings: Sequence[Any], token: str) -> str:
    """The box that asks the professional to confirm unusual values, with the token to post."""
    loose = "".join(f"<li>{_attr(w.message)}</li>" for w in warnings if not w.names)
    listed = f"<ul>{loose}</ul>" if loose else ""
    return (
        f'<div class="pf-confirm banner" role="alert" id="pf-confirm"><p><strong>'
        f'{_attr(_l("Some values are unusual."))}</strong> '
        f'{_attr(_l("Check them. If they are right, confirm: the form is saved with your confirmation."))}'  # noqa: E501
        f"</p>{listed}<p>"
        f'<input type="checkbox" id="confirm_warnings" name="confirm_warnings" '
        f'value="{_attr(token)}"> <label for="confirm_warnings">'
        f'{_attr(_l("I confirm these unusual values."))}</label></p></div>'
    )


def fill(parts: Sequence[_Part], texts: Mapping[str, Sequence[str]],
         errors: Mapping[str | None, Sequence[Any]], warnings: Sequence[Any] = (),
         token: str = "") -> Markup:
    """Fill the slots of a skeleton with input texts, error messages and the warnings found
    (`builder.FormWarning`, confirmed by posting `token`)."""
    warned = {(name, w.check) for w in warnings for name in w.names}
    out: list[str] = []
    append = out.append
    in_use: dict[str, int] = {}
    for part in parts:
        if isinstance(part, str):
            append(part)
            continue
        kind, name = part.kind, part.name
        if kind == "value":
            given = texts.get(name)
            if given:
                append(f' value="{_attr(given[0])}"')
        elif kind in ("checked", "selected"):
            if part.code in texts.get(name, ()):
                append(" " + kind)
        elif kind == "invalid":
            if errors.get(name):
                append(' aria-invalid="true"')
        elif kind == "errors":
            if errors.get(name):
                append(_errors_html(errors[name]))
        elif kind == "entry":
            if name not in in_use:
                in_use[name] = _entries_in_use(name, texts, errors)
            index, _sep, floor = part.code.partition("/")
            if int(index) >= max(int(floor), in_use[name]):
                append(" hidden")
        elif kind == "output":
            given = texts.get(name)
            if given:
                append(_attr(given[0]))
        elif kind == "warning":
            if (name, part.code) not in warned:
                append(" hidden")
        elif kind == "confirm":
            if warnings and token:
                append(_confirm_html(warnings, token))
        elif errors.get(None):  # form_errors
            append(_errors_html(errors[None]))
    # Every piece is either static markup built above from escaped text, or escaped here.
    return Markup("".join(out))  # noqa: S704


def _entries_in_use(section_name: str, texts: Mapping[str, Sequence[str]],
                    errors: Mapping[str | None, Sequence[Any]]) -> int:
    """How many entries of a repeated section to show: up to the last one holding a value or
    an error."""
    prefix = section_name + "-"
    last = 0
    for names, has in ((texts, lambda v: any(str(t).strip() for t in v)), (errors, bool)):
        for name, value in names.items():
            if name and name.startswith(prefix) and has(value):
                index = name[len(prefix):].partition("-")[0]
                if index.isdigit():
                    last = max(last, int(index) + 1)
    return last


def render_form(form: Any, locale: str | None = None) -> Markup:
    """Render a bound protocol form (after a POST, with its values and errors)."""
    plan: FormPlan = form._plan
    texts: dict[str, list[str]] = {}
    for fld in form:
        entries = getattr(fld, "entries", None)
        if entries is not None:
            for entry in entries:
                for sub in entry.form:
                    texts[sub.name] = sub.texts()
        elif fld.name in plan.names:
            texts[fld.name] = fld.texts()
    parts = skeleton(plan.protocol, plan.form_key, locale or current_locale())
    warnings = getattr(form, "warnings", [])
    # The confirmation is asked only once the form has no error left.
    token = form.warning_token if warnings and not form.errors else ""
    return fill(parts, texts, form.errors, warnings, token)


def answers_texts(plan: FormPlan, answers: Mapping[str, Any]) -> dict[str, list[str]]:
    """Input texts for stored answers, keyed by input name."""
    texts: dict[str, list[str]] = {}

    def put(name: str, value: Any) -> None:
        values = value if isinstance(value, list) else [value]
        texts[name] = [str(v) for v in values if v is not None]

    for key, value in answers.items():
        section = plan.sections.get(key)
        if section is not None and section.repeated:
            for index, entry in enumerate(value or []):
                for sub_key, sub_value in entry.items():
                    put(f"{section.name}-{index}-{FIELD_PREFIX}{sub_key}", sub_value)
        elif key in plan.fields:
            put(FIELD_PREFIX + key, value)
    return texts


def render_answers(protocol: LoadedProtocol, form_key: str, answers: Mapping[str, Any],
                   locale: str | None = None) -> Markup:
    """Render a form filled with stored answers, without building a WTForms instance (GET)."""
    plan = form_plan(protocol, form_key)
    parts = skeleton(protocol, form_key, locale or current_locale())
    return fill(parts, answers_texts(plan, answers), {})
