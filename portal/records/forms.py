"""WTForms of the records area (the protocol forms themselves come from the protocol builder)."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DecimalField,
    Form,
    HiddenField,
    IntegerField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from portal.export_purposes import PURPOSE_LABELS
from portal.records.actions import (
    LIMITATION_LABELS,
    RECTIFICATION_LABELS,
)


def choices(pairs: list[tuple[str, Any]]) -> list[SelectChoice]:
    """Turn (value, label) pairs into WTForms choices."""
    return [SelectChoice(value, label) for value, label in pairs]


MONTHS = choices([
    ("", "—"), ("1", _l("January")), ("2", _l("February")), ("3", _l("March")),
    ("4", _l("April")), ("5", _l("May")), ("6", _l("June")), ("7", _l("July")),
    ("8", _l("August")), ("9", _l("September")), ("10", _l("October")),
    ("11", _l("November")), ("12", _l("December")),
])


#: what a letters input takes before the letters are read (spaces, apostrophes...)
LETTERS_INPUT_MAX = 40


class NotLongerThan(Length):
    """Length(max=n) that names the limit, without the `maxlength` attribute WTForms would
    render: a browser would cut what is typed instead of letting the server refuse it."""

    def __init__(self, limit: int) -> None:
        super().__init__(max=limit, message=_l("Enter at most %(n)s characters.", n=limit))
        self.field_flags: dict[str, Any] = {}


class RegistrationForm(FlaskForm):
    """Register a patient: letters only, sex, month and year of birth, weight, height."""

    # No maxlength on the inputs: a browser would cut what is typed; the server gets it whole
    # and refuses what is too long, naming the limit.
    surname_letters = StringField(
        _l("First 3 letters of the surname"),
        validators=[InputRequired(), NotLongerThan(LETTERS_INPUT_MAX)],
        description=_l("At most 3 letters. Accents, spaces and hyphens are removed."),
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    first_name_letters = StringField(
        _l("First 2 letters of the first name"),
        validators=[InputRequired(), NotLongerThan(LETTERS_INPUT_MAX)],
        description=_l("At most 2 letters."),
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    sex = RadioField(_l("Sex"), choices=choices([("F", _l("Female")), ("M", _l("Male"))]),
                     validators=[InputRequired(message=_l("Choose the sex."))])
    birth_month = SelectField(_l("Month of birth"), choices=MONTHS,
                              validators=[InputRequired(message=_l("Choose the month."))])
    birth_year = IntegerField(_l("Year of birth"), validators=[InputRequired()],
                              render_kw={"inputmode": "numeric"})
    birth_day = IntegerField(_l("Day of birth (children under 2 years only)"),
                             validators=[Optional(), NumberRange(min=1, max=31)],
                             render_kw={"inputmode": "numeric"})
    weight_kg = DecimalField(_l("Weight (kg)"), places=1, validators=[Optional()],
                             render_kw={"inputmode": "decimal"})
    height_cm = IntegerField(_l("Height (cm)"), validators=[Optional()],
                             render_kw={"inputmode": "numeric"})
    establishment_id = SelectField(_l("Establishment"), coerce=int,
                                   validators=[InputRequired()])
    protocol_key = SelectField(_l("Protocol"), validators=[InputRequired()])
    #: set on the second step, after a probable duplicate was shown
    confirm_duplicate = BooleanField(_l("This is a different patient: register anyway"))


class ControlForm(Form):
    """What accompanies a protocol form: the idempotency token, the version seen, the action.

    A plain form: the CSRF token of every POST is checked by the app-wide CSRF protection.
    """

    token = HiddenField(validators=[DataRequired(), Length(min=16, max=64)])
    version = HiddenField(validators=[Optional()])
    action = HiddenField()
    parent = HiddenField(validators=[Optional(), Length(max=32)])

    def expected_version(self) -> int | None:
        """The submission version the page showed, if any."""
        value = (self.version.data or "").strip()
        return int(value) if value.isdigit() else None


class RectificationForm(FlaskForm):
    """The reason for changing a submitted form (a fixed list)."""

    reason = SelectField(_l("Reason for the change"),
                         choices=choices([("", "—")] + [(k.value, v) for k, v in
                                                       RECTIFICATION_LABELS.items()]),
                         validators=[InputRequired(message=_l("Choose the reason for the "
                                                              "change."))])


class LimitationForm(FlaskForm):
    """Limit a patient's records (data protection officer)."""

    reason = SelectField(_l("Reason"),
                         choices=choices([("", "—")] + [(k.value, v) for k, v in
                                                       LIMITATION_LABELS.items()]),
                         validators=[DataRequired(message=_l("Choose a reason."))])
    request_ref = StringField(_l("Rights request number (optional)"),
                              validators=[Optional(), Length(max=32)],
                              description=_l("For example DR-000012"))


class LiftForm(FlaskForm):
    """Lift a limitation (data protection officer)."""

    request_ref = StringField(_l("Rights request number (optional)"),
                              validators=[Optional(), Length(max=32)])


class HandOffForm(FlaskForm):
    """Record a hand-off to pharmacovigilance; carries the list's sort and view back."""

    sort = HiddenField(validators=[Optional(), Length(max=16)])
    show = HiddenField(validators=[Optional(), Length(max=16)])


class ExportForm(FlaskForm):
    """Choose what to export."""

    protocol_key = SelectField(_l("Protocol"), validators=[InputRequired()])
    #: empty: every form (ODM only)
    form_key = SelectField(_l("Form"), validators=[Optional()])
    fmt = SelectField(_l("Format"), choices=choices([("csv", _l("CSV (one form)")),
                                                     ("odm", _l("CDISC ODM 1.3.2 XML"))]),
                      validators=[InputRequired()])
    purpose = SelectField(
        _l("Purpose of the export"),
        choices=choices([("", "—"), *((str(k), v) for k, v in PURPOSE_LABELS.items())]),
        validators=[InputRequired(message=_l("State the purpose of the export."))],
        description=_l("Written on the export and in the audit trail. A research export "
                       "needs the formality that covers it."))
    #: for a research export: the formality in force that covers it (from the DPO's register)
    research = SelectField(_l("Research formality"), validators=[Optional()],
                           description=_l("A research export holds only the fields in this "
                                          "formality's scope."))
