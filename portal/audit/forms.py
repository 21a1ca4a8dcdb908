"""The filter form of the trail (sent by GET: it changes nothing, so it carries no CSRF token)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional, Regexp, ValidationError

from portal.audit.trail import EventFilter

#: printable characters only: what is typed ends up in the audit details of the consultation
_PRINTABLE = Regexp(r"^[^\x00-\x1f\x7f]*$", message=_l("Control characters are not allowed."))


class EventFilterForm(FlaskForm):
    """Filter the trail by person, record, action, outcome and period."""

    class Meta:
        csrf = False

    person = StringField(
        _l("Person"),
        validators=[Optional(), Length(max=64), _PRINTABLE],
        description=_l("Login, user number (U12) or CLI operator."),
    )
    record = StringField(
        _l("Record reference"),
        validators=[Optional(), Length(max=96), _PRINTABLE],
        description=_l("Opaque reference of the record, e.g. a patient code or G12 for a grant."),
    )
    action = StringField(
        _l("Action"),
        validators=[
            Optional(), Length(max=96),
            Regexp(r"^[a-z_:]+$", message=_l("Use lower-case letters, _ and : only.")),
        ],
        description=_l("A full name (records:patient:read) or its beginning (records:)."),
    )
    outcome = SelectField(
        _l("Outcome"),
        choices=[SelectChoice("", _l("Any")), SelectChoice("success", _l("Success")),
                 SelectChoice("failure", _l("Failure")), SelectChoice("denied", _l("Denied"))],
        default="",
        validators=[Optional()],
    )
    date_from = DateField(_l("From (local date)"), validators=[Optional()])
    date_to = DateField(_l("To (local date, included)"), validators=[Optional()])

    def validate_date_to(self, field: DateField) -> None:
        """Refuse a period that ends before it starts."""
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError(_l("The end of the period is before its start."))

    def to_filter(self) -> EventFilter:
        """Return the validated filter."""
        return EventFilter(
            person=(self.person.data or "").strip() or None,
            record=(self.record.data or "").strip() or None,
            action=(self.action.data or "").strip() or None,
            outcome=self.outcome.data or None,
            date_from=self.date_from.data,
            date_to=self.date_to.data,
        )
