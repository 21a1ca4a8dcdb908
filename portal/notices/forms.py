"""Forms of the notices area: the slot editor (built per audience), publication, acknowledgement."""

from __future__ import annotations

import functools
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from portal.notices.catalog import (
    LANGS,
    MECHANISM_LABELS,
    Audience,
    Slot,
    SlotKind,
    slots_for,
    third_country_choices,
)

LANGUAGE_LABELS = {"fr": _l("French"), "en": _l("English")}


def options(pairs: Any) -> list[SelectChoice]:
    """Return WTForms choices from (value, label) pairs."""
    return [SelectChoice(str(value), label) for value, label in pairs]


class TransferForm(Form):
    """One transfer outside the EU (a row of the editor; a blank row is ignored)."""

    recipient = StringField(_l("Recipient"), [Optional(), Length(max=200)],
                            description=_l("Who receives or reaches the data."))
    country = SelectField(_l("Country"), choices=[], validate_choice=False)
    mechanism = SelectField(
        _l("Mechanism"),
        choices=options([("", _l("— not chosen —")), *MECHANISM_LABELS.items()]),
    )

    def validate_country(self, field: SelectField) -> None:
        if field.data and field.data not in {choice.value for choice in field.choices}:
            raise ValidationError(_l("Choose a country from the list."))
        if not field.data and (self.recipient.data or self.mechanism.data):
            raise ValidationError(_l("Choose the country the data go to."))


class SlotsFormBase(FlaskForm):
    """The editor of a draft: one field per slot and language."""

    revision = HiddenField()

    def set_country_choices(self, lang: str) -> None:
        """Fill the country lists of the transfer rows, names in `lang`."""
        if not hasattr(self, "transfers"):
            return
        choices = options([("", _l("— choose —")), *third_country_choices(lang)])
        for entry in self.transfers.entries:
            entry.form.country.choices = choices

    def add_blank_transfer_rows(self, count: int = 2) -> None:
        """Offer empty rows for new transfers."""
        if hasattr(self, "transfers"):
            for _index in range(count):
                self.transfers.append_entry()


def field_names(slot: Slot) -> list[tuple[str, str]]:
    """Return (form field name, language or "") of a slot's fields."""
    if slot.kind == SlotKind.BILINGUAL:
        return [(f"{slot.key}_{lang}", lang) for lang in LANGS]
    return [(slot.key, "")]


def _text_field(slot: Slot, label: Any) -> Any:
    validators = [Optional(), Length(max=slot.max_length)]
    if slot.multiline:
        return TextAreaField(label, validators, description=slot.help,
                             render_kw={"rows": 6 if slot.kind == SlotKind.BILINGUAL else 3})
    return StringField(label, validators, description=slot.help)


@functools.cache
def slots_form_class(audience: Audience) -> type[SlotsFormBase]:
    """Return the editor form of `audience`'s notice (built once)."""
    attributes: dict[str, Any] = {}
    for slot in slots_for(audience):
        if slot.kind == SlotKind.BILINGUAL:
            for name, lang in field_names(slot):
                label = _l("%(slot)s — %(language)s", slot=slot.label,
                           language=LANGUAGE_LABELS[lang])
                attributes[name] = _text_field(slot, label)
        elif slot.kind == SlotKind.CHOICE:
            attributes[slot.key] = RadioField(slot.label, [Optional()],
                                              choices=options(slot.choices),
                                              description=slot.help)
        elif slot.kind == SlotKind.TRANSFERS:
            attributes[slot.key] = FieldList(FormField(TransferForm), label=slot.label,
                                             description=slot.help, min_entries=0,
                                             max_entries=30)
        else:
            attributes[slot.key] = _text_field(slot, slot.label)
    return type(f"{audience.value.capitalize()}SlotsForm", (SlotsFormBase,), attributes)


def form_data(audience: Audience, values: dict[str, Any]) -> dict[str, Any]:
    """Return the editor's initial data from stored slot values."""
    data: dict[str, Any] = {}
    for slot in slots_for(audience):
        value = values.get(slot.key)
        if slot.kind == SlotKind.BILINGUAL:
            value = value if isinstance(value, dict) else {}
            for name, lang in field_names(slot):
                data[name] = value.get(lang, "")
        elif slot.kind == SlotKind.TRANSFERS:
            data[slot.key] = [dict(row) for row in value or [] if isinstance(row, dict)]
        else:
            data[slot.key] = value or ""
    return data


def values_from_form(audience: Audience, form: SlotsFormBase) -> dict[str, Any]:
    """Return slot values from a submitted editor."""
    values: dict[str, Any] = {}
    for slot in slots_for(audience):
        if slot.kind == SlotKind.BILINGUAL:
            values[slot.key] = {lang: getattr(form, name).data or ""
                                for name, lang in field_names(slot)}
        elif slot.kind == SlotKind.TRANSFERS:
            values[slot.key] = [dict(entry.data) for entry in getattr(form, slot.key).entries]
        else:
            values[slot.key] = getattr(form, slot.key).data or ""
    return values


class PublishForm(FlaskForm):
    """Approve and publish a draft, saying whether the change is material."""

    revision = IntegerField(validators=[InputRequired()])
    material = RadioField(
        _l("What kind of change is this?"),
        choices=options([
            ("material", _l("Material: purposes, recipients, transfers, retention or rights "
                            "changed. Users read and acknowledge it again at their next "
                            "login.")),
            ("minor", _l("Minor: wording or typing corrections only. Users are not asked "
                         "again.")),
        ]),
        validators=[InputRequired(message=_l("Say whether this change is material."))],
    )


class ConfirmForm(FlaskForm):
    """A button that only needs the CSRF token (start a draft, discard a draft)."""


class AcknowledgeForm(FlaskForm):
    """The person confirms reading the transparency notice and the IT charter (not consent)."""

    version_id = IntegerField(validators=[InputRequired()])
    read = BooleanField(
        _l("I have read this information and the IT charter, and I undertake to comply with "
           "the charter."),
        validators=[DataRequired(message=_l("Tick the box to confirm that you have read the "
                                            "information and the charter."))],
    )


class AcknowledgementFilterForm(FlaskForm):
    """Filter of the DPO's list of acknowledgements (a GET form: no CSRF token needed)."""

    class Meta:
        csrf = False

    version = SelectField(_l("Version"), choices=[], validate_choice=False)
