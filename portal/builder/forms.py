"""Forms of the builder: start a draft, save its text, submit, decide."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional

ORIGINS = [
    SelectChoice("current", _l("The version in force")),
    SelectChoice("file", _l("A definition file (YAML or JSON)")),
    SelectChoice("redcap", _l("A REDCap data dictionary (CSV)")),
    SelectChoice("odm", _l("A CDISC ODM study (XML)")),
    SelectChoice("xlsform", _l("An XLSForm (.xlsx or .csv)")),
]


class StartForm(FlaskForm):
    origin = RadioField(_l("Start from"), choices=ORIGINS, default="current",
                        validators=[InputRequired()])
    protocol_key = SelectField(_l("Protocol in force"), choices=[], validate_choice=False,
                               validators=[Optional()])
    upload = FileField(_l("File"), description=_l(
        "The definition, the REDCap data dictionary, the ODM study or the XLSForm."))
    events = FileField(_l("REDCap events (optional)"))
    mapping = FileField(_l("REDCap instrument-event mapping (optional)"))
    repeating = FileField(_l("REDCap repeating instruments (optional)"))


class TextForm(FlaskForm):
    # No length limit of its own: the request size limit applies, and text is never cut.
    text = TextAreaField(_l("Definition"), validators=[Optional()])
    revision = IntegerField(widget=HiddenField.widget, validators=[InputRequired()])


class RevisionForm(FlaskForm):
    revision = IntegerField(widget=HiddenField.widget, validators=[InputRequired()])


class RefuseForm(FlaskForm):
    reason = TextAreaField(_l("Why the draft is refused"),
                           validators=[DataRequired(), Length(max=2000)])


class ConfirmForm(FlaskForm):
    """A button and its CSRF token."""


class FieldForm(FlaskForm):
    """One field of the structured editor. Bounds and choices are checked by the linter on
    save, like the same text typed in the text editor; only what cannot be saved is refused."""

    revision = IntegerField(widget=HiddenField.widget, validators=[InputRequired()])
    key = StringField(_l("Key"), validators=[DataRequired(), Length(max=50)],
                      description=_l("Lower case letters, digits and _; stored answers keep it."))
    type = SelectField(_l("Type"), choices=[])
    label_fr = StringField(_l("Label (French)"), validators=[DataRequired(), Length(max=2000)])
    label_en = StringField(_l("Label (English)"), validators=[DataRequired(), Length(max=2000)])
    help_fr = StringField(_l("Help (French)"), validators=[Optional(), Length(max=2000)])
    help_en = StringField(_l("Help (English)"), validators=[Optional(), Length(max=2000)])
    required = BooleanField(_l("Required"))
    category = SelectField(_l("Category of data"), choices=[])
    necessity_justification = TextAreaField(
        _l("Why this data is strictly necessary"), validators=[Optional(), Length(max=2000)],
        description=_l("Required for ethnic origin, genetic data, sex life and substance use "
                       "(referential 7.2)."))
    identifies = SelectField(_l("Identification item"), choices=[], description=_l(
        "Only the items the referential allows (7.2 a)."))
    visible_if = StringField(_l("Shown only if (condition)"),
                             validators=[Optional(), Length(max=2000)],
                             description=_l("e.g. on_treatment == 'yes'"))
    put_ref = StringField(_l("PUT-SP reference"), validators=[Optional(), Length(max=200)])
    unit = StringField(_l("Unit"), validators=[Optional(), Length(max=20)])
    min = StringField(_l("Minimum"), validators=[Optional(), Length(max=2000)])
    max = StringField(_l("Maximum"), validators=[Optional(), Length(max=2000)])
    decimals = StringField(_l("Decimal places"), validators=[Optional(), Length(max=2)])
    step = StringField(_l("Step"), validators=[Optional(), Length(max=10)])
    choices = TextAreaField(_l("Answers"), validators=[Optional()], description=_l(
        "One a line: code | French label | English label."))
    # Shown for coded fields only; an unknown list is the linter's finding, like in the text.
    code_list = SelectField(_l("Code list"), choices=[], validate_choice=False)
    pattern = StringField(_l("Pattern (regular expression)"),
                          validators=[Optional(), Length(max=300)])
    max_length = StringField(_l("Longest value"), validators=[Optional(), Length(max=5)])
    expression = StringField(_l("Formula"), validators=[Optional(), Length(max=2000)])
    unknown = BooleanField(_l("Offer \"Unknown\""))
    review_confirmed = BooleanField(_l("I have reviewed this field: it may stay as it is"))
    review_justification = TextAreaField(_l("Why it may stay as it is"),
                                         validators=[Optional(), Length(max=2000)])


class SectionForm(FlaskForm):
    revision = IntegerField(widget=HiddenField.widget, validators=[InputRequired()])
    title_fr = StringField(_l("Title (French)"), validators=[DataRequired(), Length(max=2000)])
    title_en = StringField(_l("Title (English)"), validators=[DataRequired(), Length(max=2000)])
    visible_if = StringField(_l("Shown only if (condition)"),
                             validators=[Optional(), Length(max=2000)])
    repeat_min = StringField(_l("Entries at least"), validators=[Optional(), Length(max=3)])
    repeat_max = StringField(_l("Entries at most (empty: not repeated)"),
                             validators=[Optional(), Length(max=3)])
