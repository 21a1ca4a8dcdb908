"""Structured edits of a definition: forms, sections, fields and timepoints as data.

The structured editor and the text editor edit one thing, the draft's text: an edit here parses
the text, changes the data and writes it back (YAML, or JSON for a *.json draft), and the result
goes through the same save and re-lint as a typed text. Comments of a YAML text do not survive a
structured edit (the data is written anew); keys keep their order.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml
from pydantic import BaseModel

from portal.protocols.loader import guess_format
from portal.protocols.rules import FREE_TEXT_TYPES
from portal.protocols.schema import (
    FIELD_TYPE_NAMES,
    IDENTIFIES_VALUES,
    SENSITIVE_CATEGORIES,
    CalculatedFieldDef,
    Category,
    CodedFieldDef,
    DateFieldDef,
    DecimalFieldDef,
    IntegerFieldDef,
    MultipleChoiceFieldDef,
    PartialDateFieldDef,
    SingleChoiceFieldDef,
    YearFieldDef,
    YesNoFieldDef,
)

#: the types a person may choose: never a free-text zone
OFFERED_TYPES = tuple(t for t in FIELD_TYPE_NAMES if t not in FREE_TEXT_TYPES)
#: the keys each type accepts (a change of type drops the others)
_MODELS: dict[str, type[BaseModel]] = {
    "integer": IntegerFieldDef, "decimal": DecimalFieldDef, "date": DateFieldDef,
    "partial_date": PartialDateFieldDef, "year": YearFieldDef, "yes_no": YesNoFieldDef,
    "single_choice": SingleChoiceFieldDef, "multiple_choice": MultipleChoiceFieldDef,
    "coded": CodedFieldDef, "calculated": CalculatedFieldDef,
}
TYPE_KEYS: dict[str, frozenset[str]] = {
    name: frozenset(model.model_fields) for name, model in _MODELS.items()}
SENSITIVE = frozenset(c.value for c in SENSITIVE_CATEGORIES)
CATEGORIES = tuple(c.value for c in Category)
IDENTIFIES = IDENTIFIES_VALUES

#: what a new field of each type starts with (bounds a person must then set)
_DEFAULTS: dict[str, dict[str, Any]] = {
    "integer": {"min": 0, "max": 100},
    "decimal": {"min": 0, "max": 100, "decimals": 1},
    "single_choice": {"choices": [{"code": "1", "label": {"fr": "Réponse 1", "en": "Answer 1"}}]},
    "multiple_choice": {"choices": [{"code": "1",
                                     "label": {"fr": "Réponse 1", "en": "Answer 1"}}]},
    "coded": {"pattern": "^[A-Z0-9]{1,10}$", "max_length": 10},
    "calculated": {"expression": "0"},
}


class StructureError(ValueError):
    """The text is not a definition the structured editor can open, or a target is missing."""


def parse(text: str, source_name: str) -> dict[str, Any]:
    """The definition as data (the text editor must first fix a text that does not parse)."""
    try:
        data = (json.loads(text) if guess_format(source_name) == "json"
                else yaml.safe_load(text))
    except (ValueError, yaml.YAMLError):
        raise StructureError("the text does not parse: correct it in the text editor") from None
    if not isinstance(data, dict) or not isinstance(data.get("forms"), list):
        raise StructureError("the text is not a definition with forms: correct it in the text "
                             "editor")
    return data


def _plain(value: Any) -> Any:
    """Dates and other YAML scalars as the text writes them back."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def dump(data: Mapping[str, Any], source_name: str) -> str:
    """Write the data back as the draft's format."""
    if guess_format(source_name) == "json":
        return json.dumps(_plain(data), ensure_ascii=False, indent=2) + "\n"
    return yaml.safe_dump(dict(data), allow_unicode=True, sort_keys=False, width=100)


# --- finding things --------------------------------------------------------------------------


def form_of(data: dict[str, Any], form_key: str) -> dict[str, Any]:
    for form in data.get("forms") or []:
        if isinstance(form, dict) and form.get("key") == form_key:
            return form
    raise StructureError(f"no form {form_key!r}")


def section_of(data: dict[str, Any], form_key: str, section_key: str) -> dict[str, Any]:
    for section in form_of(data, form_key).get("sections") or []:
        if isinstance(section, dict) and section.get("key") == section_key:
            return section
    raise StructureError(f"no section {section_key!r} in form {form_key!r}")


def field_of(data: dict[str, Any], form_key: str, section_key: str, field_key: str
             ) -> dict[str, Any]:
    for fld in section_of(data, form_key, section_key).get("fields") or []:
        if isinstance(fld, dict) and fld.get("key") == field_key:
            return fld
    raise StructureError(f"no field {field_key!r} in section {section_key!r}")


def _keys(data: dict[str, Any]) -> set[str]:
    """Every key of a field or section (keys are unique in a definition)."""
    found: set[str] = set()
    for form in data.get("forms") or []:
        for section in form.get("sections") or []:
            found.add(str(section.get("key")))
            found.update(str(f.get("key")) for f in section.get("fields") or [])
    return found


