"""A professional registers a patient and fills an initiation and a follow-up in a real browser;
pharmacovigilance reads them pseudonymised; a professional of another establishment is refused."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

import portal.notices.models  # noqa: F401 - every table on the metadata (PostgreSQL schema)
import portal.records.models  # noqa: F401
import portal.rights.models  # noqa: F401
from portal.permissions import Role
from portal.records.models import Patient, Submission
from tests.browser.conftest import log_in
from tests.records import helpers

pytestmark = pytest.mark.browser





def _fill_protocol_form(page, db, form_key: str, answers: dict[str, Any]) -> None:  # noqa: ANN001
    """Type the answers into the form as a person would, field after field."""
    for name, value in helpers.form_data(answers, form_key, db).items():
        field = page.locator(f'[name="{name}"]').first
        kind = field.evaluate("e => e.tagName.toLowerCase() + ':' + (e.type || '')")
        if kind in ("input:radio", "input:checkbox"):
            for one in value if isinstance(value, list) else [value]:
                page.locator(f'[name="{name}"][value="{one}"]').check()
        elif kind.startswith("select"):
            field.select_option(str(value))
        else:
            field.fill(str(value))


def test_register_fill_read_pseudonymised_and_refuse_another_site(app, db, browser, page,
                                                                   live_server) -> None:
    helpers.install_demo(db)
    site_a = helpers.site(db, helpers.FINESS_A, "Centre hospitalier Alpha")
    site_b = helpers.site(db, helpers.FINESS_B, "Clinique Beta")
    doctor = helpers.professional(db, "c.martin", site_a)
    vigilance = helpers.lab_person(db, "n.benali", Role.PHARMACOVIGILANCE)
    elsewhere = helpers.professional(db, "b.roux", site_b)

    # The professional registers a patient: letters only, never a full name.
    log_in(page, live_server, app, doctor)
    page.get_by_role("link", name="My patients").click()
    page.get_by_role("link", name="Register a patient").click()
    page.fill("#surname_letters", "Zqx")
    page.fill("#first_name_letters", "Wk")
    page.check("input[name=sex][value=F]")
    page.select_option("#birth_month", "4")
    page.fill("#birth_year", "1961")
    page.fill("#weight_kg", "64.2")
    page.fill("#height_cm", "168")
    page.get_by_role("button", name="Register").click()
    page.wait_for_url(re.compile(r".*/patients/[A-Za-z0-9_-]{20,}$"))
    assert "Patient registered" in page.locator(".flash").inner_text()
    patient = db.scalar(select(Patient))
    assert patient.case_number in page.locator("h1").inner_text()
    assert page.locator("dd.letters").inner_text() == "ZQX-WK"

    # The initiation, then a follow-up.
    page.get_by_role("link", name=re.compile("F1\\.")).click()
    assert "information note" in page.locator("main").inner_text()
    _fill_protocol_form(page, db, "initiation", helpers.initiation_answers())
    page.get_by_role("button", name="Submit", exact=True).click()
    page.wait_for_url(re.compile(r".*/submissions/[A-Za-z0-9_-]+$"))
    assert "Form submitted." in page.locator(".flash").inner_text()
    assert helpers.DISTINCTIVE["dose"] in page.locator("main").inner_text()
    page.get_by_role("link", name=re.compile(f"Patient {patient.case_number}")).click()
    page.get_by_role("link", name=re.compile("F2\\.")).click()
    _fill_protocol_form(page, db, "follow_up", helpers.follow_up_answers("M1"))
    page.get_by_role("button", name="Submit", exact=True).click()
    page.wait_for_url(re.compile(r".*/submissions/[A-Za-z0-9_-]+$"))
    assert "Form submitted." in page.locator(".flash").inner_text()
    follow_up = db.scalar(select(Submission).where(Submission.form_key == "follow_up"))
    assert follow_up is not None and follow_up.status == "submitted"
    patient_url = f"{live_server}/patients/{patient.handle}"

    # Pharmacovigilance reads them, pseudonymised.
    context = browser.new_context(locale="fr-FR")
    try:
        reader = context.new_page()
        log_in(reader, live_server, app, vigilance)
        reader.goto(live_server + "/patients")
        reader.get_by_role("link", name=patient.case_number).click()
        text = reader.locator("main").inner_text()
        assert patient.case_number in text
        assert "ZQX-WK" not in reader.content() and "1961" not in reader.content()
        reader.get_by_role("link", name=re.compile("F2\\.")).click()
        text = reader.locator("main").inner_text()
        assert helpers.DISTINCTIVE["weight"] in text
        assert "ZQX-WK" not in reader.content()
    finally:
        context.close()

    # A professional of another establishment is refused.
    context = browser.new_context(locale="fr-FR")
    try:
        other = context.new_page()
        log_in(other, live_server, app, elsewhere)
        response = other.goto(patient_url)
        assert response is not None and response.status == 403
        assert "ZQX-WK" not in other.content() and patient.case_number not in other.content()
    finally:
        context.close()
