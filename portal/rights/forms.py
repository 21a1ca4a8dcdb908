"""Forms of the rights area: submitting, recording and handling a request."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from portal.rights.labels import (
    CHANNEL_LABELS,
    DIRECT_WRITERS,
    EXTENSION_LABELS,
    KIND_LABELS,
    REFUSAL_LABELS,
    RELATIVE_BASIS_LABELS,
    REQUESTER_LABELS,
)
from portal.rights.models import Channel, RefusalReason, RequesterType


def _choices(labels: dict[Any, Any], keep: Any = None) -> list[SelectChoice]:
    return [SelectChoice(code.value, label) for code, label in labels.items()
            if keep is None or code in keep]


def _trusted_name() -> StringField:
    return StringField(
        _l("The patient's trusted person, if he is accompanied"),
        description=_l("The person the patient designated to accompany him (article L. 1111-6 "
                       "of the public health code): name, and their link to the patient if "
                       "useful. Kept encrypted, read by the data protection officer only."),
        validators=[Optional(), Length(max=120)])


def _trusted_contact() -> StringField:
    return StringField(_l("The trusted person's contact details"),
                       validators=[Optional(), Length(max=300)])


def _trusted_copy() -> BooleanField:
    return BooleanField(
        _l("The patient asks that the trusted person receive the answer too"),
        description=_l("Without this request from the patient, the trusted person receives "
                       "nothing of the patient's data."))


class SubmitRequestForm(FlaskForm):
    """A professional's request, for a patient of their establishment or for themselves."""

    subject = RadioField(
        _l("Whose data?"),
        choices=[SelectChoice("patient", _l("A patient I follow (the patient asked me)")),
                 SelectChoice("self", _l("My own data as a healthcare professional"))],
        default="patient",
        validators=[InputRequired()],
    )
    case_number = StringField(
        _l("Case number"),
        description=_l("The case number shown in the portal for this patient. Never the "
                       "patient's name or social security number."),
        # The length that counts is checked once the value is normalised (services).
        validators=[Optional(), Length(max=64)],
    )
    kind = RadioField(
        _l("Right exercised"),
        choices=_choices(KIND_LABELS),
        validators=[InputRequired(message=_l("Choose the right the request is about."))],
    )
    trusted_name = _trusted_name()
    trusted_contact = _trusted_contact()
    trusted_copy = _trusted_copy()

    def validate_case_number(self, field: StringField) -> None:
        if self.subject.data == "patient" and not (field.data or "").strip():
            raise ValidationError(_l("Give the case number as it appears in the portal."))


class RecordRequestForm(FlaskForm):
    """A request that reached the DPO by e-mail or post."""

    kind = SelectField(_l("Right exercised"), choices=_choices(KIND_LABELS),
                       validators=[InputRequired()])
    requester_type = SelectField(
        _l("Requester"),
        choices=_choices(REQUESTER_LABELS,
                         keep=set(RequesterType) - {RequesterType.PROFESSIONAL_SELF}),
        validators=[InputRequired()],
    )
    channel = SelectField(_l("Received by"),
                          choices=_choices(CHANNEL_LABELS, keep={Channel.EMAIL, Channel.POST}),
                          validators=[InputRequired()])
    received_on = DateField(_l("Date of receipt"),
                            validators=[DataRequired(message=_l("Give the date of receipt."))])
    case_number = StringField(
        _l("Case number"),
        description=_l("The case number the patient or their physician gave. Never a name or "
                       "a social security number."),
        validators=[DataRequired(message=_l("Give the case number as it appears in the "
                                            "portal.")), Length(max=64)],
    )
    doctor_rpps = StringField(
        _l("RPPS number of the doctor who writes for the patient"),
        description=_l("For a doctor of the patient's choice who has no portal account: the "
                       "RPPS number (the check digit is verified) and the name, as in the "
                       "public directory of health professionals. Their identity is confirmed "
                       "before anything is disclosed."),
        validators=[Optional(), Length(max=32)],
    )
    doctor_name = StringField(_l("Name of that doctor"), validators=[Optional(), Length(max=120)])
    via_professional = StringField(
        _l("Physician through whom identity is confirmed (login or RPPS)"),
        description=_l("For a patient writing directly: the prescribing physician who confirms "
                       "the patient's identity and receives the answer."),
        validators=[Optional(), Length(max=64)],
    )
    via_establishment = StringField(
        _l("Or the centre (FINESS number)"),
        validators=[Optional(), Length(max=9)],
    )
    relative_basis = SelectField(
        _l("Ground of a relative's request"),
        choices=[SelectChoice("", _l("Not a relative")), *_choices(RELATIVE_BASIS_LABELS)],
        validators=[Optional()],
    )
    correspondence_ref = StringField(
        _l("Reference in the correspondence register"),
        description=_l("Your reference of the letter or e-mail; not the requester's name."),
        validators=[Optional(), Length(max=64)],
    )
    trusted_name = _trusted_name()
    trusted_contact = _trusted_contact()
    trusted_copy = _trusted_copy()


