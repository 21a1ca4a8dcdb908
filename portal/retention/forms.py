"""Forms of the retention area."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length

from portal.retention.reading import READ_REASONS


class ArchiveReadForm(FlaskForm):
    """An archivist asks to read one archived case, and says why."""

    case_number = StringField(
        _l("Case number"),
        validators=[InputRequired(message=_l("Enter the case number of the archived case.")),
                    Length(max=64)],
    )
    reason = SelectField(
        _l("Reason for reading the archive"),
        choices=[SelectChoice("", _l("Choose a reason"))]
        + [SelectChoice(code, label) for code, label in READ_REASONS.items()],
        validators=[InputRequired(message=_l("Choose the reason for this read."))],
    )
    reason_reference = StringField(
        _l("Reference of the request or file"),
        description=_l("The litigation, authority request or audit file this read is for."),
        validators=[InputRequired(message=_l("Enter the reference this read is for.")),
                    Length(max=64, message=_l("At most 64 characters."))],
    )

    def validate_reason(self, field: SelectField) -> None:
        from wtforms.validators import ValidationError

        if field.data not in READ_REASONS:
            raise ValidationError(_l("Choose the reason for this read."))