def _new_key(data: dict[str, Any], stem: str) -> str:
    used = _keys(data)
    stem = stem[:44]
    number = 1
    while f"{stem}_{number}" in used:
        number += 1
    return f"{stem}_{number}"


def _move(items: list[Any], index: int, delta: int) -> None:
    target = index + delta
    if 0 <= target < len(items):
        items[index], items[target] = items[target], items[index]


# --- edits -----------------------------------------------------------------------------------


def add_field(data: dict[str, Any], form_key: str, section_key: str, kind: str) -> str:
    """Add a field of an offered type at the end of a section; return its key."""
    if kind not in OFFERED_TYPES:
        raise StructureError(f"type {kind!r} is not offered")
    form = form_of(data, form_key)
    section = section_of(data, form_key, section_key)
    key = _new_key(data, "new_field")
    fld: dict[str, Any] = {"key": key, "type": kind,
                           "label": {"fr": "Nouveau champ", "en": "New field"},
                           "category": "health"}
    fld.update(copy.deepcopy(_DEFAULTS.get(kind, {})))
    if form.get("put_ref"):
        fld["put_ref"] = form["put_ref"]
    section.setdefault("fields", []).append(fld)
    return key


def add_section(data: dict[str, Any], form_key: str) -> str:
    """Add a section (with one yes/no field, a section has at least one field)."""
    form = form_of(data, form_key)
    key = _new_key(data, "new_section")
    form.setdefault("sections", []).append({
        "key": key, "title": {"fr": "Nouvelle section", "en": "New section"}, "fields": []})
    add_field(data, form_key, key, "yes_no")
    return key


def move_field(data: dict[str, Any], form_key: str, section_key: str, field_key: str,
               delta: int) -> None:
    fields = section_of(data, form_key, section_key)["fields"]
    _move(fields, fields.index(field_of(data, form_key, section_key, field_key)), delta)


def move_section(data: dict[str, Any], form_key: str, section_key: str, delta: int) -> None:
    sections = form_of(data, form_key)["sections"]
    _move(sections, sections.index(section_of(data, form_key, section_key)), delta)


def duplicate_field(data: dict[str, Any], form_key: str, section_key: str, field_key: str
                    ) -> str:
    """Copy a field right after itself, under a new key; return the key."""
    fields = section_of(data, form_key, section_key)["fields"]
    original = field_of(data, form_key, section_key, field_key)
    twin = copy.deepcopy(original)
    twin["key"] = _new_key(data, field_key)
    fields.insert(fields.index(original) + 1, twin)
    return str(twin["key"])


def remove_field(data: dict[str, Any], form_key: str, section_key: str, field_key: str) -> None:
    section = section_of(data, form_key, section_key)
    section["fields"].remove(field_of(data, form_key, section_key, field_key))


def remove_section(data: dict[str, Any], form_key: str, section_key: str) -> None:
    form = form_of(data, form_key)
    form["sections"].remove(section_of(data, form_key, section_key))


def _number(text: str, whole: bool) -> int | float | str:
    """A bound as typed: a number when it is one (else kept as typed, for the linter to name)."""
    try:
        value = Decimal(text.replace(",", "."))
    except InvalidOperation:
        return text
    if whole and value == value.to_integral_value():
        return int(value)
    return int(value) if value == value.to_integral_value() else float(value)


def _set(target: dict[str, Any], key: str, value: Any) -> None:
    if value is None or value == "" or value == []:
        target.pop(key, None)
    else:
        target[key] = value


def _text(fr: str | None, en: str | None) -> dict[str, str] | None:
    fr, en = (fr or "").strip(), (en or "").strip()
    if not fr and not en:
        return None
    return {"fr": fr, "en": en}  # one missing: the linter says which


def parse_choices(text: str) -> list[dict[str, Any]]:
    """Choices typed one a line as `code | French label | English label`."""
    choices = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|")]
        code = parts[0]
        fr = parts[1] if len(parts) > 1 else ""
        en = parts[2] if len(parts) > 2 else fr
        choices.append({"code": code, "label": {"fr": fr or code, "en": en or fr or code}})
    return choices


def choices_text(fld: Mapping[str, Any]) -> str:
    """The choices of a field as the editor shows them (see `parse_choices`)."""
    lines = []
    for choice in fld.get("choices") or []:
        label = choice.get("label") or {}
        lines.append(f"{choice.get('code')} | {label.get('fr', '')} | {label.get('en', '')}")
    return "\n".join(lines)