class ReviewForm(FlaskForm):
    """The DPO links a request under manual review to a case, after the two checks."""

    case_number = StringField(
        _l("Case number"),
        description=_l("The case number the physician or centre following the patient gave "
                       "you, not the one in the request."),
        validators=[DataRequired(), Length(max=64)])
    identity_confirmed = BooleanField(
        _l("I confirmed the patient's identity with the physician or centre that follows "
           "them"))
    relation_confirmed = BooleanField(
        _l("I confirmed that the requester acts for this patient (the doctor the patient "
           "chose, their relative or their representative)"))


#: who may write through the public form
PUBLIC_REQUESTERS = (RequesterType.PATIENT_DIRECT, RequesterType.PATIENT_VIA_DOCTOR,
                     RequesterType.RELATIVE, RequesterType.LEGAL_REPRESENTATIVE)


class PublicRequestForm(FlaskForm):
    """A request from anyone, without an account: only what is needed to handle it."""

    requester_type = RadioField(
        _l("You are"), choices=_choices(REQUESTER_LABELS, keep=set(PUBLIC_REQUESTERS)),
        validators=[InputRequired(message=_l("Say who is writing."))])
    kind = RadioField(_l("Right exercised"), choices=_choices(KIND_LABELS),
                      validators=[InputRequired(message=_l("Choose the right the request is "
                                                           "about."))])
    relative_basis = SelectField(
        _l("For a relative: on what ground"),
        choices=[SelectChoice("", _l("Not a relative")), *_choices(RELATIVE_BASIS_LABELS)],
        validators=[Optional()])
    case_number = StringField(
        _l("Case number, if you know it"),
        description=_l("The number the doctor gave you for this follow-up (such as 7K3M-9QXA). "
                       "Never your name or your social security number."),
        validators=[Optional(), Length(max=64)])
    confirmer = StringField(
        _l("The doctor or hospital that follows the patient"),
        description=_l("The laboratory asks them to confirm who you are before answering."),
        validators=[InputRequired(message=_l("Name the doctor or the hospital that follows "
                                             "the patient.")), Length(max=200)])
    doctor_rpps = StringField(
        _l("For a doctor: your RPPS number"), validators=[Optional(), Length(max=32)])
    doctor_name = StringField(_l("For a doctor: your name"),
                              validators=[Optional(), Length(max=120)])
    contact = StringField(
        _l("Where to write back to you"),
        description=_l("An e-mail or postal address. It is kept encrypted with the request and "
                       "deleted with it."),
        validators=[InputRequired(message=_l("Give an e-mail or postal address to write back "
                                             "to.")), Length(max=300)])
    trusted_name = _trusted_name()
    trusted_contact = _trusted_contact()
    trusted_copy = _trusted_copy()
    confidentiality_read = BooleanField(
        _l("I have read what writing directly means for the confidentiality of my data"),
        description=_l("Required from a patient or a legal representative: the request is "
                       "recorded only then, and this text is kept with it."))

    def validate_confidentiality_read(self, field: BooleanField) -> None:
        if self.requester_type.data in DIRECT_WRITERS and not field.data:
            raise ValidationError(_l("Read what writing directly means for the "
                                     "confidentiality of your data, then tick the box."))


class ExtendForm(FlaskForm):
    """The one extension of art. 12(3)."""

    months = RadioField(_l("Extension"), choices=[SelectChoice("1", _l("One more month")),
                                                  SelectChoice("2", _l("Two more months"))],
                        default="2", validators=[InputRequired()])
    reason = RadioField(_l("Reason given to the requester"),
                        choices=_choices(EXTENSION_LABELS), validators=[InputRequired()])


class RefuseForm(FlaskForm):
    """A refusal with its coded reason (and a justification under art. 12(5))."""

    reason = SelectField(_l("Reason"), choices=_choices(REFUSAL_LABELS),
                         validators=[InputRequired()])
    justification = TextAreaField(
        _l("Justification"),
        description=_l("Required when the request is manifestly unfounded or excessive: why."),
        validators=[Optional(), Length(max=2000)],
    )

    def validate_justification(self, field: TextAreaField) -> None:
        if (self.reason.data == RefusalReason.UNFOUNDED_OR_EXCESSIVE
                and not (field.data or "").strip()):
            raise ValidationError(_l("Write why the request is manifestly unfounded or "
                                     "excessive."))


class ActionForm(FlaskForm):
    """A one-button action: only the CSRF token."""



class LimitForm(FlaskForm):
    """The ground of the limitation (GDPR art. 18(1)), from the records' list."""

    reason = SelectField(_l("Ground of the limitation"), validators=[InputRequired()])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from portal.records.reading import LIMITATION_LABELS

        super().__init__(*args, **kwargs)
        self.reason.choices = _choices(LIMITATION_LABELS)
