"""What a new definition changes against an older one, field by field.

The builder's compare page and the versions page show these changes; `breaking_changes` (in
`services`) decides which of them stored submissions forbid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from portal.protocols.schema import Form, Protocol

#: attributes that bound or shape what a field accepts
BOUND_ATTRIBUTES = ("min", "max", "step", "decimals", "max_selected", "max_length", "pattern",
                    "unit", "code_list")
#: texts a person reads
TEXT_ATTRIBUTES = ("label", "help")


@dataclass(frozen=True)
class Change:
    """One difference: `kind` is form_added, form_removed, field_added, field_removed,
    retyped, choice_added, choice_removed, bounds, label, required, condition, repeat or
    schedule."""

    form: str
    field: str | None
    kind: str
    detail: str


def _fields(form: Form) -> dict[str, Any]:
    return {fld.key: fld for section in form.sections for fld in section.fields}


def _plain(value: Any) -> Any:
    return value.model_dump(mode="json") if hasattr(value, "model_dump") else value


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if hasattr(value, "fr"):
        return f"{value.fr} / {value.en}"
    return str(value)


def _field_changes(form_key: str, key: str, old: Any, new: Any) -> list[Change]:
    if old.type != new.type:
        return [Change(form_key, key, "retyped", f"{old.type} → {new.type}")]
    found = []
    if hasattr(old, "choices"):
        before = {c.code: c for c in old.choices}
        after = {c.code: c for c in new.choices}
        found += [Change(form_key, key, "choice_removed", code) for code in before
                  if code not in after]
        found += [Change(form_key, key, "choice_added", code) for code in after
                  if code not in before]
        found += [Change(form_key, key, "label", f"choice {code}: {_text(before[code].label)}"
                         f" → {_text(after[code].label)}")
                  for code in before if code in after and before[code].label != after[code].label]
    for name in BOUND_ATTRIBUTES:
        was, now = _plain(getattr(old, name, None)), _plain(getattr(new, name, None))
        if was != now:
            found.append(Change(form_key, key, "bounds", f"{name}: {was} → {now}"))
    for name in TEXT_ATTRIBUTES:
        was, now = getattr(old, name), getattr(new, name)
        if was != now:
            found.append(Change(form_key, key, "label", f"{name}: {_text(was)} → {_text(now)}"))
    if old.required != new.required:
        found.append(Change(form_key, key, "required", f"{old.required} → {new.required}"))
    if old.visible_if != new.visible_if:
        found.append(Change(form_key, key, "condition",
                            f"{old.visible_if or '—'} → {new.visible_if or '—'}"))
    return found


def _form_changes(old: Form, new: Form) -> list[Change]:
    found = []
    if old.title != new.title:
        found.append(Change(new.key, None, "label",
                            f"title: {_text(old.title)} → {_text(new.title)}"))
    before, after = _fields(old), _fields(new)
    found += [Change(old.key, key, "field_removed", fld.type) for key, fld in before.items()
              if key not in after]
    found += [Change(new.key, key, "field_added", fld.type) for key, fld in after.items()
              if key not in before]
    for key, fld in before.items():
        if key in after:
            found += _field_changes(new.key, key, fld, after[key])
    old_sections = {s.key: s for s in old.sections}
    for section in new.sections:
        was = old_sections.get(section.key)
        if was is not None and was.repeat != section.repeat:
            found.append(Change(new.key, None, "repeat",
                                f"section {section.key}: {_plain(was.repeat)} → "
                                f"{_plain(section.repeat)}"))
    return found


def compare(old: Protocol | None, new: Protocol) -> list[Change]:
    """Every change from `old` to `new` (everything is added when there is no `old`)."""
    if old is None:
        return [Change(form.key, None, "form_added", _text(form.title)) for form in new.forms]
    found = []
    before = {f.key: f for f in old.forms}
    after = {f.key: f for f in new.forms}
    found += [Change(key, None, "form_removed", _text(form.title)) for key, form in before.items()
              if key not in after]
    found += [Change(key, None, "form_added", _text(form.title)) for key, form in after.items()
              if key not in before]
    for key, form in after.items():
        if key in before:
            found += _form_changes(before[key], form)
    if old.schedule != new.schedule:
        was = {t.code: t for t in old.schedule.timepoints}
        now = {t.code: t for t in new.schedule.timepoints}
        for code in sorted(set(was) | set(now)):
            if was.get(code) != now.get(code):
                found.append(Change("", code, "schedule",
                                    f"{_plain(was.get(code))} → {_plain(now.get(code))}"))
        if old.schedule.then != new.schedule.then:
            found.append(Change("", None, "schedule", f"then: {_plain(old.schedule.then)} → "
                                                      f"{_plain(new.schedule.then)}"))
    return found


def version_changes(versions: list[Any], definition_of: Any) -> list[list[Change]]:
    """The changes of each version against the one installed before it (`versions` newest
    first, as the versions page lists them). Both texts are kept verbatim, so the diff is
    recomputed rather than stored: it names form and field keys, which the database keeps in
    the definitions only (tests/records/test_form_codes.py)."""
    ordered = sorted(versions, key=lambda v: (v.installed_at, v.id))
    found: dict[int, list[Change]] = {}
    previous = None
    for version in ordered:
        found[version.id] = compare(definition_of(previous) if previous is not None else None,
                                    definition_of(version))
        previous = version
    return [found[v.id] for v in versions]
