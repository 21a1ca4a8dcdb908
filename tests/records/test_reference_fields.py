"""Free-standing reference fields (the rights request number of a rectification or a
limitation) keep only the register's own numbers: nothing else typed is stored in clear."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.records import limitation, refusals, registrations, submissions
from portal.records.models import SubmissionRevision
from tests.records import helpers

ARABIC_NIR = "\u0661\u0668\u0665\u0660\u0665\u0667\u0668\u0660\u0660\u0666\u0660\u0668\u0664" \
             "\u0669\u0661"


def _changed(original_answers: dict) -> dict:
    return dict(original_answers, disease_severity="moderate")


def test_a_disguised_nir_as_rectification_request_number_is_refused(db, prescriber, patient):
    original = helpers.submit(db, prescriber, patient, "initiation")
    for typed in (ARABIC_NIR, "185057800608491", "1.85057800608491E+14"):
        with pytest.raises(refusals.IdentifierRefused):
            submissions.rectify(db, prescriber, original,
                                helpers.valid(db, "initiation",
                                              _changed(helpers.initiation_answers())),
                                "patient_request", submissions.new_token(), original.version,
                                request_ref=typed)
        db.commit()
    assert db.scalar(select(SubmissionRevision).where(SubmissionRevision.number == 2)) is None
    refused = db.scalars(select(AuditEvent).where(
        AuditEvent.action == "records:identifier:refuse")).all()
    assert [e.details for e in refused] == [
        {"field": "request_ref", "context": "rectify:initiation"}] * 3


@pytest.mark.parametrize("typed", ["Ticket 42", "DR-12", "185057800608", "DR-000012/2",
                                   "x" * 40])
def test_only_the_register_numbers_are_kept_as_request_reference(db, prescriber, patient,
                                                                 typed):
    original = helpers.submit(db, prescriber, patient, "initiation")
    with pytest.raises(refusals.FieldError) as refused:
        submissions.rectify(db, prescriber, original,
                            helpers.valid(db, "initiation", _changed(helpers.initiation_answers())),
                            "patient_request", submissions.new_token(), original.version,
                            request_ref=typed)
    assert refused.value.message == "The request reference is not valid."


def test_a_request_number_is_read_as_the_register_writes_it(db, prescriber, patient, dpo):
    limitation.limit_patient(db, dpo, patient, "accuracy_contested",
                           request_ref="\uff24\uff32\uff0d\uff10\uff10\uff10\uff10\uff10\uff17")
    db.commit()
    assert patient.limitation_request_ref == "DR-000007"
    limitation.lift_limitation(db, dpo, patient, request_ref="dr-000007")
    db.commit()
    original = helpers.submit(db, prescriber, patient, "initiation")
    submissions.rectify(db, prescriber, original,
                        helpers.valid(db, "initiation", _changed(helpers.initiation_answers())),
                        "patient_request", submissions.new_token(), original.version,
                        request_ref=" dr-000012 ")
    db.commit()
    revision = db.scalar(select(SubmissionRevision).where(SubmissionRevision.number == 2))
    assert revision.request_ref == "DR-000012"


@pytest.mark.parametrize(("field", "value", "message"), [
    ("weight_kg", "0.4", "Enter a weight between 0.5 and 250 kg."),
    ("weight_kg", "300", "Enter a weight between 0.5 and 250 kg."),
    ("weight_kg", "NaN", "Enter the weight in kilograms, e.g. 72.5."),
    ("height_cm", 25, "Enter a height between 30 and 230 cm."),
    ("height_cm", 240, "Enter a height between 30 and 230 cm."),
])
def test_registration_takes_the_weight_and_height_bounds_of_the_protocol(
        db, prescriber, site_a, field, value, message):
    """One source: the bounds of the protocol's weight and height fields (F0: 0.5-250 kg)."""
    with pytest.raises(refusals.FieldError) as refused:
        registrations.register_patient(db, prescriber,
                                       helpers.registration(site_a, **{field: value}))
    assert (refused.value.field, refused.value.message) == (field, message)
