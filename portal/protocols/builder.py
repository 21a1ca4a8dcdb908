"""Build one WTForms class per (protocol version, form), once, and validate with it.

The server is the authority: visibility is decided here with the shared expression evaluator,
a value posted for a hidden field is discarded, a required field is required only when visible,
calculated fields are computed here and never read from input, and cross-field checks become
errors. `validate_answers` runs a plain dict of answers through the very same class.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from flask import has_app_context
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from werkzeug.datastructures import MultiDict
from wtforms import FieldList, Form, FormField
from wtforms.utils import unset_value

from portal.protocols.expressions import NUMBER, Expression, PartialDate, compile_expression
from portal.protocols.fields import IDENTIFIER_MESSAGE, TypedField, make_field
from portal.protocols.loader import LoadedProtocol
from portal.protocols.schema import CalculatedFieldDef, Check, FieldDef, Section, Text
from portal.protocols.scope import evaluation_order, form_scope, section_scope

#: Prefixes of input names: fields are `f_<key>`, repeated sections `s_<key>`.
FIELD_PREFIX, SECTION_PREFIX = "f_", "s_"


def current_locale() -> str:
    """The request's locale; English outside an app, where gettext returns the msgids."""
    if not has_app_context():
        return "en"  # like gettext without an app: the English msgids
    locale = get_locale()
    return str(locale) if locale else "fr"


class LocalizedText:
    """A definition text that renders in the current locale (labels, help, check messages)."""

    def __init__(self, text: Text) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text.get(current_locale())

    def __html__(self) -> Markup:
        return escape(str(self))

    def __repr__(self) -> str:
        return f"LocalizedText({self.text.en!r})"


@dataclass(frozen=True)
class FormWarning:
    """A `severity: warning` check that fails: an unusual value to confirm, not an error."""

    check: str
    message: LocalizedText
    #: the inputs it is shown on (none: the whole form)
    names: tuple[str, ...]
    #: what it was decided on: the values of the fields its expression names
    values: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class FieldPlan:
    """Everything needed at request time about one field, compiled once."""

    key: str
    definition: FieldDef
    section: str
    visible_if: Expression | None
    formula: Expression | None
    lower: Expression | date | None
    upper: Expression | date | None

    @property
    def name(self) -> str:
        """The input name."""
        return FIELD_PREFIX + self.key


@dataclass(frozen=True)
class SectionPlan:
    """A section, its compiled condition and checks, and its fields in evaluation order."""

    key: str
    definition: Section
    visible_if: Expression | None
    fields: list[FieldPlan]
    checks: list[tuple[Check, Expression]]

    @property
    def name(self) -> str:
        """The FieldList name of a repeated section."""
        return SECTION_PREFIX + self.key

    @property
    def repeated(self) -> bool:
        """Whether the section may be filled several times."""
        return self.definition.repeat is not None


@dataclass(frozen=True)
class FormPlan:
    """A compiled form: sections, fields, checks and the order to decide them in."""

    protocol: LoadedProtocol
    form_key: str
    sections: dict[str, SectionPlan]
    fields: dict[str, FieldPlan]
    #: Sections and top-level fields, each after what it depends on.
    top_order: list[tuple[str, str]]
    checks: list[tuple[Check, Expression]]
    names: frozenset[str] = field(default_factory=frozenset)

    @property
    def definition(self) -> Any:
        """The form's definition."""
        return self.protocol.definition.form(self.form_key)


def _bound(value: Any, scope: dict) -> Expression | date | None:
    if value is None or isinstance(value, date):
        return value
    return compile_expression(value, scope, expect=None)