def update_field(data: dict[str, Any], form_key: str, section_key: str, field_key: str,
                 values: Mapping[str, Any]) -> str:
    """Set a field from the editor's inputs; return its (possibly new) key.

    `values`: key, type, label_fr/en, help_fr/en, required, category, necessity_justification,
    identifies, visible_if, unit, min, max, decimals, step, choices, code_list, pattern,
    max_length, expression, put_ref, unknown, review_confirmed, review_justification.
    """
    fld = field_of(data, form_key, section_key, field_key)
    kind = str(values.get("type") or fld.get("type"))
    if kind not in OFFERED_TYPES:
        raise StructureError(f"type {kind!r} is not offered")
    if kind != fld.get("type"):
        for stale in [k for k in fld if k not in TYPE_KEYS[kind]]:
            del fld[stale]
        for name, default in _DEFAULTS.get(kind, {}).items():
            fld.setdefault(name, copy.deepcopy(default))
    fld["type"] = kind
    new_key = str(values.get("key") or field_key).strip()
    if new_key != field_key and new_key in _keys(data):
        raise StructureError(f"the key {new_key!r} is already used")
    fld["key"] = new_key
    # An input the editor did not send leaves its part of the field as it is.
    if "label_fr" in values or "label_en" in values:
        fld["label"] = _text(values.get("label_fr", (fld.get("label") or {}).get("fr")),
                             values.get("label_en", (fld.get("label") or {}).get("en"))
                             ) or fld.get("label")
    if "help_fr" in values or "help_en" in values:
        _set(fld, "help", _text(values.get("help_fr"), values.get("help_en")))
    if "required" in values:
        _set(fld, "required", True if values.get("required") else None)
    category = values.get("category") or fld.get("category")
    if category not in CATEGORIES:
        raise StructureError(f"unknown category {category!r}")
    fld["category"] = category
    if "identifies" in values:
        identifies = values.get("identifies") or None
        if identifies is not None and identifies not in IDENTIFIES:
            raise StructureError(f"{identifies!r} is not an allowed identification item")
        _set(fld, "identifies", identifies)
    for name in ("necessity_justification", "visible_if", "put_ref"):
        if name in values:
            _set(fld, name, (values.get(name) or "").strip())
    keys = TYPE_KEYS[kind]
    whole = kind in ("integer", "year")
    for name in ("min", "max"):
        if name in keys and name in values:
            raw = str(values.get(name) or "").strip()
            bound: Any = raw if kind in ("date", "partial_date") else (
                _number(raw, whole) if raw else "")
            _set(fld, name, bound)
    for name in ("decimals", "step", "max_length"):
        if name in keys and name in values:
            raw = str(values.get(name) or "").strip()
            _set(fld, name, _number(raw, True) if raw else "")
    for name in ("unit", "pattern", "expression", "code_list"):
        if name in keys and name in values:
            _set(fld, name, str(values.get(name) or "").strip())
    if "choices" in keys and "choices" in values:
        fld["choices"] = parse_choices(str(values.get("choices") or ""))
    if "unknown" in keys and "unknown" in values:
        _set(fld, "unknown", True if values.get("unknown") else None)
    if fld.get("review") and values.get("review_confirmed"):
        fld["review"] = {**fld["review"], "status": "confirmed",
                         "justification": (values.get("review_justification") or "").strip()}
    return new_key


def update_section(data: dict[str, Any], form_key: str, section_key: str,
                   values: Mapping[str, Any]) -> None:
    """Title, condition and repetition of a section."""
    section = section_of(data, form_key, section_key)
    section["title"] = _text(values.get("title_fr"), values.get("title_en")) or section["title"]
    _set(section, "visible_if", (values.get("visible_if") or "").strip())
    repeat_max = str(values.get("repeat_max") or "").strip()
    if repeat_max:
        repeat_min = str(values.get("repeat_min") or "").strip()
        section["repeat"] = {"max": _number(repeat_max, True),
                             "min": _number(repeat_min, True) if repeat_min else 0}
    else:
        section.pop("repeat", None)


def timepoints(data: dict[str, Any]) -> list[dict[str, Any]]:
    schedule = data.get("schedule")
    if not isinstance(schedule, dict) or not isinstance(schedule.get("timepoints"), list):
        raise StructureError("the definition has no schedule of timepoints")
    return schedule["timepoints"]


def add_timepoint(data: dict[str, Any]) -> str:
    points = timepoints(data)
    used = {str(p.get("code")) for p in points}
    number = 1
    while f"T{number}" in used:
        number += 1
    code = f"T{number}"
    points.append({"code": code, "label": {"fr": f"Visite {code}", "en": f"Visit {code}"},
                   "month": 1})
    return code


def _timepoint(data: dict[str, Any], code: str) -> dict[str, Any]:
    for point in timepoints(data):
        if str(point.get("code")) == code:
            return point
    raise StructureError(f"no timepoint {code!r}")


def update_timepoint(data: dict[str, Any], code: str, values: Mapping[str, Any]) -> None:
    """Label, day or month, and the window of a timepoint."""
    point = _timepoint(data, code)
    point["label"] = _text(values.get("label_fr"), values.get("label_en")) or point["label"]
    for name in ("day", "month", "window_before_days", "window_after_days"):
        raw = str(values.get(name) or "").strip()
        _set(point, name, _number(raw, True) if raw else "")


def remove_timepoint(data: dict[str, Any], code: str) -> None:
    timepoints(data).remove(_timepoint(data, code))


def move_timepoint(data: dict[str, Any], code: str, delta: int) -> None:
    points = timepoints(data)
    _move(points, points.index(_timepoint(data, code)), delta)
