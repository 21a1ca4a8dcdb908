"""Showing answers read-only, and the printable blank form, from the protocol definition."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _

from portal.i18n import local_number
from portal.meddra.services import level_of as meddra_level
from portal.meddra.services import term_names
from portal.protocols.builder import current_locale
from portal.protocols.schema import FieldDef, Form, Protocol


def choice_labels(fld: FieldDef, protocol: Protocol, locale: str) -> dict[str, str] | None:
    """Return code → label for a field with a closed list, else None."""
    if fld.type == "yes_no":
        return {"yes": _("Yes"), "no": _("No"), "unknown": _("Unknown")}
    if fld.type in ("single_choice", "multiple_choice"):
        return {c.code: c.label.get(locale) for c in fld.choices}
    if fld.type == "coded" and fld.code_list:
        code_list = protocol.code_lists.get(fld.code_list)
        return {c.code: c.label.get(locale) for c in code_list.codes} if code_list else {}
    return None


#: field types whose answers are numbers, written the way the reader's language writes them
NUMBER_TYPES = frozenset({"integer", "decimal", "calculated"})


def value_text(fld: FieldDef, value: Any, labels: Mapping[str, str] | None,
               locale: str | None = None) -> str:
    """Return an answer as a person reads it: labels for codes, numbers in the reader's
    language (64,5 in French), the unit after numbers."""
    if value is None or value == "" or value == []:
        return ""
    if isinstance(value, list):
        return "; ".join(value_text(fld, item, labels, locale) for item in value)
    text = str(value)
    if labels is None and fld.type in NUMBER_TYPES:
        text = local_number(value, (locale or current_locale()).split("_")[0])
    if labels is not None:
        label = labels.get(text)
        if label is None:
            return text
        return f"{text} — {label}" if fld.type == "coded" else label
    unit = getattr(fld, "unit", None)
    return f"{text} {unit}" if unit else text


@dataclass(frozen=True)
class ShownField:
    """One answered field, ready to show."""

    key: str
    label: str
    text: str
    #: an identification field the reader's scope does not show
    masked: bool = False


@dataclass
class ShownSection:
    """A section with its answered fields, or its entries when it repeats."""

    key: str
    title: str
    fields: list[ShownField] = field(default_factory=list)
    entries: list[list[ShownField]] = field(default_factory=list)


def shown_answers(protocol: Protocol, form: Form, answers: Mapping[str, Any],
                  hidden: frozenset[str] = frozenset(),
                  locale: str | None = None) -> list[ShownSection]:
    """Return the answered sections and fields of a form, masking `hidden` keys."""
    locale = locale or current_locale()
    sections = []
    for section in form.sections:
        shown = ShownSection(section.key, section.title.get(locale))
        if section.repeat is not None:
            for entry in answers.get(section.key) or []:
                row = [_shown(fld, entry.get(fld.key), protocol, hidden, locale)
                       for fld in section.fields if entry.get(fld.key) is not None]
                if row:
                    shown.entries.append(row)
        else:
            shown.fields = [_shown(fld, answers.get(fld.key), protocol, hidden, locale)
                            for fld in section.fields if answers.get(fld.key) is not None]
        if shown.fields or shown.entries:
            sections.append(shown)
    return sections


def _shown(fld: FieldDef, value: Any, protocol: Protocol, hidden: frozenset[str],
           locale: str) -> ShownField:
    label = fld.label.get(locale)
    if fld.key in hidden:
        return ShownField(fld.key, label, _("Hidden: identification data"), masked=True)
    level = meddra_level(fld)
    if level is not None:
        # `code — name` from the laboratory's release, or why there is no name.
        return ShownField(fld.key, label, term_names(locale).describe(value, level))
    return ShownField(fld.key, label,
                      value_text(fld, value, choice_labels(fld, protocol, locale), locale))


@dataclass(frozen=True)
class PrintField:
    """A field of the paper form: label, how to answer, and when it applies."""

    key: str
    label: str
    kind: str
    help: str | None
    required: bool
    unit: str | None
    choices: list[tuple[str, str]]
    hint: str
    condition: str | None


@dataclass(frozen=True)
class PrintSection:
    """A section of the paper form; repeated sections print as a grid of blank rows."""

    key: str
    title: str
    help: str | None
    condition: str | None
    fields: list[PrintField]
    rows: int


def print_form(protocol: Protocol, form: Form, locale: str | None = None) -> list[PrintSection]:
    """Return the printable blank form, section by section, as the definition describes it."""
    locale = locale or current_locale()
    sections = []
    for section in form.sections:
        fields = [_print_field(fld, protocol, locale) for fld in section.fields]
        rows = min(section.repeat.max, 10) if section.repeat is not None else 0
        sections.append(PrintSection(
            section.key, section.title.get(locale),
            section.help.get(locale) if section.help else None, section.visible_if, fields, rows,
        ))
    return sections


def _print_field(fld: FieldDef, protocol: Protocol, locale: str) -> PrintField:
    labels = choice_labels(fld, protocol, locale)
    choices = list(labels.items()) if labels is not None and fld.type != "coded" else []
    hints = {
        "integer": _("whole number"),
        "decimal": _("number"),
        "date": _("date (DD/MM/YYYY)"),
        "partial_date": _("month and year (MM/YYYY)"),
        "year": _("year (YYYY)"),
        "calculated": _("calculated by the portal"),
        "coded": _("code from the list %(name)s", name=getattr(fld, "code_list", None))
        if getattr(fld, "code_list", None) else _("code"),
        "multiple_choice": _("tick all that apply"),
        "single_choice": _("tick one"),
        "yes_no": _("tick one"),
    }
    hint = hints.get(fld.type, "")
    bounds = [local_number(getattr(fld, b), locale.split("_")[0]) for b in ("min", "max")
              if isinstance(getattr(fld, b, None), int | float) or
              type(getattr(fld, b, None)).__name__ == "Decimal"]
    if len(bounds) == 2 and fld.type in ("integer", "decimal"):
        hint = f"{hint}, {bounds[0]}–{bounds[1]}"
    return PrintField(
        fld.key, fld.label.get(locale), fld.type, fld.help.get(locale) if fld.help else None,
        fld.required, getattr(fld, "unit", None), choices, hint, fld.visible_if,
    )