def _plan(protocol: LoadedProtocol, form_key: str) -> FormPlan:
    definition = protocol.definition
    form = definition.form(form_key)
    order = evaluation_order(definition, form)
    position = {node: index for index, node in enumerate(order)}
    top = form_scope(definition, form)
    sections: dict[str, SectionPlan] = {}
    fields: dict[str, FieldPlan] = {}
    for section in form.sections:
        inner = section_scope(definition, form, section)
        plans = []
        for fld in sorted(section.fields, key=lambda f: position[("field", f.key)]):
            plan = FieldPlan(
                key=fld.key,
                definition=fld,
                section=section.key,
                visible_if=compile_expression(fld.visible_if, inner) if fld.visible_if else None,
                formula=compile_expression(fld.expression, inner, expect=NUMBER)
                if fld.type == "calculated" else None,
                lower=_bound(getattr(fld, "min", None), inner)
                if fld.type in ("date", "partial_date") else None,
                upper=_bound(getattr(fld, "max", None), inner)
                if fld.type in ("date", "partial_date") else None,
            )
            plans.append(plan)
            fields[fld.key] = plan
        sections[section.key] = SectionPlan(
            key=section.key,
            definition=section,
            visible_if=compile_expression(section.visible_if, top) if section.visible_if else None,
            fields=plans,
            checks=[(c, compile_expression(c.expression, inner)) for c in section.checks],
        )
    top_order = [
        node for node in order
        if node[0] == "section" or not sections[fields[node[1]].section].repeated
    ]
    names = {p.name for p in fields.values()} | {s.name for s in sections.values() if s.repeated}
    return FormPlan(
        protocol=protocol,
        form_key=form_key,
        sections=sections,
        fields=fields,
        top_order=top_order,
        checks=[(c, compile_expression(c.expression, top)) for c in form.checks],
        names=frozenset(names),
    )


class BoundedFieldList(FieldList):
    """A FieldList that remembers how many entries were posted, to refuse too many."""

    posted_count = 0

    def process(self, formdata: Any, data: Any = unset_value, extra_filters: Any = None) -> None:
        if formdata:
            self.posted_count = len(set(self._extract_indices(self.name, formdata)))
        super().process(formdata, data, extra_filters)


def _json_value(value: Any) -> Any:
    """Turn a typed value into what a submission stores (JSON)."""
    if isinstance(value, date | PartialDate):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return value


