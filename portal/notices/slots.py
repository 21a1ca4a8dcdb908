"""Slot values: completeness for publication, normalisation of what the editor sends, changes.

Pure functions of an audience and its values (no database): the rules of section 4.1 of the
domain requirements (INF-01) and of transfers outside the EU (INF-06).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _

from portal.errors import BadRequest, NotFound
from portal.notices import defaults
from portal.notices.catalog import (
    LANGS,
    MECHANISMS_WITH_COPY,
    Audience,
    Mechanism,
    Slot,
    SlotKind,
    country_name,
    is_third_country,
    slots_for,
)


def as_audience(value: Audience | str) -> Audience:
    """Return the audience named `value`.

    :raises NotFound: there is no such audience.
    """
    try:
        return Audience(value)
    except ValueError:
        raise NotFound(_("There is no such notice.")) from None


@dataclass(frozen=True)
class MissingSlot:
    """A reason publication is refused, naming the slot at fault."""

    key: str
    message: str


@dataclass(frozen=True)
class SlotChange:
    """One slot whose value differs between two versions."""

    slot: Slot
    old: Any
    new: Any


# --- completeness ----------------------------------------------------------------------------


def _is_empty(slot: Slot, value: Any) -> list[str]:
    """Return the languages (or [""]) in which a slot is empty."""
    if slot.kind == SlotKind.BILINGUAL:
        value = value if isinstance(value, dict) else {}
        return [lang for lang in LANGS if not str(value.get(lang) or "").strip()]
    if slot.kind == SlotKind.TRANSFERS:
        return []  # checked with transfers_outside_eu below
    return [""] if not str(value or "").strip() else []


def _lang_name(lang: str) -> str:
    return _("French") if lang == "fr" else _("English")


def missing_slots(audience: Audience | str, values: dict[str, Any]) -> list[MissingSlot]:
    """Return every reason the notice of `audience` cannot be published with `values`."""
    audience = as_audience(audience)
    problems: list[MissingSlot] = []

    def missing(slot: Slot, langs: list[str]) -> None:
        for lang in langs:
            if slot.kind == SlotKind.CHOICE:
                message = _("%(slot)s: no answer chosen.", slot=slot.label)
            elif lang:
                message = _("%(slot)s (%(language)s): missing.", slot=slot.label,
                            language=_lang_name(lang))
            else:
                message = _("%(slot)s: missing.", slot=slot.label)
            problems.append(MissingSlot(slot.key, message))

    for slot in slots_for(audience):
        value = values.get(slot.key)
        if slot.key == "eu_representative":
            if values.get("controller_in_eu") == "no":
                missing(slot, _is_empty(slot, value))
            continue
        if slot.key == "transfer_copy":
            if _declares_transfers(values) and any(
                row.get("mechanism") in MECHANISMS_WITH_COPY for row in _transfer_rows(values)
            ):
                missing(slot, _is_empty(slot, value))
            continue
        if slot.required:
            missing(slot, _is_empty(slot, value))
    problems.extend(_transfer_problems(audience, values))
    return problems


def _declares_transfers(values: dict[str, Any]) -> bool:
    return values.get("transfers_outside_eu") == "listed"


def _transfer_rows(values: dict[str, Any]) -> list[dict[str, Any]]:
    rows = values.get("transfers") or []
    return [row for row in rows if isinstance(row, dict)]


def _transfer_problems(audience: Audience, values: dict[str, Any]) -> list[MissingSlot]:
    if "transfers" not in {slot.key for slot in slots_for(audience)}:
        return []
    rows = _transfer_rows(values)
    choice = values.get("transfers_outside_eu")
    if choice == "none" and rows:
        return [MissingSlot("transfers", _("Transfers are listed although the notice says there "
                                           "is no transfer outside the EU."))]
    if choice != "listed":
        return []
    if not rows:
        return [MissingSlot("transfers", _("Transfers outside the EU are announced but none is "
                                           "listed."))]
    problems = []
    for index, row in enumerate(rows, start=1):
        country = str(row.get("country") or "")
        name = country_name(country, "en") if country else _("transfer %(n)d", n=index)
        if not str(row.get("recipient") or "").strip():
            problems.append(MissingSlot("transfers", _("Transfer to %(country)s: the recipient "
                                                       "is empty.", country=name)))
        if not country:
            problems.append(MissingSlot("transfers", _("Transfer %(n)d: the country is empty.",
                                                       n=index)))
        if not row.get("mechanism"):
            problems.append(MissingSlot("transfers", _("Transfer to %(country)s has no "
                                                       "mechanism (adequacy decision, standard "
                                                       "clauses, binding corporate rules or "
                                                       "article 49 derogation).", country=name)))
    return problems


# --- normalising what the editor sends ------------------------------------------------------


def _clean_text(slot: Slot, raw: Any) -> str:
    text = str(raw or "").replace("\r\n", "\n").strip()
    if not slot.multiline:
        text = " ".join(text.split())
    if len(text) > slot.max_length:
        raise BadRequest(_("%(slot)s is limited to %(n)d characters.", slot=slot.label,
                           n=slot.max_length))
    return text


def _clean_transfers(raw: Any) -> list[dict[str, str]]:
    rows = []
    for item in raw or []:
        if not isinstance(item, dict):
            raise BadRequest(_("A transfer is malformed."))
        recipient = " ".join(str(item.get("recipient") or "").split())
        country = str(item.get("country") or "").strip().upper()
        mechanism = str(item.get("mechanism") or "").strip()
        if not (recipient or country or mechanism):
            continue  # an empty row of the editor
        if len(recipient) > 200:
            raise BadRequest(_("A transfer's recipient is limited to 200 characters."))
        if country and not is_third_country(country):
            raise BadRequest(_("%(code)s is not a country outside the European Union and the "
                               "EEA: sending data there is not a transfer.", code=country))
        if mechanism and mechanism not in set(Mechanism):
            raise BadRequest(_("Unknown transfer mechanism."))
        rows.append({"recipient": recipient, "country": country, "mechanism": mechanism})
    return rows


def clean_values(audience: Audience | str, values: dict[str, Any]) -> dict[str, Any]:
    """Return the slot values of `audience` normalised for storage.

    :raises BadRequest: a value is too long, a choice is unknown or a transfer is invalid.
    """
    audience = as_audience(audience)
    clean: dict[str, Any] = {}
    for slot in slots_for(audience):
        raw = values.get(slot.key)
        if slot.kind == SlotKind.BILINGUAL:
            raw = raw if isinstance(raw, dict) else {}
            clean[slot.key] = {lang: _clean_text(slot, raw.get(lang)) for lang in LANGS}
        elif slot.kind == SlotKind.TRANSFERS:
            clean[slot.key] = _clean_transfers(raw)
        elif slot.kind == SlotKind.CHOICE:
            code = str(raw or "")
            if code and code not in dict(slot.choices):
                raise BadRequest(_("%(slot)s: unknown choice.", slot=slot.label))
            clean[slot.key] = code
        else:
            clean[slot.key] = _clean_text(slot, raw)
    return clean


def changed_slots(audience: Audience | str, old: dict[str, Any] | None,
                  new: dict[str, Any]) -> list[SlotChange]:
    """Return the slots of `audience` whose value differs between `old` and `new`."""
    audience = as_audience(audience)
    old = old or {}
    changes = []
    for slot in slots_for(audience):
        before = old.get(slot.key, defaults.empty_value(slot))
        after = new.get(slot.key, defaults.empty_value(slot))
        if before != after:
            changes.append(SlotChange(slot, before, after))
    return changes
