"""The paper version of a protocol form: what the print page shows, from the definition.

The choices are the web form's, word for word (a yes/no offers "Unknown" only where the web
form does; a coded field lists the same "code — label" entries), conditions are sentences in
the page's language (portal/protocols/phrasing.py), and a grid prints, under it, the answers
its columns accept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from flask_babel import gettext as _

from portal.i18n import local_number
from portal.protocols.builder import current_locale
from portal.protocols.phrasing import sentence
from portal.protocols.schema import FieldDef, Form, Protocol


@dataclass(frozen=True)
class PaperField:
    """A field of the paper form: label, how to answer, and when it applies."""

    key: str
    label: str
    kind: str
    help: str | None
    required: bool
    unit: str | None
    #: the answers to tick (or, in a grid, to write), as the web form words them
    choices: list[str]
    hint: str
    condition: str | None


@dataclass(frozen=True)
class PaperSection:
    """A section of the paper form; a repeated section prints as a grid of blank rows."""

    key: str
    title: str
    help: str | None
    condition: str | None
    fields: list[PaperField]
    rows: int


def web_choices(fld: FieldDef, protocol: Protocol, locale: str) -> list[tuple[str, str]] | None:
    """The (code, words) the web form offers for a field with a closed list, else None.

    The same rule as the web form's options (portal/protocols/render.py).
    """
    if fld.type == "yes_no":
        pairs = [("yes", _("Yes")), ("no", _("No"))]
        return pairs + ([("unknown", _("Unknown"))] if getattr(fld, "unknown", False) else [])
    if fld.type in ("single_choice", "multiple_choice"):
        return [(c.code, c.label.get(locale)) for c in fld.choices]
    code_list = getattr(fld, "code_list", None)
    if fld.type == "coded" and code_list:
        codes = protocol.code_lists[code_list].codes
        return [(c.code, f"{c.code} — {c.label.get(locale)}") for c in codes]
    return None


def paper_form(protocol: Protocol, form: Form, locale: str | None = None) -> list[PaperSection]:
    """Return the printable blank form, section by section."""
    locale = locale or current_locale()
    described: dict[str, tuple[str, Mapping[str, str] | None]] = {}
    for section in form.sections:
        for fld in section.fields:
            choices = web_choices(fld, protocol, locale)
            labels = None if choices is None else {
                code: (code if fld.type == "coded" else words) for code, words in choices}
            described[fld.key] = (fld.label.get(locale), labels)

    def describe(key: str) -> tuple[str, Mapping[str, str] | None]:
        return described.get(key, (key, None))

    def when(source: str | None) -> str | None:
        return sentence(source, describe) if source else None

    sections = []
    for section in form.sections:
        fields = [_paper_field(fld, protocol, locale, when(fld.visible_if))
                  for fld in section.fields]
        rows = min(section.repeat.max, 10) if section.repeat is not None else 0
        sections.append(PaperSection(
            section.key, section.title.get(locale),
            section.help.get(locale) if section.help else None, when(section.visible_if),
            fields, rows,
        ))
    return sections


def _paper_field(fld: FieldDef, protocol: Protocol, locale: str,
                 condition: str | None) -> PaperField:
    choices = web_choices(fld, protocol, locale)
    hints = {
        "integer": _("whole number"),
        "decimal": _("number"),
        "date": _("date (DD/MM/YYYY)"),
        "partial_date": _("month and year (MM/YYYY)"),
        "year": _("year (YYYY)"),
        "calculated": _("calculated by the portal"),
        "coded": _("tick one") if choices is not None else _("code"),
        "multiple_choice": _("tick all that apply"),
        "single_choice": _("tick one"),
        "yes_no": _("tick one"),
    }
    hint = hints.get(fld.type, "")
    bounds = [getattr(fld, b, None) for b in ("min", "max")]
    if fld.type in ("integer", "decimal") and all(
            isinstance(b, int | float | Decimal) for b in bounds):
        low, high = (local_number(b, locale) for b in bounds)
        hint = f"{hint}, {low}–{high}"
    return PaperField(
        fld.key, fld.label.get(locale), fld.type, fld.help.get(locale) if fld.help else None,
        fld.required, getattr(fld, "unit", None),
        [words for _code, words in choices or []], hint, condition,
    )
