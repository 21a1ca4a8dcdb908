"""Forms of the registers: what the DPO types into each register."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

TEXT = 2000


def _c(pairs: list[tuple[str, object]]) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


def _text(label: object, *, required: bool = False, area: bool = False,
          description: object = "") -> StringField | TextAreaField:
    validators = [DataRequired() if required else Optional(), Length(max=TEXT)]
    cls = TextAreaField if area else StringField
    return cls(label, validators=validators, description=description)


class _Versioned(FlaskForm):
    #: the version the editor saw, so that a concurrent edit is not overwritten silently
    number = HiddenField()


class ProcessingForm(_Versioned):
    controller_contact = _text(_l("Controller's address and contact"), area=True)
    joint_controller = _text(_l("Joint controller, if any"))
    eu_representative = _text(_l("EU representative (article 27), if the laboratory is not "
                                 "established in the EU"))
    dpo_name = _text(_l("Data protection officer"))
    dpo_contact = _text(_l("DPO's contact (address, e-mail)"))
    extra_purposes = _text(_l("Purposes beyond the referential"), area=True,
                           description=_l("Anything here makes the processing deviate from "
                                          "the referential."))
    retention_patients = _text(_l("Retention of patients' and professionals' data"), area=True)
    retention_deviation = _text(_l("Retention longer than the referential"), area=True,
                                description=_l("Anything here makes the processing deviate "
                                               "from the referential."))
    security_extra = _text(_l("Other security measures"), area=True)
    cnil_declaration_ref = _text(_l("Reference of the declaration of conformity to the "
                                    "referential"))
    cnil_declaration_date = _text(_l("Date of that declaration"))
    authorisation_ref = _text(_l("CNIL authorisation reference (article 66 III)"),
                              description=_l("It covers the deviations shown on this page when "
                                             "you save."))


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class BreachForm(_Versioned):
    title = _text(_l("Short description"), required=True)
    detected_at = DateTimeLocalField(_l("Detected at"), validators=[Optional()])
    aware_at = DateTimeLocalField(_l("Awareness (starts the 72-hour clock)"),
                                  validators=[DataRequired()])
    processor_notified_at = DateTimeLocalField(_l("Notified by the processor at"),
                                               validators=[Optional()])
    nature = MultiCheckboxField(_l("Nature"), choices=_c([
        ("confidentiality", _l("Confidentiality")), ("integrity", _l("Integrity")),
        ("availability", _l("Availability"))]))
    person_categories = _text(_l("Categories of persons concerned"))
    persons_approx = IntegerField(_l("Approximate number of persons"),
                                  validators=[Optional(), NumberRange(min=0)])
    record_categories = _text(_l("Categories of records concerned"))
    records_approx = IntegerField(_l("Approximate number of records"),
                                  validators=[Optional(), NumberRange(min=0)])
    cases = _text(_l("Case numbers concerned, separated by spaces"), area=True)
    consequences = _text(_l("Likely consequences"), area=True)
    measures = _text(_l("Measures taken or proposed"), area=True)
    contact = _text(_l("DPO or contact point"))
    risk = SelectField(_l("Risk assessment"), choices=_c([
        ("", _l("Not assessed yet")), ("none", _l("Unlikely to result in a risk")),
        ("risk", _l("Risk")), ("high", _l("High risk"))]), validators=[Optional()])
    risk_justification = _text(_l("Justification of the assessment"), area=True)
    cnil_notified = BooleanField(_l("Notified to the CNIL"))
    cnil_notified_at = DateTimeLocalField(_l("Notified at"), validators=[Optional()])
    cnil_reference = _text(_l("CNIL reference"))
    cnil_phase = SelectField(_l("Phase"), choices=_c([
        ("", "—"), ("initial", _l("Initial")), ("complementary", _l("Complementary"))]),
        validators=[Optional()])
    delay_reason = _text(_l("Reasons for the delay (after 72 hours)"), area=True)
    communication = SelectField(_l("Communication to the persons (article 34)"), choices=_c([
        ("", _l("Not decided")), ("prescribers", _l("Through their prescribers")),
        ("exception", _l("Not made: exception of article 34(3)"))]), validators=[Optional()])
    exception_invoked = _text(_l("Exception invoked"))
    status = SelectField(_l("Status"), choices=_c([
        ("draft", _l("Draft, to triage")), ("open", _l("Open")), ("closed", _l("Closed"))]))


class ProcessorForm(_Versioned):
    name = _text(_l("Name"), required=True)
    role = SelectField(_l("Role"), choices=[])
    country = StringField(_l("Country (two-letter code)"),
                          validators=[DataRequired(), Length(min=2, max=2)])
    location = _text(_l("Locations (sites, data centres)"))
    contract_start = DateField(_l("Contract start"), validators=[Optional()])
    contract_end = DateField(_l("Contract end"), validators=[Optional()])
    guarantees = _text(_l("Guarantees (article 28 contract, certifications)"), area=True)
    hds_certificate = _text(_l("Health-data hosting certificate"))
    mechanism = SelectField(_l("Transfer mechanism (outside the EU)"), choices=_c([
        ("", _l("None (in the EU)")), ("adequacy", _l("Adequacy decision (article 45)")),
        ("scc", _l("Standard contractual clauses (article 46)")),
        ("bcr", _l("Binding corporate rules (article 47)")),
        ("art49", _l("Derogation (article 49)"))]), validators=[Optional()])
    mechanism_document = _text(_l("Where the safeguards document is kept"))
    ended = BooleanField(_l("The contract has ended"))


class DpiaForm(_Versioned):
    reference = _text(_l("Reference"))
    description = _text(_l("(a) Systematic description of the processing and its purposes"),
                        area=True)
    necessity = _text(_l("(b) Necessity and proportionality"), area=True)
    risks = _text(_l("(c) Risks to the rights and freedoms of the persons"), area=True)
    measures = _text(_l("(d) Measures envisaged to address the risks"), area=True)
    dpo_advice = _text(_l("Advice of the DPO (article 35(2))"), area=True)
    persons_views = _text(_l("Views of the persons or their representatives (article 35(9))"),
                          area=True)
    signed_off_by = _text(_l("Signed off by"))
    next_review_at = DateField(_l("Next review"), validators=[Optional()])
    residual_high = BooleanField(_l("The residual risk stays high (article 36)"))
    prior_consultation_ref = _text(_l("Reference of the prior consultation of the CNIL"))
    approve = BooleanField(_l("Approve this version"))


class ConfirmForm(FlaskForm):
    """A button that only needs the CSRF token."""


class ResearchForm(_Versioned):
    title = _text(_l("Research (title)"), required=True)
    formality_kind = SelectField(_l("Formality"), choices=[], validators=[DataRequired()])
    reference = _text(_l("Reference of the formality"), required=True,
                      description=_l("The CNIL's receipt or decision number, or the reference "
                                     "of the declaration of conformity."))
    formality_date = DateField(_l("Date of the formality"), validators=[DataRequired()],
                               description=_l("Research exports are allowed from this day."))
    valid_until = DateField(_l("End of the authorised reuse"), validators=[Optional()],
                            description=_l("Empty: no end date."))
    protocol_key = SelectField(_l("Protocol"), choices=[], validators=[DataRequired()])
    fields = MultiCheckboxField(_l("Fields the research may receive"), choices=[],
                                description=_l("A research export holds these fields only."))
    notice = SelectField(_l("Published notice informing the persons of the reuse"), choices=[],
                         validators=[Optional()])
    withdrawn = BooleanField(_l("Withdrawn: no research export any more"))
