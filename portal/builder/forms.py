"""Forms of the builder: start a draft, save its text, submit, decide."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import HiddenField, IntegerField, RadioField, SelectField, TextAreaField
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
    main = FileField(_l("File"), description=_l(
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
