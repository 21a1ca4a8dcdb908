"""Forms of the retention area."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional

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


#: the ANSM decisions on an AAC, as the page names them
AAC_KINDS = {
    "granted": _l("Granted (start of the AAC)"),
    "renewed": _l("Renewed (a new period)"),
    "suspended": _l("Suspended"),
    "withdrawn": _l("Withdrawn"),
}


class AacDecisionForm(FlaskForm):
    """The controller's staff records one ANSM decision on a patient's AAC, with its evidence."""

    case_number = StringField(
        _l("Case number"),
        validators=[InputRequired(message=_l("Enter the case number of the patient.")),
                    Length(max=64, message=_l("At most 64 characters."))],
    )
    kind = SelectField(
        _l("Decision"),
        choices=[SelectChoice("", _l("Choose the decision"))]
        + [SelectChoice(code, label) for code, label in AAC_KINDS.items()],
        validators=[InputRequired(message=_l("Choose the decision."))],
    )
    decision_date = DateField(
        _l("Date of the decision"),
        validators=[InputRequired(message=_l("Enter the date of the decision."))],
    )
    end_date = DateField(
        _l("Last day of the period"),
        description=_l("For a grant or a renewal: at most one year after the decision."),
        validators=[Optional()],
    )
    evidence_reference = StringField(
        _l("Reference of the ANSM decision or letter"),
        validators=[InputRequired(message=_l("Enter the reference of the decision.")),
                    Length(max=64, message=_l("At most 64 characters."))],
    )

    def validate_kind(self, field: SelectField) -> None:
        from wtforms.validators import ValidationError

        if field.data not in AAC_KINDS:
            raise ValidationError(_l("Choose the decision."))
