"""Forms of the access pages: establishments, members, grants, endings and reviews."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from portal.access.labels import CATEGORY_LABELS, ROLE_LABELS, SCOPE_LABELS
from portal.access.services import END_REASONS, MOTIVATIONS


def _options(labels: dict) -> list[SelectChoice]:
    return [SelectChoice(str(key), label) for key, label in labels.items()]


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token."""


class EstablishmentForm(FlaskForm):
    finess = StringField(_l("FINESS number"), validators=[DataRequired(), Length(max=12)],
                         description=_l("9 characters, as in the FINESS directory."))
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=160)])
    city = StringField(_l("City"), validators=[Optional(), Length(max=80)])


class MemberForm(FlaskForm):
    login = StringField(_l("Login of the person"), validators=[DataRequired(), Length(max=64)])


class GrantForm(FlaskForm):
    role = SelectField(_l("Role"), choices=_options(ROLE_LABELS), validators=[DataRequired()])
    scope = SelectField(_l("Data scope"), choices=_options(SCOPE_LABELS),
                        validators=[DataRequired()],
                        description=_l("Directly identifying health data need the approval of "
                                       "a second administrator."))
    category = SelectField(_l("Data category"), choices=_options(CATEGORY_LABELS),
                           validators=[DataRequired()])
    valid_from = DateField(_l("First day"), validators=[Optional()],
                           description=_l("Leave empty to start now."))
    valid_until = DateField(_l("Last day"), validators=[DataRequired()],
                            description=_l("At most 365 days after the first day (30 for "
                                           "auditors)."))
    establishments = SelectMultipleField(
        _l("Establishments"), coerce=int, validators=[Optional()],
        description=_l("Healthcare staff only: the establishments they belong to."))
    protocol_key = StringField(_l("Protocol"), validators=[Optional(), Length(max=64)],
                               description=_l("Leave empty for every protocol."))
    motivation = SelectField(_l("Motivation (auditors)"),
                             choices=[SelectChoice("", "—"), *_options(MOTIVATIONS)],
                             validators=[Optional()])
    motivation_reference = StringField(_l("Reference number (auditors)"),
                                       validators=[Optional(), Length(max=64)])


class EndForm(FlaskForm):
    reason = SelectField(_l("Reason"), validators=[DataRequired()], choices=[
        SelectChoice(key, label) for key, label in END_REASONS.items()
        if key not in {"review_overdue", "review"}
    ])


class ReviewChangeForm(FlaskForm):
    """Narrow a grant at review: lower scope, other data, earlier end, fewer establishments."""

    scope = SelectField(_l("Data scope"), choices=_options(SCOPE_LABELS))
    category = SelectField(_l("Data category"), choices=_options(CATEGORY_LABELS))
    valid_until = DateField(_l("Last day"), validators=[DataRequired()])
    establishments = SelectMultipleField(_l("Establishments"), coerce=int,
                                         validators=[Optional()])