class ProtocolFormMixin:
    """Validation and output shared by the Flask form and the plain (dict) form."""

    _plan: FormPlan
    _validated = False
    #: after validate(): the warning checks that fail
    warnings: list[FormWarning]

    # These attributes come from wtforms.Form; declared for readers and type checkers.
    _fields: dict[str, Any]
    form_errors: list[Any]

    if TYPE_CHECKING:
        def __init__(self, *args: Any, **kwargs: Any) -> None: ...
        def __getitem__(self, name: str) -> Any: ...

    @classmethod
    def from_answers(cls, answers: Mapping[str, Any], **kwargs: Any) -> Any:
        """Build the form pre-filled with stored answers (as returned by `answers()`)."""
        return cls(formdata=None, data=answers_to_data(cls._plan, answers), **kwargs)

    # -- validation --------------------------------------------------------------------------

    def validate(self, extra_validators: Any = None, today: date | None = None) -> bool:
        """Decide visibility, discard hidden values, validate, compute and cross-check."""
        plan = self._plan
        today = today or date.today()
        for name, other in self._fields.items():
            if name not in plan.names:  # e.g. the CSRF token
                other.validate(self)
        self.form_errors = []
        self.warnings: list[FormWarning] = []
        self._values: dict[str, Any] = {}
        self._visible: set[str] = set()
        self._entries: dict[str, list[dict[str, Any]]] = {}
        sections_shown: dict[str, bool] = {}
        for kind, key in plan.top_order:
            if kind == "section":
                section = plan.sections[key]
                sections_shown[key] = section.visible_if is None or section.visible_if.holds(
                    self._values, today
                )
                continue
            fplan = plan.fields[key]
            shown = sections_shown[fplan.section]
            self._decide(self[fplan.name], fplan, shown, self._values, self._visible, today)
        for key in self._visible:
            fplan = plan.fields[key]
            self._check_field(self[fplan.name], fplan, self._values, today)
        for section in plan.sections.values():
            if section.repeated:
                self._validate_entries(section, sections_shown[section.key], today)
        for check, expression in plan.checks:
            if expression.fails(self._values, today):
                self._add_check_error(check, self._visible, lambda k: self[FIELD_PREFIX + k],
                                      expression, self._values)
        self._validated = True
        return not self.errors

    def _decide(self, fld: TypedField, fplan: FieldPlan, section_shown: bool,
                values: dict[str, Any], visible: set[str], today: date) -> None:
        """Decide whether a field is shown; keep its value only if it is."""
        fld.errors = []
        shown = section_shown and (
            fplan.visible_if is None or fplan.visible_if.holds(values, today)
        )
        if not shown:
            # A hidden field's value is discarded; a NIR or INS in it is refused all the same.
            refused = [m for m in fld.process_errors if m is IDENTIFIER_MESSAGE]
            fld.data, fld.raw_data, fld.process_errors, fld.errors = None, [], [], refused
            values[fplan.key] = None
            return
        visible.add(fplan.key)
        if fplan.formula is not None:
            fld.errors = list(fld.process_errors)  # what was posted is ignored, unless a NIR
            result = fplan.formula.evaluate(values, today)
            assert isinstance(fplan.definition, CalculatedFieldDef)  # the only kind with a formula
            places = Decimal(1).scaleb(-fplan.definition.decimals)
            fld.data = None if result is None else Decimal(result).quantize(places)
        else:
            fld.validate(self)  # type and static bounds, before anything uses the value
        # An invalid value takes no part in conditions, formulas or checks.
        values[fplan.key] = None if fld.errors else fld.data

    def _check_field(self, fld: TypedField, fplan: FieldPlan, values: dict[str, Any],
                     today: date) -> None:
        """Required-when-visible, then bounds that may name other fields."""
        if fplan.formula is not None or fld.errors:
            return
        if fld.data is None:
            if fplan.definition.required:
                fld.errors.append(_l("This field is required."))
            return
        values[fplan.key] = fld.data
        for bound, is_lower in ((fplan.lower, True), (fplan.upper, False)):
            limit: Any = bound.evaluate(values, today) if isinstance(bound, Expression) else bound
            if limit is None:
                continue
            if isinstance(fld.data, PartialDate) and isinstance(limit, date):
                limit = PartialDate(limit.year, limit.month)
            if (fld.data < limit) if is_lower else (fld.data > limit):
                text = limit.isoformat()
                fld.errors.append(
                    _l("Enter a date on or after %(date)s.", date=text) if is_lower
                    else _l("Enter a date on or before %(date)s.", date=text)
                )

    def _validate_entries(self, section: SectionPlan, shown: bool, today: date) -> None:
        """Validate each non-blank entry of a repeated section, in the scope of the form."""
        flist: BoundedFieldList = self[section.name]
        flist.errors = []
        repeat = section.definition.repeat
        assert repeat is not None
        if not shown:
            if any(m is IDENTIFIER_MESSAGE for entry in flist.entries for sub in entry.form
                   for m in sub.process_errors):
                flist.errors.append(IDENTIFIER_MESSAGE)
            flist.entries, flist.last_index = [], -1
            return
        kept, entries = [], []
        for entry in flist.entries:
            sub = entry.form
            if all(sub[p.name].is_blank() for p in section.fields if p.formula is None):
                continue  # an untouched row of the grid
            values = dict(self._values)
            visible: set[str] = set()
            for fplan in section.fields:
                self._decide(sub[fplan.name], fplan, True, values, visible, today)
            for fplan in section.fields:
                if fplan.key in visible:
                    self._check_field(sub[fplan.name], fplan, values, today)
            for check, expression in section.checks:
                if expression.fails(values, today):
                    self._add_check_error(check, visible, lambda k, s=sub: s[FIELD_PREFIX + k],
                                          expression, values)
            answers = {p.key: values[p.key] for p in section.fields
                       if p.key in visible and values[p.key] is not None}
            if not answers and not any(sub[p.name].errors for p in section.fields):
                continue  # only hidden values were posted: a blank entry after all
            kept.append(entry)
            entries.append(answers)
        flist.entries = kept
        if flist.posted_count > repeat.max:
            flist.errors.append(_l("Enter at most %(n)s entries.", n=repeat.max))
        elif len(kept) < repeat.min:
            flist.errors.append(_l("Enter at least %(n)s entries.", n=repeat.min))
        self._entries[section.key] = entries

    def _add_check_error(self, check: Check, visible: set[str], lookup: Any,
                         expression: Expression, values: Mapping[str, Any]) -> None:
        message = LocalizedText(check.message)
        targets = [key for key in check.fields if key in visible]
        if check.severity == "warning":
            names = tuple(lookup(key).name for key in targets)
            given = tuple(sorted((key, _json_value(values.get(key))) for key in expression.refs))
            self.warnings.append(FormWarning(check.key, message, names, given))
            return
        for key in targets:
            lookup(key).errors.append(message)
        if not targets:
            self.form_errors.append(message)

    @property
    def warning_token(self) -> str:
        """What confirming the warnings posts back: it names each warning and the values it was
        decided on, so changing a value asks again. Empty without warnings."""
        if not self.warnings:
            return ""
        decided = sorted([w.check, list(w.names), [list(v) for v in w.values]]
                         for w in self.warnings)
        text = json.dumps(decided, sort_keys=True, default=str, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    # -- output ------------------------------------------------------------------------------

    @property
    def errors(self) -> dict[str | None, list[Any]]:
        """Errors by input name (`f_key`, `s_sec-0-f_key`, `s_sec`); None for the form."""
        found: dict[str | None, list[Any]] = {}
        for name, fld in self._fields.items():
            if isinstance(fld, FieldList):
                if fld.errors:
                    found[name] = list(fld.errors)
                for entry in fld.entries:
                    for sub in entry.form:
                        if sub.errors:
                            found[sub.name] = list(sub.errors)
            elif fld.errors:
                found[name] = list(fld.errors)
        if self.form_errors:
            found[None] = list(self.form_errors)
        return found

    def answers(self) -> dict[str, Any]:
        """Return the cleaned, JSON-ready answers: visible, non-blank values only.

        Repeated sections appear under their key as a list of entries.
        """
        if not self._validated:
            raise RuntimeError("call validate() before answers()")
        result: dict[str, Any] = {}
        for kind, key in self._plan.top_order:
            if kind == "field" and key in self._visible and self._values.get(key) is not None:
                result[key] = _json_value(self._values[key])
        for section_key, entries in self._entries.items():
            if entries:
                result[section_key] = [
                    {k: _json_value(v) for k, v in entry.items()} for entry in entries
                ]
        return result


def answers_to_data(plan: FormPlan, answers: Mapping[str, Any]) -> dict[str, Any]:
    """Turn stored answers into WTForms `data=` (input names as keys)."""
    data: dict[str, Any] = {}
    for key, value in answers.items():
        section = plan.sections.get(key)
        if section is not None and section.repeated:
            data[section.name] = [
                {FIELD_PREFIX + k: v for k, v in entry.items()} for entry in value or []
            ]
        elif key in plan.fields:
            data[FIELD_PREFIX + key] = value
    return data


def _entry_form(section: SectionPlan, protocol: Any) -> type[Form]:
    attrs = {
        p.name: make_field(p.definition, protocol, LocalizedText(p.definition.label))
        for p in _display_order(section)
    }
    return type(f"{section.key.title().replace('_', '')}Entry", (Form,), attrs)


def _display_order(section: SectionPlan) -> list[FieldPlan]:
    by_key = {p.key: p for p in section.fields}
    return [by_key[f.key] for f in section.definition.fields]


def _build(plan: FormPlan, base: type[Form]) -> type[Any]:
    protocol = plan.protocol.definition
    attrs: dict[str, Any] = {"_plan": plan}
    for section in plan.sections.values():
        if section.repeated:
            repeat = section.definition.repeat
            assert repeat is not None
            attrs[section.name] = BoundedFieldList(
                FormField(_entry_form(section, protocol)), max_entries=repeat.max
            )
        else:
            for fplan in _display_order(section):
                attrs[fplan.name] = make_field(
                    fplan.definition, protocol, LocalizedText(fplan.definition.label)
                )
    name = "".join(part.title() for part in plan.form_key.split("_")) + "Form"
    return type(name, (ProtocolFormMixin, base), attrs)


_cache: dict[tuple[str, str, str], Any] = {}
_lock = threading.Lock()


def _cached(protocol: LoadedProtocol, form_key: str, flavour: str) -> Any:
    key = (protocol.content_hash, form_key, flavour)
    built = _cache.get(key)
    if built is None:
        with _lock:
            built = _cache.get(key)
            if built is None:
                plan = _cache.get((protocol.content_hash, form_key, "plan")) or _plan(
                    protocol, form_key
                )
                _cache[(protocol.content_hash, form_key, "plan")] = plan
                if flavour == "flask":
                    built = _build(plan, FlaskForm)
                elif flavour == "plain":
                    built = _build(plan, Form)
                else:
                    built = plan
                _cache[key] = built
    return built


def form_plan(protocol: LoadedProtocol, form_key: str) -> FormPlan:
    """Return the compiled plan of a form (cached per content hash)."""
    return _cached(protocol, form_key, "plan")


def form_class(protocol: LoadedProtocol, form_key: str) -> type[Any]:
    """Return the FlaskForm subclass for a form of a protocol version, built once and cached.

    :raises KeyError: if the protocol has no form `form_key`.
    """
    return _cached(protocol, form_key, "flask")


def plain_form_class(protocol: LoadedProtocol, form_key: str) -> type[Any]:
    """Return the same form on wtforms.Form (no CSRF, no request needed), for imports/tests."""
    return _cached(protocol, form_key, "plain")


@dataclass(frozen=True)
class AnswersResult:
    """The outcome of validating a dict of answers."""

    valid: bool
    answers: dict[str, Any]
    #: Messages by answer path (`key`, `section[0].key`, `section`, or "" for the form).
    errors: dict[str, list[str]]
    #: The `severity: warning` checks that fail (unusual values to confirm), by check key.
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Posted:
    """Answers turned into form data, with what could not be posted."""

    data: MultiDict = field(default_factory=MultiDict)
    unknown: dict[str, list[str]] = field(default_factory=dict)
    #: Posted entry index → index in the caller's list, per repeated section.
    entry_index: dict[str, dict[int, int]] = field(default_factory=dict)


def _formdata(plan: FormPlan, answers: Mapping[str, Any]) -> _Posted:
    """Turn a dict of answers into posted form data, refusing unknown keys."""
    posted = _Posted()
    data, unknown = posted.data, posted.unknown
    for key, value in answers.items():
        section = plan.sections.get(key)
        if section is not None and section.repeated:
            known = {p.key for p in section.fields}
            mapping = posted.entry_index.setdefault(key, {})
            for index, entry in enumerate(value or []):
                texts = []
                for sub_key, sub_value in entry.items():
                    if sub_key not in known:
                        unknown[f"{key}[{index}].{sub_key}"] = [str(_l("Unknown field."))]
                        continue
                    texts += [(sub_key, text) for text in _texts(sub_value)]
                if not texts:
                    continue  # a blank entry is no entry, as in the web form
                slot = len(mapping)
                mapping[slot] = index
                for sub_key, text in texts:
                    data.add(f"{section.name}-{slot}-{FIELD_PREFIX}{sub_key}", text)
        elif key in plan.fields and not plan.sections[plan.fields[key].section].repeated:
            for text in _texts(value):
                data.add(FIELD_PREFIX + key, text)
        else:
            unknown[key] = [str(_l("Unknown field."))]
    return posted


def _texts(value: Any) -> Iterator[str]:
    if value is None:
        return
    values = value if isinstance(value, list | tuple | set | frozenset) else [value]
    for item in values:
        yield str(_json_value(item))


def _error_path(posted: _Posted, name: str | None) -> str:
    if name is None:
        return ""
    if name.startswith(SECTION_PREFIX):
        section, _, rest = name[len(SECTION_PREFIX):].partition("-")
        if rest:
            slot, _, sub = rest.partition("-")
            index = posted.entry_index.get(section, {}).get(int(slot), int(slot))
            return f"{section}[{index}].{sub[len(FIELD_PREFIX):]}"
        return section
    return name[len(FIELD_PREFIX):]


def validate_answers(protocol: LoadedProtocol, form_key: str, answers: Mapping[str, Any],
                     today: date | None = None) -> AnswersResult:
    """Validate a dict of answers through the same form class and rules as the web form."""
    posted = _formdata(form_plan(protocol, form_key), answers)
    form = plain_form_class(protocol, form_key)(formdata=posted.data)
    form.validate(today=today)
    errors = {_error_path(posted, name): [str(m) for m in messages]
              for name, messages in form.errors.items()}
    errors.update(posted.unknown)
    return AnswersResult(valid=not errors, answers=form.answers(), errors=errors,
                         warnings=[w.check for w in form.warnings])


@dataclass(frozen=True)
class DraftResult:
    """The outcome of checking a draft: its inputs as they will be stored, or the errors."""

    #: Input name → the value(s) as the form reads them (blank and unknown inputs left out).
    texts: dict[str, list[str]]
    #: Input name → messages (`s_<section>` for too many entries).
    errors: dict[str, list[str]]

    @property
    def valid(self) -> bool:
        return not self.errors


def validate_draft(protocol: LoadedProtocol, form_key: str,
                   posted: Mapping[str, Any]) -> DraftResult:
    """Check every input of a draft as strictly as a submission checks its type.

    A draft may be incomplete, never ill-typed: each input is parsed by its field type and
    checked against the bounds that depend on nothing else (numbers, decimals, patterns, check
    digits, listed codes, a NIR or INS anywhere). Required fields, conditions, bounds that name
    other fields and cross-field checks wait for the submission. Inputs the form does not have
    are left out, as a submission leaves them out.

    :param posted: input name → posted value(s).
    """
    plan = form_plan(protocol, form_key)
    formdata = posted if isinstance(posted, MultiDict) else MultiDict(
        [(name, value) for name, values in posted.items()
         for value in (values if isinstance(values, list | tuple) else [values])]
    )
    form = plain_form_class(protocol, form_key)(formdata=formdata)
    texts: dict[str, list[str]] = {}
    errors: dict[str, list[str]] = {}

    def check(fld: TypedField) -> None:
        if not fld.validate(form):
            errors[fld.name] = [str(m) for m in fld.errors]
            return
        data = fld.data
        if data is None or fld.definition.type == "calculated":
            return
        texts[fld.name] = [str(v) for v in data] if isinstance(data, list) else [
            fld.format(data)]

    for section in plan.sections.values():
        if not section.repeated:
            for fplan in section.fields:
                check(form[fplan.name])
            continue
        flist: BoundedFieldList = form[section.name]
        repeat = section.definition.repeat
        assert repeat is not None
        if flist.posted_count > repeat.max:
            errors[section.name] = [str(_l("Enter at most %(n)s entries.", n=repeat.max))]
        for entry in flist.entries:
            for sub in entry.form:
                check(sub)
    return DraftResult(texts=texts, errors=errors)
