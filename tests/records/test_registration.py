"""Registration: only what section 7.2 allows, NIR/INS refused, probable duplicates warned."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.records import identities, lookups, refusals, registrations
from portal.records.models import Patient
from tests.helpers_auth import login
from tests.records import helpers

NIR = "185057800608491"


def _post_registration(client, site, **overrides):  # noqa: ANN001, ANN202
    data = {
        "surname_letters": "Dupont", "first_name_letters": "Jean", "sex": "M",
        "birth_month": "3", "birth_year": "1970", "weight_kg": "80.5", "height_cm": "180",
        "establishment_id": str(site.id), "protocol_key": helpers.PROTOCOL_KEY,
    }
    data.update(overrides)
    return client.post("/patients/new", data=data)


def test_letters_are_normalised_and_sealed(db, prescriber, site_a):
    patient = helpers.register(db, prescriber, site_a, surname_letters="Émi",
                               first_name_letters="Lé")
    identity = identities.read_identity(db, prescriber, patient)
    assert identity.letters == "EMI-LE"
    assert b"EMI" not in patient.identity
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}", patient.case_number)
    assert len(patient.handle) >= 22


@pytest.mark.parametrize("field,value,message", [
    ("surname_letters", "Dupont", "at most 3 letters"),
    ("first_name_letters", "Jean", "at most 2 letters"),
    ("surname_letters", "D3", "Only letters"),
    ("birth_year", 1850, "year of birth"),
    ("birth_month", 13, "month of birth"),
    ("weight_kg", "900", "weight between"),
    ("height_cm", 400, "height between"),
    ("sex", "X", "Choose the sex"),
])
def test_registration_rules(db, prescriber, site_a, field, value, message):
    with pytest.raises(refusals.FieldError) as refused:
        registrations.register_patient(db, prescriber,
                                       helpers.registration(site_a, **{field: value}))
    assert refused.value.field == field
    assert message in refused.value.message


def test_full_birth_date_refused_outside_a_paediatric_protocol(db, prescriber, site_a):
    with pytest.raises(refusals.FieldError) as refused:
        registrations.register_patient(db, prescriber, helpers.registration(site_a, birth_day=12))
    assert refused.value.field == "birth_day"
    assert "paediatric" in refused.value.message


def test_birth_in_the_future_refused(db, prescriber, site_a):
    future = helpers.today().year + 1
    with pytest.raises(refusals.FieldError) as refused:
        registrations.register_patient(db, prescriber,
                                       helpers.registration(site_a, birth_year=future))
    assert refused.value.field == "birth_year"


def test_only_in_ones_own_establishment(db, prescriber, site_b):
    with pytest.raises(refusals.FieldError) as refused:
        registrations.register_patient(db, prescriber, helpers.registration(site_b))
    assert refused.value.field == "establishment_id"


def test_form_refuses_full_name_and_offers_own_establishments_only(db, client, prescriber,
                                                                   site_a, site_b):
    login(client, prescriber)
    page = client.get("/patients/new").get_data(as_text=True)
    assert "Centre hospitalier Alpha" in page and "Clinique Beta" not in page
    response = _post_registration(client, site_a)
    assert response.status_code == 422
    assert "never the full name" in response.get_data(as_text=True)
    assert db.scalar(select(Patient)) is None
    response = _post_registration(client, site_b, surname_letters="Dup", first_name_letters="Je")
    assert response.status_code == 422
    assert db.scalar(select(Patient)) is None


def test_registration_through_the_page(db, client, prescriber, site_a):
    login(client, prescriber)
    response = _post_registration(client, site_a, surname_letters="Dup", first_name_letters="Je")
    assert response.status_code == 303
    patient = db.scalar(select(Patient))
    assert response.headers["Location"].endswith(f"/patients/{patient.handle}")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert patient.case_number in page and "DUP-JE" in page and "1970-03" in page
    # URLs carry the random handle only: never an id, the letters or the case number.
    links = re.findall(r'/patients/([^"/?]+)', page)
    assert links and set(links) == {patient.handle}
    entry = db.scalar(select(AuditEvent).where(AuditEvent.action == "records:patient:create"))
    assert entry.target_ref == patient.reference
    assert "DUP" not in str(entry.details)


@pytest.mark.parametrize("typed", [NIR, "1 85 05 78 006 084 91", "290122A00412367",
                                   "1.2.250.1.213.1.4.8"])
def test_nir_or_ins_refused_and_logged_without_the_value(db, client, prescriber, site_a, typed):
    login(client, prescriber)
    response = _post_registration(client, site_a, surname_letters=typed)
    assert response.status_code == 422
    assert "social security number" in response.get_data(as_text=True)
    assert db.scalar(select(Patient)) is None
    entries = db.scalars(select(AuditEvent).where(
        AuditEvent.action == "records:identifier:refuse")).all()
    assert len(entries) == 1
    assert entries[0].details["field"] == "surname_letters"
    assert entries[0].outcome == "denied"
    digits = re.sub(r"\D", "", typed)
    for event in db.scalars(select(AuditEvent)):
        assert digits[:9] not in str(event.details) + str(event.target_ref)


def test_probable_duplicate_is_shown_then_confirmed(db, client, prescriber, site_a):
    first = helpers.register(db, prescriber, site_a, surname_letters="Dup", first_name_letters="Je",
                             sex="M", birth_year=1970, birth_month=3)
    login(client, prescriber)
    response = _post_registration(client, site_a, surname_letters="dup", first_name_letters="jé")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Probable duplicate" in page and first.case_number in page
    assert len(db.scalars(select(Patient)).all()) == 1
    response = _post_registration(client, site_a, surname_letters="Dup", first_name_letters="Je",
                                  confirm_duplicate="y")
    assert response.status_code == 303
    assert len(db.scalars(select(Patient)).all()) == 2
    confirmed = db.scalar(select(AuditEvent).where(
        AuditEvent.action == "records:patient:duplicate_confirm"))
    assert confirmed.details["duplicate_of"] == first.reference


def test_duplicate_index_is_keyed_and_per_establishment(db, prescriber, site_a):
    import hashlib

    patient = helpers.register(db, prescriber, site_a)
    plain = hashlib.sha256(b"ZQX-WK|1961-04|F|%d" % site_a.id).hexdigest()
    assert patient.duplicate_index != plain
    same = lookups.probable_patients(db, prescriber, "Zqx", "Wk", 1961, 4, "F", site_a.id)
    assert [p.id for p in same] == [patient.id]
    assert lookups.probable_patients(db, prescriber, "Zqx", "Wk", 1961, 5, "F", site_a.id) == []
